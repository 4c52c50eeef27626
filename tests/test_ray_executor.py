"""The ray executor: the same jobs give the same result files as the local executor, on a local Ray instance.

One Ray instance is started for the module (the executor reuses it). Without Ray installed these tests skip,
except in CI (CI=true), where a missing Ray is a failure.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

import benchmark
from benchmark.engine import ray_executor as rx
from benchmark.engine import results as results_mod
from benchmark.engine import runner
from benchmark.errors import BenchError

COMPARED = ("job_id", "task", "seed", "scores", "main_score", "relative_to_human", "predictions", "targets",
            "layer_weights", "selection")


def _snapshot(d: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(d.glob("*.json"))}


@pytest.fixture(scope="module")
def ray_module():
    try:
        import ray
    except ImportError:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("Ray is not installed in CI: pip install -e '.[test]' installs it")
        pytest.skip("Ray is not installed (pip install 'encoder-bench[ray]')")
    return ray


@pytest.fixture(scope="module")
def ray_instance(ray_module):
    ray = ray_module
    started = not ray.is_initialized()
    if started:
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.WARNING)
    yield ray
    if started:
        ray.shutdown()


def _plan(registry, tiny: Path, glue: Path, out: Path, cache: Path, tasks: list[str], seeds: list[int]):
    hp = runner.resolve_hparams("frozen", {"epochs": 4})
    return runner.plan(registry, [f"bert:{tiny}"], tasks, seeds, hp, out, glue, cache_dir=cache)


def test_ray_gives_the_local_results_and_a_rerun_does_no_work(ray_instance, registry, tiny_bert_dir: Path,
                                                              glue_dir: Path, tmp_path: Path, monkeypatch) -> None:
    kwargs = {"seeds": [0, 1], "data_dir": glue_dir, "epochs": 4}
    local = benchmark.run(f"bert:{tiny_bert_dir}", "sst2,stsb", output=tmp_path / "a", cache_dir=tmp_path / "ca",
                          **kwargs)
    events: list[tuple[str, str]] = []
    ran = benchmark.run(f"bert:{tiny_bert_dir}", "sst2,stsb", output=tmp_path / "b", cache_dir=tmp_path / "cb",
                        executor="ray", progress=lambda event, **info: events.append((event, info["job"].job_id)),
                        **kwargs)
    a, b = _snapshot(tmp_path / "a"), _snapshot(tmp_path / "b")
    assert len(a) == 4 and a.keys() == b.keys()
    for name in a:
        ja, jb = json.loads(a[name][0]), json.loads(b[name][0])
        for key in COMPARED:
            assert ja[key] == jb[key], (name, key)
        assert jb["environment"]["threads"] == 1  # 4 jobs on 2 cores: one core, one torch thread each
    assert [r.job_id for r in ran] == [r.job_id for r in local]
    assert sorted(events) == sorted(("job_done", r.job_id) for r in ran)
    # workers computed the same feature-cache entries (one per split, shared by both seeds)
    def entries(d: Path) -> list[str]:
        return sorted(p.name for p in (d / "features").iterdir() if p.is_dir())

    assert entries(tmp_path / "ca") == entries(tmp_path / "cb")

    def nothing_to_run(*_a, **_k):
        raise AssertionError("a finished plan must not reach Ray")

    monkeypatch.setattr(rx.RayExecutor, "_get", nothing_to_run)
    monkeypatch.setattr(ray_instance, "remote", nothing_to_run)
    again = benchmark.run(f"bert:{tiny_bert_dir}", "sst2,stsb", output=tmp_path / "b", cache_dir=tmp_path / "cb",
                          executor="ray", **kwargs)
    assert _snapshot(tmp_path / "b") == b
    assert [r.main_score for r in again] == [r.main_score for r in ran]


def test_workers_import_this_checkout_and_replan_the_same_job(ray_instance, registry, tiny_bert_dir: Path,
                                                              glue_dir: Path, tmp_path: Path) -> None:
    plan = _plan(registry, tiny_bert_dir, glue_dir, tmp_path / "out", tmp_path / "cache", ["sst2"], [3])
    ex = rx.RayExecutor()
    [result] = ex.run(plan, registry, device="cpu", command="bench run --executor ray")
    [worker] = ex.workers
    assert worker["benchmark"] == str(Path(benchmark.__file__).resolve().parent)
    assert worker["pid"] != os.getpid() and worker["threads"] == 2  # one job: the whole machine
    assert result.job_id == plan.jobs[0].job_id and plan.jobs[0].path.is_file()
    assert result.environment["command"] == "bench run --executor ray"


def test_a_worker_bench_error_is_one_line(ray_instance, registry, tiny_bert_dir: Path, glue_dir: Path,
                                          tmp_path: Path) -> None:
    plan = _plan(registry, tiny_bert_dir, glue_dir, tmp_path / "out", tmp_path / "cache", ["stsb"], [0])
    (glue_dir / "STS-B" / "train.tsv").unlink()  # vanishes between planning and running
    with pytest.raises(BenchError) as err:
        rx.RayExecutor().run(plan, registry)
    message = str(err.value)
    assert "\n" not in message and message.startswith("cannot start: missing") and "stsb" in message
    assert type(err.value) is BenchError
    assert not list((tmp_path / "out").glob("*.json"))


def test_a_bad_checkpoint_on_a_worker_is_one_line(ray_instance, registry, tiny_bert_dir: Path, glue_dir: Path,
                                                 tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(tiny_bert_dir, model)
    plan = _plan(registry, model, glue_dir, tmp_path / "out", tmp_path / "cache", ["sst2"], [0])
    (model / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(BenchError, match=rf"^cannot load text model '{re.escape(str(model))}': SafetensorError: "):
        rx.RayExecutor().run(plan, registry)


def test_a_job_failing_on_a_worker_is_recorded_as_locally(ray_instance, registry, tiny_bert_dir: Path,
                                                            glue_dir: Path, tmp_path: Path) -> None:
    hp = runner.resolve_hparams("frozen", {"epochs": 4, "lr": 1e30})
    plan = runner.plan(registry, [f"bert:{tiny_bert_dir}"], ["sst2"], [0], hp, tmp_path / "out", glue_dir,
                       cache_dir=tmp_path / "cache")
    events = []
    assert rx.RayExecutor().run(plan, registry, progress=lambda e, **k: events.append((e, k))) == []
    [(event, info)] = [(e, k) for e, k in events if e == "job_failed"]
    assert info["job"].job_id == plan.jobs[0].job_id and info["reason"].startswith("training diverged")
    [record] = results_mod.load_failures(tmp_path / "out")
    assert record["reason"] == info["reason"] and record["job_id"] == plan.jobs[0].job_id


def test_cli_run_starts_and_stops_its_own_ray(ray_module, tiny_bert_dir: Path, glue_dir: Path,
                                              tmp_path: Path) -> None:
    """As a user runs it: a fresh process, no Ray running in it, so the executor starts a local instance."""
    out = tmp_path / "out"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    env.pop("RAY_ADDRESS", None)
    r = subprocess.run([sys.executable, "-m", "benchmark", "run", "--executor", "ray", "--upstream",
                        f"bert:{tiny_bert_dir}", "--tasks", "sst2", "--seeds", "0,1", "--epochs", "3", "--data-dir",
                        str(glue_dir), "--output", str(out)], capture_output=True, text=True, env=env, timeout=600,
                       check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    assert len(list(out.glob("sst2__*.json"))) == 2
    assert "sst2 · seed 1:" in r.stderr and "bench leaderboard" in r.stdout
    assert "Traceback" not in r.stderr and "WARNING" not in r.stderr  # Ray kept quiet


# -- without a Ray instance ---------------------------------------------------------------------------------

def test_missing_ray_says_how_to_install_it(monkeypatch, registry, tmp_path: Path, glue_dir: Path) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    plan = runner.plan(registry, ["minilm"], ["sst2"], [0], runner.resolve_hparams("frozen", {}), tmp_path, glue_dir)
    with pytest.raises(BenchError, match=r"^the ray executor needs Ray: pip install 'encoder-bench\[ray\]'$"):
        rx.RayExecutor().run(plan, registry)


def test_placement_never_oversubscribes_the_cores() -> None:
    assert rx.placement("cpu", 4, 0, 2, 2) == ("cpu", {"num_cpus": 1}, 1)
    assert rx.placement("cpu", 1, 0, 2, 2) == ("cpu", {"num_cpus": 2}, 2)
    assert rx.placement("auto", 2, 0, 16, 64) == ("cpu", {"num_cpus": 16}, 16)  # no more than one node's cores
    assert rx.placement("auto", 8, 4, 16, 64) == ("cuda", {"num_gpus": 1, "num_cpus": 1}, 0)
    with pytest.raises(BenchError, match="no GPU"):
        rx.placement("cuda", 1, 0, 2, 2)


def test_a_minimum_share_runs_fewer_jobs_at_once(monkeypatch) -> None:
    monkeypatch.setenv("BENCH_RAY_CPUS_PER_JOB", "4")
    assert rx.placement("cpu", 16, 0, 16, 16) == ("cpu", {"num_cpus": 4}, 4)
    assert rx.placement("cpu", 16, 0, 2, 2) == ("cpu", {"num_cpus": 2}, 2)  # never more than a node has
    monkeypatch.setenv("BENCH_RAY_CPUS_PER_JOB", "0")
    with pytest.raises(BenchError, match="BENCH_RAY_CPUS_PER_JOB='0' must be a whole number of cores"):
        rx.placement("cpu", 1, 0, 2, 2)


def test_jobs_start_seed_by_seed() -> None:
    jobs = [types.SimpleNamespace(task=t, seed=s) for t in ("a", "b") for s in (0, 1)]
    assert [(j.task, j.seed) for j in rx.submission_order(jobs)] == [("a", 0), ("b", 0), ("a", 1), ("b", 1)]


def test_session_connects_to_ray_address_or_starts_a_quiet_local_instance(monkeypatch) -> None:
    calls: list[tuple[str, dict]] = []
    fake = types.SimpleNamespace(is_initialized=lambda: False, init=lambda **kw: calls.append(("init", kw)),
                                 shutdown=lambda: calls.append(("shutdown", {})))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.delenv("RAY_USAGE_STATS_ENABLED", raising=False)
    with rx.ray_session(fake) as started:
        assert started and os.environ.get("RAY_USAGE_STATS_ENABLED") is None
    (_, kw), (end, _) = calls
    assert kw["address"] == "local" and kw["include_dashboard"] is False and kw["log_to_driver"] is False
    assert kw["num_cpus"] == rx.local_cpus() and end == "shutdown"
    calls.clear()
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")
    with rx.ray_session(fake):
        pass
    assert calls[0][1]["address"] == "10.0.0.1:6379" and "num_cpus" not in calls[0][1]
    calls.clear()
    fake.is_initialized = lambda: True  # an initialised Ray is reused and left running
    with rx.ray_session(fake) as started:
        assert not started
    assert calls == []


def test_a_cluster_that_cannot_be_reached_is_one_line(monkeypatch) -> None:
    def refuse(**_kw):
        raise ConnectionError("Could not find any running Ray instance.\nPlease start one.")

    fake = types.SimpleNamespace(is_initialized=lambda: False, init=refuse, shutdown=lambda: None)
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")
    with pytest.raises(BenchError) as err, rx.ray_session(fake):
        pass
    assert str(err.value) == ("cannot start the Ray cluster at RAY_ADDRESS=10.0.0.1:6379: Could not find any running "
                              "Ray instance. (check RAY_ADDRESS, or unset it to run on this machine)")


def test_help_imports_neither_torch_nor_ray() -> None:
    code = ("import sys\nfrom benchmark.cli.app import main\n"
            "for args in (['--help'], ['run', '--help'], ['list', 'executors']):\n"
            "    try:\n        main(args)\n    except SystemExit:\n        pass\n"
            "print('HEAVY', sorted(m for m in ('torch', 'ray') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert "ray" in out.stdout and out.stdout.strip().endswith("HEAVY []"), out.stdout[-500:] + out.stderr[-500:]


def test_workers_get_this_checkout_on_their_path(monkeypatch) -> None:
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    env = rx.worker_env()
    root = str(Path(benchmark.__file__).resolve().parent.parent)
    assert env["PYTHONPATH"].split(os.pathsep) == [root, "/elsewhere"] and env["HF_HUB_OFFLINE"] == "1"


def test_an_unreachable_ray_address_is_one_line_at_once(ray_module, tmp_path: Path) -> None:
    """Ray's client would retry for minutes, printing a line per retry; the user gets one line at once."""
    from reliability_workspace import make_workspace

    ws = make_workspace(tmp_path)
    r = ws.bench(*ws.run_args("--executor", "ray", "-q"), env={"RAY_ADDRESS": "127.0.0.1:9"}, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == ("error: cannot reach the Ray cluster at RAY_ADDRESS=127.0.0.1:9: Connection refused "
                                "(check RAY_ADDRESS, or unset it to run on this machine)")
