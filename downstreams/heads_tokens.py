"""Training and prediction of the token-level heads, on benchmark.heads.token_job.UnitRun: `TaggingKind` (a tag per
word, on word vectors: benchmark.heads.tokens) and `SpanKind` (extractive QA, on the context tokens of each window:
benchmark.heads.spans)."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from typing import Any

import torch

from benchmark.errors import JobFailed
from benchmark.heads import spans, tokens
from benchmark.heads.protocol import HeadJob
from benchmark.heads.token_job import UnitRun
from benchmark.heads.training import HeadModel, score_predictions, selection_score
from benchmark.tasks.schema import TaskSpec
from benchmark.types import Examples

# --- Tagging ---------------------------------------------------------------------------------------------------


def tag_indices(task: TaskSpec, tags: Sequence[str]) -> list[int]:
    assert task.labels is not None
    index = {name: i for i, name in enumerate(task.labels)}
    return [index[t] for t in tags]


def predict_tags(task: TaskSpec, model: HeadModel, src: Any, batch_size: int
                 ) -> tuple[list[list[str]], list[torch.Tensor]]:
    assert task.labels is not None
    outs = tokens.outputs(model, src, batch_size)
    return [[task.labels[k] for k in o.argmax(-1).tolist()] for o in outs], outs


def tag_loss(head: Any, outs: Sequence[torch.Tensor], targets: Sequence[Sequence[int]]) -> float:
    logits = torch.cat(list(outs))
    y = torch.tensor([t for seq in targets for t in seq], dtype=torch.long)
    with torch.no_grad():
        return float(head.loss(logits[None], y[None]))


class TaggingRun(UnitRun):
    """Word vectors of each sentence (cached in frozen mode unless --no-cache); every sentence trains."""

    def __init__(self, kind: Any, job: HeadJob) -> None:
        super().__init__(kind, job)
        self.rule = self.hp.get("align") or "first"
        self.truncated = 0

    def make_source(self, upstream: Any, examples: Examples, label: str, grad: bool) -> Any:
        dtype = self.hp["dtype"]
        if grad or self.hp["mode"] == "finetune" or not self.cache.enabled:
            return tokens.LiveWords(upstream, examples.inputs, self.rule, dtype, grad)
        src, lost = tokens.extract_words(upstream, examples.inputs, self.rule, self.hp["eval_batch_size"], self.cache,
                                         dtype=dtype, progress=self.say, label=label)
        self.truncated += lost
        return src

    def items(self, src: Any, examples: Examples) -> tuple[list[int], list[Any]]:
        return list(range(len(examples))), [tag_indices(self.task, t) for t in examples.targets]

    def unit_loss(self, outputs: torch.Tensor, lengths: torch.Tensor, ys: Sequence[Any]) -> torch.Tensor:
        y = torch.full(outputs.shape[:2], -100, dtype=torch.long)  # -100: padding, ignored by the loss
        for b, tags in enumerate(ys):
            y[b, : len(tags)] = torch.tensor(tags, dtype=torch.long)
        return self.kind.head.loss(outputs, y.to(outputs.device))

    def evaluator(self, src: Any, targets: Sequence[Any], batch_size: int
                  ) -> Callable[[HeadModel], tuple[float, float]]:
        idx_targets = [tag_indices(self.task, t) for t in targets]

        def evaluate(model: HeadModel) -> tuple[float, float]:
            preds, outs = predict_tags(self.task, model, src, batch_size)
            score = selection_score(self.task, score_predictions(self.task, self.registry, targets, preds))
            return score, tag_loss(self.kind.head, outs, idx_targets)
        return evaluate

    def predict_source(self, model: HeadModel, src: Any, batch_size: int) -> list[Any]:
        return predict_tags(self.task, model, src, batch_size)[0]

    def passes_per_epoch(self, n: int, batch_size: int) -> int:
        return super().passes_per_epoch(n, batch_size) if self.cache.enabled else 1

    def notes(self) -> list[str]:
        return [f"{self.truncated} words beyond the upstream's window read its last token"] if self.truncated else []


# --- Extractive QA ---------------------------------------------------------------------------------------------


Answer = Callable[[Any, int, int], Any]
"""answer(input, start_char, end_char): what a prediction is, from an example's input and the best span's
characters in its context (the text cut from the context, by default)."""


def answer_text(example: Any, start: int, end: int) -> str:
    return str(example[1][start:end])


def predict_answers(head: Any, model: HeadModel, src: spans.LiveWindows, batch_size: int,
                    answer: Answer = answer_text, empty: Any = "") -> tuple[list[Any], list[torch.Tensor]]:
    """Each example's best answer over its windows, as text cut from its context (or what `answer` makes of the
    span's characters; `empty` for an example without a window)."""
    outs = tokens.outputs(model, src, batch_size)
    best: dict[int, tuple[float, int, int]] = {}
    for w, o in zip(src.windows, outs, strict=True):
        score, i, j = spans.best_span(o[:, 0], o[:, 1], head.max_answer_tokens)
        if w.example not in best or score > best[w.example][0]:
            best[w.example] = (score, w.spans[i][0], w.spans[j][1])
    return [answer(src.inputs[i], best[i][1], best[i][2]) if i in best else empty for i in range(len(src.inputs))], outs


def span_loss(head: Any, outs: Sequence[torch.Tensor], targets: Sequence[tuple[int, int] | None]) -> float:
    """Mean start / end cross-entropy over the windows that hold their answer (0 when none does)."""
    losses = []
    for o, t in zip(outs, targets, strict=True):
        if t is not None:
            losses.append(float(head.loss(o[None], torch.tensor([len(o)]), torch.tensor([t[0]]),
                                          torch.tensor([t[1]]))))
    return statistics.fmean(losses) if losses else 0.0


class SpanRun(UnitRun):
    """Context-token vectors of each (question, context) window, computed by the upstream on each batch (too large
    to cache); the windows that hold their example's first answer train.

    Extension point: a subclass overrides `answer` (and `empty`) to predict something else than the span's text
    from the span's characters, e.g. the time span of spoken units (downstreams.heads_spoken_qa)."""

    empty: Any = ""

    def answer(self, example: Any, start: int, end: int) -> Any:
        return answer_text(example, start, end)

    def __init__(self, kind: Any, job: HeadJob) -> None:
        super().__init__(kind, job)
        self.stride = self.hp.get("stride") or spans.DEFAULT_STRIDE
        self._windows: dict[str, list[spans.Window]] = {}

    def windows(self, upstream: Any, examples: Examples, label: str) -> list[spans.Window]:
        """A split's QA windows; planned once (they depend on the tokenizer, not on the weights)."""
        if label not in self._windows:
            self._windows[label] = spans.plan_windows(upstream, examples.inputs, self.hp["eval_batch_size"],
                                                       self.stride, self.hp["dtype"], self.say, label)
        return self._windows[label]

    def make_source(self, upstream: Any, examples: Examples, label: str, grad: bool) -> Any:
        return spans.LiveWindows(upstream, examples.inputs, self.windows(upstream, examples, label), self.hp["dtype"],
                                 grad)

    def items(self, src: Any, examples: Examples) -> tuple[list[int], list[Any]]:
        pairs = [(i, t) for i, t in enumerate(spans.window_targets(src.windows, examples.targets)) if t is not None]
        if not pairs:
            raise JobFailed(f"task '{self.task.name}': no training window holds its answer; check the answer starts")
        return [i for i, _ in pairs], [t for _, t in pairs]

    def unit_loss(self, outputs: torch.Tensor, lengths: torch.Tensor, ys: Sequence[Any]) -> torch.Tensor:
        starts = torch.tensor([s for s, _ in ys], dtype=torch.long, device=outputs.device)
        ends = torch.tensor([e for _, e in ys], dtype=torch.long, device=outputs.device)
        return self.kind.head.loss(outputs, lengths, starts, ends)

    def evaluator(self, src: Any, targets: Sequence[Any], batch_size: int
                  ) -> Callable[[HeadModel], tuple[float, float]]:
        wt = spans.window_targets(src.windows, targets)

        def evaluate(model: HeadModel) -> tuple[float, float]:
            preds, outs = predict_answers(self.kind.head, model, src, batch_size, self.answer, self.empty)
            score = selection_score(self.task, score_predictions(self.task, self.registry, targets, preds))
            return score, span_loss(self.kind.head, outs, wt)
        return evaluate

    def predict_source(self, model: HeadModel, src: Any, batch_size: int) -> list[Any]:
        return predict_answers(self.kind.head, model, src, batch_size, self.answer, self.empty)[0]

    def passes_per_epoch(self, n: int, batch_size: int) -> int:
        return 1

    def notes(self) -> list[str]:
        n = sum(len(w) for w in self._windows.values())
        return [f"span QA: {n} windows (stride {self.stride} tokens) over the splits read"]
