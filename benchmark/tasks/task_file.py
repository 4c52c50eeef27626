"""A tasks file read with every problem it has, each at its line: `bench validate --tasks-file` and
`bench run --tasks-file` report them all in one run instead of one per run.

Only what stops the reading itself is fatal (the file is missing, too big, not YAML, not a mapping at the top);
everything else is collected: each task's and suite's schema errors (all of a task's invalid fields; its rules
between fields once the fields are valid), then the cross-references the registry checks (benchmark.plugin.manager).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from benchmark.errors import BenchError
from benchmark.tasks.bounded_yaml import load_yaml_node
from benchmark.tasks.located import Problem, errors
from benchmark.tasks.schema import TOP_LEVEL, SuiteSpec, TaskFile, TaskSpec, read_task_text


@dataclass(frozen=True)
class TasksFile:
    """What a tasks file defines, what is wrong with it, and its YAML nodes (which give each problem's line)."""

    origin: str
    node: yaml.Node | None
    tasks: tuple[TaskSpec, ...]
    suites: tuple[SuiteSpec, ...]
    problems: tuple[Problem, ...]
    invalid: frozenset[str]
    """Names of the tasks and suites the file defines that failed the schema (their problems are in `problems`)."""
    invalid_tasks: tuple[tuple[str, dict[str, Any]], ...] = ()
    """Those tasks' YAML bodies: the names they give are still checked against the registry."""


def read_tasks_file(path: Path) -> TasksFile:
    return parse_all(read_task_text(path), str(path), path.resolve().parent)


def parse_all(text: str, origin: str, folder: Path | None = None) -> TasksFile:
    raw, node = load_yaml_node(text, origin)
    if not isinstance(raw, dict):
        raise BenchError(f"{origin}: {TOP_LEVEL}")
    problems: list[Problem] = []
    try:
        TaskFile.model_validate(raw)
    except ValidationError as err:
        # A task's or suite's own body is checked below, with all its problems: only the rest is reported here.
        problems += [Problem(loc, msg) for loc, msg in errors(err, raw)
                     if not (len(loc) >= 2 and loc[0] in ("tasks", "suites") and isinstance(loc[1], str))]
    tasks: list[TaskSpec] = []
    suites: list[SuiteSpec] = []
    invalid: set[str] = set()
    bodies: list[tuple[str, dict[str, Any]]] = []
    for section, kind, model, out in (("tasks", "task", TaskSpec, tasks), ("suites", "suite", SuiteSpec, suites)):
        entries = raw.get(section)
        for name, body in (entries.items() if isinstance(entries, dict) else ()):
            if not isinstance(name, str):
                continue  # (TaskFile reported it)
            item = _one(section, kind, model, name, body, problems)
            if item is None:
                invalid.add(name)
                if section == "tasks" and isinstance(body, dict):
                    bodies.append((name, body))
            else:
                out.append(item)
    for task in tasks:
        task._origin_dir = folder  # set once, while the spec is being built
    return TasksFile(origin, node, tuple(tasks), tuple(suites), tuple(problems), frozenset(invalid),
                     tuple(bodies))


def _one(section: str, kind: str, model: Any, name: str, body: Any, problems: list[Problem]) -> Any:
    """The validated task or suite, or None after adding its problems."""
    if not isinstance(body, dict):
        problems.append(Problem((section, name), f"{kind} '{name}' must be a mapping, got {type(body).__name__}"))
        return None
    try:
        return model.model_validate({"name": name, **body})
    except ValidationError as err:
        problems += [Problem((section, name, *loc), f"{kind} '{name}': {msg}")
                     for loc, msg in errors(err, {"name": name, **body})]
        return None


def given_names(body: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
    """The head, metrics, local data format and dataset loader a task's raw YAML body names (None where it does
    not), for Registry.unknown_names."""
    sources = _get(body, "sources")
    return (body.get("head"), body.get("metrics"), _get(_get(sources, "local"), "format"),
            _get(_get(sources, "recipe"), "name"))


def _get(mapping: Any, key: str) -> Any:
    return mapping.get(key) if isinstance(mapping, dict) else None
