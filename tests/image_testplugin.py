"""A plugin for image-data tests, loaded by name: BENCH_PLUGINS=image_testplugin (with tests/ on PYTHONPATH).

Upstream `pixels`: an image's pixels as features (gray, resized to 8x8: one 64-d position per image; layer 1 is
layer 0 rescaled). No weights, deterministic, fast: it exercises the image data path end to end, not a model.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from benchmark.hookspecs import hookimpl
from benchmark.media.image import to_batch
from benchmark.types import HiddenStates


class PixelsUpstream(nn.Module):
    modality, sample_rate, num_layers, hidden_size, n_parameters = "image", None, 1, 64, 0

    def __init__(self, name: str = "pixels") -> None:
        super().__init__()
        self.name, self.fingerprint = name, "pixels-v1"

    def forward(self, inputs: Any) -> HiddenStates:
        x = to_batch(inputs, size=8, channels=1, mean=(0.0,), std=(1.0,))  # (batch, 1, 8, 8)
        flat = x.flatten(1)[:, None, :]  # (batch, 1, 64)
        mask = torch.ones(len(inputs), 1, dtype=torch.bool)
        return HiddenStates((flat, 2 * flat - 1), mask)


def _pixels(arg: str | None, *, name: str, trust_remote_code: bool = False) -> PixelsUpstream:
    return PixelsUpstream(name)


@hookimpl
def register_upstreams(register: Any) -> None:
    register("pixels", _pixels, modality="image", description="test: an image's pixels, gray, 8x8")
