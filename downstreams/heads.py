"""Builtin heads: on a pooled vector, classification (cross-entropy) and regression (MSE on standardised targets);
on frames, CTC (transcripts of characters or phonemes, greedy decoding); on words, tagging; on a context's tokens,
extractive QA (start / end vectors); k-NN on frozen features (no training).

This module holds each head's parts (the module it trains, its loss, how outputs become predictions) and
registers the head kinds that train them (downstreams/heads_kinds.py: benchmark.heads.protocol.HeadKind)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from benchmark.hookspecs import hookimpl
from downstreams.heads_kinds import CTCKind, KNNKind, PooledKind, SpanKind, TaggingKind

if TYPE_CHECKING:  # torch is imported when a head is built, not when the plugin loads
    import torch
    from torch import nn


def build_mlp(in_dim: int, out_dim: int, hidden: int = 0, dropout: float = 0.1) -> nn.Module:
    """A linear layer (hidden=0, the standard probe) or a one-hidden-layer MLP."""
    from torch import nn

    if hidden <= 0:
        return nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, out_dim))
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(dropout),
                         nn.Linear(hidden, out_dim))


@dataclass(frozen=True)
class PooledHead:
    """A head that reads one vector per example. `target` says what the task's targets are."""

    description: str
    target: str  # "class" or "real"

    def build(self, in_dim: int, n_labels: int | None, hidden: int = 0, dropout: float = 0.1) -> nn.Module:
        out = n_labels if self.target == "class" else 1
        if not out:
            raise ValueError("a classification head needs the task's labels")
        return build_mlp(in_dim, out, hidden, dropout)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """weight: per-class loss weights (classification), or None."""
        from torch.nn import functional as F

        if self.target == "class":
            return F.cross_entropy(outputs, targets, weight=weight)
        return F.mse_loss(outputs.squeeze(-1), targets)

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs.argmax(-1) if self.target == "class" else outputs.squeeze(-1)


def _ctc_module(in_dim: int, n_out: int, hidden: int, dropout: float) -> nn.Module:
    return sequence_module(in_dim, n_out, hidden, dropout, log_softmax=True, rnn_layers=2)


def sequence_module(in_dim: int, n_out: int, hidden: int, dropout: float, *, log_softmax: bool,
                     rnn_layers: int = 1) -> nn.Module:
    import torch
    from torch import nn

    from downstreams.bilstm import bidirectional

    class SequenceHeadModule(nn.Module):
        """Frames or tokens (batch, time, dim) + their counts -> per-position outputs (batch, time, n_out).

        hidden == 0: one linear layer per position (SUPERB's PR probe, BERT's QA head); hidden > 0: a
        bidirectional LSTM of that many units per direction over each item's real positions (packed: padding
        never reaches it; with --fused-lstm each direction unpacked, downstreams/bilstm.py), then a linear layer
        (SUPERB's ASR head: 2 layers of 1024). CTC takes log-probabilities."""

        takes_lengths = True
        fused_lstm = False  # the job's --fused-lstm (set by benchmark.heads.training.train_units)

        def __init__(self) -> None:
            super().__init__()
            self.drop = nn.Dropout(dropout)
            self.rnn = (nn.LSTM(in_dim, hidden, num_layers=rnn_layers, bidirectional=True, batch_first=True,
                                dropout=dropout if rnn_layers > 1 else 0.0) if hidden > 0 else None)
            self.out = nn.Linear(2 * hidden if hidden > 0 else in_dim, n_out)

        def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
            x = self.drop(x)
            if self.rnn is not None:
                if self.fused_lstm:
                    x = bidirectional(self.rnn, x[:, :int(lengths.max())], lengths)  # (batch, time, 2 * hidden)
                else:
                    packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True,
                                                               enforce_sorted=False)
                    x, _ = self.rnn(packed)
                    x, _ = nn.utils.rnn.pad_packed_sequence(x, batch_first=True, total_length=int(lengths.max()))
                x = self.drop(x)
            out = self.out(x)
            return torch.log_softmax(out, dim=-1) if log_softmax else out

    return SequenceHeadModule()


@dataclass(frozen=True)
class CTCHead:
    """A head that reads every frame and emits a transcript: CTC loss, greedy decoding (best path, repeats
    merged, blanks dropped). Index 0 is the CTC blank; vocabulary symbol k is index k + 1."""

    description: str
    target: str = "sequence"

    def build(self, in_dim: int, n_labels: int | None, hidden: int = 0, dropout: float = 0.1) -> nn.Module:
        if not n_labels:
            raise ValueError("a CTC head needs the task's vocabulary")
        return _ctc_module(in_dim, n_labels + 1, hidden, dropout)

    def loss(self, log_probs: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor,
             target_lengths: torch.Tensor) -> torch.Tensor:
        from torch.nn import functional as F

        # zero_infinity: an utterance with more symbols than frames cannot be aligned; it adds no gradient.
        return F.ctc_loss(log_probs.transpose(0, 1).float(), targets, lengths, target_lengths, blank=0,
                          reduction="mean", zero_infinity=True)

    def decode(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
        """Best path per utterance as vocabulary indices (0-based, blanks removed, repeats merged)."""
        best = log_probs.argmax(-1).cpu()
        out = []
        for row, n in zip(best.tolist(), lengths.tolist(), strict=True):
            seq, prev = [], 0
            for sym in row[:n]:
                if sym != prev and sym != 0:
                    seq.append(sym - 1)
                prev = sym
            out.append(seq)
        return out


@dataclass(frozen=True)
class TaggingHead:
    """A label per word: the head reads each word's vector (its first sub-token by default; benchmark.heads.tokens aligns
    words through the upstream's token offsets) and is trained with cross-entropy over the real words."""

    description: str
    target: str = "tags"

    def build(self, in_dim: int, n_labels: int | None, hidden: int = 0, dropout: float = 0.1) -> nn.Module:
        if not n_labels:
            raise ValueError("a tagging head needs the task's labels")
        return build_mlp(in_dim, n_labels, hidden, dropout)  # applied to every word: (batch, words, labels)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """outputs (batch, words, labels); targets (batch, words), -100 at padding."""
        from torch.nn import functional as F

        return F.cross_entropy(outputs.reshape(-1, outputs.shape[-1]).float(), targets.reshape(-1), weight=weight,
                               ignore_index=-100)


@dataclass(frozen=True)
class SpanHead:
    """Extractive QA (BERT's SQuAD head): a start and an end vector; each context token's score is its inner product
    with them, and a softmax over the context positions gives the start and end distributions. The answer is the
    best valid span (end >= start, at most `max_answer_tokens` tokens), over every window of a long context."""

    description: str
    target: str = "span"
    max_answer_tokens: int = 30

    def build(self, in_dim: int, n_labels: int | None = None, hidden: int = 0, dropout: float = 0.1) -> nn.Module:
        """hidden == 0: the start and end vectors on each token (BERT's head); hidden > 0: a bidirectional LSTM of
        that many units per direction over the context tokens first (for frozen upstreams: the head can then
        relate a token to its neighbours, which a fine-tuned encoder does itself)."""
        return sequence_module(in_dim, 2, hidden, dropout, log_softmax=False)  # (batch, tokens, 2)

    def loss(self, outputs: torch.Tensor, lengths: torch.Tensor, starts: torch.Tensor, ends: torch.Tensor
             ) -> torch.Tensor:
        """Cross-entropy of the gold start and of the gold end over each window's context tokens, averaged."""
        import torch
        from torch.nn import functional as F

        pad = torch.arange(outputs.shape[1], device=outputs.device)[None, :] >= lengths.to(outputs.device)[:, None]
        logits = outputs.float().masked_fill(pad.unsqueeze(-1), -1e4)
        return (F.cross_entropy(logits[..., 0], starts) + F.cross_entropy(logits[..., 1], ends)) / 2


def _knn_module(n_labels: int, k: int, temperature: float) -> nn.Module:
    import torch
    from torch import nn
    from torch.nn import functional as F

    class KNNModule(nn.Module):
        """A memory of L2-normalised training features and their labels; forward gives each class's summed
        vote exp(cos / T) over the k most similar memories (batch, classes)."""

        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("bank", torch.zeros(0, 0))
            self.register_buffer("labels", torch.zeros(0, dtype=torch.long))

        def fit(self, x: torch.Tensor, y: torch.Tensor) -> None:
            self.bank = F.normalize(x.float(), dim=-1)
            self.labels = y.long()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if not len(self.bank):
                raise RuntimeError("k-NN head used before fit()")
            out = []
            for part in F.normalize(x.float(), dim=-1).split(512):  # (<=512, dim): bounds the similarity matrix
                sim = part @ self.bank.T  # (rows, memories)
                top, idx = sim.topk(min(k, sim.shape[1]), dim=1)
                votes = torch.zeros(len(part), n_labels, device=part.device)
                out.append(votes.scatter_add_(1, self.labels[idx], (top / temperature).exp()))
            return torch.cat(out)

    return KNNModule()


@dataclass(frozen=True)
class KNNHead:
    """Weighted k-nearest-neighbour classification on frozen features: nothing is trained. The training split's
    features (one layer, the last unless --layer says otherwise; not standardised) are the memory; each
    neighbour votes exp(cosine similarity / temperature) for its class (Wu et al. 2018, InstDisc; Caron et al.
    2021, DINO: k = 20, T = 0.07)."""

    description: str
    k: int = 20
    temperature: float = 0.07
    target: str = "class"
    nonparametric: bool = True

    def build(self, in_dim: int, n_labels: int | None, hidden: int = 0, dropout: float = 0.0) -> nn.Module:
        if not n_labels:
            raise ValueError("a k-NN head needs the task's labels")
        return _knn_module(n_labels, self.k, self.temperature)

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs.argmax(-1)


KNN = KNNHead("weighted 20-NN on cosine similarity of frozen features (T = 0.07); no training")
CTC = CTCHead("CTC over every frame (linear, or a 2-layer BiLSTM with --hidden N); greedy decoding")
CLASSIFICATION = PooledHead("linear (or MLP) classifier on the pooled vector; cross-entropy", "class")
TAGGING = TaggingHead("linear (or MLP) classifier on each word's vector (first sub-token); cross-entropy")
SPAN_QA = SpanHead("start / end vectors over the context tokens (BERT's SQuAD head); best span of up to 30 tokens")
REGRESSION = PooledHead("linear (or MLP) regressor on the pooled vector; MSE on standardised targets", "real")


__all__ = ["CLASSIFICATION", "CTC", "KNN", "REGRESSION", "SPAN_QA", "TAGGING", "CTCHead", "CTCKind", "KNNHead",
           "KNNKind", "PooledHead", "PooledKind", "SpanHead", "SpanKind", "TaggingHead", "TaggingKind", "build_mlp"]


@hookimpl
def register_downstreams(register: Any) -> None:
    register("classification", PooledKind(CLASSIFICATION))
    register("regression", PooledKind(REGRESSION))
    register("ctc", CTCKind(CTC))
    register("knn", KNNKind(KNN))
    register("tagging", TaggingKind(TAGGING))
    register("span-qa", SpanKind(SPAN_QA))
