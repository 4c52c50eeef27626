"""Token-level metrics: SQuAD v1.1 EM / F1 against a straightforward re-implementation of the official
`evaluate-v1.1.py` rules, CMRC 2018 rules for Chinese, seqeval span scores, and the batched forms the bootstrap
uses (equal to the plain calls on every resample)."""

from __future__ import annotations

import re
import string
from collections import Counter

import numpy as np
import pytest
from seqeval.metrics import f1_score as seqeval_f1

from benchmark.scoring.stats import as_array
from downstreams.token_metrics import (
    cmrc_em,
    cmrc_f1,
    mixed_segmentation,
    span_f1,
    span_precision,
    span_recall,
    squad_em,
    squad_f1,
    squad_normalize,
    token_accuracy,
)

# --- The official SQuAD v1.1 evaluation script's rules, written out again as the script states them ---------


def official_normalize(s: str) -> str:
    def remove_articles(text: str) -> str:
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text: str) -> str:
        return " ".join(text.split())

    def remove_punc(text: str) -> str:
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


def official_f1(prediction: str, ground_truth: str) -> float:
    prediction_tokens = official_normalize(prediction).split()
    ground_truth_tokens = official_normalize(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    return (2 * precision * recall) / (precision + recall)


def official_em(prediction: str, ground_truth: str) -> bool:
    return official_normalize(prediction) == official_normalize(ground_truth)


def official_evaluate(golds: list[list[str]], predictions: list[str]) -> dict[str, float]:
    em = f1 = 0.0
    for ground_truths, prediction in zip(golds, predictions, strict=True):
        em += max(official_em(prediction, gt) for gt in ground_truths)
        f1 += max(official_f1(prediction, gt) for gt in ground_truths)
    return {"exact_match": 100.0 * em / len(golds), "f1": 100.0 * f1 / len(golds)}


TRICKY = [  # (gold answers, prediction)
    (["the Eiffel Tower"], "Eiffel Tower"),  # article dropped
    (["The Eiffel Tower"], "eiffel tower."),  # case and punctuation
    (["an apple"], "and apple"),  # "an" is an article, "and" is not
    (["Denver Broncos", "the Broncos"], "Broncos"),  # several gold answers: the best counts
    (["1,000 years"], "1000 years"),  # the comma is punctuation: equal after normalising
    (["Saint-Étienne"], "Saint Étienne"),  # hyphen removed, not turned into a space
    (["a theory of everything"], "theory of everything, a"),  # articles anywhere
    (["Nikola Tesla"], ""),  # empty prediction
    (["U.S. Army"], "US army"),
    (["“quoted” words"], "quoted words"),  # typographic quotes are not ASCII punctuation: kept
    (["the the the"], "the"),  # normalises to nothing on both sides: exact, but F1 0 (no tokens)
    (["Super Bowl 50", "Super Bowl L"], "super bowl 50 game"),
    (["in 1879"], "1879 in"),  # bag of words: order does not matter for F1
    (["New York City"], "New York"),
]


def test_squad_em_f1_equal_the_official_v11_rules_on_tricky_cases() -> None:
    golds = [g for g, _ in TRICKY]
    preds = [p for _, p in TRICKY]
    official = official_evaluate(golds, preds)
    targets = [{"answers": g, "starts": [0] * len(g)} for g in golds]
    assert squad_em(targets, preds) == pytest.approx(official["exact_match"], abs=1e-9)
    assert squad_f1(targets, preds) == pytest.approx(official["f1"], abs=1e-9)
    for gold, pred in TRICKY:  # and case by case
        one = official_evaluate([gold], [pred])
        assert squad_em([gold], [pred]) == pytest.approx(one["exact_match"]), (gold, pred)
        assert squad_f1([gold], [pred]) == pytest.approx(one["f1"]), (gold, pred)
    assert squad_normalize("The  Eiffel-Tower!") == "eiffeltower"
    # values worked out by hand, so a shared mistake in both implementations would still show
    assert squad_em([["the Eiffel Tower"]], ["Eiffel Tower"]) == 100.0
    assert squad_f1([["New York City"]], ["New York"]) == pytest.approx(100 * 2 * 1 * (2 / 3) / (1 + 2 / 3))
    assert squad_em([["an apple"]], ["and apple"]) == 0.0


# --- CMRC 2018 (DRCD) ------------------------------------------------------------------------------------------


def test_cmrc_rules_treat_chinese_characters_as_units() -> None:
    assert mixed_segmentation("台北101大樓，高508公尺") == ["台", "北", "101", "大", "樓", "，", "高", "508", "公", "尺"]
    assert mixed_segmentation("台北101大樓，高508公尺", remove_punctuation=True)[5] == "高"
    assert cmrc_em([["508公尺。"]], ["508公尺"]) == 100.0  # 。 is CMRC punctuation
    assert cmrc_em([["台北"]], ["台北市"]) == 0.0
    # longest common run of segments: 101 大 樓 (3 of 5 gold, 3 of 3 predicted) -> F1 0.75
    assert cmrc_f1([["台北101大樓"]], ["101大樓"]) == pytest.approx(75.0)
    # a common run, not a bag: 大樓台北 shares only the two-character runs with 台北大樓
    assert cmrc_f1([["台北大樓"]], ["大樓台北"]) == pytest.approx(50.0)
    assert cmrc_f1([["台灣", "臺灣"]], ["臺灣"]) == 100.0  # the best gold answer counts


# --- Tagging ---------------------------------------------------------------------------------------------------

GOLD_TAGS = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG", "I-ORG"], ["B-MISC", "O", "O"], ["O", "O"]]
PRED_TAGS = [["B-PER", "I-PER", "O", "B-ORG"], ["O", "B-ORG", "I-ORG"], ["O", "O", "B-PER"], ["O", "O"]]


def test_span_scores_are_seqeval_and_token_accuracy_counts_words() -> None:
    assert span_f1(GOLD_TAGS, PRED_TAGS) == pytest.approx(100 * seqeval_f1(GOLD_TAGS, PRED_TAGS))
    # gold entities: PER, LOC, ORG, MISC (4); predicted: PER, ORG, ORG, PER (4); right: PER, ORG (2)
    assert span_precision(GOLD_TAGS, PRED_TAGS) == pytest.approx(50.0)
    assert span_recall(GOLD_TAGS, PRED_TAGS) == pytest.approx(50.0)
    assert token_accuracy(GOLD_TAGS, PRED_TAGS) == pytest.approx(100 * 9 / 12)
    with pytest.raises(ValueError, match="2 tags for 3 words"):
        token_accuracy([["O", "O", "O"]], [["O", "O"]])


@pytest.mark.parametrize("fn", [token_accuracy, span_f1, span_precision, span_recall])
def test_batched_tag_metrics_equal_the_plain_calls_on_resamples(fn) -> None:
    t, p = as_array(GOLD_TAGS), as_array(PRED_TAGS)
    draws = np.random.default_rng(0).integers(0, len(GOLD_TAGS), size=(30, len(GOLD_TAGS)))
    batched = fn.batched(t[draws], p[draws])
    plain = [fn([GOLD_TAGS[i] for i in row], [PRED_TAGS[i] for i in row]) for row in draws]
    assert batched == pytest.approx(plain)


@pytest.mark.parametrize("fn", [squad_em, squad_f1, cmrc_em, cmrc_f1])
def test_batched_qa_metrics_equal_the_plain_calls_on_resamples(fn) -> None:
    gold = [{"answers": g, "starts": [0] * len(g)} for g, _ in TRICKY]
    preds = [p for _, p in TRICKY]
    t, p = as_array(gold), as_array(preds)
    draws = np.random.default_rng(1).integers(0, len(gold), size=(25, len(gold)))
    plain = [fn([gold[i] for i in row], [preds[i] for i in row]) for row in draws]
    assert fn.batched(t[draws], p[draws]) == pytest.approx(plain)
