"""Helpers the core's command modules share (not for plugins: they use benchmark.clitools)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from benchmark.cli.types import PathArg

if TYPE_CHECKING:
    from benchmark.plugin.manager import Plugins

F = TypeVar("F", bound=Callable[..., Any])

TASKS_FILE_HELP = ("A tasks YAML file of your own (the schema of tasks.yaml, docs/tasks.md); repeat for more. "
                   "Env: BENCH_TASKS_FILE (several separated by spaces).")


def plugins() -> Plugins:
    from benchmark.plugin.manager import get_plugins

    return get_plugins()


def warn_plugin_failures() -> None:
    from rich.console import Console
    from rich.markup import escape

    from benchmark.engine.result_schema import printable

    console = Console(stderr=True)
    loaded = plugins()
    # main() shows them before any command; a command calling this again shows only failures added since
    # (a --tasks-file's plugin data, say).
    for line in loaded.failures[loaded.shown:]:  # a plugin's message may hold anything: shown, never acted on
        console.print(f"[yellow]warning:[/] {escape(printable(line))}", highlight=False, markup=True, soft_wrap=True)
    loaded.shown = len(loaded.failures)


def add_tasks_files(paths: tuple[Path, ...]) -> None:
    """Add the user's --tasks-file YAML files to the registry (strictly validated; a problem is a BenchError)."""
    if paths:
        from benchmark.plugin.manager import add_task_files

        add_task_files(plugins(), list(paths))


def tasks_file_option(fn: F) -> F:
    return click.option("--tasks-file", "tasks_files", multiple=True, envvar="BENCH_TASKS_FILE",
                        type=PathArg(path_type=Path, dir_okay=False), help=TASKS_FILE_HELP)(fn)


def split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]
