"""The run request: one typed, frozen value built by the CLI and the Python API alike, checked by one validator,
planned, and shipped as it is to Ray workers."""

from __future__ import annotations

import dataclasses
import pickle
import sys
import types
from pathlib import Path

import pytest
from reliability_workspace import TESTS, make_workspace

import benchmark
from benchmark.engine import runner
from benchmark.engine.request import COMMON_DEFAULTS, MODE_DEFAULTS, HParams, RunRequest, resolve_hparams
from benchmark.errors import BenchError

HEAD_LR = "--head-lr applies to --mode finetune (in frozen mode only the head trains: use --lr)"


def test_the_api_refuses_what_the_cli_refuses_with_the_same_line(tmp_path: Path) -> None:
    with pytest.raises(BenchError) as err:
        benchmark.run("minilm", "sst2", output=tmp_path / "out", head_lr=1e-3, mode="frozen")
    assert str(err.value) == HEAD_LR
    assert not (tmp_path / "out").exists()
    from test_cli import bench

    r = bench("run", "--head-lr", "1e-3", "--output", str(tmp_path / "out"))
    assert r.returncode == 2 and r.stderr.strip() == f"error: {HEAD_LR}"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"tasks": "sst2", "train_on": "sst2"}, "--train-on replaces --tasks; give one of them"),
    ({"eval_on": "sst2"}, "--eval-on needs --train-on TASKS: the tasks whose trained models it evaluates"),
    ({"use_cache": False, "cache_dtype": "float16"}, "--cache-dtype has no effect with --no-cache; drop one of them"),
    ({"mode": "finetune", "hparams": {"head_lr": 1e-3}}, None),
    ({"seeds": []}, "no seed given (--seeds 0,1,2)"),
    ({"seeds": [-1]}, "seed -1 is out of range: seeds are whole numbers from 0 to 4294967295"),
    ({"hparams": {"lr": [1e-3, -1.0]}}, "--lr must be a positive number (got -1.0)"),
    ({"mode": "frozzen"}, "unknown mode 'frozzen' (frozen or finetune)"),
])
def test_one_validator_holds_every_rule(kwargs: dict, message: str | None) -> None:
    if message is None:
        assert RunRequest.build(**kwargs).explicit == {"head_lr"}
        return
    with pytest.raises(BenchError) as err:
        RunRequest.build(**kwargs)
    assert str(err.value) == message


def test_a_request_is_frozen_hashable_and_travels_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_DATA_DIR", "/data/glue")
    monkeypatch.setenv("BENCH_CACHE_MAX_GB", "2")
    r = RunRequest.build(upstreams="minilm, bert", train_on=["sst2"], eval_on="mnli", seeds=[0, 1],
                         hparams={"lr": [1e-3, 1e-2, 1e-3], "layer": None, "epochs": None})
    assert r.upstreams == ("minilm", "bert") and r.tasks == ("sst2",) and r.eval_on == ("mnli",)
    assert r.data_dir == Path("/data/glue") and r.cache_max_bytes == 2_000_000_000
    assert r.hparams.lr == (1e-3, 1e-2) and r.explicit == {"lr", "layer"}  # layer=None, given: weighted, chosen
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.seeds = (3,)  # type: ignore[misc]
    assert hash(r) == hash(pickle.loads(pickle.dumps(r))) and pickle.loads(pickle.dumps(r)) == r
    assert r.only("bert", "sst2", 1) == dataclasses.replace(r, upstreams=("bert",), seeds=(1,))


@pytest.mark.parametrize("mode", ["frozen", "finetune"])
def test_hparams_as_dict_is_exactly_the_dict_jobs_always_carried(mode: str) -> None:
    assert list(HParams().as_dict()) == ["mode", *COMMON_DEFAULTS, *MODE_DEFAULTS["frozen"]]
    for given in ({}, {"lr": [1e-4, 1e-3], "hidden": 256, "layer": 3, "predict_test": True}):
        hp = resolve_hparams(mode, given)
        typed = HParams.resolve(mode, given)
        assert typed.as_dict() == hp and list(typed.as_dict()) == list(hp)
        assert HParams.from_dict(hp) == typed


def test_planning_a_request_or_its_arguments_gives_the_same_job_ids(registry, tmp_path: Path,
                                                                    glue_dir: Path) -> None:
    request = RunRequest.build(upstreams="minilm", tasks="sst2,stsb", seeds=[0, 2], output=tmp_path,
                               data_dir=glue_dir, hparams={"lr": [1e-3, 1e-2], "layer": 2})
    new = runner.plan_request(registry, request)
    old = runner.plan(registry, ["minilm"], ["sst2", "stsb"], [0, 2], resolve_hparams("frozen", {"lr": [1e-3, 1e-2],
                      "layer": 2}), tmp_path, glue_dir, explicit={"lr", "layer"})
    assert [j.job_id for j in new.jobs] == [j.job_id for j in old.jobs] and len(new.jobs) == 4
    assert [j.hparams for j in new.jobs] == [j.hparams for j in old.jobs]
    assert old.request.hparams == request.hparams and new.request is request


class _FakeRay:
    """Just enough of `ray` to see what the executor ships; `get` runs the task here, as a worker would."""

    def __init__(self) -> None:
        self.sent: list[tuple[object, tuple, dict]] = []
        self.exceptions = types.SimpleNamespace(OutOfMemoryError=MemoryError, RayTaskError=RuntimeError,
                                                RayError=RuntimeError)

    def is_initialized(self) -> bool:
        return True

    def cluster_resources(self) -> dict[str, float]:
        return {"CPU": 1.0}

    def nodes(self) -> list[dict]:
        return [{"Alive": True, "Resources": {"CPU": 1.0}}]

    def remote(self, fn):
        ray = self

        class _Remote:
            def options(self, **_kw):
                return self

            def remote(self, *args, **kwargs):
                ray.sent.append((fn, args, kwargs))
                return len(ray.sent) - 1

        return _Remote()

    def wait(self, refs, num_returns=1):
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref):
        fn, args, kwargs = self.sent[ref]
        return fn(*pickle.loads(pickle.dumps(args)), **kwargs)  # what crosses the wire is a pickled copy


def test_ray_ships_the_run_request_and_the_worker_replans_from_it(tmp_path: Path, monkeypatch) -> None:
    from benchmark.engine.runner import prepare
    from benchmark.plugin.manager import reset_plugins

    monkeypatch.syspath_prepend(str(TESTS))
    monkeypatch.setenv("BENCH_PLUGINS", "bench_testplugin")
    ws = make_workspace(tmp_path)
    fake = _FakeRay()
    monkeypatch.setitem(sys.modules, "ray", fake)
    import torch

    threads = torch.get_num_threads()  # the "worker" sets its share in this process: put it back afterwards
    reset_plugins()
    try:
        # the tasks file travels in the request: the worker's fresh plugin set has never seen it
        request = RunRequest.build(upstreams="char", tasks="mini-sent", output=ws.out, data_dir=ws.data,
                                   tasks_files=[ws.tasks], cache_dir=ws.cache, hparams={"epochs": 2},
                                   executor="ray", command="bench run --executor ray")
        launch = prepare(request)
        [result] = launch.run()
    finally:
        reset_plugins()
        torch.set_num_threads(threads)
    [(_, args, kwargs)] = fake.sent
    shipped = args[5]
    assert isinstance(shipped, RunRequest) and shipped == request  # the request itself, device as placed: cpu
    assert set(kwargs) == {"threads", "cwd", "series"}
    assert result.job_id == launch.plan.jobs[0].job_id and launch.plan.jobs[0].path.is_file()
    assert result.environment["command"] == "bench run --executor ray"


def test_a_grid_given_as_a_list_is_stored_as_a_tuple() -> None:
    hp = HParams(lr=[1e-3, 1e-2])  # type: ignore[arg-type]
    assert hp.lr == (1e-3, 1e-2) and hash(hp) and hp.as_dict()["lr"] == [1e-3, 1e-2]
