"""Builtin plugin that registers the tasks and suites declared in the project's tasks.yaml."""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Any

from benchmark.hookspecs import hookimpl


def tasks_yaml_path() -> Path:
    """tasks.yaml inside the installed wheel, or at the source tree's root in an editable install."""
    packaged = importlib.resources.files("benchmark").joinpath("tasks.yaml")
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "tasks.yaml"


@hookimpl
def register_tasks(register: Any) -> None:
    register(tasks_yaml_path())
