"""`python -m benchmark` is the `bench` command."""

from benchmark.cli.main import main

main()
