"""What every spoken QA dataset read as discrete units shares (spoken-fortune-qa, nmsqa): the unit model (a file
from `bench units fit`, option `unit_model`, or k-means fitted on the training audio and cached), every clip's
deduplicated unit runs (cached as JSON beside it), and the examples a `unit-span-qa` head reads.

An example's input is (question units, passage units, each passage run's [start, end] seconds), units written as
symbols ('u12 u3 ...'); its target holds the answer as the passage runs that overlap the gold time span (the first
gold when there are several), `starts` (its character offset), `time` (the gold span) and, when a question has
more than one gold span (NMSQA's dev set: one per annotator), `times`: all of them (the metrics take the best).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.engine.results import write_text_atomic
from benchmark.errors import BenchError
from benchmark.types import Examples

UNIT_KEYS = ("upstream", "layer", "k", "seed", "max_frames")
CHUNK = 64
"""Clips decoded and encoded at a time: a large corpus (NMSQA) does not fit in memory as waveforms."""

Clips = Callable[[], Sequence[np.ndarray]] | Sequence[np.ndarray]


def unit_spec(recipe: str, u: dict[str, Any]) -> Any:
    """The UnitSpec of a recipe's `units` option (a BenchError naming the recipe for an unknown key)."""
    from benchmark.features.units import UnitSpec

    unknown = set(u) - set(UNIT_KEYS)
    if unknown:
        raise BenchError(f"{recipe}: unknown units option '{sorted(unknown)[0]}' ({', '.join(UNIT_KEYS)})")
    spec = UnitSpec(**u)
    spec.check()
    return spec


def units_key(recipe: str, o: dict[str, Any]) -> str:
    """What names the unit model in the data's revision: its file's digest, or the spec it is fitted from."""
    if o["unit_model"]:
        from benchmark.features import units

        return units.load(Path(str(o["unit_model"])).expanduser()).digest()
    return unit_spec(recipe, o["units"]).digest()


def unit_model(recipe: str, o: dict[str, Any], train: Callable[[], Sequence[np.ndarray]], folder: Path, stem: str,
               fitted_on: str) -> Any:
    """The `unit_model` file, or k-means over the training clips' frames (cached as folder/stem-SPEC.npz)."""
    from benchmark.features import units

    if o["unit_model"]:
        return units.load(Path(str(o["unit_model"])).expanduser())
    spec = unit_spec(recipe, o["units"])
    path = folder / f"{stem}-{spec.digest()}.npz"
    if path.is_file():
        return units.load(path)
    upstream = units.build_upstream(spec.upstream)
    model = units.fit(units.frames(upstream, train(), spec.layer), spec, units.frame_rate(upstream), fitted_on)
    folder.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return model


def encoded(model: Any, clips: dict[str, Clips], path: Path) -> dict[str, list[list[list[int]]]]:
    """Every clip's unit runs [unit, first frame, end frame] per split, cached as JSON at `path`. A split's clips
    are a list or a function giving chunks of them (decoded CHUNK at a time)."""
    from benchmark.features import units

    if path.is_file():
        return dict(json.loads(path.read_text(encoding="utf-8")))
    upstream = units.build_upstream(model.spec.upstream)
    out: dict[str, list[list[list[int]]]] = {}
    for split, waves in clips.items():
        chunks = waves() if callable(waves) else [waves]
        out[split] = [[[r.unit, r.start, r.end] for r in found] for chunk in chunks
                      for found in units.encode(model, units.frames(upstream, chunk, model.spec.layer))]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(out))  # (a private temporary: several runs may encode the same clips at once)
    return out


def examples(pairs: Sequence[tuple[list[list[int]], list[list[int]]]], golds: Sequence[Sequence[Sequence[float]]],
             rate: float) -> Examples:
    """(passage runs, question runs) and each question's gold [start, end] spans (one or more) as Examples."""
    if len(pairs) != len(golds):
        raise BenchError(f"spoken QA: {len(pairs)} questions but {len(golds)} answers")
    inputs, targets = [], []
    for (p_runs, q_runs), spans in zip(pairs, golds, strict=True):
        t0, t1 = (float(t) for t in spans[0])
        bounds = tuple((round(a / rate, 3), round(b / rate, 3)) for _, a, b in p_runs)
        inside = [i for i, (a, b) in enumerate(bounds) if a < t1 and b > t0] or [0]
        start = sum(len(f"u{u}") + 1 for u, _, _ in p_runs[: inside[0]])
        answer = " ".join(f"u{u}" for u, _, _ in p_runs[inside[0]: inside[-1] + 1])
        inputs.append((" ".join(f"u{u}" for u, _, _ in q_runs), " ".join(f"u{u}" for u, _, _ in p_runs), bounds))
        target: dict[str, Any] = {"answers": [answer], "starts": [start], "time": [round(t0, 3), round(t1, 3)]}
        if len(spans) > 1:
            target["times"] = [[round(float(a), 3), round(float(b), 3)] for a, b in spans]
        targets.append(target)
    return Examples(tuple(inputs), tuple(targets))
