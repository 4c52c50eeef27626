"""The example plugin end to end, as a stranger would use it: a fresh virtual environment, `pip install`, and
the venv's own `bench` command.

The venv reuses the torch stack already installed here (`--system-site-packages`, plus the running venv's
site-packages when the tests themselves run in one, as CI does), so nothing big is installed twice: pip installs
bench and the example package into it with `--no-deps`. The VADER data comes from the shared bench cache
(BENCH_CACHE, default ~/.cache/bench), so the sdist is downloaded at most once.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from plugin_venv import ROOT, make_plugin_venv
from plugin_venv import run as _run

EXAMPLE = ROOT / "examples" / "bench-example-plugin"


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


def test_bench_plugins_lists_the_example_plugin(venv: dict[str, Any]) -> None:
    text = _run([venv["bench"], "plugins"], venv["env"], venv["tmp"]).stdout
    assert re.search(r"^example\s+\(entry point \(bench-example-plugin 0\.1\.0\)\)$", text, re.M), text
    assert re.search(r"^\s+upstreams: hashbow$", text, re.M), text
    assert re.search(r"^\s+tasks: example-questions$", text, re.M), text
    assert "failed:" not in text
    data = json.loads(_run([venv["bench"], "plugins", "--json"], venv["env"], venv["tmp"]).stdout)
    example = next(p for p in data["plugins"] if p["name"] == "example")
    assert example["registered"] == {"upstreams": ["hashbow"], "tasks": ["example-questions"], "suites": ["example"],
                                     "datasets": ["example-questions"]}
    assert data["failures"] == []


def test_bench_list_shows_the_upstream_and_the_task(venv: dict[str, Any]) -> None:
    upstreams = _run([venv["bench"], "list", "upstreams"], venv["env"], venv["tmp"]).stdout
    assert re.search(r"^hashbow\s+\[text\] .*\(example\)$", upstreams, re.M), upstreams
    assert re.search(r"^minilm\s", upstreams, re.M), "the builtin upstreams are still there"
    tasks = _run([venv["bench"], "list", "tasks"], venv["env"], venv["tmp"]).stdout
    assert re.search(r"^example-questions\s+\[example\] .*\(example\)$", tasks, re.M), tasks


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
