"""`python -m benchmark` is the `bench` command."""

from benchmark.cli import main

main()
