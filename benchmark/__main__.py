"""`python -m benchmark` is the `bench` command."""

from benchmark.cli.app import main

main()
