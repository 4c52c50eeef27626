from __future__ import annotations

import json
from pathlib import Path

import pytest

import benchmark
from benchmark.engine import execution, runner
from benchmark.engine import results as results_mod
from benchmark.errors import BenchError

REQUIRED = {"job_id", "upstream", "task", "suite", "seed", "mode", "scores", "main_score", "relative_to_human",
            "hyperparameters", "upstream_info", "task_info", "selection", "layer_weights", "durations",
            "environment", "n_examples"}


def _snapshot(d: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(d.glob("*.json"))}


def test_frozen_run_writes_one_complete_result_per_job(tiny_bert_dir: Path, glue_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    results = benchmark.run(f"bert:{tiny_bert_dir}", "sst2,stsb,mnli", seeds=[0, 1], output=out, data_dir=glue_dir,
                            epochs=5)
    assert len(results) == 6 and len(list(out.glob("*.json"))) == 6
    by = {(r.task, r.seed): r for r in results}
    sst2 = by[("sst2", 0)]
    assert set(sst2.scores) == {"accuracy"} and 0 <= sst2.scores["accuracy"] <= 100
    assert sst2.relative_to_human == pytest.approx(sst2.main_score / 97.8, abs=1e-4)
    mnli = by[("mnli", 1)]
    assert set(mnli.scores) == {"m/accuracy", "mm/accuracy"}
    assert mnli.main_score == pytest.approx((mnli.scores["m/accuracy"] + mnli.scores["mm/accuracy"]) / 2, abs=1e-3)
    stsb = by[("stsb", 0)]
    assert set(stsb.scores) == {"pearson", "spearman"} and stsb.task_info["human_score"] == pytest.approx(92.65)
    data = json.loads(next(out.glob("sst2__*seed0*.json")).read_text())
    assert REQUIRED <= data.keys()
    assert data["suite"] == ["glue"] and data["task_info"]["version"] == 1
    assert data["upstream_info"]["n_parameters"] > 0 and data["upstream_info"]["fingerprint"].startswith("dir:")
    assert data["hyperparameters"]["lr"] == 1e-3 and data["hyperparameters"]["mode"] == "frozen"
    assert data["selection"]["best_epoch"] >= 1 and "model-selection split" in data["selection"]["rule"]
    assert len(data["layer_weights"]) == 3 and sum(data["layer_weights"]) == pytest.approx(1.0, abs=1e-4)
    assert data["environment"]["versions"]["torch"] and data["environment"]["device"] == "cpu"
    assert data["n_examples"] == {"train": 65, "select": 7, "dev": 24}
    # per-example predictions are kept, and they reproduce the recorded score
    preds, gold = data["predictions"]["dev"], data["targets"]["dev"]
    assert len(preds) == len(gold) == 24 and gold[:12] == [1] * 12
    assert 100 * sum(p == g for p, g in zip(preds, gold)) / 24 == pytest.approx(data["scores"]["accuracy"], abs=1e-3)
    assert set(mnli.predictions) == {"m", "mm"} and data["finished_at"].endswith("+00:00")


def test_rerun_does_no_work_and_overwrite_redoes(tiny_bert_dir: Path, glue_dir: Path, tmp_path: Path,
                                                 registry, monkeypatch) -> None:
    out = tmp_path / "out"
    kwargs = dict(output=out, data_dir=glue_dir, epochs=3)
    benchmark.run(f"bert:{tiny_bert_dir}", "sst2", seeds=[0, 1], **kwargs)
    before = _snapshot(out)

    def no_model(*a, **k):
        raise AssertionError("a finished job must not load the model")

    monkeypatch.setattr(execution, "build_upstream", no_model)
    reads: list[Path] = []
    real = results_mod.read_result
    monkeypatch.setattr(results_mod, "read_result", lambda p: reads.append(p) or real(p))
    again = benchmark.run(f"bert:{tiny_bert_dir}", "sst2", seeds=[0, 1], **kwargs)
    assert _snapshot(out) == before
    assert len(reads) == 2  # each finished result read once, schema-checked, by planning; the API returns those
    assert [r.main_score for r in again] == [json.loads(v[0])["main_score"] for v in before.values()]
    monkeypatch.undo()
    benchmark.run(f"bert:{tiny_bert_dir}", "sst2", seeds=[0], overwrite=True, **kwargs)
    after = _snapshot(out)
    assert after.keys() == before.keys()
    changed = [k for k in after if after[k][1] != before[k][1]]
    assert len(changed) == 1 and "seed0" in changed[0]


def test_single_layer_and_finetune_modes(tiny_bert_dir: Path, glue_dir: Path, tmp_path: Path) -> None:
    [layer] = benchmark.run(f"bert:{tiny_bert_dir}", "sst2", output=tmp_path / "a", data_dir=glue_dir, layer=1,
                            epochs=3)
    assert layer.layer_weights == [0.0, 1.0, 0.0] and layer.hyperparameters["layer"] == 1
    [ft] = benchmark.run(f"bert:{tiny_bert_dir}", "stsb", output=tmp_path / "b", data_dir=glue_dir, mode="finetune",
                         epochs=2, batch_size=8)
    assert ft.mode == "finetune" and ft.hyperparameters["lr"] == 2e-5
    assert ft.selection["epochs_run"] == 2 and len(ft.selection["curve"]) == 2
    assert set(ft.scores) == {"pearson", "spearman"}


def test_finetune_actually_trains_the_upstream(registry, tiny_bert_dir: Path, glue_dir: Path, tmp_path: Path) -> None:
    from benchmark.plugin.specs import build_upstream, parse_upstream
    from benchmark.tasks import data
    from downstreams import heads_pooled

    task = registry.tasks.get("sst2").obj
    td = data.load(task, glue_dir, registry, tmp_path)
    up = build_upstream(parse_upstream(f"bert:{tiny_bert_dir}"), registry)
    before = up.model.encoder.layer[0].attention.self.query.weight.detach().clone()
    hp = runner.resolve_hparams("finetune", {"epochs": 1, "lr": 1e-3})
    heads_pooled.train_finetune(task, registry, up, td.train, td.dev, hp, 0, "mean")
    assert not up.model.encoder.layer[0].attention.self.query.weight.detach().equal(before)


def test_plan_rejects_bad_input_before_running(registry, tmp_path: Path) -> None:
    hp = runner.resolve_hparams("frozen", {})
    with pytest.raises(BenchError, match=r"unknown task or suite 'glu' — did you mean 'glue'\?"):
        runner.plan(registry, ["minilm"], ["glu"], [0], hp, tmp_path)
    with pytest.raises(BenchError, match=r"unknown upstream 'minlm' — did you mean 'minilm'"):
        runner.plan(registry, ["minlm"], ["sst2"], [0], hp, tmp_path)
    with pytest.raises(BenchError, match="data directory not found"):
        runner.plan(registry, ["minilm"], ["sst2"], [0], hp, tmp_path, data_dir=tmp_path / "nope")
    with pytest.raises(BenchError, match="unknown hyper-parameter 'learning_rate'"):
        runner.resolve_hparams("frozen", {"learning_rate": 1})


def test_job_ids_depend_on_what_determines_the_result(registry, tmp_path: Path, glue_dir: Path) -> None:
    def ids(**hp):
        p = runner.plan(registry, ["minilm"], ["sst2"], [0], runner.resolve_hparams("frozen", hp), tmp_path, glue_dir)
        return p.jobs[0].job_id

    assert ids() == ids()
    assert ids() != ids(lr=1e-2) and ids() != ids(layer=3)


def test_each_finetune_job_starts_from_the_pretrained_weights(tiny_bert_dir: Path, glue_dir: Path, tmp_path: Path,
                                                              monkeypatch) -> None:
    builds = []
    real = execution.build_upstream

    def counting(*a, **k):
        builds.append(1)
        return real(*a, **k)

    monkeypatch.setattr(execution, "build_upstream", counting)
    benchmark.run(f"bert:{tiny_bert_dir}", "sst2", seeds=[0, 1], output=tmp_path / "f", data_dir=glue_dir, epochs=2,
                  cache_dir=tmp_path / "cache")
    assert len(builds) == 1  # frozen: one load shared by every job
    builds.clear()
    benchmark.run(f"bert:{tiny_bert_dir}", "sst2", seeds=[0, 1], output=tmp_path / "t", data_dir=glue_dir,
                  mode="finetune", epochs=1, batch_size=16)
    assert len(builds) == 2  # fine-tuning: a fresh upstream per job


def test_grid_picks_the_best_point_on_the_selection_split(tiny_bert_dir: Path, glue_dir: Path, tmp_path: Path) -> None:
    [r] = benchmark.run(f"bert:{tiny_bert_dir}", "sst2", output=tmp_path / "g", data_dir=glue_dir,
                        lr=[1e-4, 1e-2], hidden=[0, 16], epochs=3)
    grid = r.selection["grid"]
    assert [(p["lr"], p["hidden"]) for p in grid] == [(1e-4, 0), (1e-4, 16), (1e-2, 0), (1e-2, 16)]
    best = max(grid, key=lambda p: p["select_score"])
    first_best = next(p for p in grid if p["select_score"] == best["select_score"])
    assert r.selection["chosen"] == {"lr": first_best["lr"], "hidden": first_best["hidden"]}
    assert r.selection["select_score"] == first_best["select_score"]
    assert r.hyperparameters["lr"] == [1e-4, 1e-2] and "grid point" in r.selection["rule"]
    # the same point alone reproduces the chosen model's score: the grid adds no leakage between points
    [alone] = benchmark.run(f"bert:{tiny_bert_dir}", "sst2", output=tmp_path / "h", data_dir=glue_dir,
                            lr=first_best["lr"], hidden=first_best["hidden"], epochs=3)
    assert alone.main_score == r.main_score and alone.selection["grid"] == []
    with pytest.raises(BenchError, match="'epochs' takes one value"):
        runner.resolve_hparams("frozen", {"epochs": [1, 2]})


def test_no_cache_run_leaves_the_cache_empty(tiny_bert_dir: Path, glue_dir: Path, tmp_path: Path) -> None:
    from benchmark.features.cache import FeatureCache

    [a] = benchmark.run(f"bert:{tiny_bert_dir}", "sst2", output=tmp_path / "a", data_dir=glue_dir, epochs=2,
                        cache_dir=tmp_path / "cache", use_cache=False)
    assert FeatureCache(tmp_path / "cache").info().entries == 0
    [b] = benchmark.run(f"bert:{tiny_bert_dir}", "sst2", output=tmp_path / "b", data_dir=glue_dir, epochs=2,
                        cache_dir=tmp_path / "cache")
    assert FeatureCache(tmp_path / "cache").info().entries == 3  # train, select, dev
    assert a.scores == b.scores and a.predictions == b.predictions


def test_a_run_whose_features_are_cached_never_loads_the_model(tiny_bert_dir: Path, glue_dir: Path, tmp_path: Path,
                                                               monkeypatch) -> None:
    from benchmark.plugin import specs

    kw = dict(data_dir=glue_dir, epochs=2, cache_dir=tmp_path / "cache")
    [first] = benchmark.run(f"bert:{tiny_bert_dir}+rand", "sst2", seeds=[0], output=tmp_path / "o", **kw)
    loads = []
    real = specs.build_upstream
    monkeypatch.setattr(execution, "build_upstream", lambda *a, **k: loads.append(1) or real(*a, **k))
    [second] = benchmark.run(f"bert:{tiny_bert_dir}+rand", "sst2", seeds=[1], output=tmp_path / "o", lr=3e-3, **kw)
    assert loads == [] and second.durations["extract"] < 1.0
    assert second.upstream_info == {**first.upstream_info}  # facts from the sidecar, same as a loaded model's
    # a new split is not cached: the model is loaded then, with the fingerprint the factory announced
    benchmark.run(f"bert:{tiny_bert_dir}+rand", "stsb", seeds=[0], output=tmp_path / "o", **kw)
    assert loads == [1]


def test_a_frozen_epoch_is_at_least_twenty_steps() -> None:
    from benchmark.heads.training import passes_per_epoch

    assert passes_per_epoch(6985, 256) == 1  # 28 batches: one pass (VADER, as published)
    assert passes_per_epoch(480, 256) == 10  # 2 batches a pass: ten passes between selection checks
    assert passes_per_epoch(5120, 256) == 1 and passes_per_epoch(5000, 256) == 1
    assert passes_per_epoch(1, 256) == 20
