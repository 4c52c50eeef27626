"""Builtin metrics, computed by scikit-learn and SciPy and reported in percent points (GLUE convention)."""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmark.hookspecs import hookimpl


def accuracy(y_true: Any, y_pred: Any) -> float:
    from sklearn.metrics import accuracy_score

    return 100.0 * float(accuracy_score(y_true, y_pred))


def f1(y_true: Any, y_pred: Any) -> float:
    """F1 of the positive class (label index 1), as GLUE scores MRPC and QQP."""
    from sklearn.metrics import f1_score

    return 100.0 * float(f1_score(y_true, y_pred, pos_label=1, average="binary", zero_division=0.0))


def macro_f1(y_true: Any, y_pred: Any) -> float:
    from sklearn.metrics import f1_score

    return 100.0 * float(f1_score(y_true, y_pred, average="macro", zero_division=0.0))


def matthews(y_true: Any, y_pred: Any) -> float:
    from sklearn.metrics import matthews_corrcoef

    return 100.0 * float(matthews_corrcoef(y_true, y_pred))


def _constant(x: np.ndarray) -> bool:
    return bool(np.all(x == x[0]))


def pearson(y_true: Any, y_pred: Any) -> float:
    from scipy.stats import pearsonr

    t, p = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    # A constant prediction has no correlation; SciPy warns and returns nan, we score it 0.
    return 0.0 if _constant(t) or _constant(p) else 100.0 * float(pearsonr(t, p).statistic)


def spearman(y_true: Any, y_pred: Any) -> float:
    from scipy.stats import spearmanr

    t, p = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    return 0.0 if _constant(t) or _constant(p) else 100.0 * float(spearmanr(t, p).statistic)


# Batched versions: (replicates, examples) arrays -> (replicates,) scores, identical to the functions above.
# Bootstrap CIs and permutation tests call a metric thousands of times; these make a report take seconds.


def _batched_accuracy(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    return 100.0 * (t == p).mean(1)


def _batched_f1(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    tp = ((p == 1) & (t == 1)).sum(1)
    denom = 2 * tp + ((p == 1) & (t != 1)).sum(1) + ((p != 1) & (t == 1)).sum(1)
    return 100.0 * np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)


def _batched_matthews(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    n = t.shape[1]
    classes = np.union1d(np.unique(t), np.unique(p))
    tk = np.stack([(t == k).sum(1) for k in classes], 1).astype(float)
    pk = np.stack([(p == k).sum(1) for k in classes], 1).astype(float)
    c = (t == p).sum(1).astype(float)
    cov = c * n - (tk * pk).sum(1)
    denom = np.sqrt((n * n - (pk * pk).sum(1)) * (n * n - (tk * tk).sum(1)))
    return 100.0 * np.where(denom > 0, cov / np.where(denom > 0, denom, 1.0), 0.0)


def _batched_pearson(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    x = t - t.mean(1, keepdims=True)
    y = p - p.mean(1, keepdims=True)
    sxx, syy = (x * x).sum(1), (y * y).sum(1)
    ok = (sxx > 0) & (syy > 0)
    return 100.0 * np.where(ok, (x * y).sum(1) / np.sqrt(np.where(ok, sxx * syy, 1.0)), 0.0)


def _batched_spearman(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return _batched_pearson(rankdata(t, axis=1), rankdata(p, axis=1))


accuracy.batched = _batched_accuracy  # type: ignore[attr-defined]
f1.batched = _batched_f1  # type: ignore[attr-defined]
matthews.batched = _batched_matthews  # type: ignore[attr-defined]
pearson.batched = _batched_pearson  # type: ignore[attr-defined]
spearman.batched = _batched_spearman  # type: ignore[attr-defined]


@hookimpl
def register_metrics(register: Any) -> None:
    register("accuracy", accuracy, higher_is_better=True, kind="classification")
    register("f1", f1, higher_is_better=True, kind="classification")
    register("macro_f1", macro_f1, higher_is_better=True, kind="classification")
    register("matthews", matthews, higher_is_better=True, kind="classification")
    register("pearson", pearson, higher_is_better=True, kind="regression")
    register("spearman", spearman, higher_is_better=True, kind="regression")
