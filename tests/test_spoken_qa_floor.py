"""spoken-fortune-qa's floor: position gives the answer away no more (downstreams.spoken_qa_floor); the passage
layout that the estimate and the real synthesis share; the positional guesses scored by hand."""

from __future__ import annotations

from collections import Counter
from functools import lru_cache
from typing import Any

import numpy as np
import pytest

from downstreams import spoken_qa_floor as floor
from downstreams.recipes import fortunes_qa, spoken_qa
from downstreams.recipes.spoken_qa import DEFAULTS, EDGE, PAUSE, SAMPLE_RATE, items, layout

GAP = PAUSE / SAMPLE_RATE
BOUND = 20.0
"""No guess made from the passage's length alone may reach this FF1 on the default test split."""


@lru_cache(maxsize=1)
def default_items() -> dict[str, list[dict[str, Any]]]:
    o = dict(DEFAULTS)
    quotes = fortunes_qa.read_quotes("en", max_words=o["max_words"])
    pools = {s: [q for q in quotes if fortunes_qa.split_of(q.author) == s] for s in ("train", "test")}
    return {s: items(pools[s], s, o[s], o) for s in ("train", "test")}


def test_layout_by_hand() -> None:
    times, total = layout([1.0, 2.0], (0.5, 1.0))
    assert times == [(0.5, 1.5), (1.5 + GAP, 3.5 + GAP)]
    assert total == pytest.approx(3.5 + GAP + 1.0)
    times, total = layout([1.0])  # the default edges are one pause each
    assert times == [(GAP, GAP + 1.0)] and total == pytest.approx(1.0 + 2 * GAP)


def test_passage_times_are_the_layout_of_its_phrases(monkeypatch: pytest.MonkeyPatch) -> None:
    """passage() places each synthesised (trimmed) phrase where layout() says: a stand-in synthesiser of known
    lengths, so no audio is made."""
    lengths = {"a": 1600, "bb": 4000, "ccc": 2400}
    monkeypatch.setattr(spoken_qa.speech_synth, "synthesize", lambda text, *a: np.full(lengths[text], 0.5, np.float32))
    voice = {"pitch": 50, "speed": 160}
    wave, times = spoken_qa.passage(["a", "bb", "ccc"], voice, np.random.default_rng(0), (0.4, 0.7))
    want, total = layout([0.1, 0.25, 0.15], (0.4, 0.7))
    assert np.allclose(times, want) and len(wave) == round(total * SAMPLE_RATE)
    for a, b in times:  # speech inside each phrase's span, silence just outside it
        assert wave[round(a * SAMPLE_RATE)] == 0.5 and wave[round(b * SAMPLE_RATE) - 1] == 0.5
        assert wave[round(a * SAMPLE_RATE) - 1] == 0.0 and wave[round(b * SAMPLE_RATE)] == 0.0


def test_guesses_scored_by_hand() -> None:
    # two passages; authors and gold in seconds
    a = floor.Layout(10.0, ((1.0, 2.0), (6.0, 7.0)), (6.0, 7.0))
    b = floor.Layout(8.0, ((3.0, 4.0), (5.0, 6.0)), (3.0, 4.0))
    names = floor.name_finder([a, b])
    assert names["the first author"] == (50.0, 50.0) and names["the last author"] == (50.0, 50.0)
    assert names["a random author (expected)"] == (50.0, 50.0)
    pos = floor.positional([a, b], 0.0)
    # whole passage: F1 = 2·(1/10)·1/(1/10 + 1) = 2/11 and 2/9; AOS = 1/10 and 1/8
    assert pos["whole passage"] == pytest.approx((100 * (2 / 11 + 2 / 9) / 2, 100 * (1 / 10 + 1 / 8) / 2))
    # last 0.8 s: a: [9.2, 10] misses [6, 7]; b: [7.2, 8] misses [3, 4]
    assert pos["last 0.8 s"] == (0.0, 0.0)
    # mean span of the first author: [2, 3]; a: no overlap; b: [3, 4] touches only, 0
    assert pos["mean span of the first author"] == (0.0, 0.0)
    # mean span of the last author: [5.5, 6.5]; a: overlap 0.5 of 1 and 1 -> F1 0.5, AOS 0.5 / 1.5; b: 0
    assert pos["mean span of the last author"] == pytest.approx((25.0, 100 / 6))
    assert floor.floor({"x": (1.0, 9.0), "y": (3.0, 2.0)}) == ("y", 3.0, 2.0)


def test_split_layouts_read_the_recipe_meta() -> None:
    meta = np.array(['{"seconds": 9.5, "authors": [[1.0, 2.0], [5.0, 6.5]]}'])
    (x,) = floor.split_layouts(meta, np.array([[5.0, 6.5]]))
    assert x == floor.Layout(9.5, ((1.0, 2.0), (5.0, 6.5)), (5.0, 6.5))


def test_answers_are_anywhere() -> None:
    """The target is each quotation with equal probability, and a name opens a passage as often as it closes one."""
    found = default_items()["train"] + default_items()["test"]
    assert Counter(len(i["authors"]) for i in found).keys() == {2, 3}
    first = sum(i["answer"] == i["authors"][0] for i in found) / len(found)
    last = sum(i["answer"] == i["authors"][-1] for i in found) / len(found)
    assert 0.3 < first < 0.55 and 0.3 < last < 0.55  # 5/12 each when uniform over 2-3 quotations
    opens = sum(i["authors"][0] == 0 for i in found) / len(found)
    closes = sum(i["authors"][-1] == len(i["phrases"]) - 1 for i in found) / len(found)
    assert 0.35 < opens < 0.65 and 0.35 < closes < 0.65
    assert all(EDGE[0] <= e <= EDGE[1] for i in found for e in i["edges"])
    for i in found:  # the answer is an author's phrase: the author's name and a full stop
        assert i["phrases"][i["answer"]] == f"{i['author']}."


def test_no_positional_guess_reaches_the_bound() -> None:
    """The default options' test split, laid out from the text (no audio), the constants learnt on train."""
    train = floor.estimated_layouts(default_items()["train"])
    test = floor.estimated_layouts(default_items()["test"])
    table = floor.positional(test, GAP, fit=train)
    assert len(table) == 8
    for name, (f1, aos) in table.items():
        assert f1 < BOUND and aos < BOUND, name
    # a model that finds the names but not which one said the words scores about 1 / quotations (5/12 on average)
    names = floor.name_finder(test)
    assert 30 < names["a random author (expected)"][0] < 50
