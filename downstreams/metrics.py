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


@hookimpl
def register_metrics(register: Any) -> None:
    register("accuracy", accuracy, higher_is_better=True, kind="classification")
    register("f1", f1, higher_is_better=True, kind="classification")
    register("macro_f1", macro_f1, higher_is_better=True, kind="classification")
    register("matthews", matthews, higher_is_better=True, kind="classification")
    register("pearson", pearson, higher_is_better=True, kind="regression")
    register("spearman", spearman, higher_is_better=True, kind="regression")
