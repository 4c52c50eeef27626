"""Creating what bench writes (a results folder, a report, an export, a plugin scaffold, a pretrained model) the way
`mkdir` without -p does: the last part of the path is created, the folders above it must exist already.

A typo in `--html /nonexistent/dir/r.html` or `--output reslts/today` is then one line naming the missing folder,
not a new tree of folders in an unexpected place. Creating the last folder itself stays allowed (`--output results`
in the current folder; the default `bench-results` on a fresh clone).
"""

from __future__ import annotations

import os
from pathlib import Path

from benchmark.errors import BenchError


def check_creatable(path: Path) -> None:
    """Raise a BenchError when `path` does not exist and neither does the folder it would be created in."""
    if os.path.lexists(path):
        return
    parent = path.parent
    if not os.path.lexists(parent):  # (a parent that is a file fails later, where the OS says why)
        raise BenchError(f"cannot create {path}: folder {parent} does not exist; create it first")


def make_dir(path: Path) -> None:
    """Create the folder `path` unless it is there; its parent must exist (check_creatable)."""
    check_creatable(path)
    path.mkdir(exist_ok=True)
