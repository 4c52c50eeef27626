"""Speaker-verification metrics: equal error rate (EER) and the minimum normalised detection cost (minDCF).

Both read an evaluation split the way the `speaker-verification` head kind (downstreams/heads_sv.py) writes it:
each example is one utterance; its target is the tuple of trials it opens, `((other_index, label), ...)` with
label 1 for a target trial (same speaker) and 0 for a non-target one; its prediction is the list of cosine scores of
those trials, in the same order. So the metrics flatten the (label, score) pairs over every utterance; the index
of the other side is only needed to compute the score, never to score it. Resampling utterances (bootstrap CIs)
resamples their trials with them.

- `eer` (percent, lower is better): the point of the ROC (scikit-learn's `roc_curve`) where the false-positive
  rate equals the false-negative rate, linearly interpolated between the two ROC points that straddle it — the
  value `brentq(lambda x: 1 - x - interp1d(fpr, tpr)(x), 0, 1)` finds in s3prl and most VoxCeleb recipes.
- `min_dcf` (a normalised cost, 0 = perfect, 1 = no better than always rejecting or always accepting; NOT in
  percent): NIST SRE's detection cost C_miss * P_miss * P_target + C_fa * P_fa * (1 - P_target) at P_target 0.01,
  C_miss = C_fa = 1, divided by the cost of the better trivial system min(C_miss * P_target, C_fa * (1 - P_target)),
  minimised over every threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from benchmark.errors import BenchError

P_TARGET = 0.01
C_MISS = 1.0
C_FA = 1.0


def trial_arrays(y_true: Sequence[Any], y_pred: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """(labels, scores) of every trial: per-utterance trial lists and score lists flattened, or, given flat
    arrays (a label and a score per trial), those as they are."""
    labels: list[int] = []
    scores: list[float] = []
    for k, (trials, preds) in enumerate(zip(y_true, y_pred, strict=True)):
        if isinstance(trials, int | np.integer | float | np.floating):  # already one trial per entry
            labels.append(int(trials))
            scores.append(float(preds))
            continue
        if isinstance(trials, str) or len(trials) != len(preds):
            raise BenchError(f"speaker verification: example {k} has target {str(trials)[:60]!r} and "
                             f"{len(preds) if hasattr(preds, '__len__') else 1} scores; its target must be a trial "
                             "list ((other_index, 0|1), ...) with one score per trial (the speaker-verification head)")
        for pair, score in zip(trials, preds, strict=True):
            labels.append(int(pair[1]))
            scores.append(float(score))
    y, s = np.asarray(labels, dtype=int), np.asarray(scores, dtype=float)
    if not len(y) or (y == 1).all() or (y == 0).all():
        raise BenchError(f"speaker verification needs target and non-target trials; got {int((y == 1).sum())} "
                         f"target and {int((y == 0).sum())} non-target trials")
    if not np.isfinite(s).all():
        raise BenchError("speaker verification: a trial score is not finite (NaN or infinite)")
    return y, s


def eer(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    """Equal error rate in percent, from scikit-learn's ROC, interpolated where FPR = FNR."""
    from sklearn.metrics import roc_curve

    y, s = trial_arrays(y_true, y_pred)
    fpr, tpr, _ = roc_curve(y, s, pos_label=1)
    fnr = 1.0 - tpr
    gap = fpr - fnr  # rises from -1 (accept nothing) to +1 (accept everything) along the curve
    k = int(np.argmax(gap >= 0))  # the first ROC point at or past the crossing
    if gap[k] == 0 or k == 0:
        return 100.0 * float(fpr[k])
    t = -gap[k - 1] / (gap[k] - gap[k - 1])  # the straight ROC segment from point k-1 to k crosses FPR = FNR at t
    return 100.0 * float(fpr[k - 1] + t * (fpr[k] - fpr[k - 1]))


def min_dcf(y_true: Sequence[Any], y_pred: Sequence[Any], p_target: float = P_TARGET, c_miss: float = C_MISS,
            c_fa: float = C_FA) -> float:
    """The minimum normalised detection cost over all thresholds (NIST SRE; SUPERB's p_target 0.01)."""
    from sklearn.metrics import roc_curve

    y, s = trial_arrays(y_true, y_pred)
    fpr, tpr, _ = roc_curve(y, s, pos_label=1, drop_intermediate=False)  # every threshold, accept-none first
    cost = c_miss * (1.0 - tpr) * p_target + c_fa * fpr * (1.0 - p_target)
    return float(cost.min() / min(c_miss * p_target, c_fa * (1.0 - p_target)))
