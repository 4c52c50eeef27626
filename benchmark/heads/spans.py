"""Context windows, for heads that consume the tokens of a context and answer with a span of it (extractive QA:
the builtin `span-qa` head, downstreams/heads_tokens.py): the question and the context go in as a text pair;
start and end scores over the context's tokens give the answer span.

A context longer than the upstream's window is read in several windows, each starting `stride` tokens before the
previous one ended (the window's extent is what the upstream kept: its offsets say where it stopped), and the best
span over all windows wins. Training uses the windows that hold the whole first gold answer. Token features of a
QA corpus are too large to cache (SQuAD at every layer would be hundreds of GB), so frozen mode runs the
upstream, under inference mode, on every batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from benchmark.errors import JobFailed
from benchmark.features.extract import iter_batches
from benchmark.heads.tokens import _Live, _offsets

Progress = Callable[..., None]
DEFAULT_STRIDE = 128


def _noop(*_: Any, **__: Any) -> None:
    pass


@dataclass(frozen=True)
class Window:
    """One window of a (question, context) example: the context from char `start` on, as far as the upstream read
    it; `spans` holds each context token's character span in the full context."""

    example: int
    start: int
    spans: tuple[tuple[int, int], ...]


def _context_spans(offsets: np.ndarray, segments: np.ndarray, start: int) -> list[tuple[int, int]]:
    keep = (segments == 1) & (offsets[:, 0] >= 0) & (offsets[:, 1] > offsets[:, 0])
    return [(int(a) + start, int(b) + start) for a, b in offsets[keep]]


def _next_start(context: str, spans: Sequence[tuple[int, int]], start: int, stride: int) -> int | None:
    """Where the next window starts: `stride` tokens before this one ended, moved back to the start of its word
    (a sub-word piece read alone would tokenize differently); None when this window reached the end."""
    if not any(c.isprintable() and not c.isspace() for c in context[spans[-1][1]:]):
        return None  # nothing but whitespace or invisible characters left
    k = len(spans) - stride if len(spans) > stride else len(spans) // 2
    nxt = spans[max(1, k)][0] if len(spans) > 1 else spans[-1][1]
    word = nxt
    while word > start and not context[word - 1].isspace():
        word -= 1
    return word if word > start else max(nxt, start + 1)


def plan_windows(upstream: Any, inputs: Sequence[tuple[str, str]], batch_size: int, stride: int,
                 dtype: str = "float32", progress: Progress = _noop, label: str = "") -> list[Window]:
    """The windows that cover every context, found by running the upstream (inference mode) round by round."""
    windows: list[Window] = []
    pending = [(i, 0) for i in range(len(inputs))]
    while pending:
        pairs = [(inputs[i][0], inputs[i][1][start:]) for i, start in pending]
        following = []
        for idx, hidden in iter_batches(upstream, pairs, batch_size, lambda h: h, dtype):
            offsets, segments = _offsets(upstream, hidden, need_segments=True)
            assert segments is not None
            for b, k in enumerate(idx):
                i, start = pending[k]
                spans = _context_spans(offsets[b], segments[b], start)
                if not spans:
                    if start > 0:
                        continue  # what is left of the context makes no token (e.g. invisible characters)
                    if inputs[i][1].strip():
                        raise JobFailed(f"the question of {label or 'an'} example {i} fills the upstream's whole "
                                        "window; no context token fits beside it")
                    spans = [(len(inputs[i][1]), len(inputs[i][1]))]  # an empty context: one empty span
                windows.append(Window(i, start, tuple(spans)))
                nxt = _next_start(inputs[i][1], spans, start, stride)
                if nxt is not None:
                    following.append((i, nxt))
            progress("extract", done=len(windows), total=max(len(windows), len(inputs)), label=label)
        pending = following
    return sorted(windows, key=lambda w: (w.example, w.start))


def answer_tokens(window: Window, answer_start: int, answer_text: str) -> tuple[int, int] | None:
    """The (start, end) token positions of an answer inside a window, or None when the window does not hold it."""
    end = answer_start + len(answer_text)
    if not window.spans or window.spans[0][0] > answer_start or window.spans[-1][1] < end:
        return None
    first = next(t for t, (_, b) in enumerate(window.spans) if b > answer_start)
    last = max(t for t, (a, _) in enumerate(window.spans) if a < end) if end > answer_start else first
    return first, max(first, last)


class LiveWindows(_Live):
    """Context-token vectors of QA windows, computed by the upstream on each batch."""

    def __init__(self, upstream: Any, inputs: Sequence[tuple[str, str]], windows: Sequence[Window],
                 dtype: str = "float32", grad: bool = False) -> None:
        super().__init__(upstream, dtype, grad)
        self.inputs, self.windows = inputs, windows

    def __len__(self) -> int:
        return len(self.windows)

    def length(self, i: int) -> int:
        return len(self.windows[i].spans)

    def batch(self, idx: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        wins = [self.windows[int(i)] for i in idx]
        hidden = self._run([(self.inputs[w.example][0], self.inputs[w.example][1][w.start:]) for w in wins])
        offsets, segments = _offsets(self.upstream, hidden, need_segments=True)
        assert segments is not None
        keep = torch.from_numpy((segments == 1) & (offsets[..., 0] >= 0) & (offsets[..., 1] > offsets[..., 0]))
        lengths = torch.tensor([len(w.spans) for w in wins], dtype=torch.long)
        x = torch.stack(hidden.layers, dim=2)  # (batch, time, layers, dim)
        out = x.new_zeros(len(wins), int(lengths.max()), *x.shape[2:])
        for b, w in enumerate(wins):
            pos = keep[b].nonzero().squeeze(1).to(x.device)
            if len(pos) != len(w.spans) and len(pos):
                raise JobFailed("the upstream tokenized a QA window differently on a second reading; token-level "
                                "QA needs a deterministic tokenizer")
            if len(pos):
                out[b, : len(pos)] = x[b, pos]
        return self._out(out), lengths


def best_span(start: torch.Tensor, end: torch.Tensor, max_tokens: int) -> tuple[float, int, int]:
    """The (score, i, j) maximising start[i] + end[j] over i <= j < i + max_tokens."""
    n = len(start)
    scores = start[:, None] + end[None, :]  # (n, n)
    band = torch.ones(n, n, dtype=torch.bool).triu().tril(max_tokens - 1)
    scores = scores.masked_fill(~band, float("-inf"))
    flat = int(scores.argmax())
    return float(scores.reshape(-1)[flat]), flat // n, flat % n


def window_targets(windows: Sequence[Window], targets: Sequence[dict[str, Any]]) -> list[tuple[int, int] | None]:
    """Each window's (start, end) token positions of its example's first gold answer, or None."""
    out = []
    for w in windows:
        gold = targets[w.example]
        out.append(answer_tokens(w, int(gold["starts"][0]), str(gold["answers"][0])) if gold["answers"] else None)
    return out
