"""Creating what bench writes (a results folder, a report, an export, a plugin scaffold, a pretrained model) the way
`mkdir` without -p does: the last part of the path is created, the folders above it must exist already. And
writing a cached file that several processes may want at once (`bench run`s side by side into one cache):
`private_tmp` names a temporary file no other process writes, `build_lock` lets one process build while the
others wait and then read what it wrote.

A typo in `--html /nonexistent/dir/r.html` or `--output reslts/today` is then one line naming the missing folder,
not a new tree of folders in an unexpected place. Creating the last folder itself stays allowed (`--output results`
in the current folder; the default `bench-results` on a fresh clone).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import uuid
from collections.abc import Iterator
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


def private_tmp(path: Path) -> Path:
    """A temporary name beside `path` for write-then-rename that no other process uses (a shared `path.tmp`
    interleaves two writers' bytes, and the rename publishes the mix)."""
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")


@contextlib.contextmanager
def build_lock(path: Path) -> Iterator[None]:
    """Hold the exclusive lock of `path` (the file `.NAME.lock` beside it) for the block: the caller checks
    whether `path` exists *inside* the block and builds it only if not, so a second process waits and then reads
    it. The folder must exist. Where locks cannot be taken (some network mounts) the block runs unlocked: each
    process then builds its own copy, still published whole by private_tmp + rename."""
    try:
        f = open(path.with_name(f".{path.name}.lock"), "a")  # noqa: SIM115 (closed below)
    except OSError:
        yield
        return
    with f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        except OSError:
            pass
        yield
