"""Training and prediction of pooled heads (`PooledKind`: classification, regression; `KNNKind`: k-NN), on
benchmark.heads.training's loop.

Frozen mode: the featurizer (softmax layer weights over standardised per-layer features) and the head train on
pooled features read chunk by chunk from the feature cache, shuffled by chunk order and within each chunk, so
memory stays flat whatever the data size. Fine-tune mode: upstream, featurizer and head train together on raw
inputs. Both keep the epoch with the best score on the model-selection split.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from benchmark.features import extract as features
from benchmark.heads.featurizer import Featurizer, pool_layers
from benchmark.heads.protocol import HeadJob, kind_of
from benchmark.heads.training import (
    BestEpoch,
    Fitted,
    HeadModel,
    finetune_optimizer,
    gradient_step,
    length_grouped_batches,
    passes_per_epoch,
    run_epochs,
    score_predictions,
    selection_score,
    step_curve,
)
from benchmark.plugin.registry import Registry
from benchmark.tasks.schema import TaskSpec
from benchmark.types import Examples

Progress = Callable[..., None]


def _noop(*_: Any, **__: Any) -> None:
    pass


def class_weights(task: TaskSpec, ys: torch.Tensor) -> torch.Tensor | None:
    """The task's per-class loss weights: None, or n / (classes x count) for classes present in train."""
    if task.class_weights == "none" or task.labels is None:
        return None
    counts = torch.bincount(ys, minlength=len(task.labels)).float()
    present = counts > 0
    out = torch.zeros_like(counts)
    out[present] = len(ys) / (int(present.sum()) * counts[present])
    return out


def _output_chunks(model: nn.Module, src: Any) -> torch.Tensor:
    """The head's outputs for every row of a feature source, in order."""
    with torch.no_grad():
        return torch.cat([model(torch.from_numpy(np.ascontiguousarray(x))) for _, x in src.chunks()])


def _dev_loss(kind: Any, task: TaskSpec, outputs: torch.Tensor, y_dev: Sequence[Any], mean: float, std: float,
              weight: torch.Tensor | None) -> float:
    """The training loss on the model-selection split (same class weights and target scaling as in training)."""
    y = kind.encode(task, y_dev, mean, std).to(outputs.device)
    with torch.no_grad():
        return float(kind.loss(outputs, y, None if weight is None else weight.to(outputs.device)))


def fit_frozen(kind: Any, task: TaskSpec, registry: Registry, x_train: Any, y_train: Sequence[Any], x_dev: Any,
               y_dev: Sequence[Any], hp: dict[str, Any], seed: int, progress: Progress = _noop) -> Fitted:
    """Train featurizer + head on cached pooled features; keep the epoch with the best model-selection score.

    x_train / x_dev are feature sources (`cache.Features` on disk or `features.ArrayFeatures`): (examples,
    layers, dim) rows read in chunks. An "epoch" is `passes_per_epoch` passes; plain AdamW steps (no clipping);
    early stopping after --patience epochs without improvement (0: at the first).
    """
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    x_train, x_dev = features.resident(x_train), features.resident(x_dev)  # read once, not every epoch
    n_layers, dim = x_train.shape[1], x_train.shape[2]
    featurizer = Featurizer(n_layers, dim, hp["layer"])
    mean_x, std_x = features.moments(x_train)
    featurizer.set_statistics(torch.from_numpy(mean_x), torch.from_numpy(std_x))
    head = kind.build(task, dim, hp["hidden"], hp["dropout"])
    model = HeadModel(featurizer, head)
    mean, std = kind.target_stats(task, y_train)
    y = kind.encode(task, y_train, mean, std)
    weight = kind.loss_weight(task, y)
    opt = torch.optim.AdamW(model.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])
    step = x_train.chunk_rows()
    starts = list(range(0, len(y), step))

    def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for c in torch.randperm(len(starts), generator=gen).tolist():  # chunks in random order...
            start = starts[c]
            x = torch.from_numpy(np.ascontiguousarray(x_train.read(start, start + step)))
            for idx in torch.randperm(len(x), generator=gen).split(hp["batch_size"]):  # ...rows shuffled within
                yield x[idx], y[start + idx]

    def train_step(batch: tuple[torch.Tensor, torch.Tensor], epoch: int, losses: list[float]) -> None:
        xb, yb = batch
        gradient_step(model, opt, None, kind.loss(model(xb), yb, weight), hp, None, epoch, losses, _noop)

    def evaluate() -> tuple[float, float]:
        model.eval()
        out = _output_chunks(model, x_dev)
        score = selection_score(task, score_predictions(task, registry, y_dev, kind.decode(task, out, mean, std)))
        return score, _dev_loss(kind, task, out, y_dev, mean, std, weight)

    keeper = BestEpoch(task, registry, hp["patience"])
    every = run_epochs(model, keeper, hp, passes_per_epoch(len(y), hp["batch_size"]), batches, train_step, evaluate,
                       progress)
    best = keeper.restore(model)
    return Fitted(featurizer, head, mean, std, keeper.epoch, best, len(keeper.curve), keeper.curve, step_curve(every))


def fit_memory(kind: Any, task: TaskSpec, registry: Registry, x_train: Any, y_train: Sequence[Any], x_dev: Any,
               y_dev: Sequence[Any], hp: dict[str, Any], seed: int) -> Fitted:
    """A head with nothing to train (k-NN): it remembers one layer of the training features, as they are (the
    protocol compares raw features by cosine similarity: no standardisation, no learned layer weights); the
    last layer unless --layer names another."""
    torch.manual_seed(seed)  # as a trained head does: the global generator is in the same state after either
    n_layers, dim = x_train.shape[1], x_train.shape[2]
    featurizer = Featurizer(n_layers, dim, -1 if hp["layer"] is None else hp["layer"])
    head = kind.build(task, dim)
    with torch.no_grad():
        bank = torch.cat([featurizer(torch.from_numpy(np.ascontiguousarray(x))) for _, x in x_train.chunks()])
    head.fit(bank, torch.tensor(list(y_train), dtype=torch.long))
    model = HeadModel(featurizer, head).eval()
    pred = kind.decode(task, _output_chunks(model, x_dev), 0.0, 1.0)
    score = selection_score(task, score_predictions(task, registry, y_dev, pred))
    return Fitted(featurizer, head, 0.0, 1.0, 0, score, 0, [])


def train_frozen(task: TaskSpec, registry: Registry, x_train: Any, y_train: Sequence[Any], x_dev: Any,
                 y_dev: Sequence[Any], hp: dict[str, Any], seed: int, progress: Progress = _noop, *,
                 kind: Any = None) -> Fitted:
    """Fit the task's pooled head (`kind`, else the task's registered one) on pooled feature sources."""
    kind = kind if kind is not None else kind_of(registry, task.head)
    return kind.fit_frozen(task, registry, x_train, y_train, x_dev, y_dev, hp, seed, progress)


def predict_frozen(task: TaskSpec, registry: Registry, fitted: Fitted, src: Any, *, kind: Any = None) -> list[Any]:
    kind = kind if kind is not None else kind_of(registry, task.head)
    model = HeadModel(fitted.featurizer, fitted.head).eval()
    return kind.decode(task, _output_chunks(model, src), fitted.target_mean, fitted.target_std)


class _FineTuneModel(nn.Module):
    """Upstream -> pooling -> featurizer -> head, trained together (the upstream registered first: its
    parameters lead, as the optimizer's groups and gradient clipping have always seen them)."""

    def __init__(self, upstream: nn.Module, featurizer: Featurizer, head: nn.Module, pooling: str) -> None:
        super().__init__()
        self.upstream, self.featurizer, self.head, self.pooling = upstream, featurizer, head, pooling

    def forward(self, inputs: Sequence[Any]) -> torch.Tensor:
        hidden = self.upstream(features.upstream_inputs(self.upstream, inputs))
        pooled = pool_layers(hidden, self.pooling)  # (batch, layers, dim)
        return self.head(self.featurizer(pooled.float()))


def train_finetune(task: TaskSpec, registry: Registry, upstream: Any, train: Examples, dev: Examples,
                   hp: dict[str, Any], seed: int, pooling: str, progress: Progress = _noop, *, kind: Any = None
                   ) -> Fitted:
    """Train the whole upstream with the head (AdamW, linear warm-up and decay, gradients clipped to norm 1);
    keep the best epoch (no early stopping). The fitted model is `Fitted.model`."""
    kind = kind if kind is not None else kind_of(registry, task.head)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    featurizer = Featurizer(upstream.num_layers + 1, upstream.hidden_size, hp["layer"])
    head = kind.build(task, upstream.hidden_size, hp["hidden"], hp["dropout"])
    device = features.upstream_device(upstream)
    model = _FineTuneModel(upstream, featurizer, head, pooling).to(device)
    mean, std = kind.target_stats(task, train.targets)
    y = kind.encode(task, train.targets, mean, std).to(device)
    weight = kind.loss_weight(task, y.cpu())
    weight = None if weight is None else weight.to(device)
    opt, sched = finetune_optimizer(upstream, [*featurizer.parameters(), *head.parameters()], hp, len(train))

    def train_step(idx: torch.Tensor, epoch: int, losses: list[float]) -> None:
        loss = kind.loss(model([train.inputs[i] for i in idx]), y[idx], weight)
        gradient_step(model, opt, sched, loss, hp, 1.0, epoch, losses, progress)

    def evaluate() -> tuple[float, float]:
        out = finetune_outputs(model, dev.inputs, hp["eval_batch_size"])
        score = selection_score(task, score_predictions(task, registry, dev.targets,
                                                        kind.decode(task, out, mean, std)))
        return score, _dev_loss(kind, task, out, dev.targets, mean, std, weight)

    if hp.get("group_by_length"):  # opt-in (--group-by-length): batches of similar length, less padding
        lengths = train_lengths(upstream, train.inputs)
        batches: Callable[[], Sequence[torch.Tensor]] = lambda: length_grouped_batches(  # noqa: E731
            lengths, hp["batch_size"], gen)
    else:
        batches = lambda: torch.randperm(len(train), generator=gen).split(hp["batch_size"])  # noqa: E731
    keeper = BestEpoch(task, registry, None)
    every = run_epochs(model, keeper, hp, 1, batches, train_step, evaluate, progress)
    best = keeper.restore(model)
    return Fitted(featurizer, head, mean, std, keeper.epoch, best, len(keeper.curve), keeper.curve, step_curve(every),
                  model=model)


def train_lengths(upstream: Any, inputs: Sequence[Any]) -> list[int]:
    """Each input's length for length-grouped batches: its number of tokens when the upstream tokenises
    (`token_lengths`, as transformers counts input_ids), else bench's cheap length proxy (samples, characters)."""
    counted = getattr(upstream, "token_lengths", None)
    return list(counted(inputs)) if callable(counted) else [features.input_length(x) for x in inputs]


def finetune_outputs(model: nn.Module, inputs: Sequence[Any], batch_size: int) -> torch.Tensor:
    """The model's outputs for `inputs` (on the CPU), in their order; batches are formed by length."""
    model.eval()
    parts: list[tuple[list[int], torch.Tensor]] = []
    with torch.inference_mode():
        for idx in features.length_sorted_batches(inputs, batch_size):
            parts.append((idx, model([inputs[i] for i in idx]).float().cpu()))
    order = torch.tensor([i for idx, _ in parts for i in idx])
    out = torch.cat([o for _, o in parts])
    return out[torch.argsort(order)]


def predict_finetune(task: TaskSpec, registry: Registry, model: nn.Module, inputs: Sequence[Any], batch_size: int,
                     mean: float, std: float, *, kind: Any = None) -> list[Any]:
    kind = kind if kind is not None else kind_of(registry, task.head)
    return kind.decode(task, finetune_outputs(model, inputs, batch_size), mean, std)


class PooledRun:
    """The HeadRun of a pooled head: pooled features of each split (frozen; cached unless --no-cache), or the
    upstream fine-tuned with the head (each grid point from the pretrained weights)."""

    def __init__(self, kind: Any, job: HeadJob) -> None:
        self.kind, self.job = kind, job
        self.x_train: Any = None
        self.x_dev: Any = None

    def features(self, examples: Any, label: str) -> Any:
        j = self.job
        return features.extract(j.upstream, examples.inputs, j.pooling, j.hp["eval_batch_size"], j.cache,
                                dtype=j.hp["dtype"], progress=j.progress, label=label)

    def prepare(self) -> None:
        self.x_train, self.x_dev = self.features(self.job.train, "train"), self.features(self.job.select, "select")

    def fit(self, index: int, hp: dict[str, Any]) -> Fitted:
        j = self.job
        if hp["mode"] == "frozen":
            return train_frozen(j.task, j.registry, self.x_train, j.train.targets, self.x_dev, j.select.targets, hp,
                                j.seed, j.progress, kind=self.kind)
        return train_finetune(j.task, j.registry, j.upstream_for(index), j.train, j.select, hp, j.seed, j.pooling,
                              j.progress, kind=self.kind)

    def predict(self, fitted: Fitted, examples: Any, label: str) -> list[Any]:
        j = self.job
        if j.hp["mode"] == "frozen":
            return predict_frozen(j.task, j.registry, fitted, self.features(examples, label), kind=self.kind)
        assert fitted.model is not None
        return predict_finetune(j.task, j.registry, fitted.model, examples.inputs, j.hp["eval_batch_size"],
                                fitted.target_mean, fitted.target_std, kind=self.kind)

    def passes_per_epoch(self, n: int, batch_size: int) -> int:
        return passes_per_epoch(n, batch_size)

    def notes(self) -> list[str]:
        return []
