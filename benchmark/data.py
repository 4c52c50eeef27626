"""Load a task's splits from its source: a local directory (GLUE TSV layout, JSONL), the Hub, or a recipe.

Which source: `--data-dir` (or BENCH_DATA_DIR) selects the local layout; otherwise a builtin recipe if the
task has one; otherwise the Hub at the pinned revision. Problems are found before any job starts
(`missing`) and reported as one line that says how to supply the data.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.errors import BenchError
from benchmark.hub import hub_reachable
from benchmark.registry import Registry
from benchmark.taskspec import HubSource, LocalSource, TaskSpec
from benchmark.types import Examples, TaskData

log = logging.getLogger(__name__)
HOLDOUT_SEED = 0  # the model-selection slice of train is the same for every job seed


@dataclass(frozen=True)
class Missing:
    """What a job lacks (`what`) and how to supply it (`how`).

    Problems with the same `what` and `how` are reported together, listing their `task`s and `files`.
    """

    what: str
    how: str
    task: str | None = None
    files: str | None = None


def choose_source(task: TaskSpec, data_dir: Path | None) -> str:
    s = task.sources
    if data_dir is not None and s.local is not None:
        return "local"
    if s.recipe is not None:
        return "recipe"
    if s.hub is not None:
        return "hub"
    if s.local is not None:
        return "local"
    raise BenchError(f"task '{task.name}' has no usable source")


def missing(task: TaskSpec, data_dir: Path | None, registry: Registry, cache_dir: Path) -> Missing | None:
    """None when the task's data can be had now; else what is missing and how to supply it."""
    kind = choose_source(task, data_dir)
    if kind == "local":
        src = task.sources.local
        assert src is not None
        if data_dir is None:
            return Missing(f"data for '{task.name}'", f"pass --data-dir DIR holding {src.dir}/ (or set BENCH_DATA_DIR)")
        for split in ("train", *task.evals, "select"):
            if split not in src.splits:
                continue
            path = data_dir / src.dir / src.splits[split]
            if not path.is_file():
                layout = "the GLUE download layout" if src.format == "glue-tsv" else f"{src.format} format"
                return Missing(f"files in {data_dir}", f"expected {{files}} in {layout}, or leave those tasks out "
                               "of --tasks", task.name, f"{src.dir}/{src.splits[split]}")
        return None
    if kind == "recipe":
        recipe = task.sources.recipe
        assert recipe is not None
        loader = registry.datasets.get(recipe.name).obj
        check = getattr(loader, "missing", None)
        problem = check(recipe.options, cache_dir) if check is not None else None
        return Missing(f"data for '{task.name}'", problem) if problem else None
    hub = task.sources.hub
    assert hub is not None
    if hub_reachable() or _dataset_in_cache(hub):
        return None
    local = task.sources.local
    if local is None:
        return Missing(f"Hub dataset '{hub.path}'", "the Hugging Face Hub is unreachable: connect once to download it",
                       task.name)
    layout = "the GLUE download layout" if local.format == "glue-tsv" else f"{local.format} files"
    return Missing(f"Hub dataset '{hub.path}'", f"the Hugging Face Hub is unreachable and no --data-dir was given: "
                   f"pass --data-dir DIR holding {{files}} in {layout}", task.name, f"{local.dir}/")


def _dataset_in_cache(hub: HubSource) -> bool:
    try:
        from huggingface_hub import scan_cache_dir

        for repo in scan_cache_dir().repos:
            if repo.repo_type == "dataset" and repo.repo_id == hub.path:
                return any(r.commit_hash == hub.revision for r in repo.revisions)
    except Exception:  # no cache directory yet, or an unreadable one: treat as absent
        return False
    return False


def load(task: TaskSpec, data_dir: Path | None, registry: Registry, cache_dir: Path) -> TaskData:
    """The task's train / select / eval splits as Examples, with targets mapped to indices or floats."""
    kind = choose_source(task, data_dir)
    if kind == "local":
        assert task.sources.local is not None and data_dir is not None
        raw, revision = _load_local(task, task.sources.local, data_dir)
    elif kind == "recipe":
        recipe = task.sources.recipe
        assert recipe is not None
        loader = registry.datasets.get(recipe.name).obj
        built = loader(task=task, options=dict(recipe.options), cache_dir=cache_dir)
        raw = {ours: built[theirs] for ours, theirs in (recipe.splits or {s: s for s in built}).items()}
        revision = getattr(loader, "revision", lambda opts: recipe.name)(recipe.options)
    else:
        assert task.sources.hub is not None
        raw, revision = _load_hub(task, task.sources.hub)
    for split in ("train", *task.evals):
        if split not in raw:
            raise BenchError(f"task '{task.name}': source has no '{split}' split")
        if len(raw[split]) == 0:
            raise BenchError(f"task '{task.name}': the '{split}' split is empty")
    train = raw["train"]
    notes: list[str] = []
    if "select" in raw and len(raw["select"]):
        select = raw["select"]
    else:
        train, select = holdout(train, task.selection.holdout, task.selection.max)
        notes.append(f"model selection on a held-out {len(select)} examples of train (seed {HOLDOUT_SEED})")
    return TaskData(train=train, dev=select, evals={e: raw[e] for e in task.evals}, revision=revision,
                    notes=tuple(notes))


def holdout(examples: Examples, fraction: float, cap: int) -> tuple[Examples, Examples]:
    """Split off a seeded slice for model selection; the rest stays for training."""
    n = len(examples)
    k = max(1, min(cap, int(round(n * fraction))))
    if n - k < 1:
        raise BenchError(f"too few training examples ({n}) to hold out a model-selection split")
    order = list(range(n))
    random.Random(HOLDOUT_SEED).shuffle(order)
    held = sorted(order[:k])
    kept = sorted(order[k:])
    return examples.subset(kept), examples.subset(held)


def convert_target(task: TaskSpec, value: Any, where: str) -> Any:
    """Map a raw label to a class index (classification) or a float (regression); bad values are errors."""
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


def _columns(header: list[str] | None, wanted: list[str | int], path: Path) -> list[int]:
    out = []
    for col in wanted:
        if isinstance(col, int):
            out.append(col)
        elif header is None:
            raise BenchError(f"{path}: column '{col}' named but the file has no header (use column numbers)")
        elif col in header:
            out.append(header.index(col))
        else:
            raise BenchError(f"{path}: no column '{col}' (columns: {', '.join(header)})")
    return out


def read_tsv(task: TaskSpec, src: LocalSource, path: Path) -> tuple[Examples, int]:
    """Read a GLUE-style TSV (no quoting). Returns the examples and the number of malformed rows skipped."""
    csv.field_size_limit(sys.maxsize)
    try:
        with path.open(encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    except UnicodeDecodeError as err:
        raise BenchError(f"{path}: not UTF-8 text (byte {err.start}); convert it with iconv -t UTF-8") from None
    header = rows.pop(0) if src.header and rows else None
    cols = _columns(header, list(src.inputs), path)
    label_col = _columns(header, [src.label], path)[0]
    need = max([*cols, label_col]) + 1
    inputs, targets, skipped = [], [], 0
    start = 2 if header is not None else 1
    for lineno, row in enumerate(rows, start=start):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) < need:
            skipped += 1  # GLUE's QQP and MNLI files hold a few rows broken by stray tabs/newlines
            continue
        texts = [row[c] for c in cols]
        inputs.append(texts[0] if len(texts) == 1 else tuple(texts))
        targets.append(convert_target(task, row[label_col], f"{path}:{lineno}"))
    if rows and not inputs:
        raise BenchError(f"{path}: no row has the expected {need} tab-separated columns")
    return Examples(tuple(inputs), tuple(targets)), skipped


def read_jsonl(task: TaskSpec, src: LocalSource, path: Path) -> tuple[Examples, int]:
    inputs, targets = [], []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise BenchError(f"{path}: not UTF-8 text (byte {err.start})") from None
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            texts = [str(obj[c]) for c in src.inputs]
            label = obj[src.label]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise BenchError(f"{path}:{lineno}: bad JSONL row ({type(err).__name__}: {err})") from None
        inputs.append(texts[0] if len(texts) == 1 else tuple(texts))
        targets.append(convert_target(task, label, f"{path}:{lineno}"))
    return Examples(tuple(inputs), tuple(targets)), 0


def _load_local(task: TaskSpec, src: LocalSource, data_dir: Path) -> tuple[dict[str, Examples], str]:
    base = data_dir / src.dir
    if not data_dir.is_dir():
        raise BenchError(f"data directory not found: {data_dir}")
    reader = read_tsv if src.format == "glue-tsv" else read_jsonl
    out: dict[str, Examples] = {}
    digest = hashlib.sha256()
    for ours, filename in src.splits.items():
        path = base / filename
        if not path.is_file():
            if ours in ("train", *task.evals):
                raise BenchError(f"task '{task.name}': {path} not found")
            continue
        examples, skipped = reader(task, src, path)
        if skipped:
            log.warning("%s: skipped %d malformed rows", path, skipped)
        out[ours] = examples
        digest.update(path.read_bytes())
    return out, f"local:{src.format}:{digest.hexdigest()[:16]}"


def _load_hub(task: TaskSpec, hub: HubSource) -> tuple[dict[str, Examples], str]:
    try:
        from datasets import load_dataset
    except ImportError:
        raise BenchError("the Hub source needs the 'datasets' package: pip install datasets") from None
    try:
        ds = load_dataset(hub.path, hub.name, revision=hub.revision)
    except Exception as err:  # datasets raises many types for network / cache problems
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise BenchError(f"cannot load Hub dataset '{hub.path}' ({hub.name}) for '{task.name}': {first}") from None
    out: dict[str, Examples] = {}
    for ours, theirs in hub.splits.items():
        if theirs not in ds:
            raise BenchError(f"Hub dataset '{hub.path}' ({hub.name}) has no split '{theirs}'")
        split = ds[theirs]
        cols = [split[c] for c in hub.inputs]
        labels = split[hub.label]
        inputs = [row[0] if len(row) == 1 else tuple(row) for row in zip(*cols)]
        if task.labels is not None:
            # Hub GLUE labels are ClassLabel indices in the same order as the task's `labels`.
            n = len(task.labels)
            bad = [v for v in labels if not isinstance(v, int) or not 0 <= v < n]
            if bad:
                raise BenchError(f"Hub dataset '{hub.path}' split '{theirs}': label {bad[0]!r} outside 0..{n - 1}")
            targets = list(labels)
        else:
            targets = [convert_target(task, v, f"{hub.path}:{theirs}") for v in labels]
        out[ours] = Examples(tuple(inputs), tuple(targets))
    return out, f"hub:{hub.path}/{hub.name}@{hub.revision}"
