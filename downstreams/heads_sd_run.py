"""Training and prediction of the `diarization` head (downstreams/heads_sd.py) on frame features
(benchmark.heads.sequence) with benchmark.heads.training's loop.

Labels are made at the upstream's frame rate (its `downsample_rate` samples a frame; else the recording's duration
over its number of frames) from each reference's segments, frame by frame as s3prl does; the loss is the
permutation-invariant BCE over the two speaker orderings. Whole recordings train (s3prl cuts them into chunks of
2,000 frames: the synthetic mixtures are shorter than one chunk).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from benchmark.heads.protocol import HeadJob
from benchmark.heads.sequence import CachedFrames, LiveFrames, extract_frames, frame_moments
from benchmark.heads.training import (
    Fitted,
    HeadModel,
    better,
    passes_per_epoch,
    score_predictions,
    selection_score,
    train_units,
)
from downstreams.heads import _sequence_module
from downstreams.sd_metrics import MEDIANS, SPEAKERS, THRESHOLDS, activity_to_segments, frame_labels, postprocess

N_SPEAKERS = len(SPEAKERS)
STEP_SECONDS = 0.04
"""The LSTM steps at about 40 ms: the upstream's frames are averaged in groups (FBANK's 10 ms frames by 4, wav2vec
2.0's 20 ms by 2) and its outputs repeated back to every frame. s3prl runs it on every frame (subsampling 1), EEND
at 100 ms (subsampling 10); an LSTM's steps are sequential, and 40 ms keeps CPU training in minutes."""


def _pooled_head(dim: int, factor: int, hidden: int, dropout: float) -> torch.nn.Module:
    """The BiLSTM head (downstreams.heads' sequence module: hidden 0 is a linear layer per step) run on groups of
    `factor` frames: (batch, frames, dim) -> (batch, frames, 2) logits."""
    inner = _sequence_module(dim, N_SPEAKERS, hidden, dropout, log_softmax=False)

    class PooledHead(torch.nn.Module):
        takes_lengths = True

        def __init__(self) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
            if factor == 1:
                return self.inner(x, lengths)
            steps = F.avg_pool1d(x.transpose(1, 2), factor, factor, ceil_mode=True).transpose(1, 2)
            out = self.inner(steps, torch.div(lengths + factor - 1, factor, rounding_mode="floor"))
            return out.repeat_interleave(factor, dim=1)[:, : x.shape[1]]  # (batch, frames, 2)

    return PooledHead()


def pit_loss(logits: torch.Tensor, labels: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Permutation-invariant BCE: per recording, the mean BCE over its real frames and both speakers under the
    better of the two speaker orderings; the batch's mean. logits, labels (batch, frames, 2); lengths (batch,)."""
    mask = (torch.arange(logits.shape[1], device=logits.device)[None, :] < lengths.to(logits.device)[:, None]).float()
    per_order = []
    for order in ([0, 1], [1, 0]):
        bce = F.binary_cross_entropy_with_logits(logits, labels[..., order], reduction="none").mean(-1)
        per_order.append((bce * mask).sum(1) / mask.sum(1).clamp(min=1.0))  # (batch,)
    return torch.stack(per_order).min(0).values.mean()


class DiarizationRun:
    """The HeadRun of the diarization head: frames of each split, cached (frozen) or computed on each batch
    (--no-cache, fine-tuning)."""

    def __init__(self, kind: Any, job: HeadJob) -> None:
        self.kind, self.job = kind, job
        self.src_train: Any = None
        self.src_dev: Any = None
        self.post: dict[int, tuple[float, int]] = {}  # id(fitted) -> (threshold, median) chosen on select
        self.shift_used: float | None = None

    # -- frames and labels -----------------------------------------------------------------------------------
    def frames(self, examples: Any, label: str) -> Any:
        j = self.job
        if j.hp["mode"] == "finetune" or not j.cache.enabled:
            return LiveFrames(j.upstream, examples.inputs, j.hp["dtype"])
        return CachedFrames(extract_frames(j.upstream, examples.inputs, j.hp["eval_batch_size"], j.cache,
                                           dtype=j.hp["dtype"], progress=j.progress, label=label))

    def shift(self, n_frames: int, duration: float | None) -> float:
        """Seconds a frame: the upstream's samples per frame over its sample rate; else duration / frames."""
        up = self.job.upstream
        rate, down = getattr(up, "sample_rate", None), getattr(up, "downsample_rate", None)
        if rate and down:
            out = float(down) / float(rate)
        else:
            out = float(duration or 0.0) / max(n_frames, 1) or 0.01
        self.shift_used = out
        return out

    def factor(self) -> int:
        """Frames a step of the LSTM (STEP_SECONDS at the upstream's frame rate; 1 when it is unknown)."""
        up = self.job.upstream
        rate, down = getattr(up, "sample_rate", None), getattr(up, "downsample_rate", None)
        return max(1, round(STEP_SECONDS * float(rate) / float(down))) if rate and down else 1

    def labels(self, targets: Sequence[Any], idx: Sequence[int], lengths: torch.Tensor) -> torch.Tensor:
        """(batch, frames, 2) activity of the references `idx` at each item's number of frames."""
        n_max = int(lengths.max())
        out = np.zeros((len(idx), n_max, N_SPEAKERS), dtype=np.float32)
        for b, (i, n) in enumerate(zip(idx, lengths.tolist(), strict=True)):
            ref = targets[int(i)]
            block = frame_labels(ref, int(n), self.shift(int(n), ref["duration"]))
            out[b, : int(n), : min(N_SPEAKERS, block.shape[1])] = block[:, :N_SPEAKERS]
        return torch.from_numpy(out)

    # -- prediction ----------------------------------------------------------------------------------------------
    def probabilities(self, model: HeadModel, src: Any, targets: Sequence[Any] | None = None
                      ) -> tuple[list[np.ndarray], float | None]:
        """Each recording's (frames, 2) speaker probabilities, in order, and (given targets) the mean PIT loss."""
        model.eval()
        out: list[np.ndarray] = [np.zeros((0, N_SPEAKERS), np.float32)] * len(src)
        order = sorted(range(len(src)), key=src.length)
        device = next(model.head.parameters()).device
        total, bs = 0.0, self.job.hp["eval_batch_size"]
        with torch.inference_mode():
            for start in range(0, len(order), bs):
                idx = order[start:start + bs]
                frames, lengths = src.batch(idx)
                logits = model(frames.to(device), lengths.to(device))
                probs = torch.sigmoid(logits).float().cpu().numpy()
                for b, (i, n) in enumerate(zip(idx, lengths.tolist(), strict=True)):
                    out[i] = probs[b, : int(n)]
                if targets is not None:
                    total += float(pit_loss(logits.float().cpu(), self.labels(targets, idx, lengths), lengths)) * len(idx)
        return out, (total / max(len(src), 1) if targets is not None else None)

    def segments(self, probs: Sequence[np.ndarray], threshold: float, median: int,
                 durations: Sequence[float | None] | None = None) -> list[list[list[Any]]]:
        return [activity_to_segments(postprocess(p, threshold, median),
                                     self.shift(len(p), durations[i] if durations else None))
                for i, p in enumerate(probs)]

    def score(self, targets: Sequence[Any], preds: list[Any]) -> float:
        j = self.job
        return selection_score(j.task, score_predictions(j.task, j.registry, targets, preds))

    # -- training ------------------------------------------------------------------------------------------------
    def prepare(self) -> None:
        self.src_train, self.src_dev = self.frames(self.job.train, "train"), self.frames(self.job.select, "select")

    def fit(self, index: int, hp: dict[str, Any]) -> Fitted:
        j = self.job
        y_train, y_dev = list(j.train.targets), list(j.select.targets)
        up = None
        if hp["mode"] == "frozen":
            train_src, dev_src = self.src_train, self.src_dev
        else:
            up = j.upstream_for(index)
            train_src = LiveFrames(up, j.train.inputs, hp["dtype"], grad=True)
            dev_src = LiveFrames(up, j.select.inputs, hp["dtype"])
        durations = [t["duration"] for t in y_dev]

        def evaluate(model: HeadModel) -> tuple[float, float]:
            probs, loss = self.probabilities(model, dev_src, y_dev)
            return self.score(y_dev, self.segments(probs, 0.5, 1, durations)), float(loss or 0.0)

        fitted = train_units(
            j.task, j.registry, train_src, list(range(len(train_src))),
            lambda dim: _pooled_head(dim, self.factor(), hp["hidden"], hp["dropout"]),
            lambda out, lengths, idx: pit_loss(out, self.labels(y_train, idx, lengths).to(out.device), lengths),
            evaluate, hp, j.seed, j.progress, upstream=up,
            stats=lambda: frame_moments(train_src, hp["eval_batch_size"]),
            passes=passes_per_epoch(len(train_src), hp["batch_size"]) if up is None else 1, clip=5.0)
        assert fitted.model is not None
        # The post-processing, chosen on the model-selection split (s3prl tries this grid and reports test's best).
        probs, _ = self.probabilities(fitted.model, dev_src)  # type: ignore[arg-type]
        best: tuple[float, tuple[float, int]] | None = None
        for median in MEDIANS:
            for threshold in THRESHOLDS:
                s = self.score(y_dev, self.segments(probs, threshold, median, durations))
                if best is None or better(j.task, j.registry, s, best[0]):
                    best = (s, (threshold, median))
        assert best is not None
        fitted.select_score = best[0]
        self.post[id(fitted)] = best[1]
        return fitted

    def predict(self, fitted: Fitted, examples: Any, label: str) -> list[Any]:
        assert fitted.model is not None
        up = fitted.model.upstream  # the fine-tuned upstream, or None (frozen)
        src = LiveFrames(up, examples.inputs, self.job.hp["dtype"]) if up is not None else self.frames(examples, label)
        threshold, median = self.post.get(id(fitted), (0.5, 1))
        probs, _ = self.probabilities(fitted.model, src)  # type: ignore[arg-type]
        return self.segments(probs, threshold, median)

    def passes_per_epoch(self, n: int, batch_size: int) -> int:
        return passes_per_epoch(n, batch_size)

    def notes(self) -> list[str]:
        posts = sorted(set(self.post.values()))
        shift = (f"{self.shift_used * 1000:g} ms frames, the LSTM stepping every {self.factor()} frames"
                 if self.shift_used else "the upstream's frames")
        chosen = "; ".join(f"threshold {t:g}, median filter {m} frame{'s' if m > 1 else ''}" for t, m in posts)
        return [f"diarization post-processing chosen on the model-selection split: {chosen} ({shift})"] if posts else []
