"""Deterministic, dependency-light upstreams for cache, executor and sequence tests (no model files)."""

from __future__ import annotations

import os
import time
import zlib
from pathlib import Path

import torch
from torch import nn

from benchmark.types import HiddenStates


class CharUpstream(nn.Module):
    """Each character becomes a fixed random vector; layer l adds l. Counts its calls in a file if asked."""

    modality, sample_rate, name = "text", None, "char"

    def __init__(self, dim: int = 8, layers: int = 2, calls: Path | None = None, delay: float = 0.0) -> None:
        super().__init__()
        self.num_layers, self.hidden_size, self.n_parameters = layers, dim, 256 * dim
        self.fingerprint = f"char-v1:{dim}:{layers}"
        self.table = nn.Embedding(256, dim)
        with torch.no_grad():
            self.table.weight.copy_(torch.randn(256, dim, generator=torch.Generator().manual_seed(0)))
        self.calls, self.delay = calls, delay

    def reinitialize(self, scope: str, seed: int) -> None:
        self.fingerprint += f"+{scope}@{seed}"

    def forward(self, inputs):
        if self.calls is not None:
            with self.calls.open("a") as f:
                f.write(f"{os.getpid()} {len(inputs)}\n")
        if self.delay:
            time.sleep(self.delay)
        texts = [t if isinstance(t, str) else " | ".join(t) for t in inputs]
        n = max(len(t) for t in texts) or 1
        ids = torch.zeros(len(texts), n, dtype=torch.long)
        mask = torch.zeros(len(texts), n, dtype=torch.bool)
        for i, t in enumerate(texts):
            codes = [zlib.crc32(c.encode()) % 256 for c in t] or [0]
            ids[i, : len(codes)] = torch.tensor(codes)
            mask[i, : len(codes)] = True
        base = self.table(ids)
        return HiddenStates(tuple(base + layer for layer in range(self.num_layers + 1)), mask)


class SpellingUpstream(nn.Module):
    """Three frames per character: a fixed random vector per character plus noise (a 'speech' of letters); the
    first frame of each character carries an onset marker, so a doubled letter is two symbols, not one."""

    modality, sample_rate, name, num_layers, hidden_size, n_parameters = "text", None, "spell", 1, 16, 0
    fingerprint = "spell-v1"

    def forward(self, inputs):
        n = max(3 * len(t) for t in inputs)
        out = torch.zeros(len(inputs), n, 16)
        mask = torch.zeros(len(inputs), n, dtype=torch.bool)
        for i, t in enumerate(inputs):
            noise = torch.randn(3 * len(t), 16, generator=torch.Generator().manual_seed(zlib.crc32(t.encode())))
            out[i, : 3 * len(t)] = torch.stack([CHAR_VECTORS[ch] for ch in t]).repeat_interleave(3, 0) + 0.3 * noise
            out[i, 0: 3 * len(t): 3, 0] += 4.0
            mask[i, : 3 * len(t)] = True
        return HiddenStates((out, 2 * out), mask)


CHAR_VECTORS = {ch: torch.randn(16, generator=torch.Generator().manual_seed(k)) for k, ch in enumerate(" abcd")}


class TrainableSpelling(SpellingUpstream):
    """SpellingUpstream followed by a learnable linear map: something for fine-tuning to train."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(16, 16)
        with torch.no_grad():
            self.proj.weight.copy_(torch.eye(16))
            self.proj.bias.zero_()

    def forward(self, inputs):
        hidden = super().forward(inputs)
        out = self.proj(hidden.layers[0])
        return HiddenStates((out, 2 * out), hidden.mask)
