"""SUPERB's ER cell: the `superb` suite counts superb-er-fold1 as the mean of IEMOCAP's five folds when all five have
results (as SUPERB reports ER), as fold 1 alone otherwise, and every renderer says which (issue 24 item 5)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmark.cli.app import cli
from benchmark.report import leaderboard, markdown
from benchmark.scoring.scores import superb_score

OTHERS = {"superb-ks": ("accuracy", 90.0), "superb-ic": ("accuracy", 95.0), "superb-sid": ("accuracy", 70.0),
          "superb-asr": ("wer", 8.0), "superb-pr": ("per", 10.0), "superb-qbe": ("mtwv", 5.0),
          "superb-sf": ("slot_type_f1", 80.0), "superb-sv": ("eer", 6.0), "superb-sd": ("der", 7.0)}
EXTRA = {"superb-sf": {"slot_value_cer": 30.0}}
"""Metrics beside the main one that SUPERB counts (SF: its slot-value CER)."""
FOLDS = {1: 60.0, 2: 62.0, 3: 58.0, 4: 65.0, 5: 61.0}


def _result(task: str, metric: str, value: float, seed: int = 0) -> dict:
    return {"task": task, "upstream": "fbank", "seed": seed, "mode": "frozen", "main_score": value,
            "scores": {metric: value, **EXTRA.get(task, {})}, "job_id": f"{task}-{seed}", "hyperparameters": {}}


def _results(folds: dict[int, float], seeds: tuple[int, ...] = (0,)) -> list[dict]:
    out = [_result(t, m, v, s) for t, (m, v) in OTHERS.items() for s in seeds]
    out += [_result(f"superb-er-fold{k}", "accuracy", v + s, s) for k, v in folds.items() for s in seeds]
    return out


def test_all_five_folds_make_the_er_cell_their_mean_and_the_suite_counts_it(registry) -> None:
    board = leaderboard.build(_results(FOLDS, seeds=(0, 1)), registry, uncertainty=False)
    row = board.rows[0]
    er = row.cell("superb", "superb-er-fold1")
    assert er is not None and er.note == "mean of 5 folds"
    # seed 0: mean(60, 62, 58, 65, 61) = 61.2; seed 1 adds 1 to every fold: 62.2
    assert er.score.mean == pytest.approx(61.7) and er.score.n == 2 and er.seeds == [0, 1]
    assert er.metrics["accuracy"].mean == pytest.approx(61.7)
    task = registry.tasks.get("superb-er-fold1").obj
    assert er.superb == pytest.approx(superb_score(task, {"accuracy": 61.7}))
    # the fold's own cell is untouched (superb-er-5fold and the task's details still show fold 1)
    assert row.tasks["superb-er-fold1"].score.mean == pytest.approx(60.5) and row.tasks["superb-er-fold1"].note is None
    suite = registry.suites.get("superb").obj
    expected = statistics.fmean([er.superb] + [row.tasks[t].superb for t in suite.tasks if t != "superb-er-fold1"])
    assert row.superb["superb"] == pytest.approx(expected)
    assert row.cell("superb-er-5fold", "superb-er-fold1") is row.tasks["superb-er-fold1"]
    assert leaderboard.to_json(board)["rows"][0]["folded"][0]["note"] == "mean of 5 folds"
    assert "61.7 ± 0.7 (mean of 5 folds)" in markdown.render(board)


def test_missing_folds_leave_fold_one_and_the_cell_says_so(registry) -> None:
    board = leaderboard.build(_results({1: 60.0, 2: 62.0, 3: 58.0}), registry, uncertainty=False)
    er = board.rows[0].cell("superb", "superb-er-fold1")
    assert er is not None and er.score.mean == pytest.approx(60.0)
    assert er.note == "superb-er-fold1 only: 2 of 5 folds have no result"
    task = registry.tasks.get("superb-er-fold1").obj
    assert board.rows[0].superb["superb"] == pytest.approx(statistics.fmean(
        [superb_score(task, {"accuracy": 60.0})]
        + [c.superb for t, c in board.rows[0].tasks.items() if not t.startswith("superb-er")]))


def test_folds_under_different_seeds_average_once(registry) -> None:
    results = _results({1: 60.0, 2: 62.0, 3: 58.0, 4: 65.0}) + [_result("superb-er-fold5", "accuracy", 61.0, seed=3)]
    er = leaderboard.build(results, registry, uncertainty=False).rows[0].cell("superb", "superb-er-fold1")
    assert er is not None and er.score.mean == pytest.approx(61.2) and er.score.n == 1 and er.seeds == []


def test_the_terminal_and_html_reports_say_the_cell_is_a_mean(tmp_path: Path) -> None:
    out = tmp_path / "results"
    out.mkdir()
    for r in _results(FOLDS):
        (out / f"{r['job_id']}.json").write_text(json.dumps({**r, "schema_version": 1}))
    term = CliRunner().invoke(cli, ["report", "-o", str(out)], terminal_width=200)
    assert term.exit_code == 0, term.output
    assert "+ = a task of the suite stands for its folds (superb: mean of 5 folds)." in " ".join(term.output.split())
    page = tmp_path / "r.html"
    html = CliRunner().invoke(cli, ["report", "-o", str(out), "--html", str(page)])
    assert html.exit_code == 0, html.output
    text = page.read_text()
    suite = text[text.index('id="suite-superb"'):text.index('id="suite-superb-er-5fold"')]
    assert '61.2<div class="rel" title="SUPERB score' in suite and '<div class="rel">mean of 5 folds</div>' in suite
    other = text[text.index('id="suite-superb-er-5fold"'):]
    assert "mean of 5 folds" not in other.split("</section>")[0]


@pytest.mark.parametrize("folds, message", [
    ({"superb-ks": ["superb-ks", "superb-ic"]}, "folds: 'superb-ks' must list two or more distinct tasks, itself"),
    ({"superb-er-fold2": ["superb-er-fold2", "superb-er-fold3"]}, "folds: 'superb-er-fold2' is not one of"),
])
def test_a_fold_declaration_that_cannot_hold_is_one_line(folds: dict, message: str) -> None:
    from benchmark.errors import BenchError
    from benchmark.tasks.schema import parse_suite

    folds = {k: v if k != "superb-ks" else ["superb-ic", "superb-asr"] for k, v in folds.items()}
    with pytest.raises(BenchError, match=message.replace("(", r"\(")):
        parse_suite("s", {"description": "d", "tasks": ["superb-ks", "superb-ic"], "folds": folds}, "t.yaml")


def test_a_fold_naming_an_unknown_task_is_one_line_at_its_line(tmp_path: Path, capsys) -> None:
    from benchmark.cli.app import main

    tasks = tmp_path / "t.yaml"
    tasks.write_text("schema: 1\nsuites:\n  mine:\n    description: d\n    tasks: [vader-polarity, vader-score]\n"
                     "    folds:\n      vader-polarity: [vader-polarity, vader-polarty2]\n")
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--tasks-file", str(tasks), "--tasks", "mine", "--upstream", "fbank", "-o", str(tmp_path / "o")])
    assert exit_.value.code == 2 and not (tmp_path / "o").exists()
    assert capsys.readouterr().err.strip() == (f"error: {tasks}:7: suite 'mine' names unknown fold task "
                                               "'vader-polarty2' — did you mean 'vader-polarity'?")


def test_a_superb_scored_suite_shows_every_task_those_without_results_as_missing(registry) -> None:
    board = leaderboard.build([_result("superb-ks", "accuracy", 90.0)], registry, uncertainty=False)
    assert board.suite_info["superb"]["columns"] == registry.suites.get("superb").obj.tasks
    assert board.tasks == ["superb-ks"]  # the other tasks have no results: columns only, not tasks of the board
    text = markdown.render(board)
    section = text[text.index("## superb\n"):]
    header = section.splitlines()[2]
    assert header == "| upstream | " + " | ".join(registry.suites.get("superb").obj.tasks) + " |"
    assert section.splitlines()[4].startswith("| fbank | 90.0 | — | — |")
    assert board.rows[0].superb.get("superb") is None  # a SUPERB score needs every task
