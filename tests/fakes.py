"""A deterministic, dependency-light upstream for cache and executor tests (no model files)."""

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
