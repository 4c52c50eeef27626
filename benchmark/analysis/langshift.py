"""Language vectors and unsupervised token-level translation (arXiv 2010.10041).

If a multilingual encoder's representations were language-independent, its masked-LM head could not reproduce
the input language; it does, so there is language information, and part of it is a shared offset. The mean
hidden state of all tokens of language A and of language B differ by a vector; adding α × (mean(B) − mean(A))
to every token of an A sentence at a layer and decoding through the masked-LM head turns A tokens into B tokens
as α grows. Measured per α on sentences of A: how many tokens decode to themselves (`kept`), how many decode to a
token more frequent in B's text than in A's (`in_target`), and, for the words of A that are one token and have
a one-token translation spelled differently in the bilingual dictionary, how many decode to a translation
(`dictionary_accuracy`).

The upstream needs `decode_shifted(texts, shift, layer) -> (ids, predicted, mask, offsets)` and a `tokenizer`
(upstreams.hf_text.HFTextUpstream has them when its checkpoint kept its masked-LM head).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import torch

from benchmark.analysis.wordvec import WORD
from benchmark.errors import BenchError


@torch.inference_mode()
def language_mean(upstream: Any, sentences: Sequence[str], layer: int, *, batch_size: int = 32) -> torch.Tensor:
    """(dim,) the mean hidden state at `layer` over every real token (special and padding tokens excluded)."""
    total, count = None, 0
    for b in range(0, len(sentences), batch_size):
        hidden = upstream(list(sentences[b:b + batch_size]))
        real = hidden.mask if hidden.offsets is None else hidden.mask & (hidden.offsets[..., 0] >= 0).to(hidden.mask.device)
        h = hidden.layers[layer].float()[real]  # (tokens, dim)
        total = h.sum(0) if total is None else total + h.sum(0)
        count += h.shape[0]
    if total is None or count == 0:
        raise BenchError("no tokens to average for the language vector (empty corpus?)")
    return (total / count).cpu()


def token_counts(tokenizer: Any, sentences: Sequence[str]) -> Counter[int]:
    ids = tokenizer(list(sentences), add_special_tokens=False)["input_ids"]
    return Counter(i for row in ids for i in row)


def _clean(token: str) -> str:
    """A vocabulary entry without its word-piece markers (## of WordPiece, Ġ of byte-level BPE, ▁ of SentencePiece)."""
    return token.removeprefix("##").lstrip("Ġ▁").lower()


def analyse(upstream: Any, source: Sequence[str], target: Sequence[str], evaluate: Sequence[str],
            dictionary: dict[str, frozenset[str]], alphas: Sequence[float], *, layer: int | None = None,
            batch_size: int = 32, examples: int = 4, means: tuple[torch.Tensor, torch.Tensor] | None = None
            ) -> dict[str, Any]:
    """The α sweep on `evaluate` (sentences of the source language), with the language means taken over
    `source` and `target` (or given as `means`, when a caller reuses them across pairs) and the token language
    decided by their token frequencies."""
    if not hasattr(upstream, "decode_shifted"):
        raise BenchError(f"upstream '{getattr(upstream, 'name', '?')}' cannot decode through a masked-LM head "
                         "(language shift needs a BERT-style text model with its MLM head)")
    tok = upstream.tokenizer
    at = upstream.num_layers if layer is None else layer
    src_mean, tgt_mean = means or (language_mean(upstream, source, at, batch_size=batch_size),
                                   language_mean(upstream, target, at, batch_size=batch_size))
    shift = tgt_mean - src_mean
    src_counts, tgt_counts = token_counts(tok, source), token_counts(tok, target)
    n_src, n_tgt = max(1, sum(src_counts.values())), max(1, sum(tgt_counts.values()))
    special = set(tok.all_special_ids)

    def in_target(i: int) -> bool:
        return tgt_counts[i] / n_tgt > src_counts[i] / n_src

    vocab_words = {_clean(t) for t, i in tok.get_vocab().items() if i not in special and not t.startswith("##")}
    rows = []
    for alpha in alphas:
        kept = moved = total = hits = eligible = 0
        shown: list[dict[str, str]] = []
        for b in range(0, len(evaluate), batch_size):
            texts = list(evaluate[b:b + batch_size])
            ids, pred, mask, offsets = upstream.decode_shifted(texts, shift * alpha if alpha else None, layer)
            for r, text in enumerate(texts):
                words = {(m.start(), m.end()): m.group().lower() for m in WORD.finditer(text)}
                for t in torch.nonzero(mask[r]).flatten().tolist():
                    src_id, out_id = int(ids[r, t]), int(pred[r, t])
                    total += 1
                    kept += src_id == out_id
                    moved += out_id not in special and in_target(out_id)
                    span = (int(offsets[r, t, 0]), int(offsets[r, t, 1]))
                    word = words.get(span)  # the token is a whole word
                    # A translation spelled like the word itself would count the unshifted token as a hit.
                    options = (dictionary.get(word, frozenset()) - {word}) & vocab_words if word else frozenset()
                    if options:
                        eligible += 1
                        hits += _clean(tok.convert_ids_to_tokens(out_id)) in options
                if len(shown) < examples and b + r < examples:
                    shown.append({"input": text, "output": tok.decode(pred[r][mask[r]].tolist())})
        rows.append({"alpha": alpha, "kept": round(kept / max(1, total), 4), "in_target": round(moved / max(1, total), 4),
                     "dictionary_accuracy": None if not eligible else round(hits / eligible, 4),
                     "dictionary_tokens": eligible, "tokens": total, "examples": shown})
    return {"layer": at, "shift_norm": round(float(shift.norm()), 4), "alphas": rows,
            "baseline_in_target": round(sum(1 for i in src_counts.elements() if in_target(i)) / n_src, 4)}
