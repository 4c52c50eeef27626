"""Word and token features, for heads that consume a vector per word (the builtin `tagging` head: POS, NER) or
per context token (`span-qa`, whose windows are in `benchmark.heads.spans`): the feature sources (items read as (batch,
units, layers, dim) blocks), their standardisation statistics and the head's outputs per item. The heads
themselves are downstreams/heads_tokens.py; they train with `benchmark.heads.training.train_units`.

Words are found through the upstream's token offsets (`HiddenStates.offsets`, the character span of each token),
so any text upstream that reports them works, whatever its tokenizer. A tagged sentence is its words joined by
single spaces; each word's vector is its first sub-token's (the default, as BERT did for NER), its last, or the
mean over its sub-tokens (`--align`). Frozen mode caches one (words, layers, dim) block per sentence in the feature
cache; the featurizer and head train on them. A word the upstream truncated away reads the last token that
survived (the job's notes count them).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from benchmark.errors import JobFailed
from benchmark.features.cache import FeatureCache, FrameFeatures
from benchmark.features.extract import autocast, cached_extract, entry, iter_batches, upstream_device, upstream_inputs
from benchmark.heads.sequence import CachedFrames
from benchmark.heads.training import HeadModel
from benchmark.plugin.specs import check_hidden

Progress = Callable[..., None]
ALIGNMENTS = ("first", "last", "mean")
WORD = re.compile(r"\S+")


def _noop(*_: Any, **__: Any) -> None:
    pass


def word_spans(text: str) -> list[tuple[int, int]]:
    """The character span of every whitespace-separated word."""
    return [(m.start(), m.end()) for m in WORD.finditer(text)]


def _offsets(upstream: Any, hidden: Any, need_segments: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    if hidden.offsets is None or (need_segments and hidden.segments is None):
        what = "token offsets and segments" if need_segments else "token offsets"
        raise JobFailed(f"upstream '{getattr(upstream, 'name', '?')}' returns no {what} (HiddenStates.offsets"
                        f"{' / segments' if need_segments else ''}); token-level tasks (tagging, span QA) need them")
    seg = None if hidden.segments is None else hidden.segments.cpu().numpy()
    return hidden.offsets.cpu().numpy(), seg


def word_weights(offsets: np.ndarray, spans: Sequence[tuple[int, int]], rule: str) -> tuple[np.ndarray, int]:
    """(words, time) weights that turn one item's token vectors into word vectors, and how many words had no
    token (truncated away: they read the last real token)."""
    real = [t for t in range(len(offsets)) if offsets[t, 0] >= 0 and offsets[t, 1] > offsets[t, 0]]
    w = np.zeros((len(spans), len(offsets)), dtype=np.float32)
    fallback = real[-1] if real else 0
    missing, j = 0, 0
    for k, (start, end) in enumerate(spans):
        while j < len(real) and offsets[real[j], 1] <= start:
            j += 1
        toks = []
        i = j
        while i < len(real) and offsets[real[i], 0] < end:
            toks.append(real[i])
            i += 1
        if not toks:
            toks, missing = [fallback], missing + 1
        if rule == "first":
            w[k, toks[0]] = 1.0
        elif rule == "last":
            w[k, toks[-1]] = 1.0
        else:
            w[k, toks] = 1.0 / len(toks)
    return w, missing


def word_vectors(upstream: Any, hidden: Any, texts: Sequence[str], rule: str) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Every word's vector at every layer: (batch, words, layers, dim), the word counts, and truncated words."""
    offsets, _ = _offsets(upstream, hidden)
    mats, missing = [], 0
    for b, text in enumerate(texts):
        w, lost = word_weights(offsets[b], word_spans(text), rule)
        mats.append(w)
        missing += lost
    lengths = torch.tensor([len(m) for m in mats], dtype=torch.long)
    x = torch.stack(hidden.layers, dim=2)  # (batch, time, layers, dim)
    weights = torch.zeros(len(mats), int(lengths.max()), x.shape[1], dtype=x.dtype, device=x.device)
    for b, m in enumerate(mats):
        weights[b, : len(m)] = torch.from_numpy(m).to(x.dtype)
    return torch.einsum("bwt,btld->bwld", weights, x), lengths, missing


class _Source:
    """Items (sentences or QA windows) read as (batch, units, layers, dim) blocks plus each item's unit count."""

    layers: int
    dim: int

    def __len__(self) -> int:
        raise NotImplementedError

    def length(self, i: int) -> int:
        raise NotImplementedError

    def batch(self, idx: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError


IN_MEMORY_BYTES = 1 << 30


class CachedWords(CachedFrames):
    """Word vectors from a feature-cache entry (read as CTC frames are); held in memory when under
    IN_MEMORY_BYTES (a head reads every sentence once per pass, and rereading small blocks from disk would cost
    more than training)."""

    def __init__(self, feats: FrameFeatures) -> None:
        super().__init__(feats)
        size = int(np.sum(feats.lengths)) * self.layers * self.dim * 4
        self.memory = [feats.example(i) for i in range(len(feats))] if size <= IN_MEMORY_BYTES else None

    def example(self, i: int) -> np.ndarray:
        return self.feats.example(i) if self.memory is None else self.memory[i]


class _Live(_Source):
    def __init__(self, upstream: Any, dtype: str, grad: bool) -> None:
        self.upstream, self.dtype, self.grad = upstream, dtype, grad
        if not grad:
            upstream.eval()
        self.layers, self.dim = upstream.num_layers + 1, upstream.hidden_size
        self.device = upstream_device(upstream)

    def _run(self, inputs: list[Any]) -> Any:
        context = torch.enable_grad() if self.grad else torch.inference_mode()
        with context, autocast(self.device, self.dtype):
            hidden = self.upstream(upstream_inputs(self.upstream, inputs))
            check_hidden(self.upstream, hidden, len(inputs))
        return hidden

    def _out(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        return x if self.grad else x.clone()  # leave inference mode's tensors behind: the head trains on them


class LiveWords(_Live):
    """Word vectors computed by the upstream on each batch (fine-tuning, or frozen with --no-cache)."""

    def __init__(self, upstream: Any, texts: Sequence[str], rule: str, dtype: str = "float32", grad: bool = False
                 ) -> None:
        super().__init__(upstream, dtype, grad)
        self.texts, self.rule = texts, rule

    def __len__(self) -> int:
        return len(self.texts)

    def length(self, i: int) -> int:
        return len(word_spans(self.texts[i]))

    def batch(self, idx: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        texts = [self.texts[int(i)] for i in idx]
        hidden = self._run(texts)
        with torch.enable_grad() if self.grad else torch.inference_mode():
            x, lengths, _ = word_vectors(self.upstream, hidden, texts, self.rule)
        return self._out(x), lengths


def extract_words(upstream: Any, texts: Sequence[str], rule: str, batch_size: int, cache: FeatureCache, *,
                  dtype: str = "float32", progress: Progress = _noop, label: str = "") -> tuple[CachedWords, int]:
    """A split's word vectors from the cache (computed on a miss), and how many words were truncated away."""
    key, meta = entry(upstream, texts, f"words-{rule}", dtype, label)
    lost = [0]

    def batches() -> Any:
        for idx, hidden in iter_batches(upstream, texts, batch_size, lambda h: h, dtype):
            x, lengths, missing = word_vectors(upstream, hidden, [texts[i] for i in idx], rule)
            lost[0] += missing
            yield idx, [x[k, : int(n)].float().cpu().numpy() for k, n in enumerate(lengths)]

    def check(blocks: list[np.ndarray], idx: list[int]) -> None:
        for k, block in enumerate(blocks):
            if not np.isfinite(block).all():
                raise JobFailed(f"the upstream produced NaN or infinite features for example {idx[k]}"
                                f"{f' of the {label} split' if label else ''}; check the upstream and that input")

    feats = cached_extract(cache.get_frames, cache.create_frames, key, cache, len(texts), meta, batches, check,
                           progress, label)
    return CachedWords(feats), lost[0]


# --- Reading a unit source -----------------------------------------------------------------------------------


def moments(src: _Source, items: Sequence[int], batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per (layer, dim) mean and standard deviation over the units of up to 2,048 training items."""
    idx = list(items[:2048])
    total = squares = 0.0
    n = 0
    for s in range(0, len(idx), batch_size):
        x, lengths = src.batch(idx[s:s + batch_size])
        real = x[torch.arange(x.shape[1])[None, :] < lengths[:, None]].double()  # (units, layers, dim)
        total, squares, n = total + real.sum(0), squares + (real * real).sum(0), n + len(real)
    mean = total / max(n, 1)
    var = (squares / max(n, 1) - mean * mean).clamp(min=0.0) * (n / max(n - 1, 1))
    return mean.float(), var.sqrt().float()


def outputs(model: HeadModel, src: _Source, batch_size: int) -> list[torch.Tensor]:
    """The head's outputs for every item of `src`, in order, each cut to its real units: (units, outputs)."""
    model.eval()
    out: list[torch.Tensor | None] = [None] * len(src)
    order = sorted(range(len(src)), key=src.length)
    device = next(model.head.parameters()).device
    with torch.inference_mode():
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            x, lengths = src.batch(idx)
            y = model(x.to(device), lengths.to(device)).float().cpu()
            for b, i in enumerate(idx):
                out[i] = y[b, : int(lengths[b])]
    return [o for o in out if o is not None]
