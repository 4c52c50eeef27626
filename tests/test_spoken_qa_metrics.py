"""FF1 and AOS (DUAL's spoken-QA metrics) on fixed spans worked by hand, against a transcription of DUAL's frame-count
`compare`, and registered through the plugin hooks."""

from __future__ import annotations

import random

import pytest

from downstreams.spoken_qa_metrics import aos, ff1, overlap, span_aos, span_f1
from downstreams.spoken_qa_run import time_span, unit_index

# (pred, gold, overlap, F1, AOS), worked by hand:
CASES = [
    # partial: overlap [2, 3] = 1 s; P = 1/2, R = 1/3, F1 = 2 (1/6) / (5/6) = 0.4; AOS = 1 / (5 - 1)
    ((1.0, 3.0), (2.0, 5.0), 1.0, 0.4, 0.25),
    # no overlap, and spans that only touch: 0
    ((0.0, 1.0), (2.0, 3.0), 0.0, 0.0, 0.0),
    ((0.0, 2.0), (2.0, 3.0), 0.0, 0.0, 0.0),
    # containment: the prediction inside the gold span: P = 1, R = 1/4, F1 = 0.5 / 1.25 = 0.4; AOS = 1/4
    ((2.0, 3.0), (1.0, 5.0), 1.0, 0.4, 0.25),
    # the gold span inside the prediction: P = 1/4, R = 1: the same 0.4 and 0.25
    ((1.0, 5.0), (2.0, 3.0), 1.0, 0.4, 0.25),
    # identical
    ((1.5, 2.5), (1.5, 2.5), 1.0, 1.0, 1.0),
    # an empty or reversed prediction scores 0 (DUAL: pred_start >= pred_end)
    ((3.0, 3.0), (2.0, 5.0), 0.0, 0.0, 0.0),
    ((4.0, 1.0), (2.0, 5.0), 0.0, 0.0, 0.0),
    # P = 0.5 / 0.5 = 1, R = 0.5 / 2 = 1/4 -> 0.4; AOS = 0.5 / 2
    ((2.5, 3.0), (1.0, 3.0), 0.5, 0.4, 0.25),
    # P = 1.5 / 2, R = 1.5 / 3: F1 = 2 (0.375) / 1.25 = 0.6; AOS = 1.5 / 3.5
    ((0.5, 2.5), (1.0, 4.0), 1.5, 0.6, 1.5 / 3.5),
]


@pytest.mark.parametrize("pred,gold,shared,f1,score", CASES)
def test_fixed_spans(pred: tuple[float, float], gold: tuple[float, float], shared: float, f1: float,
                     score: float) -> None:
    assert overlap(pred, gold) == pytest.approx(shared)
    assert span_f1(pred, gold) == pytest.approx(f1)
    assert span_aos(pred, gold) == pytest.approx(score)


def test_corpus_means_in_percent() -> None:
    gold = [{"answers": ["x"], "starts": [0], "time": [2.0, 5.0]}, {"answers": ["x"], "starts": [0], "time": [2.0, 3.0]},
            {"answers": ["x"], "starts": [0], "time": [1.0, 5.0]}, {"answers": ["x"], "starts": [0], "time": [1.5, 2.5]}]
    pred = [[1.0, 3.0], [0.0, 1.0], [2.0, 3.0], [1.5, 2.5]]
    assert ff1(gold, pred) == pytest.approx((40 + 0 + 40 + 100) / 4)
    assert aos(gold, pred) == pytest.approx((25 + 0 + 25 + 100) / 4)
    with pytest.raises(ValueError, match="2 predictions for 4 questions"):
        ff1(gold, pred[:2])
    with pytest.raises(ValueError, match=r"\[start, end\]"):
        aos(gold[:1], ["Oscar Wilde"])


def dual_compare(pred_start: int, pred_end: int, gold_start: int, gold_end: int) -> tuple[float, float]:
    """DUAL's evaluation (`compare`, by frame indices), transcribed: (AOS, F1)."""
    if pred_start >= pred_end or pred_end <= gold_start or pred_start >= gold_end:
        return 0.0, 0.0
    lo, ov_start = (pred_start, gold_start) if pred_start <= gold_start else (gold_start, pred_start)
    hi, ov_end = (gold_end, pred_end) if pred_end <= gold_end else (pred_end, gold_end)
    ov = ov_end - ov_start
    precision, recall = ov / (pred_end - pred_start), ov / (gold_end - gold_start)
    return ov / (hi - lo), 2 * precision * recall / (precision + recall)


def test_seconds_equal_dual_frame_counts() -> None:
    """On frames of 20 ms (DUAL's HuBERT rate), the metrics in seconds equal DUAL's frame-count ones."""
    rng = random.Random(0)
    for _ in range(500):
        gs = rng.randrange(0, 300)
        ge = gs + rng.randrange(1, 80)
        ps = rng.randrange(0, 350)
        pe = ps + rng.randrange(-5, 120)
        want_aos, want_f1 = dual_compare(ps, pe, gs, ge)
        pred, gold = (ps * 0.02, pe * 0.02), (gs * 0.02, ge * 0.02)
        assert span_aos(pred, gold) == pytest.approx(want_aos, abs=1e-9)
        assert span_f1(pred, gold) == pytest.approx(want_f1, abs=1e-9)


def test_unit_span_back_to_time() -> None:
    """The head's answer: the characters of a span of mapped units -> the units' first start and last end."""
    context = "we you they go"
    bounds = ((0.0, 0.1), (0.1, 0.3), (0.3, 0.45), (0.45, 0.6))
    assert [unit_index(context, c) for c in (0, 2, 3, 6, 7, 12)] == [0, 0, 1, 1, 2, 3]
    assert time_span(("q", context, bounds), 3, 11) == [0.1, 0.45]  # "you they"
    assert time_span(("q", context, bounds), 0, 2) == [0.0, 0.1]  # "we"
    assert time_span(("q", context, bounds), 12, 14) == [0.45, 0.6]  # "go"
    assert time_span(("q", "", ()), 0, 0) == [0.0, 0.0]


def test_registered_through_the_hooks() -> None:
    from benchmark.plugin.manager import DEFAULT_PLUGINS, load_plugins

    assert "downstreams.heads_spoken_qa" in DEFAULT_PLUGINS
    registry = load_plugins().registry
    for name in ("ff1", "aos"):
        entry = registry.metrics.get(name)
        assert entry.plugin == "downstreams.heads_spoken_qa"
        assert entry.obj.higher_is_better
        assert entry.obj.fn([{"time": [1.0, 3.0]}], [[1.0, 3.0]]) == pytest.approx(100.0)
    assert registry.downstreams.get("unit-span-qa").obj.metric_kinds == ("spoken-span",)


def test_the_reports_statistics_score_spans() -> None:
    """The report's bootstrap CI and paired test index targets and predictions as numpy object arrays: the span
    metrics take them (an `if not y_true` on such an array raised, so `bench report` failed on spoken-QA results)."""
    from benchmark.plugin.manager import load_plugins
    from benchmark.scoring import stats

    registry = load_plugins().registry
    task = registry.tasks.get("spoken-fortune-qa").obj
    rng = random.Random(3)
    gold = [{"time": [s, s + 1.0]} for s in (rng.uniform(0, 8) for _ in range(40))]
    near = [[g["time"][0] + 0.2, g["time"][1] + 0.2] for g in gold]  # overlaps 0.8 of 1.0 s: FF1 80, AOS 2/3
    far = [[g["time"][0] + 0.8, g["time"][1] + 0.8] for g in gold]  # 0.2 of 1.0 s: FF1 20, AOS 1/9
    a = [{"seed": s, "targets": {"test": gold}, "predictions": {"test": near}} for s in (0, 1)]
    b = [{"seed": s, "targets": {"test": gold}, "predictions": {"test": far}} for s in (0, 1)]
    expected = ((80 + 100 * 2 / 3) - (20 + 100 / 9)) / 2
    test = stats.paired_permutation(task, registry, a, b, n=200)
    assert test.difference == pytest.approx(expected) and test.p_value == pytest.approx(1 / 201)
    lo, hi = stats.bootstrap_ci(task, registry, a, n=200)
    assert lo == pytest.approx((80 + 100 * 2 / 3) / 2) == pytest.approx(hi)  # every question scores the same
