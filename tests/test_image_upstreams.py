"""The `simclr` / `byol` ResNet upstreams (checkpoint layouts, safe loading, architecture inference), the k-NN
head, and `bench pretrain`. Tiny ResNets (one block per stage, 8 px) keep every test to seconds."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from benchmark.errors import BenchError
from benchmark.plugin.specs import build_upstream, parse_upstream
from benchmark.testing import check_upstream, sample_images
from upstreams.image import default_spec_json
from upstreams.resnet_encoder import ResNetSpec, ResNetUpstream, backbone_prefix, spec_from_state
from upstreams.ssl_image import Augment, PretrainConfig, _nt_xent, _regression, pretrain

TINY = ResNetSpec(layers=(1, 1, 1, 1), image_size=8)


def _bench(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BENCH_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return subprocess.run([sys.executable, "-m", "benchmark", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=600)


def _registry() -> Any:
    from benchmark.plugin.manager import get_plugins

    return get_plugins().registry


def _weights(spec: ResNetSpec, seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return spec.build().state_dict()


def _digits(n: int) -> list[np.ndarray]:
    from downstreams.recipes.images import digits_splits

    return list(digits_splits()["train"].inputs[:n])


def test_the_torch_free_default_matches_the_model_default() -> None:
    assert ResNetSpec().to_json() == default_spec_json()


def test_rand_needs_no_file_and_announces_the_fingerprint_it_gets(tmp_path: Path) -> None:
    from benchmark.plugin.specs import LazyUpstream

    spec = parse_upstream("simclr+rand")
    reg = _registry()
    lazy = LazyUpstream(spec, reg, None, tmp_path)
    model = build_upstream(spec, reg)
    assert model.fingerprint == lazy.fingerprint
    assert model.fingerprint.endswith(":random+all@0")
    assert (model.num_layers, model.hidden_size, model.modality) == (4, 512, "image")
    assert model.n_parameters == sum(p.numel() for p in torchvision_resnet18_gray().parameters())


def torchvision_resnet18_gray() -> torch.nn.Module:
    import torchvision

    m = torchvision.models.resnet18()
    m.conv1 = torch.nn.Conv2d(1, 64, 3, 1, 1, bias=False)
    m.fc = torch.nn.Identity()
    return m


def test_the_contract_holds_on_gray_and_colour_images_of_any_size() -> None:
    up = ResNetUpstream(None, name="simclr+rand", method="simclr", spec=TINY)
    up.reinitialize("all", 0)
    check_upstream(up).raise_for_failures()
    with torch.inference_mode():
        hidden = up(sample_images())
    assert [tuple(h.shape) for h in hidden.layers] == [(3, 1, 512)] * 5  # 8 px: the last stage is a 1x1 grid
    # the stem has 64 channels: the rest of its row is zero padding
    assert float(hidden.layers[0][..., 64:].abs().max()) == 0.0
    assert float(hidden.layers[0][..., :64].abs().max()) > 0.0


def test_stage_states_pools_every_stage_to_the_last_grid() -> None:
    from benchmark.media.image import stage_states

    maps = [torch.arange(2 * 4 * 4 * 4, dtype=torch.float32).view(2, 4, 4, 4), torch.ones(2, 6, 2, 2)]
    h = stage_states(maps, 6)
    assert [tuple(x.shape) for x in h.layers] == [(2, 4, 6), (2, 4, 6)]
    # position (0, 0) of the 2x2 grid averages the stem's top-left 2x2 block
    assert float(h.layers[0][0, 0, 0]) == pytest.approx(float(maps[0][0, 0, :2, :2].mean()))
    assert bool(h.mask.all())


def _save(obj: Any, path: Path) -> Path:
    torch.save(obj, path)
    return path


@pytest.mark.parametrize("layout", ["torchvision", "simclr", "byol-lucidrains", "solo-learn", "moco-ddp",
                                    "sthalles", "safetensors"])
def test_checkpoint_layouts_load_the_online_backbone(tmp_path: Path, layout: str) -> None:
    spec = replace(TINY, image_size=32)  # a 3x3 stem means the CIFAR variant: 32 px unless the file says otherwise
    online, target = _weights(spec, 1), _weights(spec, 2)
    head = {"0.weight": torch.randn(16, 512), "0.bias": torch.zeros(16)}
    if layout == "torchvision":
        obj: Any = {**online, "fc.weight": torch.randn(10, 512), "fc.bias": torch.zeros(10)}
    elif layout == "simclr":
        obj = {**{f"encoder.{k}": v for k, v in online.items()}, **{f"projector.{k}": v for k, v in head.items()}}
    elif layout == "byol-lucidrains":
        obj = {**{f"online_encoder.net.{k}": v for k, v in online.items()},
               **{f"target_encoder.net.{k}": v for k, v in target.items()},
               **{f"online_predictor.net.{k}": v for k, v in head.items()}}
    elif layout == "solo-learn":
        obj = {"state_dict": {**{f"backbone.{k}": v for k, v in online.items()},
                              **{f"momentum_backbone.{k}": v for k, v in target.items()}},
               "epoch": 400, "hyper_parameters": {"lr": 1.0, "name": "byol"}}
    elif layout == "moco-ddp":
        obj = {"state_dict": {**{f"module.encoder_q.{k}": v for k, v in online.items()},
                              **{f"module.encoder_k.{k}": v for k, v in target.items()}}}
    elif layout == "sthalles":
        obj = {**{f"backbone.{k}": v for k, v in online.items()}, "backbone.fc.0.weight": torch.randn(512, 512),
               "backbone.fc.2.weight": torch.randn(128, 512)}
    else:
        from safetensors.torch import save_file

        path = tmp_path / "w.safetensors"
        save_file({f"backbone.{k}": v.contiguous() for k, v in online.items()}, str(path))
        obj = None
    path = tmp_path / "w.safetensors" if obj is None else _save(obj, tmp_path / "w.pt")
    up = ResNetUpstream(str(path), name="byol:w", method="byol")
    assert up.spec.layers == (1, 1, 1, 1) and up.spec.stem == "cifar" and up.spec.image_size == 32
    got = up.model.state_dict()
    for key in ("conv1.weight", "layer4.0.conv2.weight", "bn1.running_mean"):
        assert torch.equal(got[key], online[key]), key
    assert up.pretraining is None  # not a bench checkpoint: nothing recorded about its pretraining


def test_architecture_is_read_from_the_shapes() -> None:
    import torchvision

    r50 = torchvision.models.resnet50().state_dict()
    spec = spec_from_state(r50)
    assert (spec.block, spec.layers, spec.stem, spec.channels, spec.image_size, spec.arch) == (
        "bottleneck", (3, 4, 6, 3), "imagenet", 3, 224, "resnet50")
    assert spec.width == 2048
    rx = spec_from_state(torchvision.models.resnext50_32x4d().state_dict())
    assert (rx.groups, rx.width_per_group) == (32, 4)
    wide = spec_from_state(torchvision.models.wide_resnet50_2().state_dict())
    assert (wide.groups, wide.width_per_group, wide.width) == (1, 128, 2048)


def test_online_network_wins_over_its_ema_copies() -> None:
    keys = [f"{p}{k}" for p in ("target_backbone.", "backbone.", "momentum_backbone.")
            for k in ("conv1.weight", "layer1.0.conv1.weight")]
    assert backbone_prefix(keys) == "backbone."
    assert backbone_prefix(["conv1.weight", "layer1.0.conv1.weight"]) == ""


@pytest.mark.parametrize(("obj", "message"), [
    ({"weights": torch.zeros(3)}, "no ResNet backbone"),
    ({"conv1.weight": torch.zeros(128, 3, 7, 7), "layer1.0.conv1.weight": torch.zeros(64, 64, 3, 3)},
     "stem has 128 channels"),
    ({"conv1.weight": torch.zeros(64, 3, 5, 5), "layer1.0.conv1.weight": torch.zeros(64, 64, 3, 3)}, "5x5"),
    ({"conv1.weight": torch.zeros(64, 3, 3, 3), "layer1.0.conv1.weight": torch.zeros(64, 64, 3, 3)},
     "no layer2"),
    ([1, 2, 3], "no tensors"),
])
def test_bad_checkpoints_are_one_line_errors(tmp_path: Path, obj: Any, message: str) -> None:
    path = _save(obj, tmp_path / "bad.pt")
    with pytest.raises(BenchError, match=message) as err:
        ResNetUpstream(str(path), name="simclr:bad", method="simclr")
    assert "\n" not in str(err.value) and "cannot load simclr checkpoint" in str(err.value)


def test_a_pickled_module_is_refused_without_running_it(tmp_path: Path) -> None:
    path = _save(TINY.build(), tmp_path / "module.pt")  # a whole nn.Module: unpickling would import and call code
    with pytest.raises(BenchError, match="refused"):
        ResNetUpstream(str(path), name="simclr:m", method="simclr")


def test_command_line_errors_for_missing_files(tmp_path: Path) -> None:
    out = _bench("run", "--upstream", f"simclr:{tmp_path / 'nope.pt'}", "--tasks", "offline-image", "-o",
                 str(tmp_path / "r"))
    assert out.returncode == 2, out.stderr
    assert "nope.pt" in out.stderr and "bench pretrain simclr" in out.stderr and "Traceback" not in out.stderr
    out = _bench("run", "--upstream", "byol", "--tasks", "offline-image", "-o", str(tmp_path / "r"))
    assert out.returncode == 2 and "byol+rand" in out.stderr and "Traceback" not in out.stderr


def test_nt_xent_and_byol_losses_have_their_textbook_values() -> None:
    z = torch.eye(4)  # 4 orthogonal unit vectors; each view's partner is identical to it
    t = 0.5
    # positive similarity 1/t, six negatives at 0 (the other 3 items, twice): -log(e^2 / (e^2 + 6))
    assert float(_nt_xent(z, z, t)) == pytest.approx(-np.log(np.exp(2) / (np.exp(2) + 6)), rel=1e-5)
    assert float(_regression(z, z)) == pytest.approx(0.0, abs=1e-6)
    assert float(_regression(z, -z)) == pytest.approx(4.0)


def test_augmentations_are_seeded_and_differ_per_image() -> None:
    x = torch.from_numpy(np.stack(_digits(16)))
    aug = Augment(ResNetSpec(), flip=False)
    a1, b1 = aug(x, torch.Generator().manual_seed(3))
    a2, _ = aug(x, torch.Generator().manual_seed(3))
    assert torch.equal(a1, a2)
    assert a1.shape == (16, 1, 8, 8)
    assert not torch.equal(a1, b1)  # the two views of an image are different draws
    assert float(a1.min()) >= -1.0 - 1e-6 and float(a1.max()) <= 1.0 + 1e-6  # [0, 1] normalised by (0.5, 0.5)


@pytest.mark.parametrize("method", ["simclr", "byol"])
def test_pretraining_lowers_the_loss_and_is_reproducible(method: str) -> None:
    images = _digits(96)
    cfg = PretrainConfig(method=method, epochs=5, batch_size=32, lr=2e-3, seed=0, flip=False, hidden_dim=128)
    first = pretrain(images, TINY, cfg)
    curve = first["bench"]["loss_curve"]
    assert len(curve) == 5 and all(np.isfinite(curve))
    assert curve[-1] < curve[0]
    again = pretrain(images, TINY, cfg)
    assert again["bench"]["loss_curve"] == curve
    assert all(torch.equal(first["state_dict"][k], again["state_dict"][k]) for k in first["state_dict"])
    other = pretrain(images, TINY, replace(cfg, seed=1, epochs=1))
    assert not torch.equal(other["state_dict"]["backbone.conv1.weight"], first["state_dict"]["backbone.conv1.weight"])
    if method == "byol":  # the target network is an EMA: close to, but not the same as, the online one
        on, tg = first["state_dict"]["backbone.conv1.weight"], first["state_dict"]["target_backbone.conv1.weight"]
        assert not torch.equal(on, tg)
        assert float((on - tg).abs().mean()) < float(on.abs().mean())


def test_a_bench_checkpoint_loads_with_its_preprocessing_and_curve(tmp_path: Path) -> None:
    spec = replace(TINY, image_size=12)
    ckpt = pretrain(_digits(64), spec, PretrainConfig(method="simclr", epochs=2, batch_size=32, flip=False))
    path = _save(ckpt, tmp_path / "s.pt")
    up = ResNetUpstream(str(path), name=f"simclr:{path}", method="simclr")
    assert up.spec == spec  # 12 px is not readable from the weights: the metadata says it
    assert up.pretraining is not None and up.pretraining["method"] == "simclr"
    assert up.pretraining["loss_curve"] == ckpt["bench"]["loss_curve"]
    assert torch.equal(up.model.state_dict()["conv1.weight"], ckpt["state_dict"]["backbone.conv1.weight"])
    up.reinitialize("all", 0)
    assert up.pretraining is None and up.fingerprint.endswith("+all@0")


def test_pretrain_command_refuses_to_overwrite_and_bad_data(tmp_path: Path) -> None:
    out = tmp_path / "s.pt"
    out.write_bytes(b"precious")
    r = _bench("pretrain", "simclr", "--out", str(out), "--epochs", "1")
    assert r.returncode == 2 and "--overwrite" in r.stderr and out.read_bytes() == b"precious"
    r = _bench("pretrain", "byol", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "b.pt"))
    assert r.returncode == 2 and "neither 'digits' nor a folder" in r.stderr and "Traceback" not in r.stderr
    r = _bench("pretrain", "byol", "--data", "digits", "--arch", "resnet9", "--out", str(tmp_path / "b.pt"))
    assert r.returncode == 2 and "unknown --arch 'resnet9'" in r.stderr
    assert not (tmp_path / "b.pt").exists()


def test_pretrain_on_an_image_folder(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(6):
        sub = tmp_path / "photos" / ("a" if i % 2 else "b")
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (20 + i, 24, 3), dtype=np.uint8)).save(sub / f"{i}.png")
    out = tmp_path / "b.pt"
    r = _bench("pretrain", "byol", "--data", str(tmp_path / "photos"), "--size", "8", "--epochs", "2",
               "--batch-size", "3", "--out", str(out))
    assert r.returncode == 0, r.stderr
    ckpt = torch.load(out, weights_only=True)
    meta = ckpt["bench"]
    assert meta["data"]["images"] == 6 and meta["spec"]["channels"] == 3 and len(meta["loss_curve"]) == 2
    assert "RandomHorizontalFlip(p=0.5)" in meta["augmentations"]  # photos flip; digits do not


def test_knn_head_votes_by_similarity() -> None:
    from downstreams.heads import KNN

    head = KNN.build(2, 3)
    bank = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [-1.0, 0.0]])
    head.fit(bank, torch.tensor([0, 0, 1, 2]))
    pred = KNN.predict(head(torch.tensor([[2.0, 0.1], [0.1, 3.0], [-5.0, 0.2]])))
    assert pred.tolist() == [0, 1, 2]


def test_knn_task_trains_nothing_and_reads_the_last_layer() -> None:
    from benchmark.features.extract import ArrayFeatures
    from downstreams.heads_pooled import train_frozen

    reg = _registry()
    task = reg.tasks.get("digits-knn").obj
    rng = np.random.default_rng(0)
    y = np.arange(200) % 10
    x = rng.standard_normal((200, 3, 10)).astype(np.float32)
    x[:, 2, :] += 5 * np.eye(10, dtype=np.float32)[y]  # only the last layer knows the class
    hp = {"layer": None}
    fitted = train_frozen(task, reg, ArrayFeatures(x[:100]), list(y[:100]), ArrayFeatures(x[100:]), list(y[100:]),
                          hp, 0)
    assert fitted.select_score == 100.0 and fitted.epochs_run == 0
    assert fitted.featurizer.layer_weights() == [0.0, 0.0, 1.0]
    low = train_frozen(task, reg, ArrayFeatures(x[:100]), list(y[:100]), ArrayFeatures(x[100:]), list(y[100:]),
                       {"layer": 0}, 0)
    assert low.select_score < 40.0


def test_knn_refuses_fine_tuning(tmp_path: Path) -> None:
    r = _bench("run", "--upstream", "simclr+rand", "--tasks", "digits-knn", "--mode", "finetune", "-o",
               str(tmp_path / "r"))
    assert r.returncode == 2 and "nothing to fine-tune" in r.stderr and "Traceback" not in r.stderr


def test_a_run_records_the_pretraining_and_the_report_charts_it(tmp_path: Path) -> None:
    ckpt = pretrain(_digits(64), TINY, PretrainConfig(method="byol", epochs=3, batch_size=32, flip=False,
                                                     hidden_dim=64))
    path = _save(ckpt, tmp_path / "byol-tiny.pt")
    out = tmp_path / "results"
    env_cache = {"BENCH_CACHE": str(tmp_path / "cache")}
    r = subprocess.run([sys.executable, "-m", "benchmark", "run", "--upstream", f"byol:{path}", "--tasks",
                        "digits-knn", "-o", str(out), "-q"], capture_output=True, text=True, timeout=600,
                       env={**os.environ, "BENCH_DISABLE_PLUGIN_AUTOLOAD": "1", **env_cache})
    assert r.returncode == 0, r.stderr
    import json

    result = json.loads(next(out.rglob("*.json")).read_text())
    info = result["upstream_info"]
    assert info["pretraining"]["loss_curve"] == ckpt["bench"]["loss_curve"]
    assert info["pretraining"]["method"] == "byol" and info["pretraining"]["data"] == {"images": 64}
    assert "backbone at 'state_dict.backbone.'" in info["source"]
    assert result["selection"]["rule"].startswith("none: the head trains nothing")
    assert result["layer_weights"] == [0.0, 0.0, 0.0, 0.0, 1.0]
    page = tmp_path / "board.html"
    r = _bench("report", "-o", str(out), "--html", str(page))
    assert r.returncode == 0, r.stderr
    html = page.read_text()
    section = html[html.index('<section id="pretraining">'):]
    section = section[: section.index("</section>")]
    assert "pretraining loss (byol-regression) per epoch" in section
    assert section.count("<polyline") == 1 and "64 images" in section and "3 epochs" in section
    first, last = ckpt["bench"]["loss_curve"][0], ckpt["bench"]["loss_curve"][-1]
    assert f"{first:.4f} → {last:.4f}" in section
