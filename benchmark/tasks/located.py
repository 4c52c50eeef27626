"""Problems of a tasks file with the place each one is about, so that one run reports all of them at their lines.

A problem's place is a path of keys and list indices from the top of the YAML document (("tasks", "x", "head"));
the YAML node tree the file was read into turns it into a line number (the line of the deepest key of the path that
exists in the file: a missing field is reported at its task's line).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import ValidationError

Loc = tuple[str | int, ...]
"""Where in a task's YAML body a problem is: keys and list indices (("sources", "local", "format"))."""


class Problems(ValueError):
    """Every rule a model breaks, each with the key it is about (pydantic keeps the exception in the error's ctx, so
    the tasks file's reader reports each one at its own line)."""

    def __init__(self, items: list[tuple[Loc, str]]) -> None:
        super().__init__("; ".join(msg for _, msg in items))
        self.items = items


def _found(data: Any, loc: Loc) -> Loc:
    """The part of `loc` that exists in the data: pydantic adds a union member's type (`inputs.0.str`)."""
    out: list[str | int] = []
    for part in loc:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            break
        out.append(part)
    return tuple(out)


def errors(err: ValidationError, data: Any) -> list[tuple[Loc, str]]:
    """Each problem of a failed validation once, as (where, message): pydantic's errors, a union's alternatives
    merged into the first, and a validator's Problems unpacked."""
    out: list[tuple[Loc, str]] = []
    seen: set[Loc] = set()
    for e in err.errors():
        loc, kind = tuple(e["loc"]), e["type"]
        cause = (e.get("ctx") or {}).get("error")
        if isinstance(cause, Problems):
            for where, msg in cause.items:
                out.append((loc + where, msg))  # (each message names its key already)
            continue
        if kind not in ("extra_forbidden", "missing"):
            loc = _found(data, loc)
        key = ".".join(str(p) for p in loc)
        if kind == "extra_forbidden":
            msg = f"unknown key '{key}'"
        elif kind == "missing":
            msg = f"missing required field '{key}'"
        else:
            msg = e["msg"].removeprefix("Value error, ")
            given = e.get("input")
            if kind != "value_error" and isinstance(given, str | int | float | bool):
                msg += f" (got {given!r})"
            msg = f"{key + ': ' if key else ''}{msg}"
        if loc not in seen:  # (a union's alternatives: the first one speaks for them)
            seen.add(loc)
            out.append((loc, msg))
    return out


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a tasks file: where it is (a path from the document's top) and what is wrong (a line that
    names its task or suite)."""

    path: Loc
    text: str


def line_of(root: yaml.Node | None, path: Loc) -> int:
    """The 1-based line of the deepest key (or list item) of `path` found under `root`; 1 when none is."""
    line, node = 1, root
    for part in path:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    line, child = key.start_mark.line + 1, value
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line


def report(problems: dict[str, tuple[yaml.Node | None, list[Problem]]]) -> str:
    """The message of a BenchError for the problems of one or more files (file -> its node tree and problems):
    `FILE:LINE: problem` when there is one; otherwise, per file, `N problems in FILE:` then one such line each,
    in the order of their lines."""
    lines: list[str] = []
    total = sum(len(p) for _, p in problems.values())
    for origin, (root, items) in problems.items():
        if not items:
            continue
        located = sorted(((line_of(root, p.path), p.text) for p in items), key=lambda t: t[0])
        if total > 1:
            lines.append(f"{len(items)} problem{'s' if len(items) > 1 else ''} in {origin}:")
        lines.extend(f"{origin}:{line}: {text}" for line, text in located)
    return "\n".join(lines)
