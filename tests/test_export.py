"""GLUE test-set prediction (--predict-test) and the submission export (bench export glue-submission)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import write_tsv

import benchmark
from benchmark.engine import runner
from benchmark.errors import BenchError
from benchmark.report import export
from benchmark.tasks import data

ALL_FILES = ["CoLA.tsv", "SST-2.tsv", "MRPC.tsv", "STS-B.tsv", "QQP.tsv", "MNLI-m.tsv", "MNLI-mm.tsv", "QNLI.tsv",
             "RTE.tsv", "WNLI.tsv", "AX.tsv"]
LABELS: dict[str, list[str] | None] = {
    "cola": ["0", "1"], "sst2": ["0", "1"], "mrpc": ["0", "1"], "stsb": None, "qqp": ["0", "1"],
    "mnli": ["entailment", "neutral", "contradiction"], "qnli": ["entailment", "not_entailment"],
    "rte": ["entailment", "not_entailment"], "wnli": ["0", "1"]}


def bench(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "benchmark", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def read(path: Path) -> list[list[str]]:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n") and "\r" not in text
    return [line.split("\t") for line in text.splitlines()]


def test_predict_test_then_export_writes_the_glue_files(tiny_bert_dir: Path, glue_test_dir: Path,
                                                        tmp_path: Path) -> None:
    out, sub = tmp_path / "results", tmp_path / "submission"
    results = benchmark.run(f"bert:{tiny_bert_dir}", "sst2,stsb,mnli", output=out, data_dir=glue_test_dir,
                            predict_test=True, epochs=2)
    by = {r.task: r for r in results}
    assert all(r.hyperparameters["predict_test"] is True and r.mode == "frozen" for r in results)
    assert set(by["sst2"].test_predictions) == {"test"}
    assert set(by["mnli"].test_predictions) == {"test_m", "test_mm", "ax"}
    assert by["mnli"].n_examples == {"train": 43, "select": 5, "m": 12, "mm": 12, "test_m": 7, "test_mm": 8, "ax": 5}
    assert "predict_test" in by["sst2"].durations
    # the scores are those of a run without --predict-test: test prediction comes after training
    [plain] = benchmark.run(f"bert:{tiny_bert_dir}", "sst2", output=tmp_path / "plain", data_dir=glue_test_dir,
                            epochs=2)
    assert plain.test_predictions == {} and plain.scores == by["sst2"].scores and plain.job_id != by["sst2"].job_id
    saved = json.loads(next(out.glob("stsb__*.json")).read_text())
    assert saved["test_predictions"]["test"]["index"] == list(range(9))

    r = bench("export", "glue-submission", "--output", str(out), "--to", str(sub))
    assert r.returncode == 2 and not sub.exists()
    assert r.stderr.strip() == (
        f"error: no GLUE test predictions for cola, mrpc, qqp, qnli, rte, wnli (CoLA.tsv, MRPC.tsv, QQP.tsv, "
        f"QNLI.tsv, RTE.tsv, WNLI.tsv) of 'bert:{tiny_bert_dir}' in {out}; run them with `bench run --upstream "
        f"bert:{tiny_bert_dir} --tasks cola,mrpc,qqp,qnli,rte,wnli --predict-test --output {out}`, or pass "
        "--allow-missing")

    r = bench("export", "glue-submission", "--output", str(out), "--to", str(sub), "--allow-missing")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in sub.iterdir()) == ["AX.tsv", "MNLI-m.tsv", "MNLI-mm.tsv", "SST-2.tsv", "STS-B.tsv"]
    assert r.stderr.strip() == ("warning: left out CoLA.tsv, MRPC.tsv, QQP.tsv, QNLI.tsv, RTE.tsv, WNLI.tsv "
                                "(no test predictions)")
    rows = {p.name: read(p) for p in sub.iterdir()}
    for name, n in (("SST-2.tsv", 10), ("STS-B.tsv", 9), ("MNLI-m.tsv", 7), ("MNLI-mm.tsv", 8), ("AX.tsv", 5)):
        assert rows[name][0] == ["index", "prediction"]
        assert [row[0] for row in rows[name][1:]] == [str(i) for i in range(n)], name
    assert {row[1] for row in rows["SST-2.tsv"][1:]} <= {"0", "1"}
    sst = by["sst2"].test_predictions["test"]["prediction"]
    assert [row[1] for row in rows["SST-2.tsv"][1:]] == [str(p) for p in sst]
    for name in ("MNLI-m.tsv", "MNLI-mm.tsv", "AX.tsv"):
        assert {row[1] for row in rows[name][1:]} <= {"entailment", "neutral", "contradiction"}
    mnli = by["mnli"].test_predictions["ax"]["prediction"]
    assert [row[1] for row in rows["AX.tsv"][1:]] == [LABELS["mnli"][p] for p in mnli]  # type: ignore[index]
    sts = by["stsb"].test_predictions["test"]["prediction"]
    for row, p in zip(rows["STS-B.tsv"][1:], sts):
        assert re.fullmatch(r"[0-5]\.\d{3}", row[1]) and row[1] == f"{min(max(p, 0.0), 5.0):.3f}"

    before = {p.name: p.read_bytes() for p in sub.iterdir()}
    r = bench("export", "glue-submission", "--output", str(out), "--to", str(sub), "--allow-missing")
    assert r.returncode == 2 and r.stderr.strip() == (
        f"error: {sub} already holds SST-2.tsv, STS-B.tsv, MNLI-m.tsv, MNLI-mm.tsv, AX.tsv; pass --overwrite to "
        "replace them")
    assert {p.name: p.read_bytes() for p in sub.iterdir()} == before
    r = bench("export", "glue-submission", "--output", str(out), "--to", str(sub), "--allow-missing", "--overwrite")
    assert r.returncode == 0 and {p.name: p.read_bytes() for p in sub.iterdir()} == before


def test_finetune_predicts_the_test_split_too(tiny_bert_dir: Path, glue_test_dir: Path, tmp_path: Path) -> None:
    [ft] = benchmark.run(f"bert:{tiny_bert_dir}", "sst2", output=tmp_path / "o", data_dir=glue_test_dir,
                         mode="finetune", epochs=1, batch_size=16, predict_test=True)
    preds = ft.test_predictions["test"]
    assert ft.mode == "finetune" and preds["index"] == list(range(10))
    assert len(preds["prediction"]) == 10 and set(preds["prediction"]) <= {0, 1}


def test_predict_test_is_part_of_the_job_id_and_old_ids_stay(registry, glue_test_dir: Path, tmp_path: Path) -> None:
    def job(**hp: Any) -> runner.Job:
        hparams = runner.resolve_hparams("frozen", hp)
        return runner.plan(registry, ["minilm"], ["sst2"], [0], hparams, tmp_path, glue_test_dir).jobs[0]

    assert job().job_id != job(predict_test=True).job_id
    # ids of jobs without --predict-test are what they were before the option existed
    hp = runner.resolve_hparams("frozen", {})
    old = {k: v for k, v in hp.items() if k not in ("predict_test", "dtype", "align", "stride")}
    identity = {"upstream": "minilm", "task": "sst2", "task_version": 1, "source": "local",
                "data_dir": str(glue_test_dir), "seed": 0, "hparams": old, "result_schema": 1}
    from benchmark.engine.results import job_id

    assert job().job_id == job_id(identity)


def test_test_files_are_checked_before_anything_runs(registry, glue_dir: Path, tmp_path: Path) -> None:
    sst2 = registry.tasks.get("sst2").obj
    assert data.missing(sst2, glue_dir, registry, tmp_path) is None  # not needed without --predict-test
    lack = data.missing(sst2, glue_dir, registry, tmp_path, tests=True)
    assert lack is not None and (lack.task, lack.files) == ("sst2", "SST-2/test.tsv")
    assert runner.problems_message([lack]) == (
        f"cannot start: missing test files in {glue_dir} for sst2 (--predict-test reads SST-2/test.tsv in the GLUE "
        "download layout; add them, or leave those tasks out of --tasks)")
    mnli = registry.tasks.get("mnli").obj
    write_tsv(glue_dir / "MNLI" / "test_matched.tsv", ["index", "sentence1", "sentence2"], [["0", "a", "b"]])
    write_tsv(glue_dir / "MNLI" / "test_mismatched.tsv", ["index", "sentence1", "sentence2"], [["0", "a", "b"]])
    lack = data.missing(mnli, glue_dir, registry, tmp_path, tests=True)
    assert lack is not None and lack.files == "diagnostic/diagnostic.tsv"


def test_cola_test_file_has_a_header_and_labels_are_not_read(registry, tmp_path: Path) -> None:
    d = tmp_path / "g"
    rows = [["gj04", "1", "", "The book was read by John."], ["gj04", "0", "*", "Book the John read."]] * 10
    write_tsv(d / "CoLA" / "train.tsv", None, rows)
    write_tsv(d / "CoLA" / "dev.tsv", None, rows[:4])
    write_tsv(d / "CoLA" / "test.tsv", ["index", "sentence"], [["3", "Bill left."], ["1", "Left Bill the."]])
    cola = registry.tasks.get("cola").obj
    td = data.load(cola, d, registry, tmp_path, tests=True)
    assert td.tests["test"].index == (3, 1) and td.tests["test"].inputs == ("Bill left.", "Left Bill the.")
    assert data.load(cola, d, registry, tmp_path).tests == {}  # read only when asked for
    write_tsv(d / "CoLA" / "test.tsv", ["index", "sentence"], [["0", "fine"], ["1"]])
    with pytest.raises(BenchError, match=r"CoLA/test.tsv:3: expected at least 2 tab-separated columns, got 1"):
        data.load(cola, d, registry, tmp_path, tests=True)


def test_hub_test_splits_ignore_the_minus_one_labels_and_read_ax_from_its_config(registry, monkeypatch) -> None:
    import datasets

    calls = []

    def split(n: int, offset: int, label: int | None = None) -> datasets.Dataset:
        return datasets.Dataset.from_dict({"premise": [f"p{i}" for i in range(offset, offset + n)],
                                           "hypothesis": [f"h{i}" for i in range(offset, offset + n)],
                                           "label": [-1 if label is None else i % 3 for i in range(n)],
                                           "idx": list(range(n))})

    def fake_load(path, name=None, revision=None, **kw):
        calls.append(name)
        if name == "ax":
            return datasets.DatasetDict({"test": split(4, 900)})
        return datasets.DatasetDict({"train": split(30, 0, 1), "validation_matched": split(6, 100, 1),
                                     "validation_mismatched": split(9, 200, 1), "test_matched": split(5, 300),
                                     "test_mismatched": split(7, 400)})

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    mnli = registry.tasks.get("mnli").obj
    td = data.load(mnli, None, registry, Path("/nonexistent"), tests=True)
    assert calls == ["mnli", "ax"]
    assert td.tests["test_m"].index == (0, 1, 2, 3, 4) and td.tests["test_mm"].inputs[0] == ("p400", "h400")
    assert td.tests["ax"].inputs[-1] == ("p903", "h903") and len(td.tests["ax"]) == 4
    calls.clear()
    assert data.load(mnli, None, registry, Path("/nonexistent")).tests == {} and calls == ["mnli"]


def _result(task: str, upstream: str, seed: int, score: float, tests: dict[str, Any] | None,
            job: str | None = None) -> dict[str, Any]:
    return {"job_id": job or f"{task}-{upstream}-{seed}", "upstream": upstream, "task": task, "seed": seed,
            "mode": "frozen", "scores": {"x": score}, "main_score": score, "test_predictions": tests or {}}


def _all_tasks(upstream: str, seed: int = 0, score: float = 50.0) -> list[dict[str, Any]]:
    out = []
    for task in export.GLUE_TASKS:
        splits = ["test_m", "test_mm", "ax"] if task == "mnli" else ["test"]
        pred = [0.5, -0.25, 5.5] if task == "stsb" else [1, 0, 1]
        out.append(_result(task, upstream, seed, score, {s: {"index": [0, 1, 2], "prediction": pred} for s in splits}))
    return out


def _write(d: Path, results: list[dict[str, Any]]) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for i, r in enumerate(results):
        (d / f"{r['task']}__{i}.json").write_text(json.dumps(r), encoding="utf-8")
    return d


def test_full_submission_has_eleven_files_and_stsb_is_clipped(tmp_path: Path) -> None:
    sub = export.glue_submission(_all_tasks("a"), LABELS)
    assert list(sub.files) == ALL_FILES and sub.missing == {} and sub.upstream == "a"
    assert sub.files["STS-B.tsv"] == "index\tprediction\n0\t0.500\n1\t0.000\n2\t5.000\n"
    assert sub.files["MNLI-mm.tsv"] == "index\tprediction\n0\tneutral\n1\tentailment\n2\tneutral\n"
    assert sub.files["QNLI.tsv"] == "index\tprediction\n0\tnot_entailment\n1\tentailment\n2\tnot_entailment\n"
    assert sub.files["CoLA.tsv"] == "index\tprediction\n0\t1\n1\t0\n2\t1\n"
    written = export.write_files(sub.files, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(ALL_FILES) == sorted(p.name for p in written)


def test_best_result_per_task_highest_score_then_lowest_seed() -> None:
    rows = [_result("sst2", "a", 0, 80.0, {"test": {"index": [0], "prediction": [0]}}),
            _result("sst2", "a", 2, 90.0, {"test": {"index": [0], "prediction": [1]}}),
            _result("sst2", "a", 1, 90.0, {"test": {"index": [0], "prediction": [0]}}),
            _result("sst2", "a", 3, 99.0, None),  # no test predictions: never chosen
            _result("sst2", "b", 4, 99.0, {"test": {"index": [0], "prediction": [0]}})]
    best = export.best_results(rows, "a")
    assert best["sst2"]["seed"] == 1
    sub = export.glue_submission(rows, LABELS, upstream="a")
    assert sub.sources["sst2"]["seed"] == 1 and sub.files["SST-2.tsv"] == "index\tprediction\n0\t0\n"


def test_several_upstreams_need_upstream_and_unknown_one_is_named(tmp_path: Path) -> None:
    out = _write(tmp_path / "res", _all_tasks("bert") + _all_tasks("minilm") + [_result("sst2", "other", 0, 1, None)])
    r = bench("export", "glue-submission", "--output", str(out), "--to", str(tmp_path / "sub"))
    assert r.returncode == 2 and not (tmp_path / "sub").exists()
    assert r.stderr.strip() == (f"error: {out} holds GLUE test predictions of several upstreams (bert, minilm); "
                                "pick one with --upstream")
    r = bench("export", "glue-submission", "--output", str(out), "--to", str(tmp_path / "sub"), "--upstream", "roberta")
    assert r.returncode == 2
    assert r.stderr.strip() == f"error: no GLUE test predictions of upstream 'roberta' in {out} (upstreams with them: " \
                               "bert, minilm)"
    r = bench("export", "glue-submission", "--output", str(out), "--to", str(tmp_path / "sub"), "--upstream", "minilm")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == sorted(ALL_FILES)
    assert f"wrote 11 files of 'minilm' to {tmp_path / 'sub'}" in r.stdout


def test_no_test_predictions_at_all(tmp_path: Path) -> None:
    out = _write(tmp_path / "res", [_result("sst2", "a", 0, 1, None)])
    with pytest.raises(BenchError) as err:
        export.glue_submission([_result("sst2", "a", 0, 1, None)], LABELS, where=str(out))
    assert str(err.value) == (f"no result in {out} has GLUE test predictions; run `bench run --tasks glue "
                              f"--predict-test --output {out}` first")


def test_corrupt_predictions_are_one_line_errors() -> None:
    bad = [_result("sst2", "a", 0, 1, {"test": {"index": [0, 1], "prediction": [1]}}, job="j1")]
    with pytest.raises(BenchError, match=r"^result j1 \(sst2, seed 0\) split 'test': 2 test indices but 1 predictions"):
        export.glue_submission(bad, LABELS)
    bad = [_result("mnli", "a", 0, 1, {"test_m": {"index": [0], "prediction": [3]}}, job="j2")]
    with pytest.raises(BenchError, match=r"prediction 3 is not a class index 0..2"):
        export.glue_submission(bad, LABELS)


def test_every_submission_file_comes_from_a_declared_test_split(registry) -> None:
    for task, split, _ in export.GLUE_FILES:
        spec = registry.tasks.get(task).obj
        assert split in spec.tests, (task, split)
        assert split in spec.sources.hub.splits and split in spec.sources.local.splits
    assert {t for t, _, _ in export.GLUE_FILES} == set(registry.suites.get("glue").obj.tasks)
