"""SUPERB's slot-filling metrics (SF, Audio SNIPS), as s3prl computes them (s3prl/metric/slot_filling.py, the same
code as the SUPERB-era s3prl/downstream/ctc/metric.py), in percent.

A transcript carries its slots inline: "WAKE ME UP AT B-timeRange SEVEN AM E-timeRange". A slot is a
`B-<type> <value> E-<type>` span (the shortest one, the type repeated in the closing tag); runs of spaces count
as one. A hypothesis slot's value loses any B-/E- markers nested inside it.

- slot_type_f1: per utterance, precision and recall of the *set* of slot types (a type that occurs twice counts
  once: s3prl keys a dict by type), F1 of the two; 100 when neither side has a slot, 0 when exactly one side has
  none; the mean over utterances.
- slot_value_cer: for every reference slot, the hypothesis value of the same type with the lowest CER against
  it (the first one on ties), or the empty string when the hypothesis has no slot of that type; then the corpus
  CER over those pairs (edit distance summed, divided by the reference values' characters summed). Hypothesis
  slots of a type the reference lacks cost nothing here (they lower slot_type_f1).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

_SLOT = re.compile(r"B\-(\S+) (.+?) E\-\1")


def edit_distance(a: Sequence[Any], b: Sequence[Any]) -> int:
    """Levenshtein distance (unit costs), as the `editdistance` package s3prl uses."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        cur = [i]
        for j, y in enumerate(b, start=1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def _clean(text: str) -> str:
    """Drop slot markers (s3prl's `clean`): "B-x " and " E-x"."""
    return re.sub(r" E\-(\S+)", "", re.sub(r"B\-(\S+) ", "", text))


def slots(text: str, hypothesis: bool = False) -> dict[str, list[str]]:
    """slot type -> its values in order of appearance."""
    out: dict[str, list[str]] = {}
    for kind, value in _SLOT.findall(re.sub(r" +", " ", str(text))):
        out.setdefault(kind, []).append(_clean(value) if hypothesis else value)
    return out


def _cer(hyps: Sequence[str], refs: Sequence[str]) -> float:
    """Corpus CER as a fraction (s3prl's `cer`); 0 when the references have no characters."""
    total = sum(len(r) for r in refs)
    return sum(edit_distance(h, r) for h, r in zip(hyps, refs, strict=True)) / total if total else 0.0


def utterance_f1(ref: dict[str, list[str]], hyp: dict[str, list[str]]) -> float:
    if not ref and not hyp:
        return 1.0
    if not ref or not hyp:
        return 0.0
    recall = sum(k in hyp for k in ref) / len(ref)
    precision = sum(k in ref for k in hyp) / len(hyp)
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def slot_type_f1(y_true: Any, y_pred: Any) -> float:
    """Slot-type F1 (SUPERB SF), in percent: the mean over utterances of the F1 of their slot-type sets."""
    pairs = list(zip(list(y_true), list(y_pred), strict=True))
    if not pairs:
        return 0.0
    return 100.0 * sum(utterance_f1(slots(t), slots(p, hypothesis=True)) for t, p in pairs) / len(pairs)


def value_pairs(y_true: Any, y_pred: Any) -> tuple[list[str], list[str]]:
    """(hypothesis values, reference values): each reference slot with its best same-type hypothesis value."""
    hyps, refs = [], []
    for t, p in zip(list(y_true), list(y_pred), strict=True):
        ref, hyp = slots(t), slots(p, hypothesis=True)
        for kind, values in ref.items():
            for value in values:
                best, best_cer = "", 100.0  # s3prl's starting point; a CER is a fraction, so the first candidate wins
                for candidate in hyp.get(kind, []):
                    c = _cer([candidate], [value])
                    if best_cer > c:
                        best, best_cer = candidate, c
                hyps.append(best)
                refs.append(value)
    return hyps, refs


def slot_value_cer(y_true: Any, y_pred: Any) -> float:
    """Slot-value CER (SUPERB SF), in percent: corpus CER of reference slot values against the best hypothesis
    value of the same type (empty when the type is missing)."""
    hyps, refs = value_pairs(y_true, y_pred)
    return 100.0 * _cer(hyps, refs)


def majority_tagger(train_targets: Sequence[str]) -> str:
    """The chance baseline's one prediction for every utterance: the most frequent slot-type set of the training
    targets (the first on ties), each type with its most frequent training value."""
    from collections import Counter

    parsed = [slots(t) for t in train_targets]
    sets = Counter(tuple(sorted(p)) for p in parsed)
    if not sets:
        return ""
    best = sets.most_common(1)[0][0]
    values = {k: Counter(v for p in parsed for v in p.get(k, [])).most_common(1)[0][0] for k in best}
    return " ".join(f"B-{k} {values[k]} E-{k}" for k in best)
