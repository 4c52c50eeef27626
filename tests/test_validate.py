"""`bench validate`: the upstream contract report and tasks-file validation, as a user runs them."""

from __future__ import annotations

import json
import os
from pathlib import Path

from test_cli import bench

TESTS = Path(__file__).resolve().parent
PLUGIN_ENV = {"BENCH_PLUGINS": "bench_testplugin",
              "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH", "")]))}


def test_a_good_upstream_passes_every_check_and_reports_its_speed() -> None:
    r = bench("validate", "minilm", "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    up = json.loads(r.stdout)["upstream"]
    assert up["ok"] and up["plugin"] == "upstreams.text" and len(up["checks"]) == 18
    assert {c["name"] for c in up["checks"]} >= {"shape.layers", "mask.padding", "determinism", "batch_independence"}
    assert 0 < up["seconds_per_item"] < 5 and up["facts"]["num_layers"] == 6 and up["facts"]["hidden_size"] == 384
    text = bench("validate", "minilm")
    assert "PASS  batch_independence" in text.stdout and "ms per item" in text.stdout
    assert "all 18 contract checks passed" in text.stdout


def test_broken_plugin_upstreams_fail_with_what_is_wrong() -> None:
    r = bench("validate", "short-char", env=PLUGIN_ENV)
    assert r.returncode == 1
    assert "FAIL  shape.layers" in r.stdout and "expected num_layers + 1" in r.stdout
    assert "contract checks failed" in r.stdout and "speed" not in r.stdout
    r = bench("validate", "nan-char", env=PLUGIN_ENV)
    assert r.returncode == 1 and "FAIL  values.finite — NaN or inf in hidden states" in r.stdout
    r = bench("validate", "explodes", env=PLUGIN_ENV)
    assert r.returncode == 1 and "FAIL  load" in r.stdout and "(plugin bench_testplugin)" in r.stdout


def test_tasks_files_are_validated_strictly(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("""schema: 1
suites:
  mine:
    description: mine
    tasks: [my-polarity]
tasks:
  my-polarity:
    description: my sentiment task
    version: 1
    modality: text
    head: classification
    labels: [neg, pos]
    metrics: [accuracy]
    score: [accuracy]
    evals: [dev]
    sources:
      local: {format: glue-tsv, dir: MINE, inputs: [sentence], label: label, splits: {train: train.tsv, dev: dev.tsv}}
""", encoding="utf-8")
    r = bench("validate", "--tasks-file", str(good))
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"{good}: valid — 1 tasks (my-polarity), 1 suites (mine)" in r.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text().replace("    version: 1\n", "    version: 1\n    colour: blue\n"), encoding="utf-8")
    r = bench("validate", "--tasks-file", str(bad))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "colour" in r.stderr and "my-polarity" in r.stderr
    wrong_head = tmp_path / "head.yaml"
    wrong_head.write_text(good.read_text().replace("head: classification", "head: clasification"), encoding="utf-8")
    r = bench("validate", "--tasks-file", str(wrong_head))
    assert r.returncode == 2 and "unknown head 'clasification'" in r.stderr and "did you mean" in r.stderr
    r = bench("validate")
    assert r.returncode == 2 and "nothing to validate" in r.stderr
