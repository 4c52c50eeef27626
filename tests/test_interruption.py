"""Interruptions: SIGKILL at random points and Ctrl-C lose nothing finished, leave nothing partial, and a rerun
does exactly the missing jobs with the same scores as a run that was never interrupted."""

from __future__ import annotations

import json
import random
import re
import signal
import time
from pathlib import Path

import pytest
from reliability_workspace import Workspace, make_workspace

from benchmark.features.cache import FeatureCache
from benchmark.types import Result

SEEDS = "0,1,2,3,4"
N_JOBS = 10  # char x (mini-sent, mini-reg) x 5 seeds


def _results(ws: Workspace) -> dict[str, dict]:
    """Every result file of this run (not the earlier one the workspace starts with), parsed: a partial or
    corrupt file fails here."""
    out = {}
    for path in sorted(ws.out.glob("mini-*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        assert set(Result.__dataclass_fields__) <= set(data), f"{path.name} lacks fields"
        assert data["upstream"] == "char" and data["task"] in path.name
        out[path.name] = data
    return out


def _assert_intact(ws: Workspace, earlier: dict[str, str]) -> None:
    assert {k: v for k, v in ws.snapshot().items() if k in earlier} == earlier  # the earlier result, untouched
    cache = FeatureCache(ws.cache)
    for entry in cache.entries():  # every published entry is complete and readable
        meta = json.loads((entry / "meta.json").read_text())
        assert cache.get(entry.name.rsplit("-", 1)[0]) is not None and meta["shape"][0] == meta["examples"]


def _scores(results: dict[str, dict]) -> dict[tuple[str, int], tuple]:
    return {(r["task"], r["seed"]): (r["scores"], r["predictions"]) for r in results.values()}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, int], tuple]:
    """The same run, never interrupted, in a workspace of its own (its own cache)."""
    ws = make_workspace(tmp_path_factory.mktemp("reference"), n=240)
    r = ws.bench(*ws.run_args("--seeds", SEEDS, "-q"))
    assert r.returncode == 0, r.stderr
    return _scores(_results(ws))


@pytest.mark.slow
def test_sigkill_at_random_points_then_rerun_does_only_the_missing_jobs(tmp_path: Path, reference) -> None:
    ws = make_workspace(tmp_path, n=240)
    earlier = {k: v for k, v in ws.snapshot().items() if k.startswith("out/")}
    rng = random.Random(5)
    slow = {"BENCH_TEST_DELAY": "0.3"}  # each forward pass sleeps: kills land in extraction as well as training
    kills = 0
    for _ in range(12):
        proc = ws.popen(*ws.run_args("--seeds", SEEDS, "-q"), env=slow)
        time.sleep(rng.uniform(2.0, 6.0))  # start-up (imports) takes ~3 s
        if proc.poll() is None:
            proc.kill()
            kills += 1
        proc.communicate(timeout=60)
        _results(ws)  # every result file that exists is whole
        _assert_intact(ws, earlier)
        if len(_results(ws)) == N_JOBS:
            break
    assert kills >= 3, "the kills must interrupt runs (make the jobs slower if this fails)"
    before = set(_results(ws))
    r = ws.bench(*ws.run_args("--seeds", SEEDS))
    assert r.returncode == 0, r.stderr
    done_now = [line for line in r.stderr.splitlines() if re.match(r"\[\d+/\d+\] char · mini-\S+ · seed \d+: \d", line)]
    assert len(done_now) == N_JOBS - len(before)  # only the missing jobs ran
    if before:
        assert f"{len(before)} of {N_JOBS} jobs already finished" in r.stderr
    final = _results(ws)
    assert len(final) == N_JOBS
    assert _scores(final) == reference  # no partial cache entry or result was trusted: same scores, same predictions
    _assert_intact(ws, earlier)


def test_ctrl_c_stops_promptly_with_a_one_line_summary(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, n=240)
    proc = ws.popen(*ws.run_args("--seeds", SEEDS, "-q"), env={"BENCH_TEST_DELAY": "0.4"})
    deadline = time.monotonic() + 240
    while not list(ws.out.glob("mini-*.json")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    sent = time.monotonic()  # at once: the next jobs train on cached features and may take under a second each
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    took = time.monotonic() - sent
    assert proc.returncode == 130, err
    assert took < 5, f"Ctrl-C took {took:.1f} s"
    assert "Traceback" not in err
    finished = len(_results(ws))
    assert 1 <= finished < N_JOBS
    assert err.strip().splitlines()[-1] == (f"interrupted: {finished} of {N_JOBS} jobs finished and saved in {ws.out}; "
                                            "rerun the same command to do the rest")
    r = ws.bench(*ws.run_args("--seeds", SEEDS))
    assert r.returncode == 0 and len(_results(ws)) == N_JOBS
    assert f"{finished} of {N_JOBS} jobs already finished" in r.stderr
    assert sum(bool(re.match(r"\[\d+/\d+\] char · mini-\S+ · seed \d+: \d", line))  # one line per job that ran
               for line in r.stderr.splitlines()) == N_JOBS - finished
