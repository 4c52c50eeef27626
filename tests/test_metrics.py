from __future__ import annotations

import numpy as np
import pytest

from downstreams import metrics


@pytest.mark.parametrize("name", ["accuracy", "f1", "matthews"])
def test_batched_classification_metrics_match_scikit_learn(name: str) -> None:
    rng = np.random.default_rng(0)
    fn = getattr(metrics, name)
    for classes in (2,) if name == "f1" else (2, 3):  # F1 is GLUE's binary positive-class F1
        t = rng.integers(0, classes, size=(50, 40))
        p = np.where(rng.random((50, 40)) < 0.7, t, rng.integers(0, classes, size=(50, 40)))
        p[0] = 1  # a constant prediction: MCC and F1 edge cases
        t[1] = 0
        expected = [fn(t[i], p[i]) for i in range(50)]
        assert fn.batched(t, p) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("name", ["pearson", "spearman"])
def test_batched_correlations_match_scipy(name: str) -> None:
    rng = np.random.default_rng(1)
    fn = getattr(metrics, name)
    t = rng.normal(size=(30, 25))
    p = t + rng.normal(size=(30, 25))
    p[:, :5] = np.round(p[:, :5])  # ties for Spearman
    p[0] = 1.0  # constant: scored 0
    assert fn.batched(t, p) == pytest.approx([fn(t[i], p[i]) for i in range(30)], abs=1e-9)


def test_metric_values_in_percent() -> None:
    assert metrics.accuracy([0, 1, 1, 0], [0, 1, 0, 0]) == 75.0
    assert metrics.f1([0, 1, 1, 0], [0, 1, 0, 0]) == pytest.approx(100 * 2 / 3)
    assert metrics.matthews([0, 1, 0, 1], [0, 1, 0, 1]) == 100.0
    assert metrics.pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(100.0)
    assert metrics.pearson([1, 2, 3], [5, 5, 5]) == 0.0
