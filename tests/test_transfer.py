"""Zero-shot transfer: `--train-on A --eval-on B` trains on A and evaluates the same model on B's evaluation
splits (same head and label space), and the report draws the train-task x evaluation-task matrix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmark.engine import runner
from benchmark.errors import BenchError
from benchmark.report import html as html_report
from benchmark.report import leaderboard as report
from benchmark.report import markdown as markdown_report

MORE_TASKS = """\
  mini-sent-shifted:
    description: the same question on other snippets
    version: 1
    modality: text
    language: de
    head: classification
    labels: ['0', '1']
    metrics: [accuracy]
    score: [accuracy]
    evals: [dev]
    sources:
      local: {format: glue-tsv, dir: SHIFT, inputs: [sentence], label: label, splits: {train: train.tsv, dev: dev.tsv}}
"""


@pytest.fixture()
def ws(tmp_path: Path):
    from reliability_workspace import make_workspace, sentiment_rows, tsv

    ws = make_workspace(tmp_path)
    ws.tasks.write_text(ws.tasks.read_text() + MORE_TASKS)
    rows = [[f"so to speak, {s}", y] for s, y in sentiment_rows(30)]
    tsv(ws.data / "SHIFT" / "train.tsv", ["sentence", "label"], rows)
    tsv(ws.data / "SHIFT" / "dev.tsv", ["sentence", "label"], rows[:20])
    return ws


def test_train_on_one_task_and_evaluate_on_another(ws) -> None:
    out = ws.root / "transfer"
    r = ws.bench("run", "--upstream", "char", "--train-on", "mini-sent", "--eval-on", "mini-sent-shifted,mini-sent",
                 "--tasks-file", str(ws.tasks), "--data-dir", str(ws.data), "--output", str(out), "-q")
    assert r.returncode == 0, r.stderr
    (path,) = out.glob("mini-sent__*.json")
    res = json.loads(path.read_text())
    other = res["transfer"]["mini-sent-shifted"]
    assert set(res["transfer"]) == {"mini-sent-shifted"}  # its own task is not repeated
    assert other["language"] == "de" and other["n_examples"] == {"dev": 20}
    preds, gold = other["predictions"]["dev"], other["targets"]["dev"]
    assert len(preds) == 20 and gold == [int(y) for y in gold]
    assert other["scores"]["accuracy"] == pytest.approx(100 * sum(p == t for p, t in zip(preds, gold, strict=True)) / 20,
                                                        abs=1e-3)
    assert other["main_score"] == other["scores"]["accuracy"]
    # the plain job (no --eval-on) is another job: a different id, and no transfer in its result
    plain = ws.root / "plain"
    assert ws.bench("run", "--upstream", "char", "--tasks", "mini-sent", "--tasks-file", str(ws.tasks), "--data-dir",
                    str(ws.data), "--output", str(plain), "-q").returncode == 0
    (p2,) = plain.glob("mini-sent__*.json")
    assert p2.name != path.name and json.loads(p2.read_text())["transfer"] == {}
    # the report: the matrix with the own score on the diagonal and the transfer beside it
    r = ws.bench("report", "--output", str(out), "--tasks-file", str(ws.tasks), "--html", str(ws.root / "r.html"))
    assert r.returncode == 0, r.stderr
    page = (ws.root / "r.html").read_text()
    assert '<section id="transfer">' in page and "mini-sent-shifted <span class=\"lang\">(de)</span>" in page
    assert f'{res["main_score"]:.1f}' in page.split('<section id="transfer">')[1].split("</section>")[0]


def test_eval_on_refuses_other_label_spaces_and_needs_train_on(ws) -> None:
    base = ("--upstream", "char", "--tasks-file", str(ws.tasks), "--data-dir", str(ws.data), "--output",
            str(ws.root / "x"), "-q")
    r = ws.bench("run", "--train-on", "mini-sent", "--eval-on", "mini-reg", *base)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "cannot evaluate a model trained on 'mini-sent' on 'mini-reg'" in r.stderr
    r = ws.bench("run", "--tasks", "mini-sent", "--eval-on", "mini-sent-shifted", *base)
    assert r.returncode == 2 and "--eval-on needs --train-on" in r.stderr
    r = ws.bench("run", "--tasks", "mini-sent", "--train-on", "mini-sent", *base)
    assert r.returncode == 2 and "--train-on replaces --tasks" in r.stderr
    assert not (ws.root / "x").exists() or not any((ws.root / "x").glob("*.json"))


def _result(task: str, seed: int, score: float, transfer: dict[str, float]) -> dict:
    return {"upstream": "m", "task": task, "seed": seed, "mode": "finetune", "main_score": score,
            "scores": {"squad_em": score, "squad_f1": score}, "hyperparameters": {}, "job_id": f"{task}{seed}",
            "transfer": {k: {"main_score": v} for k, v in transfer.items()}}


def test_the_matrix_is_a_pure_function_of_the_results(registry) -> None:
    results = [_result("fortune-qa-en", 0, 80.0, {"fortune-qa-de": 40.0, "fortune-qa-it": 30.0}),
               _result("fortune-qa-en", 1, 70.0, {"fortune-qa-de": 50.0, "fortune-qa-it": 20.0}),
               _result("fortune-qa-de", 0, 60.0, {"fortune-qa-en": 55.0})]
    board = report.build(results, registry, uncertainty=False)
    (m,) = board.transfers
    assert m.row == "m [finetune]" and m.train == ["fortune-qa-de", "fortune-qa-en"]
    assert m.evals == ["fortune-qa-de", "fortune-qa-en", "fortune-qa-it"]
    assert m.cells[("fortune-qa-en", "fortune-qa-en")].mean == 75.0
    assert m.cells[("fortune-qa-en", "fortune-qa-de")].mean == 45.0
    assert ("fortune-qa-de", "fortune-qa-it") not in m.cells
    assert m.languages == {"fortune-qa-de": "de", "fortune-qa-en": "en", "fortune-qa-it": "it"}
    page = html_report.render(board)
    section = page.split('<section id="transfer">')[1].split("</section>")[0]
    assert section.count("<tr>") == 3 and section.count('class="num diag"') == 2
    assert "45.0" in section and "75.0" in section and "—" in section
    md = markdown_report.render(board)
    assert "| fortune-qa-en | 45.0 | 75.0 | 25.0 |" in md and "| fortune-qa-de | 60.0 | 55.0 | — |" in md
    assert report.to_json(board)["transfers"][0]["cells"][0] == {"train": "fortune-qa-de", "eval": "fortune-qa-de",
                                                                 "mean": 60.0, "std": 0.0, "n": 1}


def test_plan_checks_the_label_space_before_anything_runs(registry, tmp_path: Path) -> None:
    hp = runner.resolve_hparams("finetune", {})
    with pytest.raises(BenchError, match="its head 'span-qa' predicts other things"):
        runner.plan(registry, ["minilm"], ["upos-movie-reviews"], [0], hp, tmp_path, eval_on=["fortune-qa-de"])
    p = runner.plan(registry, ["minilm"], ["fortune-qa-en", "fortune-qa-de"], [0], hp, tmp_path,
                    eval_on=["fortune-qa"])
    by = {j.task.name: [t.name for t in j.transfer] for j in p.jobs}
    assert by == {"fortune-qa-en": ["fortune-qa-de", "fortune-qa-es", "fortune-qa-it"],
                  "fortune-qa-de": ["fortune-qa-en", "fortune-qa-es", "fortune-qa-it"]}
    plain = runner.plan(registry, ["minilm"], ["fortune-qa-en"], [0], hp, tmp_path)
    assert plain.jobs[0].job_id != p.jobs[0].job_id and plain.jobs[0].transfer == ()


def test_the_python_api_takes_eval_on(ws, monkeypatch) -> None:
    import benchmark
    from benchmark.plugin.manager import add_task_files, get_plugins, reset_plugins

    monkeypatch.setenv("BENCH_PLUGINS", "bench_testplugin")  # the fast `char` upstream of the test plugin
    reset_plugins()
    try:
        add_task_files(get_plugins(), [ws.tasks])
        (res,) = benchmark.run("char", "mini-sent", [0], ws.root / "api", data_dir=ws.data, cache_dir=ws.cache,
                               eval_on="mini-sent-shifted")
    finally:
        reset_plugins()
    assert set(res.transfer) == {"mini-sent-shifted"} and res.transfer["mini-sent-shifted"]["language"] == "de"
