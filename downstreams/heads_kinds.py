"""The builtin head kinds (benchmark.heads.protocol.HeadKind): what each consumes and predicts, which tasks it accepts, how
its targets are read. Each wraps a head object of downstreams/heads.py (the module it trains and its loss) and
trains in downstreams/heads_pooled.py, heads_ctc.py or heads_tokens.py, imported when a job starts (listing the
heads must not import torch).

`PooledKind` is also the base of any head on one pooled vector per example: override `build`, `loss`, `encode`,
`decode`, `convert_target` (and `validate`) for targets other than a class index or a real number, e.g. sets of
labels for a multi-label head.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from benchmark.heads.protocol import BaseHead, HeadJob, HeadRun

if TYPE_CHECKING:
    import torch
    from torch import nn

    from benchmark.heads.training import Fitted
    from benchmark.plugin.registry import Registry
    from benchmark.tasks.schema import TaskSpec
    from benchmark.types import Examples


def _noop(*_: Any, **__: Any) -> None:
    pass


@dataclass(frozen=True)
class PooledKind(BaseHead):
    """A head on one vector per example (the upstream's layers pooled over time, then the featurizer's weighted
    sum): frozen, it trains on cached pooled features; fine-tuned, through the upstream. `head` builds the module
    and gives the loss and `predict(outputs)` (see downstreams.heads.PooledHead); targets are class indices (the
    task has labels) or real numbers, standardised for training (it has none)."""

    head: Any
    consumes: ClassVar[str] = "pooled"
    metric_kinds: ClassVar[tuple[str, ...]] = ("classification", "regression")

    @property
    def description(self) -> str:  # type: ignore[override]
        return str(getattr(self.head, "description", ""))

    @property
    def target(self) -> str:  # type: ignore[override]
        return str(getattr(self.head, "target", ""))

    def adopts(self, head: Any) -> bool:
        """Old-style pooled heads (target "class" or "real", build / loss / predict) train as this kind."""
        return (getattr(head, "target", None) in ("class", "real") and not getattr(head, "nonparametric", False)
                and all(callable(getattr(head, m, None)) for m in ("build", "loss", "predict")))

    def with_head(self, head: Any) -> PooledKind:
        return PooledKind(head)

    def validate(self, task: TaskSpec) -> list[str]:
        if task.vocabulary is not None:
            return [f"task '{task.name}': head '{task.head}' reads a pooled vector; a task with a vocabulary needs "
                    "a sequence head such as ctc"]
        return []

    def start(self, job: HeadJob) -> HeadRun:
        from downstreams.heads_pooled import PooledRun

        return PooledRun(self, job)

    # -- how a pooled head trains: the parts a pooled head of another kind overrides ---------------------------
    def build(self, task: TaskSpec, dim: int, hidden: int, dropout: float) -> nn.Module:
        """The head module on (batch, dim) featurized vectors."""
        return self.head.build(dim, len(task.labels) if task.labels else None, hidden, dropout)

    def target_stats(self, task: TaskSpec, ys: Sequence[Any]) -> tuple[float, float]:
        """(mean, std) that `encode` standardises with and `decode` undoes: real targets' own, else (0, 1)."""
        if task.labels is not None:
            return 0.0, 1.0
        import numpy as np

        arr = np.asarray(ys, dtype=float)
        return float(arr.mean()), float(arr.std() or 1.0)

    def encode(self, task: TaskSpec, ys: Sequence[Any], mean: float, std: float) -> torch.Tensor:
        """Targets as the tensor `loss` takes: class indices (long), or standardised reals (float)."""
        import torch

        if task.labels is not None:
            return torch.tensor(ys, dtype=torch.long)
        return (torch.tensor(ys, dtype=torch.float32) - mean) / std

    def decode(self, task: TaskSpec, outputs: torch.Tensor, mean: float, std: float) -> list[Any]:
        """The head's outputs (examples, ...) as predictions the task's metrics take."""
        pred = self.head.predict(outputs)
        if task.labels is None:
            return (pred.float() * std + mean).tolist()
        return pred.tolist()

    def loss_weight(self, task: TaskSpec, y: torch.Tensor) -> torch.Tensor | None:
        """Per-class loss weights (`class_weights: balanced`), or None."""
        from downstreams.heads_pooled import class_weights

        return class_weights(task, y)

    def loss(self, outputs: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
        return self.head.loss(outputs, y, *([weight] if weight is not None else []))

    def fit_frozen(self, task: TaskSpec, registry: Registry, x_train: Any, y_train: Sequence[Any], x_dev: Any,
                   y_dev: Sequence[Any], hp: dict[str, Any], seed: int, progress: Callable[..., None] = _noop
                   ) -> Fitted:
        """Train on pooled feature sources ((examples, layers, dim) rows read in chunks)."""
        from downstreams.heads_pooled import fit_frozen

        return fit_frozen(self, task, registry, x_train, y_train, x_dev, y_dev, hp, seed, progress)


@dataclass(frozen=True)
class KNNKind(PooledKind):
    """Weighted k-nearest neighbours on frozen pooled features (downstreams.heads.KNNHead): nothing is trained;
    the training split's features are the memory."""

    finetunes: ClassVar[bool] = False
    metric_kinds: ClassVar[tuple[str, ...]] = ("classification",)

    def adopts(self, head: Any) -> bool:
        """Old-style heads with `nonparametric = True` (a module with fit(features, labels))."""
        return bool(getattr(head, "nonparametric", False)) and callable(getattr(head, "build", None))

    def with_head(self, head: Any) -> KNNKind:
        return KNNKind(head)

    def check_mode(self, task: TaskSpec, mode: str) -> str | None:
        if mode == "finetune":
            return (f"task '{task.name}' uses head '{task.head}', which trains nothing: it has nothing to "
                    "fine-tune; run it with --mode frozen")
        return None

    def selection_rule(self, task: TaskSpec, hp: dict[str, Any], grid: bool) -> str:
        return "none: the head trains nothing (the training split's features are its memory)"

    def build(self, task: TaskSpec, dim: int, hidden: int = 0, dropout: float = 0.0) -> nn.Module:
        return self.head.build(dim, len(task.labels) if task.labels else None)

    def fit_frozen(self, task: TaskSpec, registry: Registry, x_train: Any, y_train: Sequence[Any], x_dev: Any,
                   y_dev: Sequence[Any], hp: dict[str, Any], seed: int, progress: Callable[..., None] = _noop
                   ) -> Fitted:
        from downstreams.heads_pooled import fit_memory

        return fit_memory(self, task, registry, x_train, y_train, x_dev, y_dev, hp, seed)


@dataclass(frozen=True)
class CTCKind(BaseHead):
    """Transcripts from every frame (downstreams.heads.CTCHead: CTC loss, greedy decoding)."""

    head: Any
    consumes: ClassVar[str] = "frames"
    metric_kinds: ClassVar[tuple[str, ...]] = ("sequence",)

    @property
    def description(self) -> str:  # type: ignore[override]
        return str(getattr(self.head, "description", ""))

    @property
    def target(self) -> str:  # type: ignore[override]
        return "sequence"

    def adopts(self, head: Any) -> bool:
        """Old-style frame heads (target "sequence": build / loss / decode)."""
        return getattr(head, "target", None) == "sequence" and callable(getattr(head, "decode", None))

    def with_head(self, head: Any) -> CTCKind:
        return CTCKind(head)

    def validate(self, task: TaskSpec) -> list[str]:
        if task.vocabulary is None:
            return [f"task '{task.name}': head '{task.head}' emits transcripts and needs a vocabulary"]
        return []

    def start(self, job: HeadJob) -> HeadRun:
        from downstreams.heads_ctc import CTCRun

        return CTCRun(self, job)


@dataclass(frozen=True)
class TaggingKind(BaseHead):
    """A tag per word (downstreams.heads.TaggingHead), on word vectors aligned through the token offsets."""

    head: Any
    consumes: ClassVar[str] = "words"
    metric_kinds: ClassVar[tuple[str, ...]] = ("tags",)

    @property
    def description(self) -> str:  # type: ignore[override]
        return str(getattr(self.head, "description", ""))

    @property
    def target(self) -> str:  # type: ignore[override]
        return "tags"

    def adopts(self, head: Any) -> bool:
        """Old-style tagging heads (target "tags": build / loss)."""
        return getattr(head, "target", None) == "tags" and callable(getattr(head, "loss", None))

    def with_head(self, head: Any) -> TaggingKind:
        return TaggingKind(head)

    def validate(self, task: TaskSpec) -> list[str]:
        if task.labels is None:
            return [f"task '{task.name}': head '{task.head}' tags words and needs labels (the tag set)"]
        return []

    def hub_examples(self, task: TaskSpec, split: Any, inputs: list[str], label: str, where: str) -> Examples:
        from benchmark.tasks.token_data import hub_tagged

        return hub_tagged(task, split, inputs, label, where)

    def start(self, job: HeadJob) -> HeadRun:
        from downstreams.heads_tokens import TaggingRun

        return TaggingRun(self, job)


@dataclass(frozen=True)
class SpanKind(BaseHead):
    """An answer span of the context per (question, context) pair (downstreams.heads.SpanHead)."""

    head: Any
    consumes: ClassVar[str] = "spans"
    metric_kinds: ClassVar[tuple[str, ...]] = ("span",)

    @property
    def description(self) -> str:  # type: ignore[override]
        return str(getattr(self.head, "description", ""))

    @property
    def target(self) -> str:  # type: ignore[override]
        return "span"

    def adopts(self, head: Any) -> bool:
        """Old-style span heads (target "span": build / loss, max_answer_tokens)."""
        return getattr(head, "target", None) == "span" and hasattr(head, "max_answer_tokens")

    def with_head(self, head: Any) -> SpanKind:
        return SpanKind(head)

    def validate(self, task: TaskSpec) -> list[str]:
        if task.labels is not None or task.vocabulary is not None:
            return [f"task '{task.name}': head '{task.head}' answers with a span of the context; drop labels and "
                    "vocabulary"]
        return []

    def hub_examples(self, task: TaskSpec, split: Any, inputs: list[str], label: str, where: str) -> Examples:
        from benchmark.tasks.token_data import hub_qa

        return hub_qa(task, split, inputs, label, where)

    def start(self, job: HeadJob) -> HeadRun:
        from downstreams.heads_tokens import SpanRun

        return SpanRun(self, job)
