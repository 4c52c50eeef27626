"""The metrics of textless spoken QA as DUAL defines them (Lin et al. 2022, "DUAL: Discrete Spoken Unit Adaptive
Learning for Textless Spoken Question Answering", Interspeech; the `compare` function of its evaluation code):
both compare a predicted answer *time* span with the gold one.

- ff1 (frame-level F1): precision = overlap / predicted length, recall = overlap / gold length, F1 their harmonic
  mean. Computed on seconds here, which is DUAL's frame count divided by the frame rate (the ratios are the same).
- aos (Audio Overlapping Score): overlap / (max(ends) - min(starts)): the union of the two spans when they
  overlap (DUAL's denominator is the hull, which only differs from the union when they do not overlap, and then
  the overlap is 0 anyway).

As in DUAL, an empty or reversed prediction (start >= end), a prediction that does not overlap the gold span,
and spans that only touch at one point score 0; so does an empty gold span. Targets are the task's QA dicts with
`"time": [start, end]` (seconds), predictions `[start, end]`; each metric is the mean over questions, in percent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def overlap(pred: Sequence[float], gold: Sequence[float]) -> float:
    """Seconds the two [start, end] spans share (0 when either is empty or they are disjoint)."""
    (ps, pe), (gs, ge) = pred, gold
    if ps >= pe or gs >= ge:
        return 0.0
    return max(0.0, min(pe, ge) - max(ps, gs))


def span_f1(pred: Sequence[float], gold: Sequence[float]) -> float:
    """DUAL's frame-level F1 of one question, as a fraction."""
    shared = overlap(pred, gold)
    if shared <= 0:
        return 0.0
    precision, recall = shared / (pred[1] - pred[0]), shared / (gold[1] - gold[0])
    return 2 * precision * recall / (precision + recall)


def span_aos(pred: Sequence[float], gold: Sequence[float]) -> float:
    """DUAL's audio overlapping score of one question, as a fraction."""
    shared = overlap(pred, gold)
    if shared <= 0:
        return 0.0
    return shared / (max(pred[1], gold[1]) - min(pred[0], gold[0]))


def _span(value: Any, what: str) -> tuple[float, float]:
    if isinstance(value, dict):
        value = value.get("time")
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValueError(f"a {what} time span must be [start, end] in seconds, not {value!r}")
    return float(value[0]), float(value[1])


def _golds(value: Any) -> list[tuple[float, float]]:
    """A question's gold spans: `times` (one per annotator, NMSQA's dev set) when the target has them."""
    if isinstance(value, dict) and value.get("times"):
        return [_span(list(t), "gold") for t in value["times"]]
    return [_span(value, "gold")]


def _mean(fn: Any, y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    """The mean over questions of the best score against any of a question's gold spans (DUAL's
    aggregate_dev_result keeps a question's best row)."""
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_pred)} predictions for {len(y_true)} questions")
    if len(y_true) == 0:  # (not `not y_true`: the report's statistics pass numpy arrays)
        return 0.0
    return 100.0 * sum(max(fn(_span(p, "predicted"), g) for g in _golds(t))
                       for t, p in zip(y_true, y_pred, strict=True)) / len(y_true)


def ff1(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    """Frame-level F1 between predicted and gold answer time spans (DUAL), mean over questions, in percent."""
    return _mean(span_f1, y_true, y_pred)


def aos(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    """Audio overlapping score between predicted and gold answer time spans (DUAL), mean over questions, in
    percent."""
    return _mean(span_aos, y_true, y_pred)
