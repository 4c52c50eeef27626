"""Frame-level feature entries: every example's (frames, layers, dim) block, appended and read back by index.

Frame-level tasks (CTC, tagging) need every frame; `benchmark.features.cache` stores such entries atomically and
checks them like pooled ones. Kept apart from the cache module only to keep each module short.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


class FrameWriter:
    """Appends each example's (frames, layers, dim) block to `frames.bin`; `index.npy` records where each starts.

    Frame-level tasks (CTC) need every frame, and the number of frames is known only once the upstream has run,
    so blocks are appended in arrival order rather than written at precomputed offsets.
    """

    def __init__(self, directory: Path, n: int, dtype: np.dtype) -> None:
        self.directory, self.n, self.dtype = directory, n, dtype
        self.index = np.full((n, 2), -1, dtype=np.int64)  # (first row, number of frames) per example
        self.rows = 0
        self.written = 0
        self.layers = self.dim = 0
        self.file: Any = None

    def write(self, indices: Sequence[int], blocks: Sequence[np.ndarray]) -> None:
        """blocks[k]: (frames, layers, dim) of example indices[k]."""
        if self.file is None:
            self.file = (self.directory / "frames.bin").open("wb")
            self.layers, self.dim = blocks[0].shape[1], blocks[0].shape[2]
        for i, block in zip(indices, blocks, strict=True):
            data = np.ascontiguousarray(block, dtype=self.dtype)
            self.file.write(data.tobytes())
            self.index[int(i)] = (self.rows, len(data))
            self.rows += len(data)
        self.written += len(indices)

    def close(self) -> None:
        if self.file is not None:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            self.file = None
            np.save(self.directory / "index.npy", self.index)

    def summary(self) -> dict[str, Any]:
        return {"frames": True, "rows": self.rows, "layers": self.layers, "dim": self.dim}


class FrameFeatures:
    """Read access to a frame-level entry: each example's (frames, layers, dim) block, float32 out (pread)."""

    def __init__(self, entry: Path, meta: dict[str, Any]) -> None:
        self.path = entry / "frames.bin"
        self.index = np.load(entry / "index.npy")
        self.layers, self.dim = int(meta["layers"]), int(meta["dim"])
        self.dtype = np.dtype(meta["dtype"])
        self.row_bytes = self.layers * self.dim * self.dtype.itemsize
        if self.path.stat().st_size != int(meta["rows"]) * self.row_bytes or (self.index[:, 0] < 0).any():
            raise ValueError(f"{self.path}: truncated or incomplete frame features")
        self.lengths = self.index[:, 1]

    def __len__(self) -> int:
        return len(self.index)

    def example(self, i: int) -> np.ndarray:
        start, n = (int(v) for v in self.index[i])
        with self.path.open("rb", buffering=0) as f:
            buf = os.pread(f.fileno(), n * self.row_bytes, start * self.row_bytes)
        return np.frombuffer(buf, dtype=self.dtype).reshape(n, self.layers, self.dim).astype(np.float32)
