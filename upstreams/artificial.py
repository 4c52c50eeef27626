"""Artificial pretraining data for `bench pretrain mlm --data artificial:KIND` (Chiang & Lee, AAAI 2022).

The kinds of "On the Transferability of Pre-trained Language Models: A Study from Artificial Datasets", as token
*types* 0..V-1 (the caller maps type t to a fixed slice of its tokenizer's ids, upstreams/mlm.py):

- `uniform`:     every token i.i.d. uniform over the V types.
- `zipf`:        every token i.i.d., type t (0-based rank) with probability proportional to (t + 1) ** -exponent.
- `paired`:      V/2 pairs of types, opener k and closer V/2 + k; each sequence is a uniformly random balanced
                 bracket word (every nesting shape of length/2 pairs equally likely), each pair's type i.i.d.
                 uniform: every closer closes the latest unclosed opener and carries its partner type.
- `consecutive`: one run of `length` consecutive types from a uniformly random start (s, s+1, ..., no wrap),
                 cut into windows of `run` tokens, the order inside each window shuffled (a short last window
                 when `run` does not divide the length).

Sizing is by tokens: `tokens // length` sequences of `length` tokens and one of `tokens % length` when that is
not 0, so the count is exact. Generation is vectorised numpy, in chunks of CHUNK_ROWS sequences; chunk c is
drawn from its own generator seeded with (seed, kind, c), so any chunk is reproduced alone and the data of a
spec do not depend on how much of it is read at once (the trainer streams it, one chunk in memory).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from benchmark.errors import BenchError

KINDS = ("uniform", "zipf", "paired", "consecutive")
PREFIX = "artificial:"
CHUNK_ROWS = 16384
"""Sequences per generated chunk (about 1 M tokens at the default length: 4 MB of int32, a few ms)."""
DEFAULT_TOKENS = 2_000_000
DEFAULT_LENGTH = 62
"""62 artificial tokens + [CLS] + [SEP] = 64, the text corpora's --max-tokens."""
MAX_LENGTH = 510
_COMMON = ("tokens", "vocab", "length", "seed")
_EXTRA = {"uniform": (), "zipf": ("exponent",), "paired": (), "consecutive": ("run",)}


@dataclass(frozen=True)
class ArtificialSpec:
    kind: str
    tokens: int = DEFAULT_TOKENS
    vocab: int | None = None
    """Token types V; None = every non-special id of the tokenizer (rounded down to even for `paired`)."""
    length: int = DEFAULT_LENGTH
    seed: int | None = None
    """None = the command's --seed."""
    run: int = 4
    exponent: float = 1.0

    def canonical(self) -> str:
        """The spec with every value written out (as metadata records it; it regenerates the same data)."""
        keys = (*_COMMON, *_EXTRA[self.kind])
        parts = [f"{k}={getattr(self, k)}" for k in keys if getattr(self, k) is not None]
        return f"{PREFIX}{self.kind}?{'&'.join(parts)}"

    @property
    def sequences(self) -> int:
        return self.tokens // self.length + (1 if self.tokens % self.length else 0)

    def resolved(self, available: int, seed: int) -> ArtificialSpec:
        """The spec with vocab and seed filled in, checked against the `available` non-special ids."""
        vocab = self.vocab if self.vocab is not None else (available - available % 2 if self.kind == "paired"
                                                           else available)
        if vocab > available:
            raise _bad(self.canonical(), f"vocab={vocab} exceeds the {available} non-special ids of the "
                                         "tokenizer; lower vocab= or raise --vocab")
        if self.kind == "consecutive" and vocab < self.length:
            raise _bad(self.canonical(), f"consecutive needs vocab >= length ({vocab} < {self.length}): a "
                                         "sequence is one run of consecutive ids")
        if vocab < 2:
            raise _bad(self.canonical(), f"the tokenizer has {available} non-special ids; 2 at least are needed")
        return replace(self, vocab=vocab, seed=seed if self.seed is None else self.seed)


def _bad(text: str, why: str) -> BenchError:
    return BenchError(f"--data '{text}': {why}")


def _int(text: str, key: str, value: str, low: int, high: int | None = None) -> int:
    try:
        n = int(value.replace("_", ""))
    except ValueError:
        raise _bad(text, f"{key}={value} is not a whole number") from None
    if n < low or (high is not None and n > high):
        bounds = f"between {low} and {high}" if high is not None else f">= {low}"
        raise _bad(text, f"{key}={value} must be {bounds}")
    return n


def parse(text: str) -> ArtificialSpec:
    """`artificial:KIND[?key=value&...]` -> ArtificialSpec; any mistake is one BenchError line."""
    if not text.startswith(PREFIX):
        raise _bad(text, f"expected 'text' or {PREFIX}KIND[?tokens=N&...] with KIND one of {', '.join(KINDS)}")
    kind, _, query = text[len(PREFIX):].partition("?")
    if kind not in KINDS:
        raise _bad(text, f"unknown kind '{kind}'; kinds: {', '.join(KINDS)}")
    allowed = (*_COMMON, *_EXTRA[kind])
    spec = ArtificialSpec(kind)
    seen: set[str] = set()
    for item in filter(None, query.split("&")):
        key, sep, value = item.partition("=")
        if not sep or not value:
            raise _bad(text, f"'{item}' is not key=value")
        if key not in allowed:
            raise _bad(text, f"unknown option '{key}' for {kind} (options: {', '.join(allowed)})")
        if key in seen:
            raise _bad(text, f"{key} is given twice")
        seen.add(key)
        if key == "exponent":
            try:
                x = float(value)
            except ValueError:
                raise _bad(text, f"exponent={value} is not a number") from None
            if not np.isfinite(x) or x <= 0:
                raise _bad(text, f"exponent={value} must be a number > 0")
            spec = replace(spec, exponent=x)
        else:
            low, high = {"tokens": (2, None), "vocab": (2, None), "length": (2, MAX_LENGTH), "seed": (0, 2**32 - 1),
                         "run": (2, None)}[key]
            spec = replace(spec, **{key: _int(text, key, value, low, high)})
    if kind == "consecutive" and spec.run > spec.length:
        raise _bad(text, f"run={spec.run} is longer than length={spec.length}")
    if kind == "consecutive" and spec.vocab is not None and spec.vocab < spec.length:
        raise _bad(text, f"consecutive needs vocab >= length ({spec.vocab} < {spec.length}): a sequence is one "
                         "run of consecutive ids")
    if kind == "paired":
        for key in ("tokens", "length", "vocab"):
            if getattr(spec, key) is not None and getattr(spec, key) % 2:
                raise _bad(text, f"paired needs an even {key} (a pair is two tokens, two types): "
                                 f"{key}={getattr(spec, key)}")
    return spec


def generate(spec: ArtificialSpec, rng: np.random.Generator, rows: int, length: int) -> np.ndarray:
    """`rows` sequences of `length` token types of a resolved spec, int32 (rows, length)."""
    v = int(spec.vocab or 0)
    if spec.kind == "uniform":
        return rng.integers(0, v, size=(rows, length), dtype=np.int32)
    if spec.kind == "zipf":
        weights = np.arange(1, v + 1, dtype=np.float64) ** -spec.exponent
        cdf = np.cumsum(weights / weights.sum())
        ranks = np.searchsorted(cdf, rng.random((rows, length)), side="right")
        return np.minimum(ranks, v - 1).astype(np.int32)  # a draw above the rounded cdf's last value
    if spec.kind == "paired":
        return _paired(rng, rows, length, v // 2)
    # consecutive: sort keys window index + a uniform draw shuffle positions only within their window.
    start = rng.integers(0, v - length + 1, size=(rows, 1))
    keys = np.arange(length)[None, :] // spec.run + rng.random((rows, length))
    return (start + np.argsort(keys, axis=1, kind="stable")).astype(np.int32)


def _paired(rng: np.random.Generator, rows: int, length: int, pairs: int) -> np.ndarray:
    """Uniform random Dyck words by the cycle lemma: n opens and n + 1 closes in random order sum to -1, and the
    rotation starting just after the first minimum of the prefix sums is a Dyck word followed by one close."""
    n = length // 2
    t = 2 * n + 1
    steps = np.where(np.argsort(rng.random((rows, t)), axis=1) < n, 1, -1)
    first_min = np.argmin(np.cumsum(steps, axis=1), axis=1)
    rotate = (first_min[:, None] + 1 + np.arange(t)[None, :]) % t
    word = np.take_along_axis(steps, rotate, axis=1)[:, :-1]  # (rows, 2n), every prefix sum >= 0, total 0
    depth = np.cumsum(word, axis=1)
    # An opener at depth d (after it) is closed by the next closer that starts at depth d: sorted by (level,
    # position), the tokens of one level alternate opener, closer, so pairs are neighbours in that order.
    level = np.where(word > 0, depth, depth + 1)
    order = np.argsort(level * t + np.arange(2 * n)[None, :], axis=1, kind="stable")
    openers, closers = order[:, 0::2], order[:, 1::2]
    types = rng.integers(0, pairs, size=(rows, n), dtype=np.int32)
    out = np.empty((rows, 2 * n), dtype=np.int32)
    np.put_along_axis(out, openers, types, axis=1)
    np.put_along_axis(out, closers, types + pairs, axis=1)
    return out


def _rng(spec: ArtificialSpec, chunk: int) -> np.random.Generator:
    return np.random.default_rng([int(spec.seed or 0), KINDS.index(spec.kind), chunk])


def n_chunks(spec: ArtificialSpec) -> int:
    """Chunks of a resolved spec: the full ones, then one holding the short last sequence if there is one."""
    full = spec.tokens // spec.length
    return -(-full // CHUNK_ROWS) + (1 if spec.tokens % spec.length else 0)


def chunk(spec: ArtificialSpec, c: int) -> np.ndarray:
    """Chunk c of a resolved spec: (rows, length) int32 token types (the last chunk may be one short sequence)."""
    full = spec.tokens // spec.length
    first = c * CHUNK_ROWS
    if first < full:
        return generate(spec, _rng(spec, c), min(CHUNK_ROWS, full - first), spec.length)
    return generate(spec, _rng(spec, c), 1, spec.tokens % spec.length)


def chunks(spec: ArtificialSpec) -> Iterator[np.ndarray]:
    """Every chunk in order: the whole data of a resolved spec, one chunk in memory at a time."""
    for c in range(n_chunks(spec)):
        yield chunk(spec, c)


def stream(spec: ArtificialSpec, seed: int) -> Iterator[np.ndarray]:
    """Training order, endless: each epoch visits the chunks in a shuffled order and each chunk's sequences in a
    shuffled order (seeded by `seed`), regenerating a chunk when it is visited, so memory stays one chunk."""
    order_rng = np.random.default_rng([seed, 1])
    while True:
        for c in order_rng.permutation(n_chunks(spec)):
            rows = chunk(spec, int(c))
            for i in order_rng.permutation(len(rows)):
                yield rows[i]
