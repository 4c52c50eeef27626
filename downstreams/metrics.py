"""Builtin metrics, computed by scikit-learn, SciPy and jiwer and reported in percent points (GLUE convention).

Error rates (WER, CER, PER) are corpus-level, as SUPERB and jiwer compute them: the edit operations summed over
all utterances divided by the number of reference words (characters, phonemes); lower is better.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmark.hookspecs import hookimpl


def accuracy(y_true: Any, y_pred: Any) -> float:
    from sklearn.metrics import accuracy_score

    return 100.0 * float(accuracy_score(y_true, y_pred))


def f1(y_true: Any, y_pred: Any) -> float:
    """F1 of the positive class (label index 1), as GLUE scores MRPC and QQP."""
    from sklearn.metrics import f1_score

    return 100.0 * float(f1_score(y_true, y_pred, pos_label=1, average="binary", zero_division=0.0))


def macro_f1(y_true: Any, y_pred: Any) -> float:
    from sklearn.metrics import f1_score

    return 100.0 * float(f1_score(y_true, y_pred, average="macro", zero_division=0.0))


def matthews(y_true: Any, y_pred: Any) -> float:
    from sklearn.metrics import matthews_corrcoef

    return 100.0 * float(matthews_corrcoef(y_true, y_pred))


def _constant(x: np.ndarray) -> bool:
    return bool(np.all(x == x[0]))


def pearson(y_true: Any, y_pred: Any) -> float:
    from scipy.stats import pearsonr

    t, p = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    # A constant prediction has no correlation; SciPy warns and returns nan, we score it 0.
    return 0.0 if _constant(t) or _constant(p) else 100.0 * float(pearsonr(t, p).statistic)


def spearman(y_true: Any, y_pred: Any) -> float:
    from scipy.stats import spearmanr

    t, p = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    return 0.0 if _constant(t) or _constant(p) else 100.0 * float(spearmanr(t, p).statistic)


# Batched versions: (replicates, examples) arrays -> (replicates,) scores, identical to the functions above.
# Bootstrap CIs and permutation tests call a metric thousands of times; these make a report take seconds.


def _batched_accuracy(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    return 100.0 * (t == p).mean(1)


def _batched_f1(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    tp = ((p == 1) & (t == 1)).sum(1)
    denom = 2 * tp + ((p == 1) & (t != 1)).sum(1) + ((p != 1) & (t == 1)).sum(1)
    return 100.0 * np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)


def _batched_matthews(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    n = t.shape[1]
    classes = np.union1d(np.unique(t), np.unique(p))
    tk = np.stack([(t == k).sum(1) for k in classes], 1).astype(float)
    pk = np.stack([(p == k).sum(1) for k in classes], 1).astype(float)
    c = (t == p).sum(1).astype(float)
    cov = c * n - (tk * pk).sum(1)
    denom = np.sqrt((n * n - (pk * pk).sum(1)) * (n * n - (tk * tk).sum(1)))
    return 100.0 * np.where(denom > 0, cov / np.where(denom > 0, denom, 1.0), 0.0)


def _batched_pearson(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    x = t - t.mean(1, keepdims=True)
    y = p - p.mean(1, keepdims=True)
    sxx, syy = (x * x).sum(1), (y * y).sum(1)
    ok = (sxx > 0) & (syy > 0)
    return 100.0 * np.where(ok, (x * y).sum(1) / np.sqrt(np.where(ok, sxx * syy, 1.0)), 0.0)


def _batched_spearman(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return _batched_pearson(rankdata(t, axis=1), rankdata(p, axis=1))


def _refs_hyps(y_true: Any, y_pred: Any) -> tuple[list[str], list[str]]:
    return [str(t) for t in np.asarray(y_true).reshape(-1)], [str(p) for p in np.asarray(y_pred).reshape(-1)]


def wer(y_true: Any, y_pred: Any) -> float:
    """Word error rate (jiwer), in percent."""
    import jiwer

    refs, hyps = _refs_hyps(y_true, y_pred)
    return 100.0 * float(jiwer.wer(refs, hyps))


def cer(y_true: Any, y_pred: Any) -> float:
    """Character error rate (jiwer; spaces count as characters), in percent."""
    import jiwer

    refs, hyps = _refs_hyps(y_true, y_pred)
    return 100.0 * float(jiwer.cer(refs, hyps))


per = wer  # phonemes are space-separated units: the phone error rate is the WER over them
"""Phone error rate: targets and predictions are space-separated phonemes, scored as words (jiwer)."""


def _edit_counts(kind: str) -> Any:
    """Batched corpus error rate: each distinct (reference, hypothesis) pair is aligned once by jiwer, then
    resamples sum its (errors, reference length) counts: bootstrap CIs stay fast and equal to the direct call."""
    def batched(t: np.ndarray, p: np.ndarray) -> np.ndarray:
        import jiwer

        align = jiwer.process_words if kind == "words" else jiwer.process_characters
        memo: dict[tuple[str, str], tuple[int, int]] = {}
        errors = np.zeros(t.shape, dtype=np.int64)
        length = np.zeros(t.shape, dtype=np.int64)
        for pos, (ref, hyp) in enumerate(zip(t.reshape(-1).tolist(), p.reshape(-1).tolist())):
            key = (str(ref), str(hyp))
            if key not in memo:
                out = align(key[0], key[1])
                memo[key] = (out.substitutions + out.deletions + out.insertions,
                             out.substitutions + out.deletions + out.hits)
            errors.flat[pos], length.flat[pos] = memo[key]
        return 100.0 * errors.sum(1) / np.maximum(length.sum(1), 1)
    return batched


accuracy.batched = _batched_accuracy  # type: ignore[attr-defined]
f1.batched = _batched_f1  # type: ignore[attr-defined]
matthews.batched = _batched_matthews  # type: ignore[attr-defined]
pearson.batched = _batched_pearson  # type: ignore[attr-defined]
spearman.batched = _batched_spearman  # type: ignore[attr-defined]
wer.batched = _edit_counts("words")  # type: ignore[attr-defined]
cer.batched = _edit_counts("characters")  # type: ignore[attr-defined]


@hookimpl
def register_metrics(register: Any) -> None:
    register("accuracy", accuracy, higher_is_better=True, kind="classification")
    register("f1", f1, higher_is_better=True, kind="classification")
    register("macro_f1", macro_f1, higher_is_better=True, kind="classification")
    register("matthews", matthews, higher_is_better=True, kind="classification")
    register("pearson", pearson, higher_is_better=True, kind="regression")
    register("spearman", spearman, higher_is_better=True, kind="regression")
    register("wer", wer, higher_is_better=False, kind="sequence")
    register("cer", cer, higher_is_better=False, kind="sequence")
    register("per", per, higher_is_better=False, kind="sequence")
    from downstreams.token_metrics import SPAN_METRICS, TAG_METRICS

    for name, fn in TAG_METRICS.items():
        register(name, fn, higher_is_better=True, kind="tags")
    for name, fn in SPAN_METRICS.items():
        register(name, fn, higher_is_better=True, kind="span")
