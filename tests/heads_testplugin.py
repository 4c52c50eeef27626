"""A third-party head kind in one file, loaded by name (BENCH_PLUGINS=heads_testplugin, tests/ on the path): a
multi-label head on the pooled vector (each example has a set of labels, written `a|b` in its label cell), its
metrics, and a task that uses it; an old-style head object (build / loss / predict, target "class"), as
plugins wrote them before head kinds, registered under a name of its own; and a majority-class baseline that
consumes no upstream features at all.

Nothing in bench knows about multi-label targets: the kind converts the label cells, encodes them for its loss,
decodes its outputs, and the metrics it registers take the sets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from benchmark.errors import BenchError
from benchmark.heads.protocol import BaseHead
from benchmark.hookspecs import hookimpl
from benchmark.tasks.schema import parse_task
from downstreams.heads import PooledHead, build_mlp
from downstreams.heads_kinds import PooledKind

LABELS = ["positive", "long", "question"]


@dataclass(frozen=True)
class MultiLabelHead:
    """The module and loss: a logit per label, binary cross-entropy."""

    description: str = "a sigmoid per label on the pooled vector; binary cross-entropy"
    target: str = "labels"

    def build(self, in_dim: int, n_labels: int | None, hidden: int = 0, dropout: float = 0.1) -> Any:
        assert n_labels
        return build_mlp(in_dim, n_labels, hidden, dropout)

    def loss(self, outputs: Any, targets: Any, weight: Any = None) -> Any:
        from torch.nn import functional as F

        return F.binary_cross_entropy_with_logits(outputs, targets)

    def predict(self, outputs: Any) -> Any:
        return outputs > 0


@dataclass(frozen=True)
class MultiLabelKind(PooledKind):
    """Targets are sets of label indices (sorted tuples); predictions too."""

    head: Any = MultiLabelHead()
    metric_kinds: ClassVar[tuple[str, ...]] = ("multilabel",)

    def adopts(self, head: Any) -> bool:
        return False

    def validate(self, task: Any) -> list[str]:
        if task.labels is None:
            return [f"task '{task.name}': head '{task.head}' predicts sets of labels and needs labels"]
        return super().validate(task)

    def convert_target(self, task: Any, value: Any, where: str) -> tuple[int, ...]:
        names = [v.strip() for v in str(value).split("|") if v.strip()]
        bad = [n for n in names if n not in task.labels]
        if bad:
            raise BenchError(f"task '{task.name}': label {bad[0]!r} at {where} is not one of {task.labels}")
        return tuple(sorted(task.labels.index(n) for n in names))

    def encode(self, task: Any, ys: Any, mean: float, std: float) -> Any:
        import torch

        out = torch.zeros(len(ys), len(task.labels))
        for i, labels in enumerate(ys):
            out[i, list(labels)] = 1.0
        return out

    def decode(self, task: Any, outputs: Any, mean: float, std: float) -> list[Any]:
        return [tuple(k for k, on in enumerate(row) if on) for row in self.head.predict(outputs).tolist()]

    def loss_weight(self, task: Any, y: Any) -> None:
        return None


def exact_sets(y_true: Any, y_pred: Any) -> float:
    """Examples whose predicted set is exactly the gold one, in percent."""
    return 100.0 * sum(tuple(t) == tuple(p) for t, p in zip(y_true, y_pred, strict=True)) / max(len(y_true), 1)


def label_f1(y_true: Any, y_pred: Any) -> float:
    """Micro-averaged F1 over (example, label) decisions, in percent."""
    from sklearn.metrics import f1_score
    from sklearn.preprocessing import MultiLabelBinarizer

    binarizer = MultiLabelBinarizer(classes=list(range(len(LABELS))))
    return 100.0 * float(f1_score(binarizer.fit_transform(y_true), binarizer.transform(y_pred), average="micro",
                                  zero_division=0))


def task_body(head: str, labels: list[str], label_col: str, metrics: list[str]) -> dict[str, Any]:
    return {"description": "test task", "version": 1, "modality": "text", "head": head, "labels": labels,
            "metrics": metrics, "score": metrics[:1], "evals": ["dev"],
            "hparams": {"frozen": {"lr": 0.01, "epochs": 4}, "finetune": {"lr": 0.001, "head_lr": 0.01, "epochs": 2,
                                                                         "batch_size": 8}},
            "sources": {"local": {"format": "jsonl", "dir": "MULTI", "inputs": ["text"], "label": label_col,
                                  "splits": {"train": "train.jsonl", "dev": "dev.jsonl"}}}}


OLD_STYLE = PooledHead("an old-style head object: a plain linear classifier", "class")


@hookimpl
def register_downstreams(register: Any) -> None:
    register("multilabel", MultiLabelKind())
    register("old-linear", OLD_STYLE)
    register("majority", MajorityKind())


@hookimpl
def register_metrics(register: Any) -> None:
    register("exact_sets", exact_sets, higher_is_better=True, kind="multilabel")
    register("label_f1", label_f1, higher_is_better=True, kind="multilabel")


@hookimpl
def register_tasks(register: Any) -> None:
    register(parse_task("multi-aspects", task_body("multilabel", LABELS, "labels", ["label_f1", "exact_sets"]),
                        "heads_testplugin"))
    for name, head in (("multi-positive", "classification"), ("multi-positive-old", "old-linear"),
                       ("multi-positive-majority", "majority")):
        register(parse_task(name, task_body(head, ["0", "1"], "positive", ["accuracy"]), "heads_testplugin"))


class MajorityRun:
    """Predicts the training split's most frequent class for everything: reads no upstream features."""

    def __init__(self, job: Any) -> None:
        self.job = job

    def prepare(self) -> None:
        pass

    def fit(self, index: int, hp: dict[str, Any]) -> Any:
        from collections import Counter

        from benchmark.heads.training import Fitted, score_predictions, selection_score

        self.label = Counter(self.job.train.targets).most_common(1)[0][0]
        dev = [self.label] * len(self.job.dev)
        score = selection_score(self.job.task, score_predictions(self.job.task, self.job.registry,
                                                                 self.job.dev.targets, dev))
        return Fitted(None, None, 0.0, 1.0, 0, score, 0, [])

    def predict(self, fitted: Any, examples: Any, label: str) -> list[Any]:
        return [self.label] * len(examples.inputs)

    def passes_per_epoch(self, n: int, batch_size: int) -> int:
        return 0

    def notes(self) -> list[str]:
        return [f"every example gets class {self.label}"]


class MajorityKind(BaseHead):
    """A baseline that consumes nothing."""

    description = "the training split's most frequent class, whatever the input"
    consumes = "nothing"
    target = "class"
    finetunes = False

    def selection_rule(self, task: Any, hp: dict[str, Any], grid: bool) -> str:
        return "none: a baseline"

    def start(self, job: Any) -> MajorityRun:
        return MajorityRun(job)
