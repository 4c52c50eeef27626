"""`hashbow`: a tiny, deterministic text encoder built from hashed character trigrams.

Each whitespace-separated word becomes the bag of its lower-cased character trigrams (with `<` and `>` marking
the word's ends), each trigram hashed with CRC-32 into one of `n_buckets` buckets. Layer 0 is the mean of the
buckets' embedding vectors (a fixed random projection of the bag), and two fixed random linear + tanh layers
follow, so `forward` returns 3 layers. Nothing is trained and nothing is downloaded: the weights are drawn
from a seeded generator, so every process builds the same model. CRC-32 (not Python's `hash()`, which is
salted per process) keeps the buckets stable across processes and machines.

This module imports torch; the plugin module imports it only when a job builds the upstream.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Literal

import torch
from torch import nn

from bench_example_plugin import DEFAULT_DIM
from benchmark.types import HiddenStates

ALGORITHM = "hashbow-v1"  # bump when tokenisation, hashing or the weight draw changes
DEFAULT_BUCKETS = 2**12
DEFAULT_SEED = 2014
NUM_LAYERS = 2
MAX_TOKENS = 512
_WORD = re.compile(r"\S+")


@lru_cache(maxsize=1 << 16)
def word_buckets(word: str, n_buckets: int) -> tuple[int, ...]:
    """The trigram buckets of one word: CRC-32 of each trigram of '<word>' (lower-cased), mod n_buckets."""
    padded = f"<{word.lower()}>"
    return tuple(zlib.crc32(padded[i : i + 3].encode("utf-8")) % n_buckets for i in range(len(padded) - 2))


def derive_seed(*parts: Any) -> int:
    """A 63-bit seed from any labels, the same in every process (sha1, never the salted hash())."""
    digest = hashlib.sha1(":".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def tokenize(text: str) -> list[tuple[str, int, int]]:
    """Whitespace words with their character spans: [(word, start, end), ...]."""
    return [(m.group(), m.start(), m.end()) for m in _WORD.finditer(text)]


def _truncate_pair(a: list[Any], b: list[Any], limit: int) -> tuple[list[Any], list[Any]]:
    """Drop words from the end of the longer string until the pair fits (the `longest_first` rule)."""
    a, b = list(a), list(b)
    while len(a) + len(b) > limit:
        (a if len(a) >= len(b) else b).pop()
    return a, b


class HashBow(nn.Module):
    """Hashed character-trigram bag of words + 2 fixed random tanh layers. Satisfies `benchmark.types.Upstream`."""

    modality = "text"
    sample_rate = None
    num_layers = NUM_LAYERS

    def __init__(self, *, name: str = "hashbow", dim: int = DEFAULT_DIM, n_buckets: int = DEFAULT_BUCKETS,
                 seed: int = DEFAULT_SEED) -> None:
        super().__init__()
        if dim < 1 or n_buckets < 1:
            raise ValueError(f"dim and n_buckets must be positive, got {dim} and {n_buckets}")
        self.name = name
        self.hidden_size = dim
        self.n_buckets = n_buckets
        self.seed = seed
        self.source = f"{ALGORITHM} (bench-example-plugin)"
        self.embedding = nn.EmbeddingBag(n_buckets, dim, mode="mean")
        self.layers = nn.ModuleList(nn.Linear(dim, dim) for _ in range(NUM_LAYERS))
        self.n_parameters = sum(p.numel() for p in self.parameters())
        self._variant = ""
        self._draw_embeddings(derive_seed(ALGORITHM, seed, "embeddings"))
        self._draw_layers(derive_seed(ALGORITHM, seed, "layers"))

    # -- weights ---------------------------------------------------------------------------------------
    @torch.no_grad()
    def _draw_embeddings(self, seed: int) -> None:
        gen = torch.Generator().manual_seed(seed)
        w = torch.randn(self.n_buckets, self.hidden_size, generator=gen)
        self.embedding.weight.copy_(w)

    @torch.no_grad()
    def _draw_layers(self, seed: int) -> None:
        gen = torch.Generator().manual_seed(seed)
        for layer in self.layers:
            # N(0, 1/dim) keeps the pre-activations O(1), so tanh neither saturates nor stays linear.
            w = torch.randn(self.hidden_size, self.hidden_size, generator=gen) / self.hidden_size**0.5
            b = 0.1 * torch.randn(self.hidden_size, generator=gen)
            layer.weight.copy_(w)
            layer.bias.copy_(b)

    def reinitialize(self, scope: Literal["all", "embeddings"], seed: int) -> None:
        """'all': redraw every weight (`hashbow+rand`); 'embeddings': redraw the trigram projection (`+re-emb`)."""
        if scope == "all":
            self._draw_embeddings(derive_seed(ALGORITHM, "rand", seed, "embeddings"))
            self._draw_layers(derive_seed(ALGORITHM, "rand", seed, "layers"))
        elif scope == "embeddings":
            self._draw_embeddings(derive_seed(ALGORITHM, "re-emb", seed, "embeddings"))
        else:
            raise ValueError(f"unknown reinitialize scope {scope!r} (use 'all' or 'embeddings')")
        self._variant += f"+{scope}@{seed}"

    @property
    def fingerprint(self) -> str:
        """Changes with the algorithm version, the configuration and every reinitialisation."""
        return f"{ALGORITHM}:dim={self.hidden_size}:buckets={self.n_buckets}:seed={self.seed}{self._variant}"

    @property
    def device(self) -> torch.device:
        return self.embedding.weight.device

    # -- forward ---------------------------------------------------------------------------------------
    def _tokens(self, item: Any) -> list[tuple[str, int, int, int]]:
        """(word, start, end, segment) for one input: a string, or a pair whose second string is segment 1."""
        if isinstance(item, tuple | list):
            if len(item) != 2:
                raise ValueError(f"a text pair must have 2 strings, got {len(item)}")
            a, b = _truncate_pair(tokenize(str(item[0])), tokenize(str(item[1])), MAX_TOKENS)
            return [(w, s, e, 0) for w, s, e in a] + [(w, s, e, 1) for w, s, e in b]
        if not isinstance(item, str):
            raise TypeError(f"hashbow reads str or (str, str) inputs, got {type(item).__name__}")
        return [(w, s, e, 0) for w, s, e in tokenize(item)[:MAX_TOKENS]]

    def forward(self, inputs: Sequence[str | tuple[str, str]]) -> HiddenStates:
        if len(inputs) == 0:
            raise ValueError("empty batch")
        rows = [self._tokens(x) for x in inputs]
        batch, time = len(rows), max(1, max(len(r) for r in rows))
        mask = torch.zeros(batch, time, dtype=torch.bool)
        offsets = torch.full((batch, time, 2), -1, dtype=torch.long)
        segments = torch.full((batch, time), -1, dtype=torch.long)
        ids: list[int] = []
        starts: list[int] = []
        for i, row in enumerate(rows):
            for t, (word, start, end, seg) in enumerate(row):
                starts.append(len(ids))
                ids.extend(word_buckets(word, self.n_buckets))
                mask[i, t] = True
                offsets[i, t, 0], offsets[i, t, 1] = start, end
                segments[i, t] = seg
        device = self.device
        mask = mask.to(device)
        h = torch.zeros(batch, time, self.hidden_size, dtype=self.embedding.weight.dtype, device=device)
        if ids:
            words = self.embedding(torch.tensor(ids, dtype=torch.long, device=device),
                                   torch.tensor(starts, dtype=torch.long, device=device))  # (n_words, dim)
            h = h.masked_scatter(mask.unsqueeze(-1), words)  # row-major, the order the words were listed in
        keep = mask.unsqueeze(-1).to(h.dtype)
        layers = [h]
        for layer in self.layers:
            h = torch.tanh(layer(h)) * keep  # padding stays exactly zero
            layers.append(h)
        return HiddenStates(layers=tuple(layers), mask=mask, offsets=offsets.to(device), segments=segments.to(device))
