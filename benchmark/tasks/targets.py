"""A raw label cell as a task's target. Readers of every data format call `convert_target`; while
`benchmark.tasks.data.load` reads a task, the task's head kind decides (`HeadKind.convert_target`), otherwise
`standard_target` does: a class index, a float, or a transcript."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

from benchmark.errors import BenchError
from benchmark.tasks.schema import TaskSpec

head_targets: contextvars.ContextVar[Callable[[TaskSpec, Any, str], Any] | None] = contextvars.ContextVar(
    "benchhead_targets", default=None)
"""While `load` reads a task: its head kind's convert_target (readers call `convert_target` below, not it)."""


def convert_target(task: TaskSpec, value: Any, where: str) -> Any:
    """A raw label cell as the task's target: by the task's head kind (`HeadKind.convert_target`) while `load`
    reads the task, else `standard_target`."""
    convert = head_targets.get()
    return convert(task, value, where) if convert is not None else standard_target(task, value, where)


def standard_target(task: TaskSpec, value: Any, where: str) -> Any:
    """Map a raw label to a class index (classification), a float (regression) or a transcript (sequence tasks:
    whitespace normalised, every symbol in the task's vocabulary); bad values are errors."""
    if task.vocabulary is not None:
        text = " ".join(str(value).split())
        if not text:
            raise BenchError(f"task '{task.name}': empty transcript at {where}")
        known = set(task.vocabulary)
        bad = next((sym for sym in task.symbols(text) if sym not in known), None)
        if bad is not None:
            raise BenchError(f"task '{task.name}': {bad!r} at {where} is not in the task's vocabulary "
                             f"({''.join(task.vocabulary) if task.tokenize == 'characters' else ' '.join(task.vocabulary)})")
        return text
    if task.labels is None:
        try:
            out = float(value)
        except (TypeError, ValueError):
            raise BenchError(f"task '{task.name}': non-numeric target {value!r} at {where}") from None
        if out != out:  # NaN
            raise BenchError(f"task '{task.name}': target is NaN at {where}")
        return out
    text = str(value).strip()
    if text in task.labels:
        return task.labels.index(text)
    raise BenchError(f"task '{task.name}': label {text!r} at {where} is not one of {task.labels}")


def index_value(text: Any) -> Any:
    """GLUE test indices are integers; anything else is kept as text."""
    value = str(text).strip()
    return int(value) if value.lstrip("-").isdigit() else value
