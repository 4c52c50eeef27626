"""Frame features, for heads that consume every frame of every layer rather than a pooled vector (the builtin
`ctc` head: speech and phoneme recognition, downstreams/heads_ctc.py).

Frozen mode caches each utterance's (frames, layers, dim) block once (`cache.FrameFeatures`, `CachedFrames`) and
a head trains the featurizer (SUPERB's softmax-weighted layer sum over standardised layers) on it. With
--no-cache the upstream runs on every batch of every epoch instead (`LiveFrames`, as s3prl does), so nothing
the size of a corpus's frames is ever written. Fine-tune mode runs the upstream with gradients (`LiveFrames`
with grad=True).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from benchmark.features.cache import FeatureCache, FrameFeatures
from benchmark.features.extract import (
    _check_finite,
    autocast,
    cached_extract,
    entry,
    input_length,
    iter_batches,
    upstream_device,
    upstream_inputs,
)
from benchmark.plugin.specs import check_hidden

Progress = Callable[..., None]
POOLING = "frames"  # the feature-cache key's pooling for frame-level entries


def _noop(*_: Any, **__: Any) -> None:
    pass


def _frames(hidden: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """HiddenStates -> frames (batch, time, layers, dim), each item's real frames first, and their number."""
    x, mask = torch.stack(hidden.layers, dim=2), hidden.mask.bool()
    lengths = mask.sum(1).long()
    if bool((mask == (torch.arange(mask.shape[1], device=mask.device)[None, :] < lengths[:, None])).all()):
        return x, lengths  # right-padded already (every builtin upstream)
    packed = x.new_zeros(x.shape[0], int(lengths.max()), *x.shape[2:])
    for k in range(len(x)):  # e.g. left padding: move each item's real frames to the front
        packed[k, : int(lengths[k])] = x[k][mask[k]]
    return packed, lengths


def _blocks(hidden: Any) -> list[np.ndarray]:
    """Each item's real frames as a (frames, layers, dim) float32 array."""
    frames, lengths = _frames(hidden)
    return [frames[k, : int(n)].float().cpu().numpy() for k, n in enumerate(lengths)]


def _check_blocks(blocks: list[np.ndarray], idx: list[int], label: str) -> None:
    for k, block in enumerate(blocks):
        _check_finite(block[None], [idx[k]], label)


def extract_frames(upstream: Any, inputs: Sequence[Any], batch_size: int, cache: FeatureCache, *,
                   dtype: str = "float32", progress: Progress = _noop, label: str = "") -> FrameFeatures:
    """A split's frame features from the cache, computing (and caching) them on a miss."""
    key, meta = entry(upstream, inputs, POOLING, dtype, label)
    return cached_extract(cache.get_frames, cache.create_frames, key, cache, len(inputs), meta,
                          lambda: iter_batches(upstream, inputs, batch_size, _blocks, dtype),
                          lambda rows, idx: _check_blocks(rows, idx, label), progress, label)


def job_frames(job: Any, examples: Any, label: str) -> Any:
    """A split's frames as a head job reads them (CachedFrames or LiveFrames): from the feature cache in frozen mode,
    live from the upstream when fine-tuning or under --no-cache (the upstream then runs on every batch)."""
    if job.hp["mode"] == "finetune" or not job.cache.enabled:
        return LiveFrames(job.upstream, examples.inputs, job.hp["dtype"])
    return CachedFrames(extract_frames(job.upstream, examples.inputs, job.hp["eval_batch_size"], job.cache,
                                       dtype=job.hp["dtype"], progress=job.progress, label=label))


class CachedFrames:
    """Frames read from a cache entry."""

    def __init__(self, feats: FrameFeatures) -> None:
        self.feats = feats
        self.layers, self.dim = feats.layers, feats.dim

    def __len__(self) -> int:
        return len(self.feats)

    def length(self, i: int) -> int:
        return int(self.feats.lengths[i])

    def example(self, i: int) -> np.ndarray:
        return self.feats.example(i)

    def batch(self, idx: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        blocks = [self.example(int(i)) for i in idx]
        lengths = torch.tensor([len(b) for b in blocks], dtype=torch.long)
        out = np.zeros((len(blocks), int(lengths.max()), self.layers, self.dim), dtype=np.float32)
        for k, b in enumerate(blocks):
            out[k, : len(b)] = b
        return torch.from_numpy(out), lengths


class LiveFrames:
    """Frames computed by the upstream on each batch: without gradients (frozen, --no-cache) or with them
    (fine-tuning)."""

    def __init__(self, upstream: Any, inputs: Sequence[Any], dtype: str = "float32", grad: bool = False) -> None:
        self.upstream, self.inputs, self.dtype, self.grad = upstream, inputs, dtype, grad
        if not grad:
            upstream.eval()  # frozen features: no dropout (fine-tuning sets train / eval itself)
        self.layers, self.dim = upstream.num_layers + 1, upstream.hidden_size
        self.device = upstream_device(upstream)

    def __len__(self) -> int:
        return len(self.inputs)

    def length(self, i: int) -> int:
        return input_length(self.inputs[i])

    def batch(self, idx: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        context = torch.enable_grad() if self.grad else torch.inference_mode()
        with context, autocast(self.device, self.dtype):
            hidden = self.upstream(upstream_inputs(self.upstream, [self.inputs[int(i)] for i in idx]))
            check_hidden(self.upstream, hidden, len(idx))
            frames, lengths = _frames(hidden)
        frames = frames.float()
        if not self.grad:
            frames = frames.clone()  # leave inference mode's tensors behind: the head trains on them
        return frames, lengths.cpu()


def frame_moments(src: Any, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per (layer, dim) mean and standard deviation over every frame of a split (float64 sums)."""
    total = squares = 0.0
    n = 0
    for start in range(0, len(src), batch_size):
        x, lengths = src.batch(range(start, min(start + batch_size, len(src))))
        mask = torch.arange(x.shape[1])[None, :] < lengths[:, None]
        real = x[mask].double()  # (frames, layers, dim)
        total = total + real.sum(0)
        squares = squares + (real * real).sum(0)
        n += len(real)
    mean = total / max(n, 1)
    var = (squares / max(n, 1) - mean * mean).clamp(min=0.0) * (n / max(n - 1, 1))
    return mean.float(), var.sqrt().float()
