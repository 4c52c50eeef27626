from __future__ import annotations

import pytest

from benchmark.scoring.scores import Aggregate, reference_score, relative, suite_reference, suite_score, task_score


def test_glue_human_score_is_87_1(registry) -> None:
    """Nangia & Bowman's human baselines, scored by the GLUE rule, give the published GLUE human score 87.1."""
    tasks = {r.name: r.obj for r in registry.tasks}
    human = suite_reference(registry.suites.get("glue").obj, tasks)
    assert human == pytest.approx(87.05, abs=1e-9)
    assert round(human, 1) == 87.1


def test_two_metrics_average_and_mnli_counts_once(registry) -> None:
    mrpc = registry.tasks.get("mrpc").obj
    assert reference_score(mrpc) == pytest.approx((86.3 + 80.8) / 2)
    mnli = registry.tasks.get("mnli").obj
    assert task_score(mnli, {"m/accuracy": 80.0, "mm/accuracy": 82.0}) == pytest.approx(81.0)
    assert reference_score(mnli) == pytest.approx(92.4)
    with pytest.raises(KeyError):
        task_score(mnli, {"m/accuracy": 80.0})


def test_suite_score_is_missing_unless_every_task_has_a_score(registry) -> None:
    glue = registry.suites.get("glue").obj
    scores = {t: 50.0 for t in glue.tasks}
    assert suite_score(glue, scores) == pytest.approx(50.0)
    scores["wnli"] = None
    assert suite_score(glue, scores) is None
    del scores["wnli"]
    assert suite_score(glue, scores) is None


def test_relative_to_human() -> None:
    assert relative(43.5, 87.0) == pytest.approx(0.5)
    assert relative(95.0, 90.0) > 1.0  # above human
    assert relative(None, 90.0) is None and relative(50.0, None) is None and relative(50.0, 0.0) is None


def test_aggregate_over_seeds() -> None:
    a = Aggregate.of([80.0, 82.0, 84.0])
    assert (a.mean, a.n) == (82.0, 3)
    assert a.std == pytest.approx(2.0)
    assert Aggregate.of([70.0]).std == 0.0


# SUPERB's public-set leaderboard table (superbbenchmark.org, as listed in issue 6): FBANK / SOTA per task.
SUPERB_TABLE = {"pr": ("per", 82.01, 3.53), "ks": ("accuracy", 41.38, 96.66), "ic": ("accuracy", 9.65, 98.76),
                "sid": ("accuracy", 20.06, 90.3), "er": ("accuracy", 48.24, 67.62), "asr": ("wer", 23.18, 3.62)}


def _superb_task(name: str, metric: str, fbank: float, sota: float):
    from benchmark.tasks.schema import TaskSpec

    return TaskSpec.model_validate({
        "name": name, "description": name, "version": 1, "modality": "speech", "head": "classification",
        "metrics": [metric], "score": [metric], "evals": ["test"],
        "sources": {"recipe": {"name": "x"}},
        "references": {"fbank": {"scores": {metric: fbank}, "citation": "SUPERB"},
                       "sota": {"scores": {metric: sota}, "citation": "SUPERB"}}})


@pytest.mark.parametrize("name", sorted(SUPERB_TABLE))
def test_superb_score_is_0_at_fbank_and_1000_at_sota(name: str) -> None:
    from benchmark.scoring.scores import superb_score

    metric, fbank, sota = SUPERB_TABLE[name]
    task = _superb_task(name, metric, fbank, sota)
    assert superb_score(task, {metric: fbank}) == pytest.approx(0.0)
    assert superb_score(task, {metric: sota}) == pytest.approx(1000.0)
    halfway = (fbank + sota) / 2
    assert superb_score(task, {metric: halfway}) == pytest.approx(500.0)


def test_superb_score_moves_the_right_way_for_wer() -> None:
    from benchmark.scoring.scores import superb_score

    task = _superb_task("asr", "wer", 23.18, 3.62)
    worse, better = superb_score(task, {"wer": 20.0}), superb_score(task, {"wer": 10.0})
    assert 0 < worse < better < 1000  # a lower WER scores higher
    assert superb_score(task, {"wer": 30.0}) < 0  # worse than FBANK is below zero
    assert superb_score(_superb_task("ks", "accuracy", 41.38, 96.66), {"accuracy": 30.0}) < 0
    no_refs = _superb_task("x", "accuracy", 1.0, 1.0)
    assert superb_score(no_refs, {"accuracy": 50.0}) is None


def test_the_leaderboard_reports_superb_scores_for_tasks_with_both_references(registry) -> None:
    from benchmark.report import leaderboard as report
    from benchmark.tasks.schema import SuiteSpec

    ks = _superb_task("ks", "accuracy", 41.38, 96.66)
    asr = _superb_task("asr", "wer", 23.18, 3.62)
    for t in (ks, asr):
        registry.tasks.add(t.name, t, "test")
    registry.suites.add("mini-superb", SuiteSpec(name="mini-superb", description="d", tasks=["ks", "asr"]), "test")

    def result(upstream: str, task: str, seed: int, metric: str, value: float) -> dict:
        return {"upstream": upstream, "task": task, "seed": seed, "scores": {metric: value}, "main_score": value}

    rows = [result("good", "ks", 0, "accuracy", 96.66), result("good", "ks", 1, "accuracy", 96.66),
            result("good", "asr", 0, "wer", 13.4), result("base", "ks", 0, "accuracy", 41.38),
            result("base", "asr", 0, "wer", 23.18), result("half", "ks", 0, "accuracy", 69.02)]
    board = report.build(rows, registry, uncertainty=False)
    by = {r.label: r for r in board.rows}
    assert by["good"].tasks["ks"].superb == pytest.approx(1000.0)
    assert by["good"].tasks["asr"].superb == pytest.approx(500.0)  # WER halfway between FBANK and SOTA
    assert by["good"].superb["mini-superb"] == pytest.approx(750.0)
    assert by["base"].superb["mini-superb"] == pytest.approx(0.0)
    assert "mini-superb" not in by["half"].superb  # a suite score needs every task
    # Accuracy and WER do not average: the suite's raw score is missing, its SUPERB score stands for it.
    assert by["good"].suites["mini-superb"] == (None, None) and board.human["mini-superb"] is None
    data = report.to_json(board)
    good = next(r for r in data["rows"] if r["upstream"] == "good")
    assert good["suites"]["mini-superb"]["superb"] == 750.0 and good["tasks"]["asr"]["superb"] == 500.0
    from benchmark.report import html as html_report

    page = html_report.render(report.build(rows, registry, uncertainty=False), title="t")
    assert '>SUPERB</th>' in page and 'data-sort="750.000000">750</td>' in page  # the suite's column
    assert ">SUPERB 500</div>" in page and ">SUPERB 1000</div>" in page  # and each task cell
