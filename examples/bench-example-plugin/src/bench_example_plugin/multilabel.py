"""The `multi-label` head kind and its metrics, `micro_f1` and `mean_ap`: a head bench itself has never heard of.

Each example has any number of a task's labels. The head is a sigmoid per label on the pooled vector (a logit per
label, binary cross-entropy: torch's BCEWithLogits); targets are 0/1 indicator lists (a label cell `a|b` in the
task's file, empty for none); predictions are each label's probability, rounded to 4 decimals, because mean
average precision ranks examples by score and a set of labels has none. `micro_f1` thresholds them at 0.5.

It reuses bench's pooled-head machinery (`downstreams.heads_kinds.PooledKind`: cached pooled features and
layer weights in frozen mode, the upstream trained with the head in fine-tune mode, the shared training loop and
model selection) and overrides only what differs: the module's output size, how a label cell becomes a target,
how targets become the tensor the loss takes, the loss, and how outputs become predictions. It also starts each
label's output bias at the log-odds of its training frequency (Lin et al. 2017, "Focal Loss", section 4.1), so
that probabilities are calibrated from the first step: early stopping on a ranking metric such as mAP may keep
an early epoch, and a bias still near 0 (every probability near 0.5) would make the 0.5 threshold of micro-F1
meaningless for a rare label.

Importing this module imports neither torch nor scikit-learn (`bench --help` stays fast).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar

from benchmark.errors import BenchError
from downstreams.heads_kinds import PooledKind

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

    from benchmark.heads import HeadJob, HeadRun
    from benchmark.tasks.schema import TaskSpec

SEPARATOR = "|"
THRESHOLD = 0.5  # a label is predicted when its probability reaches this


@dataclass(frozen=True)
class MultiLabelKind(PooledKind):
    """A sigmoid per label on the pooled vector; binary cross-entropy; per-label probabilities as predictions."""

    head: Any = None  # PooledKind's old-style head object: this kind needs none, it builds its own module
    prior: tuple[float, ...] | None = None
    """Each label's frequency in the job's training split (set by `start`): the output biases start at its log-odds."""
    description: ClassVar[str] = ("a sigmoid per label on the pooled vector (binary cross-entropy); predicts each "
                                  "label's probability (example plugin)")
    target: ClassVar[str] = "labels"
    metric_kinds: ClassVar[tuple[str, ...]] = ("multi-label",)

    def adopts(self, head: Any) -> bool:
        return False  # never take over another plugin's old-style head objects

    def validate(self, task: TaskSpec) -> list[str]:
        if not task.labels:
            return [f"task '{task.name}': head '{task.head}' predicts a subset of the task's labels and needs "
                    "labels (e.g. labels: [a, b, c])"]
        return super().validate(task)

    def labels(self, task: TaskSpec) -> list[str]:
        """The task's labels (`validate` has refused a task without any before anything runs)."""
        problems = self.validate(task)
        if problems:
            raise BenchError(problems[0])
        return list(task.labels or ())

    def convert_target(self, task: TaskSpec, value: Any, where: str) -> tuple[int, ...]:
        """A label cell ('a|b', '' for none; a JSON list of names also works) as a 0/1 indicator per label."""
        labels = self.labels(task)
        names = value if isinstance(value, list | tuple) else str(value).split(SEPARATOR)
        names = [str(n).strip() for n in names if str(n).strip()]
        bad = next((n for n in names if n not in labels), None)
        if bad is not None:
            raise BenchError(f"task '{task.name}': label {bad!r} at {where} is not one of {labels} (several labels "
                             f"are written {SEPARATOR.join(labels[:2])})")
        return tuple(int(label in names) for label in labels)

    def start(self, job: HeadJob) -> HeadRun:
        """PooledKind's run (frozen or fine-tuned), with this job's label frequencies for the output biases. With
        `class_weights: balanced` the weighted loss is best at logit 0 for every label: the biases start there."""
        from downstreams.heads_pooled import PooledRun

        ys = job.train.targets
        prior = (None if job.task.class_weights == "balanced" else
                 tuple(sum(y[k] for y in ys) / max(len(ys), 1) for k in range(len(self.labels(job.task)))))
        return PooledRun(replace(self, prior=prior), job)

    def build(self, task: TaskSpec, dim: int, hidden: int, dropout: float) -> nn.Module:
        import math

        import torch
        from torch import nn

        from downstreams.heads import build_mlp  # the builtin probe: linear, or an MLP with --hidden N

        module = build_mlp(dim, len(self.labels(task)), hidden, dropout)  # (batch, dim) -> (batch, labels) logits
        if self.prior is not None:
            odds = [math.log(p / (1 - p)) for p in (min(max(p, 1e-3), 1 - 1e-3) for p in self.prior)]
            last = [m for m in module.modules() if isinstance(m, nn.Linear)][-1]
            with torch.no_grad():
                last.bias.copy_(torch.tensor(odds))
        return module

    def target_stats(self, task: TaskSpec, ys: Sequence[Any]) -> tuple[float, float]:
        return 0.0, 1.0  # indicators are not standardised

    def encode(self, task: TaskSpec, ys: Sequence[Any], mean: float, std: float) -> torch.Tensor:
        import torch

        return torch.tensor([list(y) for y in ys], dtype=torch.float32).reshape(len(ys), len(self.labels(task)))

    def loss_weight(self, task: TaskSpec, y: torch.Tensor) -> torch.Tensor | None:
        """`class_weights: balanced` weighs each label's positives by its negatives / positives in train."""
        if task.class_weights == "none":
            return None
        positives = y.sum(0)  # (labels,)
        return (len(y) - positives) / positives.clamp(min=1.0)

    def loss(self, outputs: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
        from torch import nn

        return nn.functional.binary_cross_entropy_with_logits(outputs, y, pos_weight=weight)

    def decode(self, task: TaskSpec, outputs: torch.Tensor, mean: float, std: float) -> list[Any]:
        import torch

        probs = torch.sigmoid(outputs.float()).tolist()  # (examples, labels)
        return [[round(p, 4) for p in row] for row in probs]  # rounded as Python floats: short, stable JSON


def _matrix(values: Sequence[Any]) -> np.ndarray:
    """Per-example rows (lists, tuples, or a 1-D object array of them, as bench's bootstrap passes) as a 2-D array."""
    import numpy as np

    rows = [np.asarray(v, dtype=float) for v in values]
    return np.stack(rows) if rows else np.zeros((0, 0))


def micro_f1(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    """F1 over every (example, label) decision, predictions thresholded at 0.5, in percent."""
    from sklearn.metrics import f1_score

    truth, scores = _matrix(y_true), _matrix(y_pred)
    return 100.0 * float(f1_score(truth.astype(int), (scores >= THRESHOLD).astype(int), average="micro",
                                  zero_division=0))


def mean_ap(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    """Mean over labels of each label's average precision (macro mAP), in percent. A label with no positive
    example in `y_true` has no average precision and is left out of the mean (scikit-learn would warn and
    count it as 0); 0.0 when no label has one."""
    import numpy as np
    from sklearn.metrics import average_precision_score

    truth, scores = _matrix(y_true), _matrix(y_pred)
    present = truth.sum(0) > 0 if truth.size else np.zeros(0, dtype=bool)
    if not present.any():
        return 0.0
    return 100.0 * float(average_precision_score(truth[:, present].astype(int), scores[:, present],
                                                 average="macro"))
