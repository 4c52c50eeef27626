"""The example plugin end to end, as a stranger would use it: a fresh virtual environment, `pip install`, and
the venv's own `bench` command; among what it adds, a head kind bench has never heard of (`multi-label`), trained
on the CSV task shipped inside the package. A few fast tests load the plugin in this process from its source tree.

The venv reuses the torch stack already installed here (`--system-site-packages`, plus the running venv's
site-packages when the tests themselves run in one, as CI does), so nothing big is installed twice: pip installs
bench and the example package into it with `--no-deps`. The VADER data comes from the shared bench cache
(BENCH_CACHE, default ~/.cache/bench), so the sdist is downloaded at most once.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from plugin_venv import ROOT, make_plugin_venv
from plugin_venv import run as _run

import benchmark
from benchmark.errors import BenchError
from benchmark.plugin.manager import get_plugins, reset_plugins

EXAMPLE = ROOT / "examples" / "bench-example-plugin"
ML_DATA = EXAMPLE / "src" / "bench_example_plugin" / "multilabel_data"
ML_LABELS = ["raters-positive", "raters-negative", "strong"]


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A fresh venv with bench and bench-example-plugin pip-installed; returns its python, env and paths."""
    venv = make_plugin_venv(tmp_path_factory.mktemp("example-plugin"), [EXAMPLE])
    return {**venv, "package": venv["packages"][EXAMPLE.name]}


@pytest.fixture(scope="module")
def run_output(venv: dict[str, Any]) -> Path:
    out = venv["tmp"] / "results"
    _run([venv["bench"], "run", "--upstream", "hashbow", "--tasks", "example-questions", "--output", out,
          "--seeds", "0"], venv["env"], venv["tmp"])
    return out


@pytest.fixture(scope="module")
def multilabel_output(venv: dict[str, Any]) -> Path:
    out = venv["tmp"] / "multilabel"
    _run([venv["bench"], "run", "--upstream", "hashbow", "--tasks", "example-multilabel", "--output", out,
          "--seeds", "0"], venv["env"], venv["tmp"])
    return out


def test_bench_plugins_lists_the_example_plugin(venv: dict[str, Any]) -> None:
    text = _run([venv["bench"], "plugins"], venv["env"], venv["tmp"]).stdout
    assert re.search(r"^example\s+\(entry point \(bench-example-plugin 0\.1\.0\)\)$", text, re.M), text
    assert re.search(r"^\s+upstreams: hashbow$", text, re.M), text
    assert re.search(r"^\s+tasks: example-multilabel, example-questions$", text, re.M), text
    assert re.search(r"^\s+downstreams: multi-label$", text, re.M), text
    assert "failed:" not in text
    data = json.loads(_run([venv["bench"], "plugins", "--json"], venv["env"], venv["tmp"]).stdout)
    example = next(p for p in data["plugins"] if p["name"] == "example")
    assert example["registered"] == {"upstreams": ["hashbow"], "downstreams": ["multi-label"],
                                     "tasks": ["example-multilabel", "example-questions"], "suites": ["example"],
                                     "datasets": ["example-questions"], "metrics": ["mean_ap", "micro_f1"]}
    assert data["failures"] == []


def test_bench_list_shows_the_upstream_and_the_task(venv: dict[str, Any]) -> None:
    upstreams = _run([venv["bench"], "list", "upstreams"], venv["env"], venv["tmp"]).stdout
    assert re.search(r"^hashbow\s+\[text\] .*\(example\)$", upstreams, re.M), upstreams
    assert re.search(r"^minilm\s", upstreams, re.M), "the builtin upstreams are still there"
    tasks = _run([venv["bench"], "list", "tasks"], venv["env"], venv["tmp"]).stdout
    assert re.search(r"^example-questions\s+\[example\] .*\(example\)$", tasks, re.M), tasks
    assert re.search(r"^example-multilabel\s+\[-\] .*\(example\)$", tasks, re.M), tasks
    heads = _run([venv["bench"], "list", "heads"], venv["env"], venv["tmp"]).stdout
    assert re.search(r"^multi-label\s+\[pooled -> labels\] a sigmoid per label .*\(example\)$", heads, re.M), heads


def test_bench_run_scores_hashbow_above_chance(run_output: Path) -> None:
    files = sorted(run_output.glob("*.json"))
    assert len(files) == 1, files
    result = json.loads(files[0].read_text(encoding="utf-8"))
    assert (result["upstream"], result["task"], result["seed"]) == ("hashbow", "example-questions", 0)
    assert result["suite"] == ["example"]
    accuracy = result["scores"]["accuracy"]
    assert 50.0 < accuracy <= 100.0, f"accuracy {accuracy} is not above chance on a balanced test set"
    assert result["main_score"] == accuracy
    assert result["upstream_info"]["fingerprint"].startswith("hashbow-v1:dim=512:")
    assert (result["upstream_info"]["num_layers"], result["upstream_info"]["hidden_size"]) == (2, 512)
    assert len(result["layer_weights"]) == 3
    assert result["task_info"]["data_revision"].startswith("vaderSentiment==3.3.2:example-questions-v1:")
    assert result["n_examples"]["test"] >= 200 and result["n_examples"]["select"] >= 100


def test_bench_report_includes_the_result(venv: dict[str, Any], run_output: Path) -> None:
    result = json.loads(next(run_output.glob("*.json")).read_text(encoding="utf-8"))
    board = json.loads(_run([venv["bench"], "report", "--output", run_output, "--format", "json"],
                            venv["env"], venv["tmp"]).stdout)
    assert board["tasks"] == ["example-questions"] and board["suites"] == ["example"]
    row = next(r for r in board["rows"] if r["upstream"] == "hashbow")
    cell = row["tasks"]["example-questions"]
    assert cell["score"] == {"mean": result["main_score"], "std": 0.0, "n": 1}
    assert cell["metrics"]["accuracy"]["mean"] == result["scores"]["accuracy"]
    assert row["suites"]["example"]["score"] == result["main_score"]


def test_the_packages_own_tests_pass_in_the_venv(venv: dict[str, Any]) -> None:
    package = venv["package"]
    proc = _run([venv["python"], "-m", "pytest", "-q", "-p", "no:cacheprovider", package / "tests"], venv["env"],
                package)
    summary = proc.stdout.strip().splitlines()[-1]
    assert re.search(r"^\d+ passed in ", summary), summary  # nothing failed, nothing skipped


# -- the plugin's own head kind: multi-label, on the CSV task beside its tasks.yaml ------------------------------


def _indicators(split: str) -> np.ndarray:
    """A split of the shipped CSV as a 0/1 matrix (examples, labels), read here independently of bench."""
    with (ML_DATA / f"{split}.csv").open(encoding="utf-8", newline="") as f:
        return np.array([[int(label in row["labels"].split("|")) for label in ML_LABELS] for row in csv.DictReader(f)])


def test_bench_run_trains_the_plugins_multi_label_head(venv: dict[str, Any], multilabel_output: Path) -> None:
    """`bench run` in the fresh venv trains the head bench does not have, on the CSV the wheel carries, and beats
    the trivial baselines: mAP of a constant score (each label's training frequency for every snippet) is each
    label's dev frequency, and micro-F1 of guessing each label at random with its training frequency."""
    from sklearn.metrics import average_precision_score, f1_score

    [path] = multilabel_output.glob("*.json")
    result = json.loads(path.read_text(encoding="utf-8"))
    assert (result["upstream"], result["task"], result["task_info"]["head"]) == ("hashbow", "example-multilabel",
                                                                              "multi-label")
    assert result["task_info"]["data_revision"].startswith("local:csv:")
    assert result["n_examples"] == {"train": 336, "select": 84, "dev": 180}
    scores = result["scores"]
    assert set(scores) == {"mean_ap", "micro_f1"} and result["main_score"] == scores["mean_ap"]
    assert all(0.0 <= v <= 100.0 for v in scores.values()), scores
    gold, probs = np.array(result["targets"]["dev"]), np.array(result["predictions"]["dev"])
    train, dev = _indicators("train"), _indicators("dev")
    assert gold.tolist() == dev.tolist() and probs.shape == (180, 3) and ((probs >= 0) & (probs <= 1)).all()
    assert scores["mean_ap"] == pytest.approx(100 * average_precision_score(gold, probs, average="macro"), abs=1e-3)
    assert scores["micro_f1"] == pytest.approx(100 * f1_score(gold, probs >= 0.5, average="micro"), abs=1e-3)
    prior = train.mean(0)
    constant_map = 100 * average_precision_score(dev, np.tile(prior, (len(dev), 1)), average="macro")
    assert constant_map == pytest.approx(100 * dev.mean(0).mean())
    hits, false, missed = (dev * prior).sum(), ((1 - dev) * prior).sum(), (dev * (1 - prior)).sum()
    chance_f1 = 100 * 2 * hits / (2 * hits + false + missed)  # expected counts of the random guesser
    assert scores["mean_ap"] > constant_map + 5, (scores, constant_map)
    assert scores["micro_f1"] > chance_f1 + 5, (scores, chance_f1)
    board = json.loads(_run([venv["bench"], "report", "--output", multilabel_output, "--format", "json"],
                            venv["env"], venv["tmp"]).stdout)
    cell = next(r for r in board["rows"] if r["upstream"] == "hashbow")["tasks"]["example-multilabel"]
    assert cell["score"]["mean"] == result["main_score"]


@pytest.fixture()
def example_plugin(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The plugin loaded in this process from its source tree (BENCH_PLUGINS), as while one writes it."""
    monkeypatch.syspath_prepend(str(EXAMPLE / "src"))
    monkeypatch.setenv("BENCH_PLUGINS", "bench_example_plugin")
    reset_plugins()
    yield get_plugins()
    reset_plugins()


def test_the_plugins_metrics_are_scikit_learns(example_plugin: Any) -> None:
    from sklearn.metrics import average_precision_score, f1_score

    truth = [[1, 0, 1, 0], [0, 1, 0, 1], [1, 1, 0, 0], [0, 0, 1, 1], [1, 0, 0, 1], [0, 1, 1, 0]]
    scores = [[0.91, 0.2, 0.55, 0.1], [0.45, 0.7, 0.1, 0.52], [0.6, 0.4, 0.3, 0.2], [0.2, 0.1, 0.8, 0.9],
              [0.3, 0.6, 0.5, 0.49], [0.51, 0.95, 0.05, 0.3]]
    metrics = example_plugin.registry.metrics
    assert metrics.get("micro_f1").obj.fn(truth, scores) == pytest.approx(
        100 * f1_score(truth, [[int(p >= 0.5) for p in row] for row in scores], average="micro"))
    assert metrics.get("mean_ap").obj.fn(truth, scores) == pytest.approx(
        100 * average_precision_score(truth, scores, average="macro"))
    for name in ("micro_f1", "mean_ap"):  # bench's bootstrap hands them object arrays of per-example lists
        from benchmark.scoring.stats import as_array

        fn = metrics.get(name).obj.fn
        assert fn(as_array(truth), as_array(scores)) == fn(truth, scores)


def test_the_plugins_head_refuses_a_task_without_labels(example_plugin: Any, tmp_path: Path) -> None:
    tasks = tmp_path / "tasks.yaml"
    tasks.write_text("""schema: 1
tasks:
  unlabelled-multi:
    description: a multi-label task that forgot its labels
    version: 1
    modality: text
    head: multi-label
    metrics: [mean_ap]
    score: [mean_ap]
    evals: [dev]
    sources:
      local: {base: tasks-file, format: csv, inputs: [text], label: labels, splits: {train: t.csv, dev: d.csv}}
""", encoding="utf-8")
    line = ("task 'unlabelled-multi': head 'multi-label' predicts a subset of the task's labels and needs labels "
            "(e.g. labels: [a, b, c])")
    with pytest.raises(BenchError) as err:  # checked when the tasks file is read, before any job
        benchmark.run("hashbow", "unlabelled-multi", [0], tmp_path / "out", tasks_files=[tasks])
    assert str(err.value) == f"{tasks}:7: {line}"  # (the line of its head: key)
