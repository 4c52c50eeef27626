"""Load a task's splits from its source: local files (in a registered data format, benchmark.tasks.formats, or a
speech / image corpus layout, benchmark.tasks.corpus), the Hub, or a recipe.

Which source: `--data-dir` (or BENCH_DATA_DIR) selects the local files, as does a local source kept beside its
tasks file (`base: tasks-file`); otherwise a builtin recipe if the task has one; otherwise the Hub at the pinned
revision. Problems are found before any job starts (`missing`) and reported as one line that says how to supply
the data.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmark.errors import BenchError
from benchmark.plugin.hub import hub_reachable
from benchmark.plugin.needs import Missing, Need
from benchmark.plugin.registry import Registry
from benchmark.tasks import targets
from benchmark.tasks.local_source import first_absent, local_revision, local_root, read_local
from benchmark.tasks.schema import CORPUS_LAYOUTS, HubSource, TaskSpec
from benchmark.tasks.targets import convert_target, index_value, standard_target  # noqa: F401  (their home was here)
from benchmark.types import Examples, TaskData, Unlabeled

log = logging.getLogger(__name__)
HOLDOUT_SEED = 0  # the model-selection slice of train is the same for every job seed


def choose_source(task: TaskSpec, data_dir: Path | None) -> str:
    s = task.sources
    if s.local is not None and (data_dir is not None or s.local.base == "tasks-file"):
        return "local"
    if s.recipe is not None:
        return "recipe"
    if s.hub is not None:
        return "hub"
    if s.local is not None:
        return "local"
    raise BenchError(f"task '{task.name}' has no usable source")


def missing(task: TaskSpec, data_dir: Path | None, registry: Registry, cache_dir: Path,
            tests: bool = False) -> Missing | None:
    """None when the task's data can be had now; else what is missing and how to supply it.

    tests: also the task's unlabeled test splits (--predict-test).
    """
    kind = choose_source(task, data_dir)
    if kind == "local":
        src = task.sources.local
        assert src is not None
        data_dir = local_root(task, data_dir)
        if src.format in CORPUS_LAYOUTS:
            from benchmark.tasks.corpus import layout_missing

            return layout_missing(task, src, data_dir)
        registry.formats.get(src.format)  # an unknown format is an error here, before any job starts
        if data_dir is None:
            return Missing(f"data for '{task.name}'", f"pass --data-dir DIR holding {src.dir}/ (or set BENCH_DATA_DIR)")
        absent = first_absent(task, src, data_dir, tests)
        if absent is None:
            return None
        split, shown = absent
        layout = "the GLUE download layout" if src.format == "glue-tsv" else f"{src.format} format"
        if split in task.tests:
            return Missing(f"test files in {data_dir}", f"--predict-test reads {{files}} in {layout}; add them, or "
                           "leave those tasks out of --tasks", task.name, shown)
        return Missing(f"files in {data_dir}", f"expected {{files}} in {layout}, or leave those tasks out of --tasks",
                       task.name, shown)
    if kind == "recipe":
        recipe = task.sources.recipe
        assert recipe is not None
        loader = registry.datasets.get(recipe.name).obj
        check = getattr(loader, "missing", None)
        problem = check(recipe.options, cache_dir, **_dir(loader, data_dir)) if check is not None else None
        return Missing(f"data for '{task.name}'", problem) if problem else None
    hub = task.sources.hub
    assert hub is not None
    if hub_reachable() or _dataset_in_cache(hub):
        return None
    how, files = local_alternative(task)
    if not how:
        return Missing(f"Hub dataset '{hub.path}'", "the Hugging Face Hub is unreachable: fetch it with network "
                       f"access, `bench prefetch --tasks {task.name}`", task.name)
    return Missing(f"Hub dataset '{hub.path}'", f"the Hugging Face Hub is unreachable and no --data-dir was given: "
                   f"{how}", task.name, files)


def local_alternative(task: TaskSpec) -> tuple[str, str]:
    """('pass --data-dir DIR holding {files} in LAYOUT', the task's files) for a Hub task that also reads local
    files, else ('', '')."""
    local = task.sources.local
    if local is None:
        return "", ""
    if local.format in CORPUS_LAYOUTS:
        from benchmark.tasks.corpus import corpus_dirs, layout_doc

        layout, files = f"the {local.format} layout ({layout_doc(local)})", ", ".join(corpus_dirs(local))
    else:
        layout = "the GLUE download layout" if local.format == "glue-tsv" else f"{local.format} files"
        files = f"{local.dir}/"
    return f"pass --data-dir DIR holding {{files}} in {layout}", files


def _dataset_in_cache(hub: HubSource) -> bool:
    """True when every config of the dataset a job reads is prepared in the `datasets` cache at the pinned
    revision (what `bench prefetch` leaves there)."""
    return all(prepared_dir(hub, config) is not None for config in _configs(hub, tests=False))


def _configs(hub: HubSource, tests: bool) -> list[str | None]:
    """The dataset configs a job reads: the source's own, and for test splits kept elsewhere (GLUE's `ax`) theirs."""
    return list(dict.fromkeys([hub.name, *(hub.configs.values() if tests else ())]))


def _snake(name: str) -> str:
    """datasets' camelcase_to_snakecase, which names the cache folder of a Hub dataset (without importing datasets,
    which takes seconds)."""
    import re

    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"([a-z\d])([A-Z])", r"\1_\2", name).lower()


def datasets_cache() -> Path:
    """Where `datasets` keeps prepared datasets (HF_DATASETS_CACHE, else HF_HOME/datasets)."""
    import os

    if os.environ.get("HF_DATASETS_CACHE"):
        return Path(os.environ["HF_DATASETS_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):  # read now: huggingface_hub.constants keeps the value it had when imported
        return Path(os.environ["HF_HOME"]).expanduser() / "datasets"
    from huggingface_hub import constants

    return Path(constants.HF_HOME).expanduser() / "datasets"


def prepared_dir(hub: HubSource, config: str | None) -> Path | None:
    """The folder in which `datasets` prepared this config of the Hub dataset at exactly the pinned revision
    (DATASETS_CACHE/NAMESPACE___NAME/CONFIG/VERSION/COMMIT/), or None when it has not been prepared.

    Offline, `datasets.load_dataset` falls back to the most recently prepared revision of a dataset, whichever
    it is; reading this folder instead keeps a result's recorded revision true."""
    *namespace, name = hub.path.split("/")
    root = datasets_cache() / "___".join([*namespace, _snake(name)])
    found = sorted(root.glob(f"{_config_id(hub, config)}/*/{hub.revision}/dataset_info.json"))
    return found[-1].parent if found else None


def _config_id(hub: HubSource, config: str | None) -> str:
    """The name of the config's cache folder: the config's name, or with a data_dir `default-data_dir=DIR`
    (datasets' BuilderConfig.create_config_id; a long suffix is hashed)."""
    if hub.data_dir is None:
        return config or "default"
    import os
    from urllib.parse import quote_plus

    folder = os.path.normpath(hub.data_dir)
    suffix = f"data_dir={quote_plus(folder)}"
    if len(suffix) > 32:
        from datasets.fingerprint import Hasher

        suffix = Hasher.hash({"data_dir": folder})
    return f"default-{suffix}"


def _read_prepared(folder: Path) -> Any:
    """A DatasetDict of the Arrow files `datasets` wrote in a prepared folder (one file per split, or shards)."""
    from datasets import Dataset, DatasetDict, concatenate_datasets

    info = json.loads((folder / "dataset_info.json").read_text(encoding="utf-8"))
    out = {}
    for split in info.get("splits") or {}:
        prefix = f"{info.get('dataset_name') or '*'}-{split}"
        files = sorted(folder.glob(f"{prefix}.arrow")) or sorted(folder.glob(f"{prefix}-[0-9]*-of-[0-9]*.arrow"))
        if not files:
            raise BenchError(f"the prepared dataset in {folder} lacks the Arrow files of split '{split}': delete the "
                             "folder and fetch it again (bench prefetch)")
        parts = [Dataset.from_file(str(f)) for f in files]
        out[split] = parts[0] if len(parts) == 1 else concatenate_datasets(parts)
    return DatasetDict(out)


def hub_dataset_needs(task: TaskSpec, hub: HubSource, tests: bool = False) -> list[Any]:
    """One Need per dataset config the task reads from the Hub, present when prepared at the pinned revision."""
    from benchmark.plugin.hub import HUB

    how, files = local_alternative(task)
    return [Need("dataset", f"{hub.path}{f' ({config})' if config else ''}@{hub.revision[:8]}",
                 prepared_dir(hub, config) is not None, HUB,
                 fetch=lambda config=config: _hub_dataset(task, hub, config), how=how, files=files,
                 label=f"Hub dataset '{hub.path}'")
            for config in _configs(hub, tests)]


def load(task: TaskSpec, data_dir: Path | None, registry: Registry, cache_dir: Path,
         tests: bool = False) -> TaskData:
    """The task's train / select / eval splits as Examples, with targets mapped to indices or floats.

    tests: also read the task's unlabeled test splits (hub and local sources; a recipe provides none).
    """
    from benchmark.heads.protocol import kind_of

    head = kind_of(registry, task.head) if task.head in registry.downstreams else None
    token = targets.head_targets.set(head.convert_target if head else None)  # the head reads its targets (convert_target)
    try:
        return _load(task, data_dir, registry, cache_dir, tests, head)
    finally:
        targets.head_targets.reset(token)


def _load(task: TaskSpec, data_dir: Path | None, registry: Registry, cache_dir: Path, tests: bool, head: Any
          ) -> TaskData:
    kind = choose_source(task, data_dir)
    want = tuple(task.tests) if tests else ()
    unlabeled: dict[str, Unlabeled] = {}
    if kind == "local":
        data_dir = local_root(task, data_dir)
    if kind == "local" and task.sources.local is not None and task.sources.local.format in CORPUS_LAYOUTS:
        if data_dir is None or not data_dir.is_dir():
            raise BenchError(f"task '{task.name}' reads the {task.sources.local.format} layout: pass --data-dir DIR")
        from benchmark.tasks.corpus import load_layout

        raw, revision = load_layout(task, task.sources.local, data_dir)
    elif kind == "local":
        assert task.sources.local is not None and data_dir is not None
        raw, unlabeled, revision = read_local(task, task.sources.local, data_dir, registry, want)
    elif kind == "recipe":
        recipe = task.sources.recipe
        assert recipe is not None
        loader = registry.datasets.get(recipe.name).obj
        built = loader(task=task, options=dict(recipe.options), cache_dir=cache_dir, **_dir(loader, data_dir))
        raw = {ours: built[theirs] for ours, theirs in (recipe.splits or {s: s for s in built}).items()}
        revision = _recipe_revision(task, registry, data_dir)
    else:
        assert task.sources.hub is not None
        raw, unlabeled, revision = _load_hub(task, task.sources.hub, want, head.hub_examples if head else None)
    for split in ("train", *task.evals):
        if split not in raw:
            raise BenchError(f"task '{task.name}': source has no '{split}' split")
        if len(raw[split]) == 0:
            raise BenchError(f"task '{task.name}': the '{split}' split is empty")
    for split, examples in unlabeled.items():
        if len(examples) == 0:
            raise BenchError(f"task '{task.name}': the test split '{split}' is empty")
    train = raw["train"]
    notes: list[str] = []
    if "select" in raw and len(raw["select"]):
        select = raw["select"]
    else:
        train, select = holdout(train, task.selection.holdout, task.selection.max)
        notes.append(f"model selection on a held-out {len(select)} examples of train (seed {HOLDOUT_SEED})")
    return TaskData(train=train, select=select, evals={e: raw[e] for e in task.evals}, revision=revision,
                    notes=tuple(notes), tests=unlabeled)


def revision(task: TaskSpec, data_dir: Path | None, registry: Registry, tests: bool = False) -> str:
    """The data revision a job of `task` records (`TaskData.revision`), found without loading the data: the digest
    of the local files (a corpus layout's listing), the recipe's revision, or the Hub revision. What a rerun
    compares with the revision its result recorded (benchmark.engine.inputs)."""
    kind = choose_source(task, data_dir)
    if kind == "recipe":
        return _recipe_revision(task, registry, data_dir)
    if kind == "hub":
        assert task.sources.hub is not None
        return _hub_revision(task.sources.hub)
    src, root = task.sources.local, local_root(task, data_dir)
    assert src is not None
    if root is None or not root.is_dir():
        raise BenchError(f"task '{task.name}': data directory not found: {root}")
    if src.format in CORPUS_LAYOUTS:
        from benchmark.tasks.corpus import load_layout

        return load_layout(task, src, root)[1]  # file names, sizes and times: a listing, no audio or pixels
    return local_revision(task, src, root, tuple(task.tests) if tests else ())


def _recipe_revision(task: TaskSpec, registry: Registry, data_dir: Path | None = None) -> str:
    recipe = task.sources.recipe
    assert recipe is not None
    loader = registry.datasets.get(recipe.name).obj
    return str(getattr(loader, "revision", lambda opts: recipe.name)(recipe.options, **_dir(loader, data_dir)))


def _dir(loader: Any, data_dir: Path | None) -> dict[str, Any]:
    """{'data_dir': ...} for a recipe that reads the data directory (`reads_data_dir`: nmsqa), else nothing: the
    other recipes build their data and take no such argument."""
    return {"data_dir": data_dir} if getattr(loader, "reads_data_dir", False) else {}


def _hub_revision(hub: HubSource) -> str:
    return f"hub:{hub.path}/{hub.name}@{hub.revision}"


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




def _hub_dataset(task: TaskSpec, hub: HubSource, config: str | None) -> Any:
    try:
        from datasets import load_dataset
    except ImportError:
        raise BenchError("the Hub source needs the 'datasets' package: pip install datasets") from None
    folder = prepared_dir(hub, config)
    if folder is not None:
        return _read_prepared(folder)
    try:
        if hub.data_dir is not None:
            return load_dataset(hub.path, data_dir=hub.data_dir, revision=hub.revision)
        return load_dataset(hub.path, config, revision=hub.revision)
    except Exception as err:  # datasets raises many types for network / cache problems
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise BenchError(f"cannot load Hub dataset '{hub.path}' ({config}) for '{task.name}': {first}") from None


def _load_hub(task: TaskSpec, hub: HubSource, tests: tuple[str, ...] = (),
              rows: Callable[..., Examples | None] | None = None) -> tuple[dict[str, Examples], dict[str, Unlabeled], str]:
    """rows: the head kind's `hub_examples` (a split read its own way, or None for the standard reading)."""
    ds = _hub_dataset(task, hub, hub.name)
    out: dict[str, Examples] = {}
    for ours, theirs in hub.splits.items():
        if ours in task.tests:
            continue  # unlabeled (GLUE's test labels are -1): read below, and only for --predict-test
        if theirs not in ds:
            raise BenchError(f"Hub dataset '{hub.path}' ({hub.name}) has no split '{theirs}'")
        split = ds[theirs]
        lack = [c for c in (*hub.inputs, hub.label) if c not in split.column_names]
        if lack:
            raise BenchError(f"Hub dataset '{hub.path}' ({hub.name}) split '{theirs}' has no column '{lack[0]}' "
                             f"(columns: {', '.join(split.column_names)})")
        own = rows(task, split, [str(c) for c in hub.inputs], str(hub.label),
                   f"Hub dataset '{hub.path}' split '{theirs}'") if rows is not None else None
        if own is not None:  # e.g. token lists with ClassLabel tags, SQuAD-style answers
            out[ours] = own
            continue
        cols = [_hub_column(task, hub, split, c, theirs) for c in hub.inputs]
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
    unlabeled: dict[str, Unlabeled] = {}
    others: dict[str, Any] = {}
    for ours in tests:
        config, theirs = hub.configs.get(ours, hub.name), hub.splits[ours]
        if config != hub.name and config not in others:
            others[config] = _hub_dataset(task, hub, config)
        source = ds if config == hub.name else others[config]
        if theirs not in source:
            raise BenchError(f"Hub dataset '{hub.path}' ({config}) has no split '{theirs}'")
        split = source[theirs]
        lack = [c for c in (*hub.inputs, hub.index) if c not in split.column_names]
        if lack:
            raise BenchError(f"Hub dataset '{hub.path}' ({config}) split '{theirs}' has no column '{lack[0]}' "
                             f"(columns: {', '.join(split.column_names)})")
        cols = [_hub_column(task, hub, split, c, theirs) for c in hub.inputs]
        inputs = [row[0] if len(row) == 1 else tuple(row) for row in zip(*cols)]
        unlabeled[ours] = Unlabeled(tuple(index_value(i) for i in split[hub.index]), tuple(inputs))
    return out, unlabeled, _hub_revision(hub)


def _hub_column(task: TaskSpec, hub: HubSource, split: Any, column: str, name: str) -> Any:
    """A Hub split's input column; an image task's images as uint8 CHW arrays (decoded once, here)."""
    if task.modality != "image":
        return split[column]
    from benchmark.tasks.image_layouts import hub_images

    return hub_images(split, column, f"Hub dataset '{hub.path}' split '{name}'")

