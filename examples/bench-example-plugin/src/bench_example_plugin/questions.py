"""The `example-questions` dataset: does a real snippet of text ask a question, or only make statements?

Built offline from the VADER corpus (Hutto & Gilbert 2014), which bench already knows how to fetch and parse
(`downstreams.recipes.vader.load_snippets`: the vaderSentiment 3.3.2 sdist from PyPI, cached in the bench cache).
A snippet is a *question* when it has a '?' in it, a *statement* otherwise. With `strip_punctuation` (the
default) the question mark cannot give the answer away: the final run of '.', '!' and '?' is removed from
every snippet, and a '?' inside one becomes the '.' a statement would have there. A model has to tell a
question by its words ("who else", "is this", "isn't it").

Questions are rare (under 5% of the snippets), so each split keeps all of its questions and as many
statements, chosen deterministically: those whose sha1('keep:' + key) comes first. Splits are fixed by
sha1 of the key 'corpus:snippet id': 0-1 -> test (~20%), 2 -> select (~10%), 3-9 -> train (~70%).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from benchmark.errors import BenchError
from benchmark.types import Examples

OPTIONS = ("corpora", "strip_punctuation")
DEFAULT_CORPORA = ("movieReviewSnippets",)
LABELS = ("statement", "question")  # the order of `labels:` in tasks.yaml: targets are indices into it
SPLITS = ("train", "select", "test")
VERSION = 1  # bump when the recipe changes what it produces
_FINAL_PUNCTUATION = re.compile(r"[\s.!?]+$")

Row = tuple[bytes, bytes, str, int]  # (keep hash, order hash, text, label)


def _digest(key: str) -> bytes:
    return hashlib.sha1(key.encode("utf-8")).digest()


def split_of(key: str) -> str:
    """The fixed split of one snippet, by the first byte of sha1('corpus:id') mod 10."""
    bucket = _digest(key)[0] % 10
    return "test" if bucket < 2 else "select" if bucket == 2 else "train"


def label_text(text: str, strip_punctuation: bool = True) -> tuple[str, int] | None:
    """(model input, label index) for one snippet, or None when nothing is left of it."""
    text = text.strip()
    label = LABELS.index("question") if "?" in text else LABELS.index("statement")
    if strip_punctuation:
        text = _FINAL_PUNCTUATION.sub("", text).replace("?", ".")
    return (text, label) if text else None


def build_splits(items: list[tuple[str, str, int]]) -> dict[str, Examples]:
    """items: (key, text, label). Each split: all of its questions and as many statements, shuffled by hash."""
    rows: dict[str, dict[int, list[Row]]] = {s: {0: [], 1: []} for s in SPLITS}
    for key, text, label in items:
        rows[split_of(key)][label].append((_digest("keep:" + key), _digest("order:" + key), text, label))
    out = {}
    for split, classes in rows.items():
        questions = classes[1]
        statements = sorted(classes[0])[: len(questions)]
        kept = sorted(questions + statements, key=lambda r: r[1])
        out[split] = Examples(tuple(r[2] for r in kept), tuple(r[3] for r in kept))
    return out


class QuestionsLoader:
    """Dataset loader `example-questions`. Options: corpora (VADER corpus names), strip_punctuation (bool)."""

    def options(self, options: dict[str, Any]) -> tuple[tuple[str, ...], bool]:
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise BenchError(f"example-questions: unknown option '{unknown[0]}' (known: {', '.join(OPTIONS)})")
        corpora = options.get("corpora", DEFAULT_CORPORA)
        if isinstance(corpora, str):
            corpora = [corpora]
        if not corpora or not all(isinstance(c, str) for c in corpora):
            raise BenchError("example-questions: option 'corpora' must be a list of VADER corpus names")
        strip = options.get("strip_punctuation", True)
        if not isinstance(strip, bool):
            raise BenchError("example-questions: option 'strip_punctuation' must be true or false")
        return tuple(corpora), strip

    def revision(self, options: dict[str, Any]) -> str:
        """The data version recorded in every result."""
        corpora, strip = self.options(options)
        return f"vaderSentiment==3.3.2:example-questions-v{VERSION}:{'+'.join(corpora)}:strip={strip}"

    def __call__(self, *, task: Any, options: dict[str, Any], cache_dir: Path) -> dict[str, Examples]:
        from downstreams.recipes.vader import load_snippets  # bench's VADER reader: fetches and caches the sdist

        corpora, strip = self.options(options)
        items = []
        for corpus in corpora:
            for snippet in load_snippets(Path(cache_dir), corpus):
                labelled = label_text(snippet.text, strip)
                if labelled is not None:
                    items.append((f"{corpus}:{snippet.id}", *labelled))
        splits = build_splits(items)
        for name, examples in splits.items():
            if len(examples) == 0:
                raise BenchError(f"task '{task.name}': no questions in the '{name}' split of {', '.join(corpora)}")
        return splits
