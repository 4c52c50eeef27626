"""The example plugin end to end, as a stranger would use it: a fresh virtual environment, `pip install`, and
the venv's own `bench` command.

The venv reuses the torch stack already installed here (`--system-site-packages`, plus the running venv's
site-packages when the tests themselves run in one, as CI does), so nothing big is installed twice: pip installs
bench and the example package into it with `--no-deps`. The VADER data comes from the shared bench cache
(BENCH_CACHE, default ~/.cache/bench), so the sdist is downloaded at most once.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import site
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmark.runner import default_cache_dir

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "bench-example-plugin"


def _run(cmd: list[str], env: dict[str, str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(c) for c in cmd], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(map(str, cmd))} exited {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n"
                    f"--- stderr\n{proc.stderr[-4000:]}", pytrace=False)
    return proc


def _build_isolation_flags() -> list[str]:
    """Build with the hatchling installed here when there is one; else pip fetches it for an isolated build."""
    return ["--no-build-isolation"] if importlib.util.find_spec("hatchling") else []


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A fresh venv with bench and bench-example-plugin pip-installed; returns its python, env and paths."""
    tmp = tmp_path_factory.mktemp("example-plugin")
    venv_dir = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv_dir)], check=True, timeout=300)
    bindir = venv_dir / "bin"
    python = bindir / "python"
    if sys.prefix != sys.base_prefix:
        # These tests run inside a venv (CI does): --system-site-packages only reaches the base interpreter's
        # packages, so let the new venv see this one's (torch, transformers, bench's dependencies) as well.
        purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 check=True, capture_output=True, text=True).stdout.strip()
        paths = [p for p in site.getsitepackages() if Path(p).is_dir() and Path(p).is_relative_to(sys.prefix)]
        Path(purelib, "_bench_parent_env.pth").write_text(
            f"import site; list(map(site.addsitedir, {paths!r}))\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "BENCH_DISABLE_PLUGIN_AUTOLOAD", "BENCH_BLOCK_PLUGINS")}
    env.update(VIRTUAL_ENV=str(venv_dir), PATH=f"{bindir}{os.pathsep}{env.get('PATH', '')}",
               BENCH_CACHE=str(default_cache_dir()), HF_HUB_OFFLINE="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    # Install from a copy, as from a download: nothing is written into the repository.
    package = tmp / "bench-example-plugin"
    shutil.copytree(EXAMPLE, package, ignore=shutil.ignore_patterns(
        "__pycache__", ".pytest_cache", "build", "dist", "*.egg-info"))
    _run([python, "-m", "pip", "install", "-q", "--no-deps", *_build_isolation_flags(), ROOT, package], env, tmp)
    assert (bindir / "bench").is_file(), "pip did not install the bench command into the venv"
    return {"python": python, "bench": bindir / "bench", "env": env, "tmp": tmp, "package": package}


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
