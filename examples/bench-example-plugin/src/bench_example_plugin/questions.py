"""The `example-questions` dataset: is a real sentence a question or a statement?

Built offline from the VADER corpus (Hutto & Gilbert 2014), which bench already knows how to fetch and parse
(`downstreams.vader.load_snippets`: the vaderSentiment 3.3.2 sdist from PyPI, cached under the bench cache).
A snippet is a *question* when it ends with '?', a *statement* otherwise. With `strip_punctuation` (the
default) the final run of '.', '!' and '?' is removed from every text, so a model has to tell a question by
its words ("who else", "is this", "isn't it"), not by the question mark; snippets with a '?' anywhere else
are left out, because that '?' would give the label away.

Questions are rare (about 1%), so each split keeps all of its questions and the same number of statements,
chosen deterministically: the statements whose hash comes first. Splits are fixed by sha1 of
'corpus:snippet id': 0-1 -> test (~20%), 2 -> select (~10%), 3-9 -> train (~70%).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from benchmark.errors import BenchError
from benchmark.types import Examples

OPTIONS = {"corpora", "strip_punctuation"}
DEFAULT_CORPORA = ("movieReviewSnippets",)
LABELS = ("statement", "question")
_FINAL_PUNCTUATION = re.compile(r"[\s.!?]+$")
VERSION = 1  # bump when the recipe changes what it produces


def _digest(key: str) -> bytes:
    return hashlib.sha1(key.encode("utf-8")).digest()


def split_of(key: str) -> str:
    """The fixed split of one snippet, by the first byte of sha1('corpus:id') mod 10."""
    bucket = _digest(key)[0] % 10
    return "test" if bucket < 2 else "select" if bucket == 2 else "train"


def label_text(text: str, strip_punctuation: bool = True) -> tuple[str, int] | None:
    """(model input, label index) for one snippet, or None when it is left out (empty, or '?' mid-text)."""
    text = text.strip()
    label = LABELS.index("question") if text.endswith("?") else LABELS.index("statement")
    body = _FINAL_PUNCTUATION.sub("", text)
    if not body or "?" in body:
        return None
    return (body if strip_punctuation else text), label


def build_splits(items: list[tuple[str, str, int]]) -> dict[str, Examples]:
    """items: (key, text, label). Each split: all of its questions plus as many statements, in hash order."""
    by_split: dict[str, dict[int, list[tuple[bytes, bytes, str, int]]]] = {s: {0: [], 1: []} for s in ("train", "select", "test")}
    for key, text, label in items:
        by_split[split_of(key)][label].append((_digest("keep:" + key), _digest("order:" + key), text, label))
    out = {}
    for split, classes in by_split.items():
        questions = classes[1]
        statements = sorted(classes[0])[: len(questions)]  # the statements whose 'keep' hash comes first
        rows = sorted(questions + statements, key=lambda r: r[1])  # then both classes shuffled by another hash
        out[split] = Examples(tuple(r[2] for r in rows), tuple(r[3] for r in rows))
    return out


class QuestionsLoader:
    """Dataset loader `example-questions`. Options: corpora (VADER corpus names), strip_punctuation (bool)."""

    def _options(self, options: dict[str, Any]) -> tuple[tuple[str, ...], bool]:
        unknown = sorted(set(options) - OPTIONS)
        if unknown:
            raise BenchError(f"example-questions: unknown option '{unknown[0]}' (known: {', '.join(sorted(OPTIONS))})")
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
        corpora, strip = self._options(options)
        return f"vaderSentiment==3.3.2:example-questions-v{VERSION}:{'+'.join(corpora)}:strip={strip}"

    def __call__(self, *, task: Any, options: dict[str, Any], cache_dir: Path) -> dict[str, Examples]:
        from downstreams.vader import load_snippets  # bench's VADER reader: fetches and caches the sdist

        corpora, strip = self._options(options)
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
