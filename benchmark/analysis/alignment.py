"""Cross-lingual alignment by word retrieval (arXiv 2010.10938): Mean Reciprocal Rank per layer.

Each dictionary word gets one vector per layer: its contextual vectors averaged over a corpus in its language
(benchmark.analysis.wordvec.word_means). For every source word, all target-language candidate words are ranked by
cosine similarity; the reciprocal rank of its best-ranked translation, averaged over source words, is the MRR
(1 = every translation ranked first). Reported raw, as in the paper, and after subtracting each language's mean
vector ("centred"): the difference between the two measures how much of the gap between languages is one
shared offset, the language vector that `bench analyze language-shift` adds.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import comb

import torch


def reciprocal_ranks(src: torch.Tensor, tgt: torch.Tensor, gold: Sequence[set[int]]) -> torch.Tensor:
    """src (n_src, dim), tgt (n_tgt, dim), gold[i] = indices of i's translations -> (n_src,) 1 / best rank."""
    sim = torch.nn.functional.normalize(src.double(), dim=-1) @ torch.nn.functional.normalize(tgt.double(), dim=-1).T
    out = torch.empty(len(gold), dtype=torch.float64)
    for i, golds in enumerate(gold):
        best = sim[i, sorted(golds)].max()
        out[i] = 1.0 / (1 + int((sim[i] > best).sum()))  # ties count in the word's favour
    return out


def mrr_per_layer(src: torch.Tensor, tgt: torch.Tensor, gold: Sequence[set[int]], *, centre: bool = False
                  ) -> list[float]:
    """src (n_src, L+1, dim), tgt (n_tgt, L+1, dim) -> the MRR at each layer."""
    out = []
    for layer in range(src.shape[1]):
        s, t = src[:, layer].double(), tgt[:, layer].double()
        if centre:
            s, t = s - s.mean(0), t - t.mean(0)
        out.append(round(float(reciprocal_ranks(s, t, gold).mean()), 4))
    return out


def chance_mrr(n_candidates: int, gold: Sequence[set[int]]) -> float:
    """The expected MRR of a random ranking: for g translations among N candidates the best one is at rank r
    with probability C(N - r, g - 1) / C(N, g)."""
    total = 0.0
    for golds in gold:
        g = len(golds)
        total += sum(comb(n_candidates - r, g - 1) / r for r in range(1, n_candidates - g + 2)) / comb(n_candidates, g)
    return round(total / len(gold), 5)


def dictionary_pairs(dictionary: dict[str, frozenset[str]], src_counts: dict[str, int], tgt_counts: dict[str, int],
                     *, min_count: int, max_words: int | None, seed: int, keep_identical: bool = False
                     ) -> tuple[list[str], list[str], list[set[int]], dict[str, int]]:
    """(source words, target candidates, gold translation indices, counts of what was kept and dropped).

    A source word is kept when it occurs at least `min_count` times in its corpus and at least one of its
    translations does in the other. Words spelled the same in both languages are dropped unless asked for:
    their shared tokens would retrieve them without any alignment. At most `max_words` source words, drawn
    with `seed`; the candidates are all present translations of the kept words."""
    import random

    stats = {"dictionary": len(dictionary), "identical_dropped": 0}
    pairs: dict[str, set[str]] = {}
    for word, translations in dictionary.items():
        if src_counts.get(word, 0) < min_count:
            continue
        present = {t for t in translations if tgt_counts.get(t, 0) >= min_count}
        if not keep_identical and word in present:
            stats["identical_dropped"] += 1
            continue
        if present:
            pairs[word] = present
    words = sorted(pairs)
    stats["eligible"] = len(words)
    if max_words is not None and len(words) > max_words:
        words = sorted(random.Random(seed).sample(words, max_words))
    candidates = sorted({t for w in words for t in pairs[w]})
    at = {t: i for i, t in enumerate(candidates)}
    gold = [{at[t] for t in pairs[w]} for w in words]
    stats.update(source_words=len(words), candidates=len(candidates))
    return words, candidates, gold, stats
