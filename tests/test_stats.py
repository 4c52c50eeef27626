from __future__ import annotations

import numpy as np
import pytest

from benchmark.scoring import stats


def _result(seed: int, preds: list, gold: list, split: str = "test") -> dict:
    return {"seed": seed, "predictions": {split: preds}, "targets": {split: gold}}


def test_bootstrap_ci_brackets_the_score_and_shrinks_with_more_data(registry) -> None:
    task = registry.tasks.get("vader-polarity").obj
    rng = np.random.default_rng(1)
    gold = rng.integers(0, 2, 400).tolist()
    preds = [g if rng.random() < 0.8 else 1 - g for g in gold]  # ~80% accurate
    acc = 100 * np.mean(np.array(preds) == np.array(gold))
    lo, hi = stats.bootstrap_ci(task, registry, [_result(0, preds, gold)])
    assert lo < acc < hi and 4 < hi - lo < 12  # +-1.96 * sqrt(.8*.2/400) ~ +-3.9 points
    lo4, hi4 = stats.bootstrap_ci(task, registry, [_result(0, preds * 4, gold * 4)])
    assert (hi4 - lo4) < 0.7 * (hi - lo)
    assert stats.bootstrap_ci(task, registry, [_result(0, preds, gold)]) == (lo, hi)  # reproducible


def test_bootstrap_works_for_correlation_metrics_and_needs_predictions(registry) -> None:
    task = registry.tasks.get("vader-score").obj
    x = np.linspace(-3, 3, 200)
    y = x + np.random.default_rng(0).normal(0, 1, 200)
    ci = stats.bootstrap_ci(task, registry, [_result(0, y.tolist(), x.tolist())])
    assert ci is not None and 80 < ci[0] < ci[1] < 95
    assert stats.bootstrap_ci(task, registry, [{"seed": 0, "predictions": {}, "targets": {}}]) is None


def test_paired_permutation_detects_a_real_difference_and_not_a_null_one(registry) -> None:
    task = registry.tasks.get("vader-polarity").obj
    rng = np.random.default_rng(2)
    gold = rng.integers(0, 2, 500).tolist()
    good = [[g if rng.random() < 0.85 else 1 - g for g in gold] for _ in range(2)]
    bad = [[g if rng.random() < 0.70 else 1 - g for g in gold] for _ in range(2)]
    same = [[g if rng.random() < 0.85 else 1 - g for g in gold] for _ in range(2)]
    a = [_result(s, good[s], gold) for s in (0, 1)]
    test = stats.paired_permutation(task, registry, a, [_result(s, bad[s], gold) for s in (0, 1)])
    assert test.seeds == (0, 1) and test.n_examples == 500
    assert 10 < test.difference < 20 and test.p_value < 0.01
    null = stats.paired_permutation(task, registry, a, [_result(s, same[s], gold) for s in (0, 1)])
    assert abs(null.difference) < 4 and null.p_value > 0.05
    assert stats.paired_permutation(task, registry, a, [_result(7, bad[0], gold)]) is None  # no shared seed


def test_multi_eval_tasks_score_both_splits(registry) -> None:
    task = registry.tasks.get("mnli").obj
    r = {"seed": 0, "predictions": {"m": [0, 1, 2, 0], "mm": [0, 0, 0, 0]},
         "targets": {"m": [0, 1, 2, 1], "mm": [0, 1, 2, 0]}}
    assert stats.main_score(task, registry, r["predictions"], r["targets"]) == pytest.approx((75 + 50) / 2)
