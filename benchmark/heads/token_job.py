"""The HeadRun of a head that reads a unit source (a vector per word, or per context token of a QA window):
which feature source each split reads, how a grid point trains (`benchmark.heads.training.train_units`), how a split is
predicted. The builtin tagging and span-qa heads (downstreams/heads_tokens.py) are subclasses; a subclass says
how a split becomes a source, which items train with which targets, their loss, how to evaluate and predict."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from benchmark.heads import tokens
from benchmark.heads.protocol import HeadJob
from benchmark.heads.training import Fitted, HeadModel, passes_per_epoch, train_units
from benchmark.types import Examples


class UnitRun:
    """The feature sources and training of one job (all of its grid points) of a unit-level head."""

    def __init__(self, kind: Any, job: HeadJob) -> None:
        self.kind, self.job = kind, job
        self.task, self.registry, self.hp, self.cache, self.say = job.task, job.registry, job.hp, job.cache, job.progress
        self._frozen: dict[str, Any] = {}  # label -> the split's frozen source, shared by every grid point
        self._stats: Any = None

    # -- what a subclass says ------------------------------------------------------------------------------------
    def make_source(self, upstream: Any, examples: Examples, label: str, grad: bool) -> Any:
        """A split's unit source (`src.batch(idx) -> (x, lengths)`, `src.length(i)`, `len(src)`, `.layers`,
        `.dim`), read through `upstream` (with gradients when `grad`)."""
        raise NotImplementedError

    def items(self, src: Any, examples: Examples) -> tuple[list[int], list[Any]]:
        """The training items of a split's source and their loss targets."""
        raise NotImplementedError

    def unit_loss(self, outputs: torch.Tensor, lengths: torch.Tensor, ys: Sequence[Any]) -> torch.Tensor:
        """A batch's loss: the head's outputs (batch, units, ...), real units per item, the items' targets."""
        raise NotImplementedError

    def evaluator(self, src: Any, targets: Sequence[Any], batch_size: int
                  ) -> Callable[[HeadModel], tuple[float, float]]:
        """evaluate(model) -> (model-selection score, loss) on a split's source with its targets."""
        raise NotImplementedError

    def predict_source(self, model: HeadModel, src: Any, batch_size: int) -> list[Any]:
        raise NotImplementedError

    def passes_per_epoch(self, n: int, batch_size: int) -> int:
        """Frozen: several passes over cached features; a live source runs the upstream on every batch: one."""
        return passes_per_epoch(n, batch_size)

    def notes(self) -> list[str]:
        return []

    # -- the run -------------------------------------------------------------------------------------------------
    def source(self, upstream: Any, examples: Examples, label: str, grad: bool = False) -> Any:
        """A split's feature source. Frozen sources are made once per split (a cached split is read from disk
        once, not once per grid point); fine-tuning ones read the grid point's own upstream."""
        frozen = not grad and self.hp["mode"] == "frozen"
        if frozen and label in self._frozen:
            return self._frozen[label]
        src = self.make_source(upstream, examples, label, grad)
        if frozen:
            self._frozen[label] = src
        return src

    def prepare(self) -> None:
        """Extract (a cached source) or plan (QA windows) the training and selection splits before the grid."""
        self.source(self.job.upstream, self.job.train, "train")
        self.source(self.job.upstream, self.job.select, "select")

    def fit(self, index: int, hp: dict[str, Any]) -> Fitted:
        grad = hp["mode"] == "finetune"
        upstream = self.job.upstream_for(index) if grad else self.job.upstream
        train, dev = self.job.train, self.job.select
        src = self.source(upstream, train, "train", grad=grad)
        dev_src = self.source(upstream, dev, "select")
        items, targets = self.items(src, train)
        evaluate = self.evaluator(dev_src, dev.targets, hp["eval_batch_size"])
        if not grad and self._stats is None:  # frozen QA reruns the upstream to get them: once per job
            self._stats = tokens.moments(src, items, hp["eval_batch_size"])
        by_item = dict(zip(items, targets, strict=True))
        n_out = len(self.task.labels) if self.task.labels else None
        return train_units(
            self.task, self.registry, src, items,
            lambda dim: self.kind.head.build(dim, n_out, hp["hidden"], hp["dropout"]),
            lambda out, lengths, idx: self.unit_loss(out, lengths, [by_item[i] for i in idx]), evaluate, hp,
            self.job.seed, self.say, upstream=upstream if grad else None, stats=lambda: self._stats,
            passes=1 if grad else self.passes_per_epoch(len(items), hp["batch_size"]), clip=1.0 if grad else 5.0)

    def predict(self, fitted: Fitted, examples: Any, label: str) -> list[Any]:
        assert fitted.model is not None
        up = fitted.model.upstream  # the fine-tuned upstream, or None (frozen: the job's)
        src = self.source(up if up is not None else self.job.upstream, examples, label)
        return self.predict_source(fitted.model, src, self.hp["eval_batch_size"])
