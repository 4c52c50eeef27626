"""The command line (`bench`, click + rich): the only layer that prints. `benchmark.cli:main` is the console
entry point; plugins add commands through the `register_commands` hook, never by importing this package.

`cli` and `main` are looked up lazily, so importing one module of this package (e.g. `benchmark.cli.types`)
does not import every command."""

from __future__ import annotations

from typing import Any

__all__ = ["cli", "main"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        import importlib

        return getattr(importlib.import_module("benchmark.cli.app"), name)
    raise AttributeError(f"module 'benchmark.cli' has no attribute {name!r}")
