"""Training and plugin faults: a failing job is recorded with its reason and the others go on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from reliability_workspace import make_workspace

from benchmark.engine import results as results_mod
from benchmark.errors import JobFailed


def _failures(out: Path) -> dict[tuple[str, int], str]:
    return {(f["upstream"], f["seed"]): f["reason"] for f in results_mod.load_failures(out)}


def test_failed_jobs_are_recorded_the_others_go_on_and_the_exit_code_says_so(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    args = ws.run_args("--upstream", "nan-char,char,short-char,explodes", "--tasks", "mini-sent", "--seeds", "0,1")
    r = ws.bench(*args)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    failed = _failures(ws.out)
    assert set(failed) == {(u, s) for u in ("nan-char", "short-char", "explodes") for s in (0, 1)}
    assert failed[("nan-char", 0)].startswith("the upstream produced NaN or infinite features for example ")
    assert failed[("short-char", 1)] == ("upstream 'short-char' breaks the upstream contract: 2 hidden layers for "
                                         "num_layers=2 (expected 3) (benchmark.testing.check_upstream shows every "
                                         "check)")
    assert failed[("explodes", 0)] == ("upstream 'explodes' (plugin 'bench_testplugin') failed to load: "
                                       "RuntimeError: weights server on fire")
    last = r.stderr.strip().splitlines()[-1]
    assert last == (f"error: 6 of 8 jobs failed (why: {ws.out}/*.failed.json; first: nan-char · mini-sent · seed 0: "
                    f"{failed[('nan-char', 0)]}); a rerun fails the same way: first change what the reason names "
                    "(the plugin, the data or an option)")
    assert sum("FAILED:" in line for line in r.stderr.splitlines()) == 6
    ok = [p for p in ws.out.glob("mini-sent__char__*.json") if not p.name.endswith(".failed.json")]
    assert len(ok) == 2
    assert {row["upstream"] for row in results_mod.load_all(ws.out)} == {"char", "minilm+rand"}  # failures aren't results
    # A rerun retries only the failed jobs; once a job succeeds its failure record goes.
    again = ws.bench(*args)
    assert again.returncode == 1 and "2 of 8 jobs already finished" in again.stderr
    fixed = ws.bench(*ws.run_args("--upstream", "char", "--tasks", "mini-sent", "--seeds", "0,1"))
    assert fixed.returncode == 0 and "2 of 2 jobs already finished" in fixed.stderr


def test_a_diverging_grid_point_loses_and_a_diverging_job_fails(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    r = ws.bench(*ws.run_args("--tasks", "mini-sent", "--lr", "1e-3,1e30", "-q"))
    assert r.returncode == 0, r.stderr
    [path] = [p for p in ws.out.glob("mini-sent__char__*.json")]
    result = json.loads(path.read_text())
    assert result["selection"]["chosen"] == {"lr": 1e-3}
    bad = result["selection"]["grid"][1]
    assert bad["lr"] == 1e30 and bad["failed"].startswith("training diverged: the loss is ")
    r = ws.bench(*ws.run_args("--tasks", "mini-sent", "--lr", "1e30", "-q"))
    assert r.returncode == 1
    [reason] = _failures(ws.out).values()
    assert reason.startswith("training diverged: the loss is ") and reason.endswith(
        "(lr 1e+30); lower --lr or check the data for extreme values")


def test_train_frozen_raises_on_a_non_finite_loss(registry) -> None:
    from benchmark.engine import runner
    from benchmark.features.extract import ArrayFeatures
    from downstreams import heads_pooled

    task = registry.tasks.get("sst2").obj
    rng = np.random.default_rng(0)
    x = ArrayFeatures(rng.normal(size=(40, 3, 8)).astype(np.float32))
    y = [i % 2 for i in range(40)]
    hp = runner.resolve_hparams("frozen", {"lr": 1e30, "epochs": 5})
    with pytest.raises(JobFailed, match=r"^training diverged: the loss is (nan|inf) at epoch \d, step \d+ \(lr 1e\+30\)"):
        heads_pooled.train_frozen(task, registry, x, y, x, y, hp, seed=0)


@pytest.mark.parametrize(("where", "message"), [
    ("train_frozen", "out of memory on a training batch of 256; lower --batch-size (now 256)"),
    ("iter_pooled", "out of memory on a batch of up to 64 examples while extracting features; lower "
                    "--eval-batch-size (now 64)"),
])
def test_out_of_memory_fails_the_job_naming_the_batch_size(where: str, message: str, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A real allocation failure cannot be provoked portably; the error torch raises is injected where it occurs."""
    import benchmark.features.extract
    import downstreams.heads_pooled
    from benchmark.engine import execution, runner
    from benchmark.plugin.manager import add_task_files, load_plugins

    def oom(*args, **kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: you "
                           "tried to allocate 68719476736 bytes. Error code 12 (Cannot allocate memory)")

    module = downstreams.heads_pooled if where == "train_frozen" else benchmark.features.extract
    monkeypatch.setattr(module, where, oom)
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    monkeypatch.setenv("BENCH_PLUGINS", "bench_testplugin")
    ws = make_workspace(tmp_path)
    plugins = load_plugins()
    add_task_files(plugins, [ws.tasks])
    hp = runner.resolve_hparams("frozen", {})
    plan = runner.plan(plugins.registry, ["char"], ["mini-sent"], [0], hp, ws.out, ws.data, cache_dir=ws.cache)
    events = []
    assert execution.execute(plan, plugins.registry, progress=lambda e, **k: events.append((e, k))) == []
    assert [k["reason"] for e, k in events if e == "job_failed"] == [message]
    assert list(_failures(ws.out).values()) == [message]
