"""How a job runs a token-level task (tagging, span QA): which feature source each split reads, how a grid point
trains, how a split is predicted. `job.run_job` calls this for heads whose target is "tags" or "span"."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from benchmark import spans, tokens
from benchmark.registry import Registry
from benchmark.taskspec import TaskSpec
from benchmark.training import score_predictions, selection_score
from benchmark.types import Examples

TOKEN_TARGETS = ("tags", "span")


class TokenRun:
    """The feature sources and training of one token-level job (all of its grid points)."""

    def __init__(self, task: TaskSpec, registry: Registry, hp: dict[str, Any], cache: Any, progress: Callable[..., None]
                 ) -> None:
        self.task, self.registry, self.hp, self.cache, self.say = task, registry, hp, cache, progress
        self.kind = registry.downstreams.get(task.head).obj
        self.rule = hp.get("align") or "first"
        self.stride = hp.get("stride") or spans.DEFAULT_STRIDE
        self.truncated = 0
        self._windows: dict[str, list[spans.Window]] = {}
        self._frozen: dict[str, Any] = {}  # label -> the split's frozen source, shared by every grid point
        self._stats: Any = None

    @property
    def qa(self) -> bool:
        return self.kind.target == "span"

    def windows(self, upstream: Any, examples: Examples, label: str) -> list[spans.Window]:
        """A split's QA windows; planned once (they depend on the tokenizer, not on the weights)."""
        if label not in self._windows:
            self._windows[label] = spans.plan_windows(upstream, examples.inputs, self.hp["eval_batch_size"],
                                                       self.stride, self.hp["dtype"], self.say, label)
        return self._windows[label]

    def source(self, upstream: Any, examples: Examples, label: str, grad: bool = False) -> Any:
        """A split's feature source. Frozen sources are made once per split (a cached split is read from disk
        once, not once per grid point); fine-tuning ones read the grid point's own upstream."""
        frozen = not grad and self.hp["mode"] == "frozen"
        if frozen and label in self._frozen:
            return self._frozen[label]
        src = self._make_source(upstream, examples, label, grad)
        if frozen:
            self._frozen[label] = src
        return src

    def _make_source(self, upstream: Any, examples: Examples, label: str, grad: bool) -> Any:
        dtype = self.hp["dtype"]
        if self.qa:
            return spans.LiveWindows(upstream, examples.inputs, self.windows(upstream, examples, label), dtype, grad)
        if grad or self.hp["mode"] == "finetune" or not self.cache.enabled:
            return tokens.LiveWords(upstream, examples.inputs, self.rule, dtype, grad)
        src, lost = tokens.extract_words(upstream, examples.inputs, self.rule, self.hp["eval_batch_size"], self.cache,
                                         dtype=dtype, progress=self.say, label=label)
        self.truncated += lost
        return src

    def items(self, src: Any, examples: Examples) -> tuple[list[int], list[Any]]:
        """The training items of a split and their loss targets: every sentence with its tag indices, or every
        window that holds its example's first answer with the answer's token positions."""
        if not self.qa:
            return list(range(len(examples))), [tokens.tag_indices(self.task, t) for t in examples.targets]
        pairs = [(i, t) for i, t in enumerate(spans.window_targets(src.windows, examples.targets)) if t is not None]
        if not pairs:
            from benchmark.errors import JobFailed

            raise JobFailed(f"task '{self.task.name}': no training window holds its answer; check the answer starts")
        return [i for i, _ in pairs], [t for _, t in pairs]

    def fit(self, php: dict[str, Any], seed: int, upstream: Any, train: Examples, dev: Examples) -> Any:
        grad = php["mode"] == "finetune"
        src = self.source(upstream, train, "train", grad=grad)
        dev_src = self.source(upstream, dev, "select")
        items, targets = self.items(src, train)
        evaluate = evaluator(self.task, self.registry, self.kind, dev_src, dev.targets, php["eval_batch_size"])
        if not grad and self._stats is None:  # frozen QA reruns the upstream to get them: once per job
            self._stats = tokens.moments(src, items, php["eval_batch_size"])
        return tokens.train(self.task, self.registry, src, items, targets, evaluate, php, seed, self.say,
                            upstream=upstream if grad else None, stats=None if grad else self._stats)

    def predict(self, fitted: Any, upstream: Any, examples: Examples, label: str) -> list[Any]:
        src = self.source(upstream, examples, label)
        if self.qa:
            return spans.predict_answers(self.kind, fitted.model, src, self.hp["eval_batch_size"])[0]
        return tokens.predict_tags(self.task, fitted.model, src, self.hp["eval_batch_size"])[0]

    def passes_per_epoch(self, n: int, batch_size: int) -> int:
        """As tokens.train counts them: several passes over cached word vectors, one over a live source."""
        from benchmark.training import passes_per_epoch

        live = self.qa or not self.cache.enabled
        return 1 if live else passes_per_epoch(n, batch_size)

    def notes(self) -> list[str]:
        out = []
        if self.truncated:
            out.append(f"{self.truncated} words beyond the upstream's window read its last token")
        if self.qa:
            n = sum(len(w) for w in self._windows.values())
            out.append(f"span QA: {n} windows (stride {self.stride} tokens) over the splits read")
        return out


def evaluator(task: TaskSpec, registry: Registry, kind: Any, src: Any, targets: Sequence[Any], batch_size: int
              ) -> Callable[[tokens.UnitModel], tuple[float, float]]:
    """evaluate(model) -> (model-selection score, loss) on a split."""
    if kind.target == "tags":
        idx_targets = [tokens.tag_indices(task, t) for t in targets]

        def evaluate(model: tokens.UnitModel) -> tuple[float, float]:
            preds, outs = tokens.predict_tags(task, model, src, batch_size)
            score = selection_score(task, score_predictions(task, registry, targets, preds))
            return score, tokens.tag_loss(kind, outs, idx_targets)
        return evaluate
    assert isinstance(src, spans.LiveWindows)
    wt = spans.window_targets(src.windows, targets)

    def evaluate_qa(model: tokens.UnitModel) -> tuple[float, float]:
        preds, outs = spans.predict_answers(kind, model, src, batch_size)
        score = selection_score(task, score_predictions(task, registry, targets, preds))
        return score, spans.span_loss(kind, outs, wt)
    return evaluate_qa
