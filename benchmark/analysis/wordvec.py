"""Contextual vectors of words in sentences, from any text upstream, every layer at once.

A word occurrence is a character span of a sentence; its vector at a layer is the mean of the hidden states of
the tokens whose character spans (the upstream's `offsets`) overlap it. The analyses build on this:
contextual similarity (one vector per occurrence) and cross-lingual alignment (the mean over a word's
occurrences in a corpus).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from benchmark.errors import BenchError

WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")


@dataclass(frozen=True)
class Occurrence:
    sentence: int
    start: int
    end: int
    word: str


def find(sentences: Sequence[str], words: set[str] | None = None, *, lower: bool = True) -> dict[str, list[Occurrence]]:
    """Whole-word occurrences in `sentences` (of `words` only, when given), keyed by the word (lower-cased)."""
    out: dict[str, list[Occurrence]] = {}
    for i, text in enumerate(sentences):
        for m in WORD.finditer(text):
            key = m.group().lower() if lower else m.group()
            if words is None or key in words:
                out.setdefault(key, []).append(Occurrence(i, m.start(), m.end(), key))
    return out


def sample(found: dict[str, list[Occurrence]], per_word: int, seed: int) -> dict[str, list[Occurrence]]:
    """At most `per_word` occurrences of each word, drawn reproducibly (one draw per word, sorted word order)."""
    rng = random.Random(seed)
    return {w: (occ if len(occ) <= per_word else rng.sample(occ, per_word)) for w, occ in sorted(found.items())}


@torch.inference_mode()
def span_vectors(upstream: torch.nn.Module, sentences: Sequence[str], spans: Sequence[Occurrence], *,
                 batch_size: int = 32, strict: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """((n_spans, L+1, dim) float32, (n_spans,) bool): each span's mean token vector at every layer, and which
    spans were seen. Sentences are run once each, longest first in batches. A span whose tokens were all cut off
    (past the upstream's maximum length) is an error naming the sentence if `strict`, else left unseen."""
    by_sentence: dict[int, list[int]] = {}
    for k, occ in enumerate(spans):
        by_sentence.setdefault(occ.sentence, []).append(k)
    order = sorted(by_sentence, key=lambda i: -len(sentences[i]))
    out: torch.Tensor | None = None
    seen = torch.zeros(len(spans), dtype=torch.bool)
    for b in range(0, len(order), batch_size):
        chunk = order[b:b + batch_size]
        hidden = upstream([sentences[i] for i in chunk])
        if hidden.offsets is None:
            raise BenchError(f"upstream '{getattr(upstream, 'name', '?')}' gives no token offsets; word vectors "
                             "need them (text upstreams built on a fast tokenizer have them)")
        layers = torch.stack([h.float() for h in hidden.layers], 1)  # (batch, L+1, time, dim)
        if out is None:
            out = torch.zeros(len(spans), layers.shape[1], layers.shape[-1])
        starts, ends = hidden.offsets[..., 0].cpu(), hidden.offsets[..., 1].cpu()  # (batch, time)
        for row, i in enumerate(chunk):
            for k in by_sentence[i]:
                occ = spans[k]
                inside = (starts[row] < occ.end) & (ends[row] > occ.start) & (ends[row] > starts[row])  # (time,)
                if not bool(inside.any()):
                    if not strict:
                        continue
                    raise BenchError(f"the word '{occ.word}' at characters {occ.start}-{occ.end} of sentence "
                                     f"{i} was cut off by the upstream's maximum length; shorten that sentence")
                out[k] = layers[row][:, inside.to(layers.device)].mean(1).cpu()  # (L+1, dim)
                seen[k] = True
    if out is None:
        raise BenchError("no word occurrences to embed")
    return out, seen


def word_means(upstream: torch.nn.Module, sentences: Sequence[str], chosen: dict[str, list[Occurrence]], *,
               batch_size: int = 32) -> tuple[list[str], torch.Tensor]:
    """(words, (n_words, L+1, dim)): each word's vector averaged over its chosen occurrences (those the upstream's
    maximum length cut off are left out; a word with none left is dropped)."""
    words = sorted(w for w, occ in chosen.items() if occ)
    flat = [o for w in words for o in chosen[w]]
    vectors, seen = span_vectors(upstream, sentences, flat, batch_size=batch_size, strict=False)
    kept, means, at = [], [], 0
    for w in words:
        n = len(chosen[w])
        if bool(seen[at:at + n].any()):
            kept.append(w)
            means.append(vectors[at:at + n][seen[at:at + n]].mean(0))
        at += n
    return kept, torch.stack(means)
