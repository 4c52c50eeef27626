"""Scores: a task's main score (GLUE rule), human-relative scores, and suite aggregates.

GLUE rule: a task with several scored metrics scores their mean; MNLI's matched and mismatched sets are one
task (the mean of the two); the suite score is the macro average over tasks. A suite score over a subset
of its tasks is not a suite score: it is missing (None). Human-relative: score / human score (1.0 = human).
SUPERB rule: each metric mapped so that FBANK = 0 and SOTA = 1000, averaged within a task, then across tasks.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from benchmark.tasks.schema import SuiteSpec, TaskSpec


def task_score(task: TaskSpec, scores: Mapping[str, float]) -> float:
    """The task's main score from its metric values (every key in task.score_keys() must be present)."""
    keys = task.score_keys()
    missing = [k for k in keys if k not in scores]
    if missing:
        raise KeyError(f"task '{task.name}' scores lack {missing}")
    return statistics.fmean(float(scores[k]) for k in keys)


def reference_score(task: TaskSpec, reference: str = "human") -> float | None:
    """The reference's task score by the same rule, or None if the task has no such reference."""
    ref = task.references.get(reference)
    if ref is None or any(k not in ref.scores for k in task.score_keys()):
        return None
    return task_score(task, ref.scores)


def relative(score: float | None, reference: float | None) -> float | None:
    """score / reference (1.0 = the reference), None when either is missing or the reference is not positive."""
    if score is None or reference is None or reference <= 0 or math.isnan(score):
        return None
    return score / reference


def suite_score(suite: SuiteSpec, task_scores: Mapping[str, float | None]) -> float | None:
    """Macro average over the suite's tasks; None unless every task has a score."""
    values = [task_scores.get(t) for t in suite.tasks]
    if any(v is None for v in values):
        return None
    return statistics.fmean(values)  # type: ignore[arg-type]


def suite_reference(suite: SuiteSpec, tasks: Mapping[str, TaskSpec], reference: str = "human") -> float | None:
    """The suite score the reference reaches (GLUE human baseline: 87.1), None if a task lacks the reference."""
    return suite_score(suite, {t: reference_score(tasks[t], reference) if t in tasks else None for t in suite.tasks})


SUPERB_ZERO, SUPERB_TOP = "fbank", "sota"


def superb_keys(task: TaskSpec) -> list[str] | None:
    """The metric keys SUPERB's score averages: every metric of the task that has both reference points (FBANK and
    SOTA), its scored ones included (SF: slot-type F1 and slot-value CER, though only F1 is the task's main score).
    None when the task is not on the SUPERB scale: a reference is missing for a scored metric, or the two coincide."""
    zero, top = task.references.get(SUPERB_ZERO), task.references.get(SUPERB_TOP)
    if zero is None or top is None:
        return None
    keys = [k for k in task.metric_keys() if k in zero.scores and k in top.scores]
    if any(k not in keys for k in task.score_keys()) or any(zero.scores[k] == top.scores[k] for k in keys):
        return None
    return keys


def on_superb_scale(task: TaskSpec) -> bool:
    """Whether the task has SUPERB's two reference points (FBANK and SOTA) for every scored metric."""
    return superb_keys(task) is not None


def superb_score(task: TaskSpec, scores: Mapping[str, float]) -> float | None:
    """SUPERB's normalised task score: each metric with both reference points (`superb_keys`) mapped linearly so
    that the task's `fbank` reference is 0 and its `sota` reference is 1000, then averaged. A lower-is-better
    metric (WER, CER) needs no flag: its SOTA value is below FBANK's, so the slope's sign turns an improvement
    into a higher score. None when the task is not on the SUPERB scale or `scores` lacks one of those metrics."""
    keys = superb_keys(task)
    if keys is None or any(k not in scores for k in keys):
        return None
    zero, top = task.references[SUPERB_ZERO], task.references[SUPERB_TOP]
    return statistics.fmean(1000.0 * (float(scores[k]) - zero.scores[k]) / (top.scores[k] - zero.scores[k])
                            for k in keys)


@dataclass(frozen=True)
class Aggregate:
    """Mean and standard deviation over seeds of one (upstream, task)."""

    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Aggregate:
        return cls(statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0, len(values))


def mean_by_key(rows: Iterable[Mapping[str, float]]) -> dict[str, Aggregate]:
    """Per-metric mean ± std over several result score dicts (seeds)."""
    collected: dict[str, list[float]] = {}
    for row in rows:
        for k, v in row.items():
            collected.setdefault(k, []).append(float(v))
    return {k: Aggregate.of(v) for k, v in collected.items()}
