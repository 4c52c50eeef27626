"""Training and scoring of the `speaker-verification` head (downstreams/heads_sv.py) on frame features
(benchmark.heads.sequence) with benchmark.heads.training's loop.

Frozen mode only: the featurizer (softmax-weighted, standardised layers) and the x-vector head train on cached
frames (or, with --no-cache, frames the upstream computes for every batch). Model selection scores the
model-selection split's trials after every epoch with the task's metrics (EER: lower is better).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.errors import BenchError
from benchmark.heads.protocol import HeadJob
from benchmark.heads.sequence import CachedFrames, LiveFrames, extract_frames, frame_moments
from benchmark.heads.training import Fitted, passes_per_epoch, score_predictions, selection_score, train_units
from downstreams.sv_trials import AM_MARGIN, AM_SCALE, EMBEDDING_DIM, Trials, all_pairs, is_speaker


class XVector(nn.Module):
    """Frames (batch, time, dim) -> speaker embeddings (batch, EMBEDDING_DIM).

    hidden > 0: a small TDNN (frame layers with contexts 5, 3 dilated by 2, and 1, as x-vector's first layers,
    at `hidden` units), then statistics pooling (mean and standard deviation over each utterance's real frames)
    and a linear layer to the embedding; hidden 0: statistics pooling of the featurized frames themselves. The
    AM-softmax class weights (one row per training speaker) live here so that the optimizer trains them."""

    takes_lengths = True

    def __init__(self, dim: int, hidden: int, speakers: int, dropout: float) -> None:
        super().__init__()
        width = hidden or dim
        self.tdnn = nn.Sequential(
            nn.Conv1d(dim, hidden, 5, padding=2), nn.ReLU(), nn.BatchNorm1d(hidden),
            nn.Conv1d(hidden, hidden, 3, padding=2, dilation=2), nn.ReLU(), nn.BatchNorm1d(hidden),
            nn.Conv1d(hidden, hidden, 1), nn.ReLU(), nn.BatchNorm1d(hidden),
        ) if hidden else None
        self.dropout = nn.Dropout(dropout)
        self.embed = nn.Linear(2 * width, EMBEDDING_DIM)
        self.speakers = nn.Parameter(torch.randn(speakers, EMBEDDING_DIM) * 0.01)

    def forward(self, z: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = (torch.arange(z.shape[1], device=z.device)[None, :] < lengths[:, None]).to(z.dtype)  # (batch, time)
        x = z * mask[..., None]  # padded frames are zero, so the convolutions see silence past each end
        if self.tdnn is not None:
            x = self.tdnn(x.transpose(1, 2)).transpose(1, 2) * mask[..., None]  # (batch, time, hidden)
        n = mask.sum(1, keepdim=True).clamp(min=1.0)  # (batch, 1)
        mean = x.sum(1) / n
        var = ((x - mean[:, None]) ** 2 * mask[..., None]).sum(1) / n
        stats = torch.cat([mean, var.clamp(min=1e-8).sqrt()], dim=-1)  # (batch, 2 * width)
        return self.embed(self.dropout(stats))  # (batch, EMBEDDING_DIM)

    def am_softmax_loss(self, emb: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """AM-softmax (Wang et al. 2018): cross-entropy over s * (cos(w_k, e) - m [k = y])."""
        cos = F.normalize(emb, dim=-1) @ F.normalize(self.speakers, dim=-1).T  # (batch, speakers)
        logits = AM_SCALE * (cos - AM_MARGIN * F.one_hot(y, cos.shape[1]).to(cos.dtype))
        return F.cross_entropy(logits, y)


def embeddings(model: nn.Module, src: Any, batch_size: int) -> torch.Tensor:
    """Unit-length embeddings of every utterance of `src`, in order: (utterances, EMBEDDING_DIM)."""
    model.eval()
    out = torch.zeros(len(src), EMBEDDING_DIM)
    order = sorted(range(len(src)), key=src.length)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            frames, lengths = src.batch(idx)
            out[idx] = F.normalize(model(frames, lengths).float(), dim=-1)
    return out


def trial_scores(emb: torch.Tensor, trials: Sequence[Trials]) -> list[list[float]]:
    """Each utterance's trials scored by the cosine similarity of the two embeddings (6 significant digits)."""
    return [[float(f"{float(emb[i] @ emb[j]):.6g}") for j, _ in opened] for i, opened in enumerate(trials)]


def split_trials(examples: Any, label: str) -> tuple[Trials, ...]:
    """The trial lists of a split: its targets, or every pair when its targets are speaker names (a
    model-selection split held out of the training data)."""
    targets = getattr(examples, "targets", None)
    if targets is None:
        raise BenchError(f"speaker verification: the '{label}' split has no trial lists to score (unlabeled test "
                         "splits cannot be verified)")
    if targets and all(is_speaker(t) for t in targets):
        return all_pairs(targets)
    if any(is_speaker(t) for t in targets):
        raise BenchError(f"speaker verification: the '{label}' split mixes speaker names and trial lists")
    for i, opened in enumerate(targets):
        if any(not 0 <= j < len(targets) or j == i for j, _ in opened):
            raise BenchError(f"speaker verification: utterance {i} of the '{label}' split has a trial with an index "
                             f"outside 0..{len(targets) - 1} (or itself)")
    return tuple(targets)


class VerificationRun:
    """The HeadRun of the speaker-verification head."""

    def __init__(self, kind: Any, job: HeadJob) -> None:
        self.kind, self.job = kind, job
        self.src_train: Any = None
        self.src_select: Any = None
        self.speakers = 0  # training speakers, once fit has counted them

    def frames(self, examples: Any, label: str) -> Any:
        j = self.job
        if not j.cache.enabled:  # --no-cache: the upstream runs on every batch
            return LiveFrames(j.upstream, examples.inputs, j.hp["dtype"])
        return CachedFrames(extract_frames(j.upstream, examples.inputs, j.hp["eval_batch_size"], j.cache,
                                           dtype=j.hp["dtype"], progress=j.progress, label=label))

    def prepare(self) -> None:
        self.src_train, self.src_select = self.frames(self.job.train, "train"), self.frames(self.job.select, "select")

    def fit(self, index: int, hp: dict[str, Any]) -> Fitted:
        j = self.job
        names = list(j.train.targets)
        if not names or not all(is_speaker(t) for t in names):
            raise BenchError(f"task '{j.task.name}': the training split's targets must be speaker names (strings)")
        speakers = sorted(set(names))
        if len(speakers) < 2:
            raise BenchError(f"task '{j.task.name}': the training split has {len(speakers)} speaker; AM-softmax needs "
                             "at least 2")
        index_of = {s: k for k, s in enumerate(speakers)}
        ids = torch.tensor([index_of[n] for n in names], dtype=torch.long)
        select_trials = split_trials(j.select, "select")
        built: list[XVector] = []

        def build(dim: int) -> nn.Module:
            built.append(XVector(dim, hp["hidden"], len(speakers), hp["dropout"]))
            return built[-1]

        def loss(out: torch.Tensor, lengths: torch.Tensor, idx: list[int]) -> torch.Tensor:
            return built[-1].am_softmax_loss(out, ids[idx].to(out.device))

        def evaluate(model: nn.Module) -> tuple[float, float]:
            preds = trial_scores(embeddings(model, self.src_select, hp["eval_batch_size"]), select_trials)
            scores = score_predictions(j.task, j.registry, select_trials, preds)
            return selection_score(j.task, scores), 0.0  # no loss is defined on unseen speakers

        self.speakers = len(speakers)
        return train_units(j.task, j.registry, self.src_train, list(range(len(self.src_train))), build, loss,
                           evaluate, hp, j.seed, j.progress,
                           stats=lambda: frame_moments(self.src_train, hp["eval_batch_size"]),
                           passes=passes_per_epoch(len(self.src_train), hp["batch_size"]), clip=5.0)

    def predict(self, fitted: Fitted, examples: Any, label: str) -> list[Any]:
        assert fitted.model is not None
        trials = split_trials(examples, label)
        emb = embeddings(fitted.model, self.frames(examples, label), self.job.hp["eval_batch_size"])
        return trial_scores(emb, trials)

    def passes_per_epoch(self, n: int, batch_size: int) -> int:
        return passes_per_epoch(n, batch_size)

    def notes(self) -> list[str]:
        return [f"speaker verification: AM-softmax (s {AM_SCALE:g}, m {AM_MARGIN:g}) over "
                f"{self.speakers} training speakers; trials scored by cosine similarity of "
                f"{EMBEDDING_DIM}-dimensional embeddings"]
