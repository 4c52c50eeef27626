"""Metrics of the token-level heads: tagging (a label per word) and extractive QA (an answer string per question).

Tagging: `token_accuracy` over every word, and span precision / recall / F1 from `seqeval` (CoNLL-2003's
conlleval rules: an entity counts when its type and both boundaries match). Targets and predictions are
sequences of label names, one per word.

QA: targets are `{"answers": [text, ...], "starts": [char, ...]}` (every gold answer of the question),
predictions the answer strings. `squad_em` / `squad_f1` follow the official SQuAD v1.1 evaluation script
(Rajpurkar et al. 2016, `evaluate-v1.1.py`): lower-case, drop ASCII punctuation, drop the articles a / an / the,
collapse whitespace; F1 over the bag of remaining words; each question scores its best gold answer; the mean
over questions, in percent. `cmrc_em` / `cmrc_f1` follow the CMRC 2018 evaluation script (Cui et al. 2019), by
which DRCD is scored in the Chinese BERT literature: Chinese characters (and the listed punctuation) are
segments of their own, other runs are split into words; F1 from the longest common run of segments; EM after
removing that punctuation. The script tokenises non-Chinese runs with NLTK's word_tokenize; here a regex split
into words and single punctuation marks stands in (the same segments for the letters, digits and punctuation
that the tests exercise; NLTK's contractions rule, "don't" -> "do n't", is not reproduced).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any


def _tags(seqs: Sequence[Sequence[Any]]) -> list[list[str]]:
    return [[str(t) for t in seq] for seq in seqs]


def token_accuracy(y_true: Sequence[Sequence[Any]], y_pred: Sequence[Sequence[Any]]) -> float:
    """Share of words whose predicted tag equals the gold tag, over the whole split, in percent."""
    right = total = 0
    for t, p in zip(y_true, y_pred, strict=True):
        if len(t) != len(p):
            raise ValueError(f"a prediction has {len(p)} tags for {len(t)} words")
        right += sum(a == b for a, b in zip(t, p, strict=True))
        total += len(t)
    return 100.0 * right / max(total, 1)


def _seqeval(fn_name: str) -> Callable[[Any, Any], float]:
    def metric(y_true: Sequence[Sequence[Any]], y_pred: Sequence[Sequence[Any]]) -> float:
        from seqeval import metrics

        return 100.0 * float(getattr(metrics, fn_name)(_tags(y_true), _tags(y_pred), zero_division=0))
    metric.__name__ = f"span_{fn_name.removesuffix('_score')}"
    metric.__doc__ = f"Entity-level micro {fn_name.removesuffix('_score')} (seqeval, conlleval rules), in percent."
    return metric


span_f1 = _seqeval("f1_score")
span_precision = _seqeval("precision_score")
span_recall = _seqeval("recall_score")


# --- SQuAD v1.1 ---------------------------------------------------------------------------------------------

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def squad_normalize(text: str) -> str:
    """The official v1.1 normalisation: lower-case, remove punctuation, remove articles, fix whitespace (in that
    order, as the script applies them)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def squad_exact(prediction: str, gold: str) -> float:
    return float(squad_normalize(prediction) == squad_normalize(gold))


def squad_word_f1(prediction: str, gold: str) -> float:
    pred, ref = squad_normalize(prediction).split(), squad_normalize(gold).split()
    same = sum((Counter(pred) & Counter(ref)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def gold_answers(target: Any) -> list[str]:
    """A QA target's gold answer texts: {"answers": [...]} or a plain list of strings."""
    answers = target.get("answers") if isinstance(target, dict) else target
    if isinstance(answers, str):
        return [answers]
    return [str(a) for a in answers]


def _best_over_gold(score: Callable[[str, str], float]) -> Callable[[Any, Any], float]:
    def metric(y_true: Sequence[Any], y_pred: Sequence[str]) -> float:
        per = [max(score(str(p), g) for g in gold_answers(t)) for t, p in zip(y_true, y_pred, strict=True)]
        return 100.0 * sum(per) / max(len(per), 1)
    return metric


squad_em = _best_over_gold(squad_exact)
squad_f1 = _best_over_gold(squad_word_f1)


# --- CMRC 2018 / DRCD ---------------------------------------------------------------------------------------

CMRC_PUNCTUATION = frozenset(["-", ":", "_", "*", "^", "/", "\\", "~", "`", "+", "=", "，", "。", "：", "？", "！",
                              "“", "”", "；", "’", "《", "》", "……", "·", "、", "「", "」", "（", "）", "－", "～",
                              "『", "』"])
_CJK = re.compile(r"[\u4e00-\u9fa5]")
_WORDS = re.compile(r"\w+|[^\w\s]")


def mixed_segmentation(text: str, remove_punctuation: bool = False) -> list[str]:
    """Chinese characters and the CMRC punctuation as single segments, other runs split into words."""
    out: list[str] = []
    run = ""
    for ch in str(text).lower().strip():
        if remove_punctuation and ch in CMRC_PUNCTUATION:
            continue
        if _CJK.match(ch) or ch in CMRC_PUNCTUATION:
            out.extend(_WORDS.findall(run))
            run = ""
            out.append(ch)
        else:
            run += ch
    out.extend(_WORDS.findall(run))
    return out


def _cmrc_strip(text: str) -> str:
    return "".join(ch for ch in str(text).lower().strip() if ch not in CMRC_PUNCTUATION)


def _longest_common_run(a: Sequence[str], b: Sequence[str]) -> int:
    best, prev = 0, [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b):
            if x == y:
                cur[j + 1] = prev[j] + 1
                best = max(best, cur[j + 1])
        prev = cur
    return best


def cmrc_exact(prediction: str, gold: str) -> float:
    return float(_cmrc_strip(prediction) == _cmrc_strip(gold))


def cmrc_segment_f1(prediction: str, gold: str) -> float:
    pred, ref = mixed_segmentation(prediction, True), mixed_segmentation(gold, True)
    same = _longest_common_run(ref, pred)
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


cmrc_em = _best_over_gold(cmrc_exact)
cmrc_f1 = _best_over_gold(cmrc_segment_f1)

TAG_METRICS = {"token_accuracy": token_accuracy, "span_f1": span_f1, "span_precision": span_precision,
               "span_recall": span_recall}
SPAN_METRICS = {"squad_em": squad_em, "squad_f1": squad_f1, "cmrc_em": cmrc_em, "cmrc_f1": cmrc_f1}


# --- Batched forms: (replicates, examples) object arrays -> (replicates,) scores, equal to the calls above -----
# Bootstrap CIs and permutation tests resample examples thousands of times; each distinct (gold, prediction) pair
# is scored once and resamples sum its counts.


def _codes(a: Any) -> Any:
    """Per element of an array, an integer code that is equal for equal elements: the value for plain arrays; the
    object itself for object arrays (resampling copies references, so each example's answer or tag list is one
    object however often it is drawn: no element is hashed or compared)."""
    import numpy as np

    flat = a.reshape(-1)
    if flat.dtype == object:  # the array keeps its objects alive, so their ids cannot be reused meanwhile
        flat = np.fromiter(map(id, flat), dtype=np.int64, count=flat.size)
    return np.unique(flat, return_inverse=True)[1].reshape(-1)


def _counts(per_pair: Callable[[Any, Any], tuple[float, ...]]) -> Callable[[Any, Any], Any]:
    """Per example, the additive counts a corpus score is made of, computed once per distinct (gold, prediction)
    pair of the draws (with vectorised bookkeeping: a thousand resamples of a few hundred examples are hundreds of
    thousands of pairs, and a Python loop over them made a report with eight QA rows take minutes)."""
    def table(t: Any, p: Any) -> Any:
        import numpy as np

        ct, cp = _codes(t), _codes(p)
        _, first, inverse = np.unique(ct * (int(cp.max(initial=0)) + 1) + cp, return_index=True,
                                          return_inverse=True)
        flat_t, flat_p = t.reshape(-1), p.reshape(-1)
        rows = np.asarray([per_pair(flat_t[i], flat_p[i]) for i in first.tolist()], dtype=float)
        return rows[inverse.reshape(-1)].reshape(*t.shape, -1)  # (replicates, examples, counts)
    return table


def _accuracy_counts(gold: Any, pred: Any) -> tuple[float, ...]:
    return float(sum(a == b for a, b in zip(gold, pred, strict=True))), float(len(gold))


def _entity_counts(gold: Any, pred: Any) -> tuple[float, ...]:
    from seqeval.metrics.sequence_labeling import get_entities

    g, p = set(get_entities(_tags([gold])[0])), set(get_entities(_tags([pred])[0]))
    return float(len(g & p)), float(len(p)), float(len(g))


def _batched_accuracy(t: Any, p: Any) -> Any:
    c = _counts(_accuracy_counts)(t, p).sum(1)
    return 100.0 * c[:, 0] / c[:, 1].clip(min=1)


def _batched_entities(which: str) -> Callable[[Any, Any], Any]:
    def batched(t: Any, p: Any) -> Any:
        import numpy as np

        c = _counts(_entity_counts)(t, p).sum(1)
        tp, n_pred, n_gold = c[:, 0], c[:, 1], c[:, 2]
        if which == "precision":
            return 100.0 * np.where(n_pred > 0, tp / n_pred.clip(min=1), 0.0)
        if which == "recall":
            return 100.0 * np.where(n_gold > 0, tp / n_gold.clip(min=1), 0.0)
        return 100.0 * np.where(n_pred + n_gold > 0, 2 * tp / (n_pred + n_gold).clip(min=1), 0.0)
    return batched


def _batched_mean(score: Callable[[str, str], float]) -> Callable[[Any, Any], Any]:
    def batched(t: Any, p: Any) -> Any:
        per = _counts(lambda gold, pred: (max(score(str(pred), g) for g in gold_answers(gold)),))(t, p)
        return 100.0 * per[..., 0].mean(1)
    return batched


token_accuracy.batched = _batched_accuracy  # type: ignore[attr-defined]
span_f1.batched = _batched_entities("f1")  # type: ignore[attr-defined]
span_precision.batched = _batched_entities("precision")  # type: ignore[attr-defined]
span_recall.batched = _batched_entities("recall")  # type: ignore[attr-defined]
squad_em.batched = _batched_mean(squad_exact)  # type: ignore[attr-defined]
squad_f1.batched = _batched_mean(squad_word_f1)  # type: ignore[attr-defined]
cmrc_em.batched = _batched_mean(cmrc_exact)  # type: ignore[attr-defined]
cmrc_f1.batched = _batched_mean(cmrc_segment_f1)  # type: ignore[attr-defined]
