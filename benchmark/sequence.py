"""Frame-level tasks (CTC: speech recognition, phoneme recognition): every frame of every layer, not a pooled vector.

Frozen mode caches each utterance's (frames, layers, dim) block once (`cache.FrameFeatures`) and trains the
featurizer (SUPERB's softmax-weighted layer sum over standardised layers) and a CTC head on it. With
--no-cache the upstream runs on every batch of every epoch instead (as s3prl does), so nothing the size of a
corpus's frames is ever written. Fine-tune mode runs the upstream with gradients, like pooled fine-tuning.
Transcripts are scored by the task's metrics (WER / CER / PER, jiwer) and the model-selection metric's
direction is respected (an error rate is better when lower).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from benchmark.cache import FeatureCache, FrameFeatures
from benchmark.features import (
    _check_finite,
    autocast,
    cached_extract,
    entry,
    input_length,
    iter_batches,
    upstream_device,
    upstream_inputs,
)
from benchmark.featurizer import Featurizer
from benchmark.registry import Registry
from benchmark.specs import check_hidden
from benchmark.taskspec import TaskSpec
from benchmark.training import (
    BestEpoch,
    Fitted,
    finetune_optimizer,
    gradient_step,
    passes_per_epoch,
    score_predictions,
    selection_score,
    step_curve,
)

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


def encode(task: TaskSpec, texts: Sequence[str]) -> list[list[int]]:
    """Transcripts as vocabulary indices (0-based; the head adds the blank)."""
    assert task.vocabulary is not None
    index = {sym: i for i, sym in enumerate(task.vocabulary)}
    return [[index[sym] for sym in task.symbols(t)] for t in texts]


def to_text(task: TaskSpec, ids: Sequence[int]) -> str:
    assert task.vocabulary is not None
    syms = [task.vocabulary[i] for i in ids]
    return " ".join("".join(syms).split()) if task.tokenize == "characters" else " ".join(syms)


class FrameModel(nn.Module):
    """Featurizer + CTC head (and, when fine-tuning, the upstream they read)."""

    def __init__(self, featurizer: Featurizer, head: nn.Module, upstream: nn.Module | None = None) -> None:
        super().__init__()
        self.featurizer, self.head, self.upstream = featurizer, head, upstream

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.head(self.featurizer(frames), lengths)


def _batches(src: Any, batch_size: int, gen: torch.Generator) -> list[list[int]]:
    """Shuffled batches of similar length: a random order, sorted by length within windows of 20 batches."""
    order = torch.randperm(len(src), generator=gen).tolist()
    window = batch_size * 20
    out: list[list[int]] = []
    for w in range(0, len(order), window):
        part = sorted(order[w:w + window], key=src.length)
        out.extend(part[i:i + batch_size] for i in range(0, len(part), batch_size))
    perm = torch.randperm(len(out), generator=gen).tolist()
    return [out[i] for i in perm]


def predict(task: TaskSpec, kind: Any, model: FrameModel, src: Any, batch_size: int) -> list[str]:
    """Greedy transcripts of every example of `src`, in order."""
    return predict_with_loss(task, kind, model, src, batch_size)[0]


def predict_with_loss(task: TaskSpec, kind: Any, model: FrameModel, src: Any, batch_size: int,
                      targets: Sequence[Sequence[int]] | None = None) -> tuple[list[str], float | None]:
    """Greedy transcripts of every example of `src`, in order, and (given `targets`) the mean CTC loss."""
    model.eval()
    preds: list[str] = [""] * len(src)
    order = sorted(range(len(src)), key=src.length)
    device = next(model.head.parameters()).device
    total = 0.0
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            frames, lengths = src.batch(idx)
            log_probs = model(frames.to(device), lengths.to(device))
            for i, ids in zip(idx, kind.decode(log_probs, lengths), strict=True):
                preds[i] = to_text(task, ids)
            if targets is not None:
                ys = [targets[i] for i in idx]
                flat = torch.tensor([s for y in ys for s in y], dtype=torch.long) + 1  # 0 is the blank
                loss = kind.loss(log_probs, lengths, flat, torch.tensor([len(y) for y in ys], dtype=torch.long))
                total += float(loss) * len(idx)
    return preds, (total / max(len(src), 1) if targets is not None else None)


@dataclass
class FrameFitted(Fitted):
    model: FrameModel | None = None


def train(task: TaskSpec, registry: Registry, train_src: Any, y_train: Sequence[str], dev_src: Any,
          y_dev: Sequence[str], hp: dict[str, Any], seed: int, progress: Progress = _noop,
          upstream: nn.Module | None = None) -> FrameFitted:
    """Train featurizer + CTC head (and the upstream, when given: fine-tuning); keep the best epoch on dev."""
    assert task.vocabulary is not None
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    kind = registry.downstreams.get(task.head).obj
    featurizer = Featurizer(train_src.layers, train_src.dim, hp["layer"])
    if upstream is None:
        mean_x, std_x = frame_moments(train_src, hp["eval_batch_size"])
        featurizer.set_statistics(mean_x, std_x)
    head = kind.build(train_src.dim, len(task.vocabulary), hp["hidden"], hp["dropout"])
    model = FrameModel(featurizer, head, upstream)
    device = upstream_device(upstream) if upstream is not None else "cpu"
    model.to(device)
    targets = encode(task, y_train)
    if upstream is None:
        opt = torch.optim.AdamW(list(featurizer.parameters()) + list(head.parameters()), lr=hp["lr"],
                                weight_decay=hp["weight_decay"])
        sched = None
        passes = passes_per_epoch(len(train_src), hp["batch_size"])
    else:
        opt, sched = finetune_optimizer(upstream, [*featurizer.parameters(), *head.parameters()], hp,
                                        len(train_src))
        passes = 1
    dev_targets = encode(task, y_dev)
    keeper = BestEpoch(task, registry, hp["patience"] if upstream is None else 0)
    every: list[float] = []
    for epoch in range(1, hp["epochs"] + 1):
        model.train()
        losses: list[float] = []
        for _ in range(passes):
            for idx in _batches(train_src, hp["batch_size"], gen):
                frames, lengths = train_src.batch(idx)
                ys = [targets[i] for i in idx]
                flat = torch.tensor([s for y in ys for s in y], dtype=torch.long) + 1  # 0 is the blank
                log_probs = model(frames.to(device), lengths.to(device))
                loss = kind.loss(log_probs, lengths, flat, torch.tensor([len(y) for y in ys], dtype=torch.long))
                gradient_step(model, opt, sched, loss, hp, 5.0, epoch, losses, progress)
        every += losses
        dev_pred, dev_loss = predict_with_loss(task, kind, model, dev_src, hp["eval_batch_size"], dev_targets)
        score = selection_score(task, score_predictions(task, registry, y_dev, dev_pred))
        stop = keeper.update(model, epoch, losses, float(dev_loss or 0.0), score)
        progress("epoch", epoch=epoch, epochs=hp["epochs"], score=score)
        if stop:
            break
    best = keeper.restore(model)
    return FrameFitted(featurizer, head, 0.0, 1.0, keeper.epoch, best, len(keeper.curve), keeper.curve,
                       step_curve(every), model=model)

