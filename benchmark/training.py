"""Head training on frozen features (streamed from the feature cache) and full fine-tuning.

Frozen mode: the featurizer (softmax layer weights over standardised per-layer features) and the head train on
pooled features read chunk by chunk from disk, shuffled by chunk order and within each chunk, so memory stays
flat whatever the data size. Fine-tune mode: upstream, featurizer and head train together on raw inputs. Both
keep the epoch with the best score on the model-selection split.
"""

from __future__ import annotations

import copy
import logging
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from benchmark.errors import JobFailed
from benchmark.features import length_sorted_batches, moments, upstream_device, upstream_inputs
from benchmark.featurizer import Featurizer, pool_layers
from benchmark.registry import Registry
from benchmark.taskspec import TaskSpec
from benchmark.types import Examples

log = logging.getLogger(__name__)
Progress = Callable[..., None]


def _noop(*_: Any, **__: Any) -> None:
    pass


@dataclass
class Fitted:
    """A trained featurizer + head, with what the runner records about how it was selected."""

    featurizer: Featurizer
    head: nn.Module
    target_mean: float
    target_std: float
    best_epoch: int
    select_score: float
    epochs_run: int
    curve: list[dict[str, float]]
    """Per epoch: mean training loss, loss on the model-selection split (dev_loss) and its score."""
    steps: list[dict[str, float]] = field(default_factory=list)
    """Training loss along the optimizer steps (window means, at most STEP_POINTS points)."""


def score_predictions(task: TaskSpec, registry: Registry, y_true: Sequence[Any], y_pred: Sequence[Any]) -> dict[str, float]:
    """Every metric of the task on one split, in percent points."""
    return {m: float(registry.metrics.get(m).obj.fn(y_true, y_pred)) for m in task.metrics}


def selection_score(task: TaskSpec, scores: dict[str, float]) -> float:
    return statistics.fmean(scores[m] for m in task.score)


def direction(task: TaskSpec, registry: Registry) -> int:
    """+1 when the task's scored metrics are better higher (accuracy), -1 when lower (WER). A task's scored
    metrics share one direction: Registry.check refuses a task file that mixes them."""
    return 1 if registry.metrics.get(task.score[0]).obj.higher_is_better else -1


def better(task: TaskSpec, registry: Registry, score: float, than: float) -> bool:
    """Whether a model-selection score beats another, in the direction of the task's metrics."""
    return direction(task, registry) * (score - than) > 0


def _targets(task: TaskSpec, ys: Sequence[Any], mean: float, std: float) -> torch.Tensor:
    if task.labels is not None:
        return torch.tensor(ys, dtype=torch.long)
    return (torch.tensor(ys, dtype=torch.float32) - mean) / std


def class_weights(task: TaskSpec, ys: torch.Tensor) -> torch.Tensor | None:
    """The task's per-class loss weights: None, or n / (classes x count) for classes present in train."""
    if task.class_weights == "none" or task.labels is None:
        return None
    counts = torch.bincount(ys, minlength=len(task.labels)).float()
    present = counts > 0
    out = torch.zeros_like(counts)
    out[present] = len(ys) / (int(present.sum()) * counts[present])
    return out


def _decode(task: TaskSpec, kind: Any, outputs: torch.Tensor, mean: float, std: float) -> list[Any]:
    pred = kind.predict(outputs)
    if task.labels is None:
        return (pred.float() * std + mean).tolist()
    return pred.tolist()


def train_frozen(task: TaskSpec, registry: Registry, x_train: Any, y_train: Sequence[Any], x_dev: Any,
                 y_dev: Sequence[Any], hp: dict[str, Any], seed: int, progress: Progress = _noop) -> Fitted:
    """Train featurizer + head on cached pooled features; keep the epoch with the best model-selection score.

    x_train / x_dev are feature sources (`cache.Features` on disk or `features.ArrayFeatures`): (examples,
    layers, dim) rows read in chunks.
    """
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    kind = registry.downstreams.get(task.head).obj
    n_layers, dim = x_train.shape[1], x_train.shape[2]
    if getattr(kind, "nonparametric", False):
        return _fit_memory(task, registry, kind, x_train, y_train, x_dev, y_dev, hp)
    featurizer = Featurizer(n_layers, dim, hp["layer"])
    mean_x, std_x = moments(x_train)
    featurizer.set_statistics(torch.from_numpy(mean_x), torch.from_numpy(std_x))
    head = kind.build(dim, len(task.labels) if task.labels else None, hp["hidden"], hp["dropout"])
    model = nn.Sequential(featurizer, head)
    mean, std = _target_stats(task, y_train)
    y = _targets(task, y_train, mean, std)
    weight = class_weights(task, y)
    opt = torch.optim.AdamW(model.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])
    step = x_train.chunk_rows()
    starts = list(range(0, len(y), step))
    best_state, best, best_epoch, stale, curve = None, None, 0, 0, []
    every: list[float] = []
    passes = passes_per_epoch(len(y), hp["batch_size"])
    for epoch in range(1, hp["epochs"] + 1):
        model.train()
        losses = []
        for _ in range(passes):
            for c in torch.randperm(len(starts), generator=gen).tolist():
                start = starts[c]
                x = torch.from_numpy(np.ascontiguousarray(x_train.read(start, start + step)))
                for idx in torch.randperm(len(x), generator=gen).split(hp["batch_size"]):
                    loss = kind.loss(model(x[idx]), y[start + idx], *([weight] if weight is not None else []))
                    opt.zero_grad()
                    loss.backward()
                    _step(opt, hp)
                    losses.append(loss.item())
                    if not math.isfinite(losses[-1]):
                        raise _diverged(losses[-1], epoch, len(losses), hp, "lr")
        every += losses
        model.eval()
        dev_out = _output_chunks(model, x_dev)
        dev_pred = _decode(task, kind, dev_out, mean, std)
        score = selection_score(task, score_predictions(task, registry, y_dev, dev_pred))
        curve.append({"epoch": epoch, "train_loss": round(statistics.fmean(losses), 6),
                      "dev_loss": round(_dev_loss(task, kind, dev_out, y_dev, mean, std, weight), 6),
                      "select_score": round(score, 4)})
        progress("epoch", epoch=epoch, epochs=hp["epochs"], score=score)
        if best is None or better(task, registry, score, best):
            best, best_epoch, stale = score, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
            if stale >= hp["patience"]:
                break
    assert best_state is not None and best is not None
    model.load_state_dict(best_state)
    model.eval()
    return Fitted(featurizer, head, mean, std, best_epoch, best, len(curve), curve, step_curve(every))


def _fit_memory(task: TaskSpec, registry: Registry, kind: Any, x_train: Any, y_train: Sequence[Any], x_dev: Any,
                y_dev: Sequence[Any], hp: dict[str, Any]) -> Fitted:
    """A head with nothing to train (k-NN): it remembers one layer of the training features, as they are (the
    protocol compares raw features by cosine similarity: no standardisation, no learned layer weights); the
    last layer unless --layer names another."""
    n_layers, dim = x_train.shape[1], x_train.shape[2]
    featurizer = Featurizer(n_layers, dim, -1 if hp["layer"] is None else hp["layer"])
    head = kind.build(dim, len(task.labels) if task.labels else None)
    with torch.no_grad():
        bank = torch.cat([featurizer(torch.from_numpy(np.ascontiguousarray(x))) for _, x in x_train.chunks()])
    head.fit(bank, torch.tensor(list(y_train), dtype=torch.long))
    model = nn.Sequential(featurizer, head).eval()
    score = selection_score(task, score_predictions(task, registry, y_dev, _predict_chunks(task, kind, model, x_dev,
                                                                                              0.0, 1.0)))
    return Fitted(featurizer, head, 0.0, 1.0, 0, score, 0, [])


class BestEpoch:
    """Model selection over epochs: records each epoch's curve point and keeps a copy of the weights of the epoch
    with the best model-selection score (ties: the earlier epoch); early stopping after `patience` epochs without
    improvement (0: never stop early)."""

    def __init__(self, task: TaskSpec, registry: Registry, patience: int) -> None:
        self.task, self.registry, self.patience = task, registry, patience
        self.best: float | None = None
        self.epoch = self.stale = 0
        self.state: dict[str, torch.Tensor] | None = None
        self.curve: list[dict[str, float]] = []

    def update(self, model: nn.Module, epoch: int, losses: Sequence[float], dev_loss: float, score: float) -> bool:
        """Record the epoch; True when training should stop (patience spent)."""
        self.curve.append({"epoch": epoch, "train_loss": round(statistics.fmean(losses), 6),
                           "dev_loss": round(dev_loss, 6), "select_score": round(score, 4)})
        if self.best is None or better(self.task, self.registry, score, self.best):
            self.best, self.epoch, self.stale = score, epoch, 0
            self.state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            return False
        self.stale += 1
        return bool(self.patience) and self.stale >= self.patience

    def restore(self, model: nn.Module) -> float:
        """Load the best epoch's weights into `model` (eval mode); its score."""
        assert self.state is not None and self.best is not None
        model.load_state_dict(self.state)
        model.eval()
        return self.best


MIN_STEPS_PER_EPOCH = 20


def passes_per_epoch(n: int, batch_size: int) -> int:
    """Passes over the training data between two model-selection checks in frozen mode.

    An "epoch" is at least MIN_STEPS_PER_EPOCH optimizer steps: on a small training set (480 examples at batch
    256 is 2 steps a pass) one pass per check would stop early after a handful of steps, far from converged.
    Data sets with >= 20 batches (e.g. VADER's 6,985 snippets at 256) keep one pass per epoch.
    """
    steps = max(1, math.ceil(n / batch_size))
    return max(1, math.ceil(MIN_STEPS_PER_EPOCH / steps))


STEP_POINTS = 100


def step_curve(losses: Sequence[float], points: int = STEP_POINTS) -> list[dict[str, float]]:
    """Per-step training losses as at most `points` window means, each at its window's last step (1-based)."""
    if not losses:
        return []
    window = max(1, math.ceil(len(losses) / points))
    return [{"step": min(i + window, len(losses)), "train_loss": round(statistics.fmean(losses[i:i + window]), 6)}
            for i in range(0, len(losses), window)]


def _dev_loss(task: TaskSpec, kind: Any, outputs: torch.Tensor, y_dev: Sequence[Any], mean: float, std: float,
              weight: torch.Tensor | None) -> float:
    """The training loss on the model-selection split (same class weights and target scaling as in training)."""
    y = _targets(task, y_dev, mean, std).to(outputs.device)
    with torch.no_grad():
        return float(kind.loss(outputs, y, *([weight.to(outputs.device)] if weight is not None else [])))


def gradient_step(model: nn.Module, opt: torch.optim.Optimizer, sched: Any, loss: torch.Tensor, hp: dict[str, Any],
                  clip: float, epoch: int, losses: list[float], progress: Progress) -> None:
    """One optimizer step on `loss` (gradients clipped to norm `clip`, the scheduler stepped when there is one);
    the loss is appended to `losses`, and a non-finite one fails the job as diverged."""
    opt.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), clip)
    _step(opt, hp)
    if sched is not None:
        sched.step()
    losses.append(loss.item())
    if not math.isfinite(losses[-1]):
        raise _diverged(losses[-1], epoch, len(losses), hp, "lr")
    progress("step", epoch=epoch, epochs=hp["epochs"], loss=losses[-1])


def _step(opt: torch.optim.Optimizer, hp: dict[str, Any]) -> None:
    try:
        opt.step()
    except RuntimeError as err:
        if "overflow" not in str(err):
            raise
        raise JobFailed(f"training diverged: the optimizer step overflowed (lr {hp['lr']:g}); lower --lr") from None


def _diverged(loss: float, epoch: int, step: int, hp: dict[str, Any], knob: str) -> JobFailed:
    return JobFailed(f"training diverged: the loss is {loss} at epoch {epoch}, step {step} (lr {hp[knob]:g}); "
                     "lower --lr or check the data for extreme values")


def _output_chunks(model: nn.Module, src: Any) -> torch.Tensor:
    """The head's outputs for every row of a feature source, in order."""
    with torch.no_grad():
        return torch.cat([model(torch.from_numpy(np.ascontiguousarray(x))) for _, x in src.chunks()])


def _predict_chunks(task: TaskSpec, kind: Any, model: nn.Module, src: Any, mean: float, std: float) -> list[Any]:
    return _decode(task, kind, _output_chunks(model, src), mean, std)


def predict_frozen(task: TaskSpec, registry: Registry, fitted: Fitted, src: Any) -> list[Any]:
    kind = registry.downstreams.get(task.head).obj
    model = nn.Sequential(fitted.featurizer, fitted.head).eval()
    return _predict_chunks(task, kind, model, src, fitted.target_mean, fitted.target_std)


def _target_stats(task: TaskSpec, ys: Sequence[Any]) -> tuple[float, float]:
    if task.labels is not None:
        return 0.0, 1.0
    arr = np.asarray(ys, dtype=float)
    return float(arr.mean()), float(arr.std() or 1.0)


class _FineTuneModel(nn.Module):
    def __init__(self, upstream: nn.Module, featurizer: Featurizer, head: nn.Module, pooling: str) -> None:
        super().__init__()
        self.upstream, self.featurizer, self.head, self.pooling = upstream, featurizer, head, pooling

    def forward(self, inputs: Sequence[Any]) -> torch.Tensor:
        pooled = pool_layers(self.upstream(upstream_inputs(self.upstream, inputs)), self.pooling)  # (batch, layers, dim)
        return self.head(self.featurizer(pooled.float()))


def finetune_optimizer(upstream: nn.Module, head_params: list[nn.Parameter], hp: dict[str, Any],
                       n_train: int) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """AdamW with the upstream at lr and the featurizer + head at head_lr; linear warm-up over the first 10 % of
    the steps, then linear decay to zero."""
    groups = [{"params": list(upstream.parameters()), "lr": hp["lr"]}, {"params": head_params, "lr": hp["head_lr"]}]
    opt = torch.optim.AdamW(groups, weight_decay=hp["weight_decay"])
    steps = hp["epochs"] * math.ceil(n_train / hp["batch_size"])
    warmup = max(1, int(0.1 * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup))))
    return opt, sched


def train_finetune(task: TaskSpec, registry: Registry, upstream: Any, train: Examples, dev: Examples,
                   hp: dict[str, Any], seed: int, pooling: str, progress: Progress = _noop) -> tuple[Fitted, Any]:
    """Train the whole upstream with the head (AdamW, linear warm-up and decay); keep the best epoch."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    kind = registry.downstreams.get(task.head).obj
    featurizer = Featurizer(upstream.num_layers + 1, upstream.hidden_size, hp["layer"])
    head = kind.build(upstream.hidden_size, len(task.labels) if task.labels else None, hp["hidden"], hp["dropout"])
    device = upstream_device(upstream)
    model = _FineTuneModel(upstream, featurizer, head, pooling).to(device)
    mean, std = _target_stats(task, train.targets)
    y = _targets(task, train.targets, mean, std).to(device)
    weight = class_weights(task, y.cpu())
    weight = None if weight is None else weight.to(device)
    opt, sched = finetune_optimizer(upstream, [*featurizer.parameters(), *head.parameters()], hp, len(train))
    best_state, best, best_epoch, curve = None, None, 0, []
    every: list[float] = []
    for epoch in range(1, hp["epochs"] + 1):
        model.train()
        losses = []
        for idx in torch.randperm(len(train), generator=gen).split(hp["batch_size"]):
            loss = kind.loss(model([train.inputs[i] for i in idx]), y[idx], *([weight] if weight is not None else []))
            gradient_step(model, opt, sched, loss, hp, 1.0, epoch, losses, progress)
        every += losses
        dev_out = finetune_outputs(model, dev.inputs, hp["eval_batch_size"])
        dev_pred = _decode(task, kind, dev_out, mean, std)
        score = selection_score(task, score_predictions(task, registry, dev.targets, dev_pred))
        curve.append({"epoch": epoch, "train_loss": round(statistics.fmean(losses), 6),
                      "dev_loss": round(_dev_loss(task, kind, dev_out, dev.targets, mean, std, weight), 6),
                      "select_score": round(score, 4)})
        progress("epoch", epoch=epoch, epochs=hp["epochs"], score=score)
        if best is None or better(task, registry, score, best):
            best, best_epoch = score, epoch
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    assert best_state is not None and best is not None
    model.load_state_dict(best_state)
    model.eval()
    return Fitted(featurizer, head, mean, std, best_epoch, best, len(curve), curve, step_curve(every)), model


def finetune_outputs(model: nn.Module, inputs: Sequence[Any], batch_size: int) -> torch.Tensor:
    """The model's outputs for `inputs` (on the CPU), in their order; batches are formed by length."""
    model.eval()
    parts: list[tuple[list[int], torch.Tensor]] = []
    with torch.inference_mode():
        for idx in length_sorted_batches(inputs, batch_size):
            parts.append((idx, model([inputs[i] for i in idx]).float().cpu()))
    order = torch.tensor([i for idx, _ in parts for i in idx])
    out = torch.cat([o for _, o in parts])
    return out[torch.argsort(order)]


def predict_finetune(task: TaskSpec, registry: Registry, model: nn.Module, inputs: Sequence[Any],
                     batch_size: int, mean: float, std: float) -> list[Any]:
    kind = registry.downstreams.get(task.head).obj
    return _decode(task, kind, finetune_outputs(model, inputs, batch_size), mean, std)
