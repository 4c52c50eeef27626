"""A full disk loses nothing, and the same job twice gives the same result."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from reliability_workspace import TESTS, Workspace, make_workspace

from benchmark.features.cache import FeatureCache


def _run_in_process(ws: Workspace, args: list[str], monkeypatch: pytest.MonkeyPatch, capsys) -> tuple[int, str]:
    from benchmark.cli.app import main
    from benchmark.plugin.manager import reset_plugins

    monkeypatch.syspath_prepend(str(TESTS))
    for key, value in ws.env().items():
        if key.startswith("BENCH_") or key == "HF_HUB_OFFLINE":
            monkeypatch.setenv(key, value)
    reset_plugins()
    try:
        with pytest.raises(SystemExit) as exit_:
            main(args)
            raise SystemExit(0)
    finally:
        reset_plugins()
    return int(exit_.value.code), capsys.readouterr().err


def _disk_full(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_while_writing_a_result_keeps_every_earlier_file(tmp_path: Path, monkeypatch, capsys) -> None:
    ws = make_workspace(tmp_path)
    first = ws.bench(*ws.run_args("--tasks", "mini-sent", "-q"))  # one finished job of ours, besides the earlier one
    assert first.returncode == 0, first.stderr
    before = ws.snapshot()
    monkeypatch.setattr(os, "fsync", _disk_full)  # results are fsync'ed before their rename: the write fails there
    code, err = _run_in_process(ws, ws.run_args("--seeds", "0,1", "-q"), monkeypatch, capsys)
    [line] = err.strip().splitlines()
    assert code == 2
    assert line.startswith(f"error: cannot write {ws.out}/mini-") and line.endswith(
        ".json: No space left on device; nothing was replaced (files already there are intact): free space and rerun")
    after = ws.snapshot()
    assert {k: after.get(k) for k in before if k.startswith("out/")} == {k: v for k, v in before.items()
                                                                         if k.startswith("out/")}
    # (OUTPUT/.locks holds the jobs' claims: housekeeping, never a temporary result file)
    assert not [p for p in ws.out.iterdir() if p.name.startswith(".") and p.name != ".locks"], \
        "a temporary file was left behind"


def test_a_full_disk_while_caching_features_leaves_no_entry(tmp_path: Path, monkeypatch, capsys) -> None:
    ws = make_workspace(tmp_path)
    before = ws.snapshot()
    monkeypatch.setattr(os, "pwrite", _disk_full)  # feature rows are written with pwrite
    code, err = _run_in_process(ws, ws.run_args("-q"), monkeypatch, capsys)
    assert code == 2
    assert err.strip() == (f"error: cannot write to the feature cache at {ws.cache}: No space left on device; free "
                           "space, lower BENCH_CACHE_MAX_GB, or run with --no-cache")
    assert FeatureCache(ws.cache).entries() == [] and FeatureCache(ws.cache).info().partial == 0
    after = ws.snapshot()
    assert all(after.get(k) == v for k, v in before.items()) and not list(ws.out.glob("mini-*"))


@pytest.mark.parametrize("upstream", ["char", "minilm"])
def test_the_same_job_twice_gives_identical_results(upstream: str, tmp_path: Path) -> None:
    runs = []
    for name in ("a", "b"):  # separate workspaces: separate feature caches, nothing shared
        ws = make_workspace(tmp_path / name)
        r = ws.bench(*ws.run_args("--upstream", upstream, "--seeds", "3", "-q"))
        assert r.returncode == 0, r.stderr
        runs.append({(d["task"], d["seed"]): d for d in map(json.loads, map(Path.read_text, ws.out.glob("mini-*")))})
    a, b = runs
    assert a.keys() == b.keys() == {("mini-sent", 3), ("mini-reg", 3)}
    for key in a:
        for field in ("scores", "main_score", "predictions", "layer_weights", "selection"):
            assert a[key][field] == b[key][field], (key, field)
        det = a[key]["environment"]["determinism"]
        assert det["torch_deterministic_algorithms"] is True and det["seeds"]["selection_holdout"] == 0
        assert a[key]["seed"] == 3 and a[key]["hyperparameters"]["lr"] == 1e-3


def test_docs_reliability_names_only_tests_that_exist() -> None:
    """docs/reliability.md lists the test behind each guarantee: every test it names must exist."""
    import re

    from test_bad_input import CASES

    doc = (TESTS.parent / "docs" / "reliability.md").read_text(encoding="utf-8")
    named = re.findall(r"`?(test_\w+\.py)::(test_\w+)", doc) + [
        (m.group(1), m.group(2)) for m in re.finditer(r"(test_\w+\.py)::test_\w+`, `::(test_\w+)", doc)]
    assert len(named) >= 15
    for module, test in named:
        source = (TESTS / module).read_text(encoding="utf-8")
        assert f"def {test}(" in source, f"docs/reliability.md names {module}::{test}, which does not exist"
    assert f"a table of {len(CASES)} cases" in doc


def test_the_task_file_example_in_docs_runs(tmp_path: Path) -> None:
    """docs/tasks.md's 'your own task files' example, as written, on files laid out as it says."""
    import re

    from reliability_workspace import sentiment_rows, tsv

    doc = (TESTS.parent / "docs" / "tasks.md").read_text(encoding="utf-8")
    section = doc[doc.index("## Your own task files"):]
    yaml_text = re.search(r"```yaml\n(.*?)```", section, flags=re.S).group(1)
    ws = make_workspace(tmp_path)
    (ws.root / "my_tasks.yaml").write_text(yaml_text, encoding="utf-8")
    for split, n in (("train", 60), ("dev", 20), ("test", 20)):
        tsv(ws.data / "reviews" / f"{split}.tsv", ["text", "label"], sentiment_rows(n))
    r = ws.bench("run", "--upstream", "char", "--tasks", "my-sentiment", "--tasks-file", "my_tasks.yaml",
                 "--data-dir", str(ws.data), "--output", str(ws.out), "-q")
    assert r.returncode == 0, r.stderr
    [result] = [json.loads(p.read_text()) for p in ws.out.glob("my-sentiment__*.json")]
    assert result["n_examples"] == {"train": 60, "select": 20, "test": 20}
    assert set(result["scores"]) == {"accuracy", "f1"}
