"""Uncertainty from per-example predictions: bootstrap confidence intervals and a paired permutation test.

Both work for any registered metric (accuracy, F1, Matthews, Pearson...), because they recompute the task's
main score (GLUE rule) on resampled or swapped predictions instead of assuming the score is a mean of
per-example values. Seeds are handled together: a bootstrap replicate resamples the evaluation examples once
and scores every seed's predictions on that sample; the reported score is the mean over seeds. Random draws
come from a fixed generator, so a report is reproducible byte for byte.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmark.plugin.registry import Registry
from benchmark.tasks.schema import TaskSpec

Predictions = Mapping[str, Sequence[Any]]  # eval split -> one prediction per example

N_BOOTSTRAP = 1000
N_PERMUTATIONS = 1000


def as_array(values: Sequence[Any]) -> np.ndarray:
    """Predictions or targets as a 1-D array: numbers as they are; tag sequences, QA answers and texts (lists,
    dicts, strings) as objects, one per example, so that indexing by example works for every kind of task and a
    resample holds references to the same objects (batched metrics score each distinct pair once by identity)."""
    if len(values) and isinstance(values[0], list | tuple | dict | str):
        out = np.empty(len(values), dtype=object)
        for i, v in enumerate(values):
            out[i] = v
        return out
    return np.asarray(values)


def main_score(task: TaskSpec, registry: Registry, preds: Predictions, targets: Predictions,
               index: Mapping[str, np.ndarray] | None = None) -> float:
    """The task's main score from predictions (optionally on a subset / resample of each eval split)."""
    values = []
    for split in task.evals:
        p, t = as_array(preds[split]), as_array(targets[split])
        if index is not None:
            p, t = p[index[split]], t[index[split]]
        values.extend(float(registry.metrics.get(m).obj.fn(t, p)) for m in task.score)
    return statistics.fmean(values)


def usable(task: TaskSpec, results: Sequence[Mapping[str, Any]]) -> bool:
    """True when every result carries predictions and targets for every eval split, of equal lengths."""
    if not results:
        return False
    first = results[0].get("targets") or {}
    for r in results:
        preds, gold = r.get("predictions") or {}, r.get("targets") or {}
        for split in task.evals:
            if split not in preds or split not in gold or len(preds[split]) != len(gold[split]):
                return False
            if len(gold[split]) != len(first.get(split, ())):
                return False
    return True


def _batched(task: TaskSpec, registry: Registry) -> list[Any] | None:
    fns = [getattr(registry.metrics.get(m).obj.fn, "batched", None) for m in task.score]
    return None if any(f is None for f in fns) else fns


def scores_on_draws(task: TaskSpec, registry: Registry, preds: Predictions, targets: Predictions,
                    draws: Mapping[str, np.ndarray]) -> np.ndarray:
    """Main score on each row of `draws` (replicates, examples) index matrices: (replicates,)."""
    fns = _batched(task, registry)
    n = next(iter(draws.values())).shape[0]
    if fns is None:  # a metric without a batched form: one call per replicate
        return np.array([main_score(task, registry, preds, targets, {s: d[i] for s, d in draws.items()})
                         for i in range(n)])
    cols = []
    for split in task.evals:
        p, t = as_array(preds[split]), as_array(targets[split])
        idx = draws[split]
        cols.extend(fn(t[idx], p[idx]) for fn in fns)
    return np.mean(cols, axis=0)


def bootstrap_ci(task: TaskSpec, registry: Registry, results: Sequence[Mapping[str, Any]],
                 n: int = N_BOOTSTRAP, level: float = 0.95, seed: int = 0) -> tuple[float, float] | None:
    """Percentile bootstrap CI of the seed-mean main score over the evaluation examples; None without predictions."""
    if not usable(task, results):
        return None
    rng = np.random.default_rng(seed)
    targets = results[0]["targets"]
    draws = {s: rng.integers(0, len(targets[s]), size=(n, len(targets[s]))) for s in task.evals}
    means = np.mean([scores_on_draws(task, registry, r["predictions"], targets, draws) for r in results], axis=0)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


@dataclass(frozen=True)
class PairedTest:
    """A minus B on the same examples and seeds: the difference in main score and its permutation p-value."""

    difference: float
    p_value: float
    seeds: tuple[int, ...]
    n_examples: int
    n_permutations: int


def paired_permutation(task: TaskSpec, registry: Registry, a: Sequence[Mapping[str, Any]],
                       b: Sequence[Mapping[str, Any]], n: int = N_PERMUTATIONS, seed: int = 0) -> PairedTest | None:
    """Two-sided paired permutation test: swap A's and B's prediction of each example at random.

    Results are paired by seed (seeds both have); the statistic is the mean over seeds of score(A) - score(B).
    None when the two have no seed in common or lack per-example predictions.
    """
    by_a, by_b = {r["seed"]: r for r in a}, {r["seed"]: r for r in b}
    seeds = tuple(sorted(set(by_a) & set(by_b)))
    pairs = [(by_a[s], by_b[s]) for s in seeds]
    if not seeds or not usable(task, [r for pair in pairs for r in pair]):
        return None
    targets = pairs[0][0]["targets"]
    pa = [{s: as_array(x["predictions"][s]) for s in task.evals} for x, _ in pairs]
    pb = [{s: as_array(y["predictions"][s]) for s in task.evals} for _, y in pairs]

    observed = statistics.fmean(main_score(task, registry, x, targets) - main_score(task, registry, y, targets)
                                for x, y in zip(pa, pb, strict=True))
    rng = np.random.default_rng(seed)
    sizes = {s: len(targets[s]) for s in task.evals}
    swaps = {s: rng.random((n, k)) < 0.5 for s, k in sizes.items()}  # (permutations, examples)
    rows = {s: np.broadcast_to(np.arange(k), (n, k)) for s, k in sizes.items()}
    diffs = np.zeros(n)
    for da, db in zip(pa, pb, strict=True):
        # Stack A and B so that "take B's prediction" is an index shift by the split's length.
        both = {s: np.concatenate([da[s], db[s]]) for s in task.evals}
        gold = {s: np.concatenate([as_array(targets[s])] * 2) for s in task.evals}
        take_a = {s: rows[s] + sizes[s] * swaps[s] for s in task.evals}
        take_b = {s: rows[s] + sizes[s] * ~swaps[s] for s in task.evals}
        diffs += scores_on_draws(task, registry, both, gold, take_a) - scores_on_draws(task, registry, both, gold, take_b)
    diffs /= len(pa)
    extreme = int((np.abs(diffs) >= abs(observed) - 1e-9).sum())
    return PairedTest(observed, (extreme + 1) / (n + 1), seeds, sum(sizes.values()), n)
