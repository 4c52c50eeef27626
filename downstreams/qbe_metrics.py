"""Query-by-example metrics: MTWV (maximum term-weighted value, NIST STD 2006) and MAP, in percent points.

A QbE split holds documents and queries as examples (downstreams.heads_qbe). A query's target is
`{"role": "query", "id": ..., "hits": [positions]}`: the positions, among the split's documents in order, of the
documents the query occurs in; its prediction is one detection score per document of the split, in that order
(higher: more likely there). A document's target is `{"role": "document", "id": ...}` and its prediction is
empty; the metrics read only the query rows, so a bootstrap resample of the examples resamples the queries (the
terms), which is the unit these metrics average over.

TWV(θ) = 1 − mean over terms of (P_miss(term, θ) + β · P_fa(term, θ)), a trial detected when its score ≥ θ;
P_miss = 1 − detected occurrences / occurrences, P_fa = detected non-occurrences / documents without the term.
MTWV = the maximum over θ (θ above every score detects nothing: TWV 0, so MTWV ≥ 0). Terms that occur in no
document are left out (their P_miss is undefined), as NIST's scorer does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

BETA = 0.01 * (1 - 0.0008) / 0.0008
"""β = (C_fa / C_miss) · (1 − P_target) / P_target = 12.49 with the MediaEval QUESST scorer's cost parameters
(P_target = 0.0008, C_miss = 100, C_fa = 1; QUESST 2015's score-TWV-Cnxe.sh, whose jar continues 2014's, which
SUPERB's reference numbers were scored with). NIST STD 2006's keyword search used β = 999.9 (P_target = 1e-4,
C / V = 0.1): pass `beta=` for that."""


def query_trials(y_true: Sequence[Any], y_pred: Sequence[Any]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(scores, is_occurrence) over the split's documents for every query row that occurs somewhere."""
    out = []
    for target, pred in zip(y_true, y_pred, strict=True):
        if not isinstance(target, dict) or target.get("role") != "query":
            continue
        scores = np.asarray(pred, dtype=float).reshape(-1)
        if not np.isfinite(scores).all():
            raise ValueError(f"query {target.get('id')}: non-finite detection scores")
        hit = np.zeros(len(scores), dtype=bool)
        hits = [int(h) for h in target.get("hits", ())]
        if any(h < 0 or h >= len(scores) for h in hits):
            raise ValueError(f"query {target.get('id')}: an occurrence at a document position outside the "
                             f"{len(scores)} scored documents")
        hit[hits] = True
        if hit.any():
            out.append((scores, hit))
    return out


def twv_curve(trials: Sequence[tuple[np.ndarray, np.ndarray]], beta: float = BETA
              ) -> tuple[np.ndarray, np.ndarray]:
    """(thresholds, TWV at each), thresholds descending: every distinct score.

    TWV(θ) = (1/T) Σ_terms [hits(θ) / n_true − β · false_alarms(θ) / n_nontarget]: each detected trial adds its
    own weight, so one sort of all trials and a cumulative sum give TWV at every threshold."""
    if not trials:
        return np.zeros(0), np.zeros(0)
    n_terms = len(trials)
    scores, weights = [], []
    for s, hit in trials:
        n_true, n_false = int(hit.sum()), int((~hit).sum())
        w = np.where(hit, 1.0 / (n_terms * n_true), -beta / (n_terms * max(n_false, 1)))
        scores.append(s)
        weights.append(w)
    s_all, w_all = np.concatenate(scores), np.concatenate(weights)
    order = np.argsort(-s_all, kind="stable")
    s_sorted, cum = s_all[order], np.cumsum(w_all[order])
    last_of_tie = np.append(s_sorted[1:] != s_sorted[:-1], True)  # θ = s detects every trial scoring ≥ s
    return s_sorted[last_of_tie], cum[last_of_tie]


def mtwv_value(y_true: Sequence[Any], y_pred: Sequence[Any], beta: float = BETA) -> tuple[float, float]:
    """(MTWV as a fraction, the threshold reaching it; +inf when detecting nothing is best)."""
    thresholds, twv = twv_curve(query_trials(y_true, y_pred), beta)
    if not len(twv) or twv.max() <= 0.0:
        return 0.0, float("inf")
    best = int(np.argmax(twv))
    return float(twv[best]), float(thresholds[best])


def mtwv(y_true: Any, y_pred: Any) -> float:
    """Maximum term-weighted value (β = 12.49, QUESST's), in percent points (SUPERB prints it as a fraction)."""
    return 100.0 * mtwv_value(list(y_true), list(y_pred))[0]


def average_precision(scores: np.ndarray, hit: np.ndarray) -> float:
    """Average precision of one query's ranking of the documents (scikit-learn: tied scores share a rank)."""
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(hit.astype(int), scores))


def mean_average_precision(y_true: Any, y_pred: Any) -> float:
    """Mean over the queries (that occur somewhere) of the average precision of their document ranking, in
    percent points."""
    trials = query_trials(list(y_true), list(y_pred))
    if not trials:
        return 0.0
    return 100.0 * float(np.mean([average_precision(s, hit) for s, hit in trials]))


METRICS = {"mtwv": mtwv, "map": mean_average_precision}
