"""The data that crosses plugin boundaries: hidden states, the upstream protocol, examples, results.

Kept free of heavy imports: `torch` is only named for type checkers, so importing this module (as the
CLI does for `--help`) stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch

Modality = Literal["text", "speech", "image"]
TextInput = str | tuple[str, str]


@dataclass(frozen=True)
class HiddenStates:
    """Every layer of an upstream for one batch.

    layers[0] is the input embedding layer and layers[L] the last layer; each is (batch, time, dim).
    mask is (batch, time) bool, True where a position holds real input. offsets, for text upstreams, is
    (batch, time, 2) long: the character span each token covers in its source string, (-1, -1) for special
    and padding tokens; segments (batch, time) long says which string of a pair a token came from (-1 for
    special and padding tokens).
    """

    layers: tuple[torch.Tensor, ...]
    mask: torch.Tensor
    offsets: torch.Tensor | None = None
    segments: torch.Tensor | None = None

    @property
    def num_layers(self) -> int:
        """Number of transformer (or conv) layers L; len(layers) == L + 1."""
        return len(self.layers) - 1


@runtime_checkable
class Upstream(Protocol):
    """What every upstream provides. Upstreams are `torch.nn.Module`s, so they can be fine-tuned.

    `forward` takes raw inputs (str or (str, str) for text; a 1-D float waveform at `sample_rate` for speech;
    a CHW float image for vision) and owns all preprocessing. `reinitialize` implements the seed variants:
    scope "all" gives `NAME+rand` (same architecture, random weights), "embeddings" gives `NAME+re-emb`.
    """

    name: str
    modality: Modality
    num_layers: int
    hidden_size: int
    n_parameters: int
    sample_rate: int | None
    fingerprint: str

    def forward(self, inputs: Sequence[Any]) -> HiddenStates: ...

    def reinitialize(self, scope: Literal["all", "embeddings"], seed: int) -> None: ...


class UpstreamFactory(Protocol):
    """Builds an upstream: factory(arg, *, name, trust_remote_code=False[, modifiers=(...)]) -> Upstream.

    The core calls it as `factory(spec.arg, name=spec.text, trust_remote_code=...)` (benchmark.plugin.specs
    .build_upstream). `arg` is what the user wrote after 'NAME:' (or None); `name` is the whole spec
    (`myenc:x+rand`), which the upstream reports as its own `name`. A factory whose signature has a `modifiers`
    parameter also receives the spec's modifiers (("rand",) for NAME+rand). Optional extras, each a Protocol in
    benchmark.interfaces: `missing`, `needs`, `fingerprint`, `hparams`.
    """

    def __call__(self, arg: str | None, *, name: str, trust_remote_code: bool = False) -> Upstream: ...


@dataclass(frozen=True)
class Examples:
    """One split of a task: model inputs and targets, in file order.

    inputs holds one str per example for single-sentence tasks and a (str, str) pair for pair tasks.
    targets holds class indices (int) for classification and floats for regression.
    """

    inputs: tuple[Any, ...]
    targets: tuple[Any, ...]

    def __len__(self) -> int:
        return len(self.inputs)

    def subset(self, indices: Sequence[int]) -> Examples:
        """The examples at `indices`, in that order."""
        return Examples(tuple(self.inputs[i] for i in indices), tuple(self.targets[i] for i in indices))


@dataclass(frozen=True)
class Unlabeled:
    """A split without labels (a benchmark's hidden test set): each example's index in its source, and its inputs."""

    index: tuple[Any, ...]
    inputs: tuple[Any, ...]

    def __len__(self) -> int:
        return len(self.inputs)


@dataclass(frozen=True)
class TaskData:
    """The splits a job uses: `train`, `select` (the model-selection split, held out of the training data; a
    benchmark's own dev split, when it is what a task is scored on, is one of `evals`) and one or more named
    evaluation splits."""

    train: Examples
    select: Examples
    evals: dict[str, Examples]
    revision: str
    """Where the data came from, precisely enough to tell two versions apart (recorded in results)."""
    notes: tuple[str, ...] = ()
    tests: dict[str, Unlabeled] = field(default_factory=dict)
    """The task's unlabeled test splits, loaded only for `--predict-test` (e.g. GLUE's, for a submission)."""

    @property
    def dev(self) -> Examples:
        """The model-selection split under its old name (`select`)."""
        return self.select


@dataclass(frozen=True)
class Result:
    """One finished job. Serialised as one JSON file by `benchmark.engine.results`."""

    job_id: str
    upstream: str
    task: str
    suite: tuple[str, ...]
    seed: int
    mode: str
    scores: dict[str, float]
    main_score: float
    relative_to_human: float | None
    hyperparameters: dict[str, Any]
    upstream_info: dict[str, Any]
    task_info: dict[str, Any]
    selection: dict[str, Any]
    layer_weights: list[float] | None
    durations: dict[str, float]
    environment: dict[str, Any]
    n_examples: dict[str, int] = field(default_factory=dict)
    predictions: dict[str, list[Any]] = field(default_factory=dict)
    """Per evaluation split, the prediction for every example in file order (for CIs and paired tests)."""
    targets: dict[str, list[Any]] = field(default_factory=dict)
    test_predictions: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    """With --predict-test, per unlabeled test split: {"index": [...], "prediction": [...]} (as `predictions`)."""
    transfer: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per other task the model was evaluated on zero-shot (--eval-on): its scores, main score, human-relative
    score, language, data revision, sizes, and per-example predictions and targets."""
    inputs: dict[str, Any] = field(default_factory=dict)
    """Digests of what produced the result (upstream fingerprint, task definition, data revision; see
    benchmark.engine.inputs): a rerun redoes the job when one of them changed."""
    finished_at: str | None = None
    schema: int = 1
