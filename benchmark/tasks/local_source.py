"""The files of a task's `local:` source: where they are, and reading them through the registered data format.

A source's paths are relative to the data directory (--data-dir / BENCH_DATA_DIR), or with `base: tasks-file`
to the folder of the tasks file that defined the task, so data shipped beside a plugin's or a user's tasks file
needs no --data-dir. The format (benchmark.tasks.formats) is looked up by name in the registry: an unknown one is an
error, never a fall-back to another reader. Corpus layouts are read by benchmark.tasks.corpus instead.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from benchmark.errors import BenchError
from benchmark.plugin.registry import Registry
from benchmark.tasks.schema import LocalSource, TaskSpec
from benchmark.types import Examples, Unlabeled

log = logging.getLogger(__name__)


def local_root(task: TaskSpec, data_dir: Path | None) -> Path | None:
    """The folder a local source's paths are relative to: the data directory, or with `base: tasks-file` the
    folder of the tasks file that defined the task."""
    local = task.sources.local
    if local is None or local.base == "data-dir":
        return data_dir
    if task.origin_dir is None:
        raise BenchError(f"task '{task.name}' reads data beside its tasks file (base: tasks-file) but was not "
                         "loaded from a tasks file; register it by the file's path")
    return task.origin_dir


def split_file(task: TaskSpec, src: LocalSource, root: Path, split: str) -> tuple[Path, str]:
    """A split's file, and its path relative to the root (as messages show it); a path that resolves outside the
    root (through a symlink: the schema refuses absolute paths and '..') is an error before anything is read."""
    over = src.overrides.get(split)
    sub = over.dir if over is not None and over.dir is not None else src.dir
    shown = f"{sub}/{src.splits[split]}" if sub else src.splits[split]
    path = root / sub / src.splits[split]
    if not path.resolve().is_relative_to(root.resolve()):
        raise BenchError(f"task '{task.name}': {shown} resolves outside {root} (a symlink?); tasks read only files "
                         "inside their data directory")
    return path, shown


def first_absent(task: TaskSpec, src: LocalSource, root: Path, tests: bool) -> tuple[str, str] | None:
    """(split, shown path) of the first file a job needs that is not there, or None."""
    for split in ("train", *task.evals, "select", *(task.tests if tests else ())):
        if split in src.splits:
            path, shown = split_file(task, src, root, split)
            if not path.is_file():
                return split, shown
    return None


def _for_split(src: LocalSource, split: str) -> LocalSource:
    """The source as one test split reads it: its override's header, inputs and index in place of the source's."""
    over = src.overrides.get(split)
    if over is None:
        return src
    return src.model_copy(update={k: v for k, v in over.model_dump().items() if v is not None and k != "dir"})


def _empty(path: Path) -> bool:
    """No bytes, or nothing but blank space (a byte-order mark, newlines): a file with no header and no rows."""
    if path.stat().st_size > 4096:
        return False
    return not path.read_bytes().removeprefix(b"\xef\xbb\xbf").strip()


def read_local(task: TaskSpec, src: LocalSource, root: Path, registry: Registry, tests: tuple[str, ...] = ()
               ) -> tuple[dict[str, Examples], dict[str, Unlabeled], str]:
    """The labelled splits, the unlabeled test splits named in `tests`, and the data's revision (a digest of the
    files read)."""
    if not root.is_dir():
        raise BenchError(f"data directory not found: {root}")
    fmt = registry.formats.get(src.format).obj
    out: dict[str, Examples] = {}
    unlabeled: dict[str, Unlabeled] = {}
    for ours in src.splits:
        if ours in task.tests and ours not in tests:
            continue  # test splits are read only for --predict-test
        path, _ = split_file(task, src, root, ours)
        if not path.is_file():
            if ours in ("train", *task.evals, *tests):
                raise BenchError(f"task '{task.name}': {path} not found")
            continue
        if _empty(path):  # before any format reads it: each would blame a column or a record instead of the file
            raise BenchError(f"task '{task.name}': {path} is empty (no header, no rows)")
        if ours in tests:
            if not callable(getattr(fmt, "read_unlabeled", None)):
                able = [r.name for r in registry.formats if callable(getattr(r.obj, "read_unlabeled", None))]
                raise BenchError(f"task '{task.name}': format {src.format} reads no unlabeled test splits (formats "
                                 f"that do: {', '.join(able)})")
            unlabeled[ours] = fmt.read_unlabeled(task, _for_split(src, ours), path)
        else:
            examples, skipped = fmt.read(task, src, path)
            if skipped:
                log.warning("%s: skipped %d malformed rows", path, skipped)
            out[ours] = examples
    return out, unlabeled, local_revision(task, src, root, tests)


def local_revision(task: TaskSpec, src: LocalSource, root: Path, tests: tuple[str, ...] = ()) -> str:
    """The revision `read_local` records: a digest of the bytes of every split file it reads (test splits only
    those named in `tests`), computed without parsing them, so a rerun can tell whether the data changed."""
    digest = hashlib.sha256()
    for ours in src.splits:
        if ours in task.tests and ours not in tests:
            continue
        path, _ = split_file(task, src, root, ours)
        if path.is_file():
            digest.update(path.read_bytes())
    return f"local:{src.format}:{digest.hexdigest()[:16]}"
