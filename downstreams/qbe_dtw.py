"""Subsequence DTW between a spoken query's frames and documents' frames, as s3prl's `quesst14_dtw` downstream
does it (dtw_utils.py with its config.yaml), in torch and vectorised.

- Features are normalised per dimension over every frame of the split's queries and documents (s3prl's
  `feature_normalization: True`).
- The local cost is the cosine distance between a query frame and a document frame, min-max normalised along the
  document for each query frame (s3prl's `minmax_norm: True`; its config's default distance is `cosine_exp`,
  exp(d) − 1; bench uses the plain cosine distance, which s3prl offers too).
- The step pattern is dtw-python's `asymmetric` (every step advances one query frame and 0, 1 or 2 document
  frames), open at both ends (`subsequence: True`: the query may match anywhere in the document), and the cost is
  normalised by the query's length (the pattern's "N" normalisation). Because every step advances the query by
  one frame, a whole row of the cost matrix is computed at once, for a batch of padded documents.
- Score = − the normalised cost; queries shorter than 5 frames score 0 everywhere (s3prl skips them); then the
  scores of each query are standardised over the documents (s3prl: (s − mean) / std), which makes one detection
  threshold meaningful across queries.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.nn import functional as F

MIN_QUERY_FRAMES = 5
CELLS_PER_CHUNK = 2**24
"""Cost-matrix cells (documents × query frames × document frames) computed at once: bounds the memory (64 MiB of
float32 per buffer)."""


def normalise(blocks: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Each (frames, dim) block standardised by the per-dimension mean and std over all blocks' frames."""
    cat = np.concatenate([b for b in blocks if len(b)], 0).astype(np.float64)
    mean = cat.mean(0)
    std = np.maximum(cat.std(0, ddof=1) if len(cat) > 1 else np.ones_like(mean), 1e-9)
    return [((b - mean) / std).astype(np.float32) for b in blocks]


class Documents:
    """A split's documents for one layer: unit-length frames, padded into chunks of similar length on `device`."""

    def __init__(self, blocks: Sequence[np.ndarray], device: str = "cpu") -> None:
        self.n = len(blocks)
        order = sorted(range(self.n), key=lambda i: len(blocks[i]))
        self.chunks: list[tuple[list[int], torch.Tensor, torch.Tensor]] = []
        start = 0
        while start < self.n:  # grow a chunk while its padded size stays under the budget (for a 100-frame query)
            stop = start + 1
            while stop < self.n and (stop + 1 - start) * len(blocks[order[stop]]) * 100 <= CELLS_PER_CHUNK:
                stop += 1
            idx = order[start:stop]
            width = max(1, max(len(blocks[i]) for i in idx))
            pad = np.zeros((len(idx), width, blocks[idx[0]].shape[1]), np.float32)
            for k, i in enumerate(idx):
                pad[k, : len(blocks[i])] = blocks[i]
            x = F.normalize(torch.from_numpy(pad).to(device), dim=-1)  # (docs, frames, dim)
            lengths = torch.tensor([len(blocks[i]) for i in idx], device=device)
            self.chunks.append((idx, x, lengths))
            start = stop


def _costs(query: torch.Tensor, docs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Best normalised subsequence-DTW cost of `query` (n, dim), unit rows, in each document (docs, T, dim)."""
    n, width = len(query), docs.shape[1]
    valid = (torch.arange(width, device=docs.device)[None, :] < lengths[:, None])[:, None, :]  # (docs, 1, T)
    dist = 1.0 - torch.einsum("nd,btd->bnt", query, docs)  # cosine distance, (docs, n, T)
    lo = dist.masked_fill(~valid, float("inf")).amin(-1, keepdim=True)
    hi = dist.masked_fill(~valid, float("-inf")).amax(-1, keepdim=True)
    dist = ((dist - lo) / (hi - lo).clamp_min(1e-9)).masked_fill(~valid, float("inf"))
    inf = float("inf")
    acc = dist[:, 0]  # open begin: a path may start at any document frame
    for i in range(1, n):  # asymmetric steps: from (i-1, j), (i-1, j-1) or (i-1, j-2)
        best = torch.minimum(acc, F.pad(acc, (1, 0), value=inf)[:, :-1])
        best = torch.minimum(best, F.pad(acc, (2, 0), value=inf)[:, :-2])
        acc = dist[:, i] + best
    return acc.amin(-1) / n  # open end, normalised by the query's length


def query_scores(query: np.ndarray, docs: Documents) -> np.ndarray:
    """One query's standardised detection scores over the documents (in the documents' order)."""
    raw = np.zeros(docs.n, np.float64)
    if len(query) >= MIN_QUERY_FRAMES and docs.n:
        device = docs.chunks[0][1].device
        q = F.normalize(torch.from_numpy(np.ascontiguousarray(query)).to(device), dim=-1)
        with torch.inference_mode():
            for idx, x, lengths in docs.chunks:
                per = max(1, CELLS_PER_CHUNK // max(1, len(q) * x.shape[1]))
                for s in range(0, len(idx), per):
                    cost = _costs(q, x[s:s + per], lengths[s:s + per])
                    raw[idx[s:s + per]] = -cost.double().cpu().numpy()
        bad = ~np.isfinite(raw)  # a document without frames matches nothing: the lowest score of the query
        if bad.any():
            raw[bad] = raw[~bad].min() if (~bad).any() else 0.0
    return (raw - raw.mean()) / max(float(raw.std()), 1e-9)
