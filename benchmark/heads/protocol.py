"""Head kinds: what a task's `head:` names. A head kind is a registered trainer (`HeadKind`); the engine asks it
everything head-specific and never branches on a head's or a target's name.

Write one by subclassing `BaseHead` (it has the defaults) and registering an instance:

    @hookimpl
    def register_downstreams(register):
        register("ordinal", OrdinalHead())          # register(name, kind, *, description="")

A kind declares what it reads from the upstream (`consumes`), what its predictions are (`target`), whether it
can be fine-tuned, which tasks it accepts (`validate`), how a task's raw label becomes a target
(`convert_target`, `hub_examples`) and the model-selection rule it records; `start(job)` gives the `HeadRun`
that trains one job's grid points (`fit`) and predicts with the chosen one (`predict`). Shared machinery to build
on: `benchmark.features.extract` (pooled features and the feature cache), `benchmark.heads.sequence` (frames),
`benchmark.heads.tokens` / `benchmark.heads.spans` (words, QA windows), `benchmark.heads.featurizer.Featurizer` (layer weights),
`benchmark.heads.training` (the loop `run_epochs`, `BestEpoch`, `HeadModel`, `train_units`, `Fitted`). The builtin
kinds (downstreams/heads_kinds.py: classification, regression, knn, ctc, tagging, span-qa) are written so.

Old-style head objects (`build` / `loss` / `predict` and `target = "class"` or `"real"`, as `PooledHead` in
downstreams/heads.py) still register: `kind_of` wraps one in the registered kind that `adopts` it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from benchmark.errors import PluginError

if TYPE_CHECKING:  # the protocol is read by `bench list`, which must not import torch
    from benchmark.tasks.schema import TaskSpec
    from benchmark.types import Examples

Consumes = Literal["pooled", "frames", "words", "spans", "nothing"]
CONSUMES: tuple[str, ...] = ("pooled", "frames", "words", "spans", "nothing")
"""What a head reads: one pooled vector per example per layer ("pooled": `benchmark.features.extract.extract`), every
frame ("frames": `benchmark.heads.sequence`), a vector per word ("words": `benchmark.heads.tokens`), the context tokens of QA
windows ("spans": `benchmark.heads.spans`), or no upstream features at all ("nothing")."""


class Registrations(Protocol):
    """The registry as head kinds use it (`benchmark.plugin.registry.Registry`): its tables, by name (`downstreams`
    holds the head kinds, `metrics` the metrics). A Protocol, so that the registry may ask head kinds to validate
    tasks without the two modules importing each other."""

    downstreams: Any
    metrics: Any


class FitResult(Protocol):
    """What `HeadRun.fit` returns and the job records (`benchmark.heads.training.Fitted` is the builtin one)."""

    featurizer: Any
    """The layer weighting (its `layer_weights()` are recorded), or None for a head that reads no features."""
    best_epoch: int
    select_score: float
    epochs_run: int
    curve: list[dict[str, float]]
    """Per epoch: mean training loss, loss on the model-selection split (dev_loss) and its score."""


@dataclass(frozen=True)
class HeadJob:
    """What a head kind is given for one job (`HeadKind.start`)."""

    task: TaskSpec
    registry: Registrations
    hp: dict[str, Any]
    """The job's hyper-parameters; grid axes (lr, head_lr, hidden, weight_decay, dropout, batch_size) may still be
    lists: `HeadRun.fit` gets one grid point's values."""
    seed: int
    upstream: Any
    """The loaded upstream (frozen: read under inference mode; fine-tuning: the first grid point trains it)."""
    fresh_upstream: Callable[[], Any]
    """A new copy of the upstream with its pretrained weights (each later grid point fine-tunes its own)."""
    cache: Any
    """The feature cache (`benchmark.features.cache.FeatureCache`; `cache.enabled` is False under --no-cache)."""
    train: Examples
    """The training split (already cut to --max-train)."""
    select: Examples
    """The model-selection split (held out of the training data; never one of the task's evaluation splits)."""
    pooling: str
    """mean or cls: how pooled heads pool over time (the task's, unless --pooling says otherwise)."""
    progress: Callable[..., None]
    """progress(event, **fields): "extract" (done, total, label), "step" (epoch, epochs, loss), "epoch" (epoch,
    epochs, score)."""

    @property
    def dev(self) -> Examples:
        """The model-selection split under its old name (`select`)."""
        return self.select

    def upstream_for(self, index: int) -> Any:
        """The upstream grid point `index` fine-tunes: the loaded one for the first, a fresh one for each other."""
        return self.upstream if index == 0 else self.fresh_upstream()


@runtime_checkable
class HeadRun(Protocol):
    """One job of a head kind: its features, the training of each grid point, predictions."""

    def prepare(self) -> None:
        """Frozen mode only, before the first grid point: extract (or plan) the training and model-selection
        features that every grid point reads. The job records the time as durations["extract"]."""

    def fit(self, index: int, hp: dict[str, Any]) -> FitResult:
        """Train grid point `index` (hp: the job's hyper-parameters with this point's values; hp["mode"] is
        "frozen" or "finetune") with the job's seed, and keep its best epoch. The `Fitted` carries what the job
        records: best_epoch, select_score (the model-selection score; the job picks the grid point by it, in the
        direction of the task's metrics), epochs_run, curve (per epoch: epoch, train_loss, dev_loss,
        select_score), steps (the step curve, may be empty), featurizer (its layer_weights() are recorded; None
        for a head that consumes "nothing"), and whatever `predict` needs (model, target_mean / target_std). Raise benchmark.errors.JobFailed for a
        diverged run (the grid point is recorded as failed)."""

    def predict(self, fitted: Any, examples: Any, label: str) -> list[Any]:
        """Predictions for every example of `examples` (`Examples`, or `Unlabeled` test inputs: only .inputs is
        read), in order, with the chosen grid point's `fitted`. Predictions are what the task's metrics take
        beside its targets (class indices, floats, transcripts, tag lists, answer texts...); label names the split
        (cache entries and progress)."""

    def passes_per_epoch(self, n: int, batch_size: int) -> int:
        """Passes over `n` training examples per epoch in frozen mode (recorded in the result's selection)."""

    def notes(self) -> list[str]:
        """Lines for the result's task_info.notes (called after every prediction: counts may cover them all)."""


@runtime_checkable
class HeadKind(Protocol):
    """A kind of downstream head, registered by name through `register_downstreams`."""

    description: str
    consumes: str
    """One of CONSUMES."""
    target: str
    """What the head predicts, e.g. "class", "real", "sequence" (transcripts), "tags", "span". --eval-on lets a
    model answer another task only when both tasks' heads agree on `consumes` and `target`."""
    finetunes: bool
    """Whether --mode finetune can train it (k-NN: it trains nothing)."""
    metric_kinds: tuple[str, ...]
    """The metric kinds (register_metrics' kind=) whose metrics take this head's predictions (documentation)."""

    def validate(self, task: TaskSpec) -> list[str]:
        """Problems of `task` for this head, one line each, naming the task and head (labels or a vocabulary
        missing or not wanted...); `Registry.check` reports them before anything runs."""

    def check_mode(self, task: TaskSpec, mode: str) -> str | None:
        """None when the head can train in `mode` ("frozen" / "finetune"); else why not, as a one-line error."""

    def convert_target(self, task: TaskSpec, value: Any, where: str) -> Any:
        """A raw label cell of a local file (TSV, JSONL, JSON, corpus layout) or Hub column as this head's target;
        raise benchmark.errors.BenchError naming `where` for a bad one. The default (`BaseHead`) maps a label to
        its index in task.labels, a number to a float (no labels), a transcript to normalised text (vocabulary):
        `benchmark.tasks.targets.standard_target`."""

    def hub_examples(self, task: TaskSpec, split: Any, inputs: list[str], label: str, where: str
                     ) -> Examples | None:
        """A Hub dataset split (`datasets.Dataset`) read this head's way (e.g. token lists with ClassLabel tags);
        None: the standard reading (one input per column, targets by `convert_target` or ClassLabel indices)."""

    def selection_rule(self, task: TaskSpec, hp: dict[str, Any], grid: bool) -> str:
        """The model-selection rule in words, for the result (grid: the job had several grid points)."""

    def start(self, job: HeadJob) -> HeadRun:
        """The run of one job."""


class BaseHead:
    """Defaults for a head kind: subclass it, set `consumes`, `target` and `description`, write `start` (and
    `validate` when the head needs labels, a vocabulary...)."""

    description: str = ""
    consumes: str = "pooled"
    target: str = ""
    finetunes: bool = True
    metric_kinds: tuple[str, ...] = ()

    def validate(self, task: TaskSpec) -> list[str]:
        return []

    def check_mode(self, task: TaskSpec, mode: str) -> str | None:
        if mode == "finetune" and not self.finetunes:
            return f"task '{task.name}' uses head '{task.head}', which cannot be fine-tuned; run it with --mode frozen"
        return None

    def convert_target(self, task: TaskSpec, value: Any, where: str) -> Any:
        from benchmark.tasks.targets import standard_target

        return standard_target(task, value, where)

    def hub_examples(self, task: TaskSpec, split: Any, inputs: list[str], label: str, where: str
                     ) -> Examples | None:
        return None

    def selection_rule(self, task: TaskSpec, hp: dict[str, Any], grid: bool) -> str:
        """The epoch with the best score on the model-selection split (early stopping in frozen mode)."""
        rule = (f"epoch with the best '{'+'.join(task.score)}' on the model-selection split"
                + (f" (early stopping, patience {hp['patience']})" if hp["mode"] == "frozen" else ""))
        return f"grid point and {rule}; ties go to the first point in grid order" if grid else rule

    def start(self, job: HeadJob) -> HeadRun:
        raise NotImplementedError(f"{type(self).__name__}.start")


MEMBERS: tuple[str, ...] = ("description", "consumes", "target", "finetunes", "metric_kinds", "validate",
                            "check_mode", "convert_target", "hub_examples", "selection_rule", "start")


def is_head_kind(obj: Any) -> bool:
    """Whether `obj` is meant as a head kind (it has start() and consumes), rather than an old-style head."""
    return callable(getattr(obj, "start", None)) and hasattr(obj, "consumes")


def kind_of(registry: Registrations, name: str) -> HeadKind:
    """The head kind registered as `name`. An old-style head object is wrapped by the first registered kind (by
    name) whose `adopts(obj)` is true, as `kind.with_head(obj)`. Raises PluginError (one line) for a kind that
    lacks part of the protocol, or an object no kind adopts."""
    reg = registry.downstreams.get(name)
    obj = reg.obj
    if is_head_kind(obj):
        lacks = [m for m in MEMBERS if not hasattr(obj, m)]
        if lacks:
            raise PluginError(f"head '{name}' (plugin '{reg.plugin}') lacks {', '.join(lacks)}; subclass "
                              "benchmark.heads.protocol.BaseHead for the defaults")
        if obj.consumes not in CONSUMES:
            raise PluginError(f"head '{name}' (plugin '{reg.plugin}') consumes {obj.consumes!r}; one of "
                              f"{', '.join(CONSUMES)}")
        return obj
    for other in registry.downstreams:
        adopts: Callable[[Any], bool] | None = getattr(other.obj, "adopts", None)
        if is_head_kind(other.obj) and adopts is not None and adopts(obj):
            return other.obj.with_head(obj)  # type: ignore[no-any-return]
    raise PluginError(f"head '{name}' (plugin '{reg.plugin}') is neither a head kind (benchmark.heads.protocol.HeadKind) "
                      "nor an old-style head object a registered kind adopts (target 'class' or 'real' with build, "
                      "loss and predict)")


def declared(registry: Registrations, name: str) -> tuple[str, str]:
    """(consumes, target) of a head: what --eval-on compares."""
    kind = kind_of(registry, name)
    return kind.consumes, kind.target


def head_problems(registry: Registrations, task: TaskSpec) -> Sequence[str]:
    """The head's problems with `task` (its `validate`), or why the head cannot be used at all."""
    try:
        return kind_of(registry, task.head).validate(task)
    except PluginError as err:
        return [str(err)]
