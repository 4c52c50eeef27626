"""Symbol sequences (DNA, protein, music) as text: each symbol becomes one token of a text upstream's vocabulary.

Kao & Lee (2021, "Is BERT a Cross-Disciplinary Knowledge Learner?", arXiv:2103.07162) map every symbol of a
non-language alphabet onto an arbitrary token of BERT's vocabulary (A -> "we", T -> "you", ...) and fine-tune.
Here a task declares `symbol_map:` (how an input splits into symbols, optional k-mers, a seed); at job time the
task's alphabet (every distinct symbol in its splits) is mapped one-to-one onto whole words the upstream reads as
exactly one token each (`upstream.single_token_words()`), drawn at random with the task's seed. The mapped input
is those words joined by spaces, so a text upstream needs no code change, and the mapping goes into the result.

Extractive QA over symbols (spoken QA over discrete speech units, downstreams/recipes/spoken_qa.py): an input may
be a (question, context, ...) tuple whose first two strings are mapped (anything after them is kept as it is),
and a QA target's answer (`{"answers": [...], "starts": [char, ...]}`) is moved onto the mapped context: the
answer's first and last symbols become the same symbols' words there. This needs k = 1 (a k-mer would cut an
answer's edges).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from benchmark.errors import BenchError, JobFailed
from benchmark.tasks.schema import SymbolMap, TaskSpec
from benchmark.types import Examples, TaskData, Unlabeled


def split(text: str, spec: SymbolMap) -> list[str]:
    """An input as its symbols: characters or whitespace units, then k-mers of them at the spec's stride."""
    units = list(text) if spec.unit == "characters" else text.split()
    if spec.k == 1:
        return units
    joiner = "" if spec.unit == "characters" else "+"
    step = spec.stride or spec.k
    # Tiled k-mers keep a shorter last piece (no unit is dropped); overlapping ones stop at the last full k-mer.
    stop = len(units) if step >= spec.k else max(1, len(units) - spec.k + 1)
    return [joiner.join(units[i:i + spec.k]) for i in range(0, stop, step)]


def alphabet(texts: Iterable[str], spec: SymbolMap) -> list[str]:
    """Every distinct symbol of the inputs, sorted (the mapping does not depend on their order)."""
    return sorted({s for t in texts for s in split(t, spec)})


@dataclass(frozen=True)
class SymbolMapping:
    """symbol -> word, and how it was drawn (recorded in results)."""

    table: dict[str, str]
    seed: int
    vocabulary: int
    """How many single-token words the upstream offered."""

    def apply(self, text: str, spec: SymbolMap) -> str:
        return " ".join(self.table[s] for s in split(text, spec))

    def digest(self) -> str:
        body = "\n".join(f"{k}\t{v}" for k, v in sorted(self.table.items()))
        return hashlib.sha256(body.encode()).hexdigest()[:16]

    def record(self, spec: SymbolMap) -> dict[str, Any]:
        return {"unit": spec.unit, "k": spec.k, "stride": spec.stride or spec.k, "seed": self.seed,
                "alphabet": len(self.table), "vocabulary": self.vocabulary, "digest": self.digest(),
                "mapping": dict(sorted(self.table.items()))}


def build(symbols: Sequence[str], words: Sequence[str], seed: int) -> SymbolMapping:
    """A seeded one-to-one draw of words for the symbols; the same inputs give the same mapping anywhere."""
    pool = sorted(set(words))
    if len(pool) < len(symbols):
        raise JobFailed(f"the task has {len(symbols)} distinct symbols but the upstream offers only {len(pool)} "
                        "single-token words to map them onto; use a smaller k (symbol_map: k) or an upstream "
                        "with a larger vocabulary")
    chosen = random.Random(seed).sample(pool, len(symbols))
    return SymbolMapping(dict(zip(sorted(symbols), chosen, strict=True)), seed, len(pool))


def upstream_words(upstream: Any, name: str) -> list[str]:
    """The upstream's single-token words; a plugin upstream without them fails its job with one line."""
    try:
        words = list(upstream.single_token_words())
    except AttributeError:
        raise JobFailed(f"upstream '{name}' cannot read symbol tasks: it has no single_token_words() method (the "
                        "words it reads as one token each; docs/plugins.md)") from None
    if not words or not all(isinstance(w, str) and w and not any(c.isspace() for c in w) for w in words):
        raise JobFailed(f"upstream '{name}': single_token_words() must return non-empty words without spaces")
    return words


def _texts(x: Any) -> tuple[str, ...]:
    """The strings of an input that are symbols: the input itself, or a tuple's first two (question, context)."""
    return (x,) if isinstance(x, str) else tuple(x[:2])


def _all_inputs(data: TaskData) -> Iterable[str]:
    for ex in (data.train, data.select, *data.evals.values()):
        for x in ex.inputs:
            yield from _texts(x)
    for un in data.tests.values():
        for x in un.inputs:
            yield from _texts(x)


def _check_inputs(task: TaskSpec, data: TaskData) -> None:
    def ok(x: Any, t: Any) -> bool:
        # A pair is only an extractive QA example's (question, context): its target says where the answer is.
        return isinstance(x, str) or (isinstance(x, tuple | list) and len(x) >= 2 and isinstance(t, dict)
                                      and "answers" in t and all(isinstance(s, str) for s in x[:2]))

    for ex in (data.train, data.select, *data.evals.values(), *data.tests.values()):
        targets = ex.targets if isinstance(ex, Examples) else ({"answers": []},) * len(ex.inputs)
        bad = next((x for x, t in zip(ex.inputs, targets, strict=True) if not ok(x, t)), None)
        if bad is not None:
            raise BenchError(f"task '{task.name}' declares symbol_map but an input is {type(bad).__name__}, not one "
                             "string of symbols (pairs of sequences only for extractive QA: a (question, context) "
                             "pair with an answer target)")
    pairs = any(not isinstance(x, str) for ex in (data.train, data.select) for x in ex.inputs)
    if pairs and task.symbol_map is not None and task.symbol_map.k != 1:
        raise BenchError(f"task '{task.name}': extractive QA over symbols needs symbol_map k: 1 (a k-mer would cut "
                         "an answer's edges)")


def _positions(text: str, spec: SymbolMap) -> list[tuple[int, int]]:
    """The character span of each symbol of `text` (k = 1)."""
    if spec.unit == "characters":
        return [(i, i + 1) for i in range(len(text))]
    out, at = [], 0
    for word in text.split():
        at = text.index(word, at)
        out.append((at, at + len(word)))
        at += len(word)
    return out


def move_answer(context: str, target: dict[str, Any], mapping: SymbolMapping, spec: SymbolMap) -> dict[str, Any]:
    """A QA target on `context` moved onto the mapped context: each answer covers the same symbols there."""
    where = _positions(context, spec)
    words = [mapping.table[s] for s in split(context, spec)]
    starts = [0]
    for w in words[:-1]:
        starts.append(starts[-1] + len(w) + 1)
    answers, new_starts = [], []
    for text, start in zip(target["answers"], target["starts"], strict=True):
        end = int(start) + len(text)
        inside = [i for i, (a, b) in enumerate(where) if a < end and b > int(start)] or \
            [next((i for i, (a, _) in enumerate(where) if a >= int(start)), len(where) - 1)]
        first, last = inside[0], inside[-1]
        new_starts.append(starts[first])
        answers.append(" ".join(words[first:last + 1]))
    return {**target, "answers": answers, "starts": new_starts}


def map_data(task: TaskSpec, data: TaskData, upstream: Any, name: str) -> tuple[TaskData, dict[str, Any]]:
    """The task's data with every input rewritten as upstream words, and the record of the mapping."""
    spec = task.symbol_map
    assert spec is not None
    _check_inputs(task, data)
    mapping = build(alphabet(_all_inputs(data), spec), upstream_words(upstream, name), spec.seed)

    def one(x: Any) -> Any:
        if isinstance(x, str):
            return mapping.apply(x, spec)
        return (mapping.apply(x[0], spec), mapping.apply(x[1], spec), *x[2:])

    def target(x: Any, t: Any) -> Any:
        if isinstance(x, str) or not isinstance(t, dict) or "answers" not in t:
            return t
        return move_answer(x[1], t, mapping, spec)

    def ex(e: Examples) -> Examples:
        return Examples(tuple(one(x) for x in e.inputs),
                        tuple(target(x, t) for x, t in zip(e.inputs, e.targets, strict=True)))

    def un(u: Unlabeled) -> Unlabeled:
        return replace(u, inputs=tuple(one(x) for x in u.inputs))

    mapped = replace(data, train=ex(data.train), select=ex(data.select), evals={k: ex(v) for k, v in data.evals.items()},
                     tests={k: un(v) for k, v in data.tests.items()})
    return mapped, mapping.record(spec)
