"""The floor of a spoken QA split: what answers scored without listening to anything score (FF1 / AOS).

A task whose answer a position prior finds is no test of understanding (the first spoken-fortune-qa put the answer
last in 42.5 % of its questions, and "the last 0.8 s" beat every model). `baselines` scores guesses made from the
passage's length alone (the whole passage, its first / middle / last 0.8 s, the mean span of the first or last
author, the best fixed window in seconds or in fractions of the passage; the constants learnt on the training
split, as a model could learn them), and apart from them the guesses of a model that finds names but not which one: the first, the
last, a random author of the passage (its expected score).

Layouts come from a built split (`split_layouts`: the recipe records every passage's length and author spans) or,
without synthesising any audio, from the recipe's items with phrase lengths estimated from their text
(`estimated_layouts`), which is what the default tests check.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from downstreams.spoken_qa_metrics import span_aos, span_f1

SECONDS_PER_CHAR, SECONDS_PER_PHRASE = 0.052, 0.12
"""eSpeak NG / Flite phrase length ≈ 0.052 s a character + 0.12 s once trimmed (a least-squares fit of the author
phrases of a built split: 0.049 s a character + 0.13 s; passages: 0.058 s a character with their pauses)."""
WINDOW = 0.8
"""The fixed guesses' length in seconds: an author's name is 0.8 s long on average."""


@dataclass(frozen=True)
class Layout:
    """One question's passage, as a position prior sees it."""

    seconds: float
    """The passage's length, pauses included."""
    authors: tuple[tuple[float, float], ...]
    """Every author's [start, end] in the passage, in spoken order."""
    gold: tuple[float, float]


Guess = Callable[[Layout], tuple[float, float]]


def score(layouts: Sequence[Layout], guess: Guess) -> tuple[float, float]:
    """(FF1, AOS) in percent of one guess over the layouts."""
    spans = [guess(x) for x in layouts]
    f1 = sum(span_f1(list(p), list(x.gold)) for p, x in zip(spans, layouts, strict=True))
    aos = sum(span_aos(list(p), list(x.gold)) for p, x in zip(spans, layouts, strict=True))
    return 100 * f1 / len(layouts), 100 * aos / len(layouts)


def _best(fit: Sequence[Layout], layouts: Sequence[Layout], guesses: list[Guess]) -> tuple[float, float]:
    """The score on `layouts` of the guess that scores best (FF1) on `fit`."""
    return score(layouts, max(guesses, key=lambda g: score(fit, g)[0]))


def positional(layouts: Sequence[Layout], pause: float, fit: Sequence[Layout] | None = None
               ) -> dict[str, tuple[float, float]]:
    """(FF1, AOS) on `layouts` of each guess made from the passage's length alone; the constants (mean author
    spans, best windows) are learnt on `fit` (the training split: a prior a model could learn; default the
    layouts themselves, an optimistic floor). `pause`: the least silence before the first / after the last
    phrase."""
    fit = layouts if fit is None else fit
    first = tuple(np.mean([x.authors[0] for x in fit], axis=0).tolist())
    last = tuple(np.mean([x.authors[-1] for x in fit], axis=0).tolist())
    longest = max(x.seconds for x in fit)
    return {
        "whole passage": score(layouts, lambda x: (0.0, x.seconds)),
        f"first {WINDOW:g} s": score(layouts, lambda x: (pause, pause + WINDOW)),
        f"middle {WINDOW:g} s": score(layouts, lambda x: (x.seconds / 2 - WINDOW / 2, x.seconds / 2 + WINDOW / 2)),
        f"last {WINDOW:g} s": score(layouts, lambda x: (x.seconds - pause - WINDOW, x.seconds - pause)),
        "mean span of the first author": score(layouts, lambda x: first),
        "mean span of the last author": score(layouts, lambda x: last),
        "best fixed window in seconds": _best(fit, layouts, [
            (lambda x, t=t, w=w: (t, t + w)) for w in (0.5, 0.8, 1.2, 2.0)
            for t in np.arange(0.0, longest, 0.25).tolist()]),
        "best fixed window in fractions": _best(fit, layouts, [
            (lambda x, r=r, w=w: (r * x.seconds, (r + w) * x.seconds)) for w in (0.05, 0.1, 0.2, 0.3)
            for r in np.arange(0.0, 1.0, 0.025).tolist()]),
    }


def name_finder(layouts: Sequence[Layout]) -> dict[str, tuple[float, float]]:
    """(FF1, AOS) of a model that finds the authors' names but not which one said the words."""
    def expected(x: Layout) -> tuple[float, float]:
        f = [span_f1(list(a), list(x.gold)) for a in x.authors]
        o = [span_aos(list(a), list(x.gold)) for a in x.authors]
        return float(np.mean(f)), float(np.mean(o))

    each = [expected(x) for x in layouts]
    return {"the first author": score(layouts, lambda x: x.authors[0]),
            "the last author": score(layouts, lambda x: x.authors[-1]),
            "a random author (expected)": (100 * float(np.mean([e[0] for e in each])),
                                           100 * float(np.mean([e[1] for e in each])))}


def floor(table: dict[str, tuple[float, float]]) -> tuple[str, float, float]:
    """The best guess of a table (by FF1): (name, FF1, AOS)."""
    name = max(table, key=lambda k: table[k][0])
    return name, *table[name]


def split_layouts(meta: np.ndarray, spans: np.ndarray) -> list[Layout]:
    """A built split's layouts (the recipe's `{split}_meta` and `{split}_spans` arrays)."""
    out = []
    for m, gold in zip(meta, spans.tolist(), strict=True):
        d = json.loads(str(m))
        out.append(Layout(float(d["seconds"]), tuple((float(a), float(b)) for a, b in d["authors"]),
                          (float(gold[0]), float(gold[1]))))
    return out


def estimated_seconds(text: str) -> float:
    return SECONDS_PER_PHRASE + SECONDS_PER_CHAR * len(text)


def estimated_layouts(items: list[dict[str, Any]]) -> list[Layout]:
    """The layouts of the recipe's items (downstreams.recipes.spoken_qa.items) with each phrase's length estimated
    from its text: no audio is synthesised."""
    from downstreams.recipes.spoken_qa import layout

    out = []
    for item in items:
        times, seconds = layout([estimated_seconds(p) for p in item["phrases"]], tuple(item["edges"]))
        out.append(Layout(seconds, tuple(times[k] for k in item["authors"]), times[item["answer"]]))
    return out
