"""The command line (`bench`, click + rich): the only layer that prints. `benchmark.cli:main` is the console
entry point; plugins add commands through the `register_commands` hook, never by importing this package."""

from benchmark.cli.main import cli, main

__all__ = ["cli", "main"]
