"""One run request: everything a `bench run` (or `benchmark.run(...)`) is, typed, frozen and validated once.

The command line and the Python API both turn what the user gave into a `RunRequest` with `RunRequest.build`,
which enforces every rule that ties options together (the messages name the command-line flags, the way users
meet them first). The planner (`runner.plan_request`), prefetch and every executor read the request; the Ray
executor ships it to its workers as it is. Light: no torch, no plugin imports.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from benchmark.errors import BenchError
from benchmark.storage import Location, ObjectPath, is_url, location

MODE_DEFAULTS: dict[str, dict[str, Any]] = {
    "frozen": {"lr": 1e-3, "epochs": 50, "batch_size": 256, "patience": 5, "dropout": 0.0},
    "finetune": {"lr": 2e-5, "epochs": 3, "batch_size": 16, "patience": 0, "dropout": 0.1},
}
COMMON_DEFAULTS: dict[str, Any] = {
    "head_lr": 1e-3, "weight_decay": 0.01, "hidden": 0, "layer": None, "pooling": None,
    "max_train": None, "eval_batch_size": 64, "predict_test": False, "dtype": "float32",
    "align": "first", "stride": 128,
}
_HEAD_LR = "--head-lr applies to --mode finetune (in frozen mode only the head trains: use --lr)"
OPT_IN: dict[str, Any] = {"group_by_length": False, "fused_optimizer": False, "fused_lstm": False}
"""Switches added after results were published: a job's hyper-parameters (and with them its id and its
result's `hyperparameters`) carry one only when it is on, so every earlier job keeps its id and record."""
_FUSED = ("--fused-optimizer applies to --mode finetune (it is the fine-tuning optimizer's implementation): drop it "
          "or add --mode finetune")
_GROUP_BY_LENGTH = ("--group-by-length applies to --mode finetune (it orders the fine-tuning batches; frozen mode "
                    "trains on cached features in chunk order): drop it or add --mode finetune")
MAX_SEED = 2**32 - 1  # numpy's limit; torch's is larger
DEVICES = ("cpu", "cuda", "auto")
CACHE_DTYPES = ("float32", "float16")


GRID_KEYS = ("lr", "head_lr", "hidden", "weight_decay", "dropout", "batch_size")
"""The hyper-parameters that may be a list: a grid, every point trained, the best on the model-selection split kept."""


def default_cache_dir() -> Path:
    """BENCH_CACHE, or ~/.cache/bench. When BENCH_CACHE is an object-storage URL only the feature cache lives
    there (`feature_store`); what else bench caches (built datasets, upstream info) stays in BENCH_CACHE_LOCAL,
    or ~/.cache/bench."""
    raw = os.environ.get("BENCH_CACHE", "")
    if is_url(raw):
        found = location(raw)
        if isinstance(found, Path):  # file://
            return found
        return Path(os.environ.get("BENCH_CACHE_LOCAL") or Path.home() / ".cache" / "bench").expanduser()
    return Path(os.environ.get("BENCH_CACHE", Path.home() / ".cache" / "bench")).expanduser()


def feature_store() -> ObjectPath | None:
    """The feature cache's place on object storage (BENCH_CACHE=s3://bucket/prefix), or None for a local cache."""
    raw = os.environ.get("BENCH_CACHE", "")
    found = location(raw) if is_url(raw) else None
    return found if isinstance(found, ObjectPath) else None


def cache_max_bytes() -> int | None:
    """BENCH_CACHE_MAX_GB as bytes (least-recently-used entries are evicted beyond it, sparing those in use), or None
    for no limit."""
    raw = os.environ.get("BENCH_CACHE_MAX_GB", "").strip()
    if not raw:
        return None
    try:
        gb = float(raw)
    except ValueError:
        raise BenchError(f"BENCH_CACHE_MAX_GB={raw!r} is not a number of gigabytes") from None
    if not math.isfinite(gb) or gb <= 0:  # nan and inf parse as floats but are no size (unset it for no limit)
        raise BenchError(f"BENCH_CACHE_MAX_GB={raw!r} must be a positive, finite number of gigabytes (unset it for "
                         "no limit)")
    return int(gb * 1e9)


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


_HP_RULES: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("lr", lambda v: _number(v) and v > 0, "a positive number"),
    ("head_lr", lambda v: _number(v) and v > 0, "a positive number"),
    ("weight_decay", lambda v: _number(v) and v >= 0, "a number >= 0"),
    ("dropout", lambda v: _number(v) and 0 <= v < 1, "in [0, 1)"),
    ("batch_size", lambda v: _count(v) and v >= 1, "a whole number >= 1"),
    ("eval_batch_size", lambda v: _count(v) and v >= 1, "a whole number >= 1"),
    ("hidden", lambda v: _count(v) and v >= 0, "a whole number >= 0 (0 = a linear head)"),
    ("epochs", lambda v: _count(v) and v >= 1, "a whole number >= 1"),
    ("patience", lambda v: _count(v) and v >= 0, "a whole number >= 0"),
    ("max_train", lambda v: _count(v) and v >= 1, "a whole number >= 1"),
    ("align", lambda v: v in ("first", "last", "mean"), "first, last or mean"),
    ("stride", lambda v: _count(v) and v >= 1, "a whole number of tokens >= 1"),
)


def resolve_hparams(mode: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Mode defaults, then common defaults, then the user's values (None means 'use the default')."""
    if mode not in MODE_DEFAULTS:
        raise BenchError(f"unknown mode '{mode}' (frozen or finetune)")
    hp = {"mode": mode, **COMMON_DEFAULTS, **MODE_DEFAULTS[mode]}
    for key, value in overrides.items():
        if key in OPT_IN:
            if not isinstance(value, bool | None):
                raise BenchError(f"--{key.replace('_', '-')} is a switch: true or false (got {value!r})")
            if value:  # absent when off: see OPT_IN
                hp[key] = True
            continue
        if key not in hp:
            raise BenchError(f"unknown hyper-parameter '{key}' (one of {', '.join(sorted([*hp, *OPT_IN]))})")
        if value is None:
            continue
        if isinstance(value, list | tuple):
            if key not in GRID_KEYS:
                raise BenchError(f"'{key}' takes one value; a grid is possible for {', '.join(GRID_KEYS)}")
            if not value:
                raise BenchError(f"empty grid for '{key}'")
            value = list(dict.fromkeys(value))
            value = value[0] if len(value) == 1 else value  # one value is not a grid (keeps job ids stable)
        hp[key] = value
    if hp["dtype"] not in ("float32", "bfloat16", "float16"):
        raise BenchError(f"unknown dtype '{hp['dtype']}' (float32, bfloat16 or float16)")
    for key, ok, what in _HP_RULES:
        for value in hp[key] if isinstance(hp[key], list) else [hp[key]]:
            if value is not None and not ok(value):
                raise BenchError(f"--{key.replace('_', '-')} must be {what} (got {value})")
    return hp


@dataclass(frozen=True)
class HParams:
    """A run's hyper-parameters. The fields, their order and their defaults (frozen mode's) are those of
    MODE_DEFAULTS and COMMON_DEFAULTS; `as_dict()` is the dict jobs carry and job ids hash, exactly as before
    this type existed. Grid keys (lr, head_lr, hidden, weight_decay, dropout, batch_size) may hold a tuple."""

    mode: str = "frozen"
    head_lr: float | tuple[float, ...] = 1e-3
    weight_decay: float | tuple[float, ...] = 0.01
    hidden: int | tuple[int, ...] = 0
    layer: int | None = None
    pooling: str | None = None
    max_train: int | None = None
    eval_batch_size: int = 64
    predict_test: bool = False
    dtype: str = "float32"
    align: str = "first"
    stride: int = 128
    lr: float | tuple[float, ...] = 1e-3
    epochs: int = 50
    batch_size: int | tuple[int, ...] = 256
    patience: int = 5
    dropout: float | tuple[float, ...] = 0.0
    group_by_length: bool = False
    """Fine-tuning: length-grouped training batches (transformers' group_by_length); in `as_dict` only when on."""
    fused_optimizer: bool = False
    """Fine-tuning: torch's fused AdamW kernel (the Trainer's default), not the foreach one; only when on."""
    fused_lstm: bool = False
    """Heads with a BiLSTM (CTC, tagging, span QA, diarization): each direction as one unpacked LSTM call
    (downstreams/bilstm.py; about 10x faster training on a CPU, other rounding); only when on."""

    def __post_init__(self) -> None:
        for f in fields(self):  # a grid given as a list is kept as a tuple: the value stays hashable
            if isinstance(value := getattr(self, f.name), list):
                object.__setattr__(self, f.name, tuple(value))

    @classmethod
    def resolve(cls, mode: str, overrides: Mapping[str, Any] | None = None) -> HParams:
        """The mode's defaults with the user's values (None = the default), checked (one BenchError line)."""
        return cls.from_dict(resolve_hparams(mode, overrides or {}))

    @classmethod
    def from_dict(cls, hp: Mapping[str, Any]) -> HParams:
        """From the dict `resolve_hparams` gives (missing keys take the mode's defaults); lists become tuples."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(hp) - known)
        hp = {k: v for k, v in hp.items() if not (k in OPT_IN and v == OPT_IN[k])}
        if unknown:
            raise BenchError(f"unknown hyper-parameter '{unknown[0]}' (one of {', '.join(sorted(known))})")
        mode = hp.get("mode", "frozen")
        full = {**COMMON_DEFAULTS, **MODE_DEFAULTS.get(mode, {}), **hp, "mode": mode}
        return cls(**full)

    def as_dict(self) -> dict[str, Any]:
        """The hyper-parameters as jobs carry them (grids as lists), in the order job records have always had."""
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in fields(self)
                if not (f.name in OPT_IN and getattr(self, f.name) == OPT_IN[f.name])}


def _names(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """'a, b' or ['a', 'b'] -> ('a', 'b'): comma-separated text as the command line takes it, or a list."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(value)


def _path(value: str | Path | None) -> Path | None:
    return None if value is None else Path(value)


@dataclass(frozen=True)
class RunRequest:
    """Everything a run is. Build it with `RunRequest.build(...)` from what a user gave; constructing it
    directly (or `dataclasses.replace`) checks the rules that hold for any request, in `__post_init__`.

    tasks: what models are trained on (`--tasks`, or `--train-on`); eval_on: tasks each trained model is also
    evaluated on, zero-shot. explicit: the hyper-parameters the user set (the others may take a task's or an
    upstream factory's own defaults). offline: the user's --offline (BENCH_OFFLINE and friends are read when
    planning). cache_dir None: BENCH_CACHE or ~/.cache/bench where the plan is made. command: the command line
    recorded in results (None from the Python API).
    """

    upstreams: tuple[str, ...] = ("minilm",)
    tasks: tuple[str, ...] = ("offline-text",)
    seeds: tuple[int, ...] = (0,)
    output: Location = Path("bench-results")
    hparams: HParams = field(default_factory=HParams)
    explicit: frozenset[str] = frozenset()
    data_dir: Path | None = None
    tasks_files: tuple[Path, ...] = ()
    eval_on: tuple[str, ...] = ()
    overwrite: bool = False
    offline: bool = False
    device: str = "cpu"
    trust_remote_code: bool = False
    executor: str = "local"
    cache_dir: Path | None = None
    use_cache: bool = True
    cache_dtype: str = "float32"
    cache_max_bytes: int | None = None
    command: str | None = None

    def __post_init__(self) -> None:
        # Sequences given as lists (or paths as text) are stored as tuples and Paths: the request stays hashable.
        for name in ("upstreams", "tasks", "eval_on"):
            object.__setattr__(self, name, _names(getattr(self, name)))
        object.__setattr__(self, "seeds", tuple(self.seeds))
        object.__setattr__(self, "tasks_files", tuple(Path(p) for p in self.tasks_files))
        object.__setattr__(self, "explicit", frozenset(self.explicit))
        object.__setattr__(self, "output", location(self.output))  # a folder, or an fsspec URL (benchmark.storage)
        object.__setattr__(self, "data_dir", _path(self.data_dir))
        object.__setattr__(self, "cache_dir", _path(self.cache_dir))
        self._check()

    def _check(self) -> None:
        """The rules any request obeys (messages name the flags: the command line is where users meet them)."""
        if "head_lr" in self.explicit and self.hparams.mode != "finetune":
            raise BenchError(_HEAD_LR)
        if self.hparams.group_by_length and self.hparams.mode != "finetune":
            raise BenchError(_GROUP_BY_LENGTH)
        if self.hparams.fused_optimizer and self.hparams.mode != "finetune":
            raise BenchError(_FUSED)
        if not self.use_cache and self.cache_dtype != "float32":
            raise BenchError("--cache-dtype has no effect with --no-cache; drop one of them")
        if self.cache_dtype not in CACHE_DTYPES:
            raise BenchError(f"unknown cache dtype '{self.cache_dtype}' ({' or '.join(CACHE_DTYPES)})")
        if self.device not in DEVICES:
            raise BenchError(f"unknown device '{self.device}' (cpu, cuda or auto)")
        if not self.seeds:
            raise BenchError("no seed given (--seeds 0,1,2)")
        bad = [s for s in self.seeds if not _count(s) or not 0 <= s <= MAX_SEED]
        if bad:
            raise BenchError(f"seed {bad[0]} is out of range: seeds are whole numbers from 0 to {MAX_SEED}")

    @property
    def mode(self) -> str:
        return self.hparams.mode

    @property
    def predict_test(self) -> bool:
        return bool(self.hparams.predict_test)

    @classmethod
    def build(cls, *, upstreams: str | Sequence[str] = "minilm", tasks: str | Sequence[str] | None = None,
              train_on: str | Sequence[str] | None = None, eval_on: str | Sequence[str] | None = None,
              seeds: Sequence[int] = (0,), output: str | Location = "bench-results", data_dir: str | Path | None = None,
              tasks_files: Sequence[str | Path] = (), mode: str = "frozen", hparams: Mapping[str, Any] | None = None,
              overwrite: bool = False, offline: bool = False, device: str = "cpu", trust_remote_code: bool = False,
              executor: str = "local", cache_dir: str | Path | None = None, use_cache: bool = True,
              cache_dtype: str = "float32", command: str | None = None) -> RunRequest:
        """The request for what a user gave, every rule between options checked (one BenchError line).

        tasks None: the default suite (offline-text); `train_on` replaces it. hparams: the user's values, None
        for 'not given' (the mode's default); the keys with a value are the explicit ones, and so is `layer`
        when present at all (None there is the weighted sum over layers, chosen, which must override a task's
        own layer default). data_dir None: BENCH_DATA_DIR if set. The feature-cache size limit is read from
        BENCH_CACHE_MAX_GB here, so workers elsewhere use the driver's.
        """
        if train_on is not None:
            if tasks is not None:
                raise BenchError("--train-on replaces --tasks; give one of them")
            tasks = train_on
        elif eval_on:
            raise BenchError("--eval-on needs --train-on TASKS: the tasks whose trained models it evaluates")
        given = dict(hparams or {})
        explicit = {k for k, v in given.items() if v is not None or k == "layer"}
        if data_dir is None and os.environ.get("BENCH_DATA_DIR"):
            data_dir = os.environ["BENCH_DATA_DIR"]
        if "head_lr" in explicit and mode != "finetune":  # before the values are checked: the flag is the mistake
            raise BenchError(_HEAD_LR)
        if given.get("group_by_length") and mode != "finetune":
            raise BenchError(_GROUP_BY_LENGTH)
        if given.get("fused_optimizer") and mode != "finetune":
            raise BenchError(_FUSED)
        return cls(upstreams=_names(upstreams), tasks=_names("offline-text" if tasks is None else tasks),
                   seeds=tuple(seeds), output=location(output), hparams=HParams.resolve(mode, given),
                   explicit=frozenset(explicit), data_dir=_path(data_dir),
                   tasks_files=tuple(Path(p) for p in tasks_files), eval_on=_names(eval_on), overwrite=overwrite,
                   offline=offline, device=device, trust_remote_code=trust_remote_code, executor=executor,
                   cache_dir=_path(cache_dir), use_cache=use_cache, cache_dtype=cache_dtype,
                   cache_max_bytes=cache_max_bytes(), command=command)

    def only(self, upstream: str, task: str, seed: int) -> RunRequest:
        """The same request narrowed to one (upstream, task, seed): what a remote worker plans and runs."""
        from dataclasses import replace

        return replace(self, upstreams=(upstream,), tasks=(task,), seeds=(seed,))

