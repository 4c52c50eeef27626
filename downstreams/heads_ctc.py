"""Training and prediction of the CTC head (`CTCKind`: speech recognition, phoneme recognition) on frame
features (benchmark.heads.sequence) with benchmark.heads.training's loop.

Frozen mode trains the featurizer and the head on cached frames (or, with --no-cache, on frames the upstream
computes for every batch); fine-tune mode runs the upstream with gradients. Transcripts are scored by the task's
metrics (WER / CER / PER, jiwer) and the model-selection metric's direction is respected (an error rate is better
when lower).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from benchmark.heads.protocol import HeadJob, kind_of
from benchmark.heads.sequence import CachedFrames, LiveFrames, extract_frames, frame_moments
from benchmark.heads.training import (
    Fitted,
    HeadModel,
    passes_per_epoch,
    score_predictions,
    selection_score,
    train_units,
)
from benchmark.plugin.registry import Registry
from benchmark.tasks.schema import TaskSpec

Progress = Callable[..., None]


def _noop(*_: Any, **__: Any) -> None:
    pass


def encode(task: TaskSpec, texts: Sequence[str]) -> list[list[int]]:
    """Transcripts as vocabulary indices (0-based; the head adds the blank)."""
    assert task.vocabulary is not None
    index = {sym: i for i, sym in enumerate(task.vocabulary)}
    return [[index[sym] for sym in task.symbols(t)] for t in texts]


def to_text(task: TaskSpec, ids: Sequence[int]) -> str:
    assert task.vocabulary is not None
    return task.transcript([task.vocabulary[i] for i in ids])


def _ctc_loss(head: Any, log_probs: torch.Tensor, lengths: torch.Tensor, ys: Sequence[Sequence[int]]) -> torch.Tensor:
    flat = torch.tensor([s for y in ys for s in y], dtype=torch.long) + 1  # 0 is the blank
    return head.loss(log_probs, lengths, flat, torch.tensor([len(y) for y in ys], dtype=torch.long))


def predict(task: TaskSpec, head: Any, model: HeadModel, src: Any, batch_size: int) -> list[str]:
    """Greedy transcripts of every example of `src`, in order."""
    return predict_with_loss(task, head, model, src, batch_size)[0]


def predict_with_loss(task: TaskSpec, head: Any, model: HeadModel, src: Any, batch_size: int,
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
            for i, ids in zip(idx, head.decode(log_probs, lengths), strict=True):
                preds[i] = to_text(task, ids)
            if targets is not None:
                total += float(_ctc_loss(head, log_probs, lengths, [targets[i] for i in idx])) * len(idx)
    return preds, (total / max(len(src), 1) if targets is not None else None)


def train(task: TaskSpec, registry: Registry, train_src: Any, y_train: Sequence[str], dev_src: Any,
          y_dev: Sequence[str], hp: dict[str, Any], seed: int, progress: Progress = _noop,
          upstream: nn.Module | None = None, *, head: Any = None) -> Fitted:
    """Train featurizer + CTC head (and the upstream, when given: fine-tuning) on frame sources; keep the best
    epoch on dev. Frozen: statistics over every training frame, `passes_per_epoch` passes an epoch; gradients
    clipped to norm 5 in both modes. `head`: the CTC head object (else the task's registered one's)."""
    assert task.vocabulary is not None
    head = head if head is not None else kind_of(registry, task.head).head  # type: ignore[attr-defined]
    targets, dev_targets = encode(task, y_train), encode(task, y_dev)

    def evaluate(model: HeadModel) -> tuple[float, float]:
        dev_pred, dev_loss = predict_with_loss(task, head, model, dev_src, hp["eval_batch_size"], dev_targets)
        return selection_score(task, score_predictions(task, registry, y_dev, dev_pred)), float(dev_loss or 0.0)

    return train_units(
        task, registry, train_src, list(range(len(train_src))),
        lambda dim: head.build(dim, len(task.vocabulary), hp["hidden"], hp["dropout"]),
        lambda out, lengths, idx: _ctc_loss(head, out, lengths, [targets[i] for i in idx]), evaluate, hp, seed,
        progress, upstream=upstream, stats=lambda: frame_moments(train_src, hp["eval_batch_size"]),
        passes=passes_per_epoch(len(train_src), hp["batch_size"]) if upstream is None else 1, clip=5.0)


class CTCRun:
    """The HeadRun of a CTC head: frames of each split, cached (frozen) or computed on each batch (--no-cache,
    fine-tuning)."""

    def __init__(self, kind: Any, job: HeadJob) -> None:
        self.kind, self.job = kind, job
        self.src_train: Any = None
        self.src_dev: Any = None

    def frames(self, examples: Any, label: str) -> Any:
        j = self.job
        if j.hp["mode"] == "finetune" or not j.cache.enabled:  # --no-cache: the upstream runs on every batch
            return LiveFrames(j.upstream, examples.inputs, j.hp["dtype"])
        return CachedFrames(extract_frames(j.upstream, examples.inputs, j.hp["eval_batch_size"], j.cache,
                                           dtype=j.hp["dtype"], progress=j.progress, label=label))

    def prepare(self) -> None:
        self.src_train, self.src_dev = self.frames(self.job.train, "train"), self.frames(self.job.select, "select")

    def fit(self, index: int, hp: dict[str, Any]) -> Fitted:
        j = self.job
        if hp["mode"] == "frozen":
            return train(j.task, j.registry, self.src_train, j.train.targets, self.src_dev, j.select.targets, hp, j.seed,
                         j.progress, head=self.kind.head)
        up = j.upstream_for(index)
        live = LiveFrames(up, j.train.inputs, hp["dtype"], grad=True)
        dev_live = LiveFrames(up, j.select.inputs, hp["dtype"])
        return train(j.task, j.registry, live, j.train.targets, dev_live, j.select.targets, hp, j.seed, j.progress,
                     upstream=up, head=self.kind.head)

    def predict(self, fitted: Fitted, examples: Any, label: str) -> list[Any]:
        assert fitted.model is not None
        up = fitted.model.upstream  # the fine-tuned upstream, or None (frozen)
        src = (LiveFrames(up, examples.inputs, self.job.hp["dtype"]) if up is not None
               else self.frames(examples, label))
        return predict(self.job.task, self.kind.head, fitted.model, src, self.job.hp["eval_batch_size"])

    def passes_per_epoch(self, n: int, batch_size: int) -> int:
        return passes_per_epoch(n, batch_size)

    def notes(self) -> list[str]:
        return []
