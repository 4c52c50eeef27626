"""The one training loop every head kind shares, and its model selection.

`run_epochs` is the loop: epochs x passes x batches -> a gradient step each -> evaluate on the model-selection
split -> `BestEpoch.update` (keep the best epoch's weights) -> early stop. A head kind supplies its batches, how
one batch becomes a loss and a step, and how to evaluate; `train_units` is that loop for heads that read a
sequence of vectors per item (frames, words, context tokens), and pooled heads call `run_epochs` directly
(downstreams/heads_pooled.py). `HeadModel` is the model all of them train: featurizer + head (+ the upstream
when fine-tuning).
"""

from __future__ import annotations

import logging
import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from benchmark.errors import JobFailed
from benchmark.features.extract import upstream_device
from benchmark.heads.featurizer import Featurizer
from benchmark.plugin.registry import Registry
from benchmark.tasks.schema import TaskSpec

log = logging.getLogger(__name__)
Progress = Callable[..., None]


def _noop(*_: Any, **__: Any) -> None:
    pass


@dataclass
class Fitted:
    """A trained featurizer + head, with what the job records about how it was selected."""

    featurizer: Featurizer | None
    """The layer weighting (its layer_weights() are recorded); None for a head that reads no upstream features."""
    head: nn.Module | None
    target_mean: float
    target_std: float
    best_epoch: int
    select_score: float
    epochs_run: int
    curve: list[dict[str, float]]
    """Per epoch: mean training loss, loss on the model-selection split (dev_loss) and its score."""
    steps: list[dict[str, float]] = field(default_factory=list)
    """Training loss along the optimizer steps (window means, at most STEP_POINTS points)."""
    model: nn.Module | None = None
    """The whole trained model where prediction needs more than featurizer + head (e.g. the fine-tuned upstream)."""


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


class BestEpoch:
    """Model selection over epochs: records each epoch's curve point and keeps a copy of the weights of the epoch
    with the best model-selection score (ties: the earlier epoch). Early stopping once `patience` epochs in a row
    did not improve; None: never stop early. (Pooled heads pass --patience as it is, so 0 stops at the first
    epoch that does not improve; the sequence heads pass None for 0: the two kept their historic meanings.)"""

    def __init__(self, task: TaskSpec, registry: Registry, patience: int | None) -> None:
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
        return self.patience is not None and self.stale >= self.patience

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


def gradient_step(model: nn.Module, opt: torch.optim.Optimizer, sched: Any, loss: torch.Tensor, hp: dict[str, Any],
                  clip: float | None, epoch: int, losses: list[float], progress: Progress) -> None:
    """One optimizer step on `loss` (gradients clipped to norm `clip` unless None, the scheduler stepped when there
    is one); the loss is appended to `losses`, and a non-finite one fails the job as diverged."""
    opt.zero_grad()
    loss.backward()
    if clip is not None:
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


def finetune_optimizer(upstream: nn.Module, head_params: list[nn.Parameter], hp: dict[str, Any],
                       n_train: int) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """AdamW with the upstream at lr and the featurizer + head at head_lr; linear warm-up over the first 10 % of
    the steps, then linear decay to zero."""
    groups = [{"params": list(upstream.parameters()), "lr": hp["lr"]}, {"params": head_params, "lr": hp["head_lr"]}]
    # foreach: torch picks it by itself only on accelerators; on a CPU its default is a per-tensor loop, slower
    # on MiniLM's 22.7 M parameters, with bit-identical results. The fused kernel (--fused-optimizer, the Trainer's
    # default) is faster still but changes the last bits, so published fine-tunes would not reproduce: opt-in.
    impl = {"fused": True} if hp.get("fused_optimizer") else {"foreach": True}
    opt = torch.optim.AdamW(groups, weight_decay=hp["weight_decay"], **impl)
    steps = hp["epochs"] * math.ceil(n_train / hp["batch_size"])
    warmup = max(1, int(0.1 * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup))))
    return opt, sched


class HeadModel(nn.Module):
    """Featurizer + head, and when fine-tuning the upstream they read (registered last, so that the parameter
    order, and with it gradient clipping's sums, stays what it was).

    forward(x, lengths): x is pooled vectors (batch, layers, dim) or sequences (batch, units, layers, dim) of
    frames, words or context tokens, lengths (batch,) each item's real units. A head module whose
    `takes_lengths` is true is called as head(z, lengths), any other as head(z)."""

    def __init__(self, featurizer: Featurizer, head: nn.Module, upstream: nn.Module | None = None) -> None:
        super().__init__()
        self.featurizer, self.head, self.upstream = featurizer, head, upstream

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        z = self.featurizer(x)  # (batch, [units,] dim)
        return self.head(z, lengths) if getattr(self.head, "takes_lengths", False) else self.head(z)


def run_epochs(model: nn.Module, keeper: BestEpoch, hp: dict[str, Any], passes: int,
               batches: Callable[[], Iterable[Any]], train_step: Callable[[Any, int, list[float]], None],
               evaluate: Callable[[], tuple[float, float]], progress: Progress = _noop) -> list[float]:
    """The training loop. Each epoch: `passes` times over `batches()` (drawn anew each pass, lazily: the shuffles
    come from the head's own generator in the order the batches are used), `train_step(batch, epoch, losses)`
    for each (it takes one gradient step and appends its loss); then `evaluate()` -> (model-selection score, loss
    on that split), and `keeper` records the epoch and says whether to stop. Returns every step's loss."""
    every: list[float] = []
    for epoch in range(1, hp["epochs"] + 1):
        model.train()
        losses: list[float] = []
        for _ in range(passes):
            for batch in batches():
                train_step(batch, epoch, losses)
        every += losses
        score, dev_loss = evaluate()
        stop = keeper.update(model, epoch, losses, dev_loss, score)
        progress("epoch", epoch=epoch, epochs=hp["epochs"], score=score)
        if stop:
            break
    return every


def length_batches(length: Callable[[int], int], items: Sequence[int], batch_size: int, gen: torch.Generator
                   ) -> list[list[int]]:
    """Shuffled batches of similar length: a random order of `items`, sorted by `length` within windows of 20
    batches, the batches themselves in random order."""
    order = [items[i] for i in torch.randperm(len(items), generator=gen).tolist()]
    window = batch_size * 20
    out: list[list[int]] = []
    for w in range(0, len(order), window):
        part = sorted(order[w:w + window], key=length)
        out.extend(part[i:i + batch_size] for i in range(0, len(part), batch_size))
    return [out[i] for i in torch.randperm(len(out), generator=gen).tolist()]


def length_grouped_batches(lengths: Sequence[int], batch_size: int, gen: torch.Generator) -> list[torch.Tensor]:
    """One epoch's batches as transformers' `group_by_length` forms them (its LengthGroupedSampler,
    get_length_grouped_indices): a random order cut into megabatches of min(n // (4 x batch_size), 50) batches (at
    least one), each sorted longest first (stably), the longest item of all swapped to the very front so that an
    out-of-memory shows at the first step, and the result cut into batches in that order. Similar lengths share a
    batch (less padding) while the megabatches stay in random order."""
    n = len(lengths)
    size = max(1, min(n // (batch_size * 4), 50)) * batch_size
    order = torch.randperm(n, generator=gen).tolist()
    megas = [sorted(order[i:i + size], key=lambda j: lengths[j], reverse=True) for i in range(0, n, size)]
    if megas:
        longest = max(range(len(megas)), key=lambda m: lengths[megas[m][0]])  # the first of equals, as argmax
        megas[0][0], megas[longest][0] = megas[longest][0], megas[0][0]
    flat = [i for m in megas for i in m]
    return [torch.tensor(flat[i:i + batch_size]) for i in range(0, n, batch_size)]


def train_units(task: TaskSpec, registry: Registry, src: Any, items: Sequence[int],
                build_head: Callable[[int], nn.Module],
                unit_loss: Callable[[torch.Tensor, torch.Tensor, list[int]], torch.Tensor],
                evaluate: Callable[[HeadModel], tuple[float, float]], hp: dict[str, Any], seed: int,
                progress: Progress = _noop, *, upstream: nn.Module | None = None,
                stats: Callable[[], tuple[torch.Tensor, torch.Tensor]] | None = None, passes: int = 1,
                clip: float = 5.0) -> Fitted:
    """Train featurizer + head (and the upstream, when given: fine-tuning) on the `items` of a unit source.

    src: items read as (batch, units, layers, dim) blocks: `src.batch(idx) -> (x, lengths)`, `src.length(i)`,
    `src.layers`, `src.dim`. build_head(dim) makes the head module; unit_loss(outputs, lengths, idx) is a batch's
    loss; evaluate(model) -> (model-selection score, loss on that split). Frozen: the featurizer standardises with
    `stats()` (per-(layer, dim) mean and std), AdamW at lr, early stopping after --patience epochs (0: never);
    fine-tuning: `finetune_optimizer`, no early stopping. Keeps the best epoch."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    featurizer = Featurizer(src.layers, src.dim, hp["layer"])
    if upstream is None:  # frozen: standardise each layer
        assert stats is not None
        featurizer.set_statistics(*stats())
    head = build_head(src.dim)
    for part in head.modules():  # --fused-lstm: a head's BiLSTM modules say how they run (downstreams/bilstm.py)
        if hasattr(part, "fused_lstm"):
            part.fused_lstm = bool(hp.get("fused_lstm"))
    model = HeadModel(featurizer, head, upstream)
    device = upstream_device(upstream) if upstream is not None else "cpu"
    model.to(device)
    if upstream is None:
        opt = torch.optim.AdamW([*featurizer.parameters(), *head.parameters()], lr=hp["lr"],
                                weight_decay=hp["weight_decay"])
        sched = None
    else:
        opt, sched = finetune_optimizer(upstream, [*featurizer.parameters(), *head.parameters()], hp, len(items))
    keeper = BestEpoch(task, registry, (hp["patience"] or None) if upstream is None else None)

    def train_step(idx: list[int], epoch: int, losses: list[float]) -> None:
        x, lengths = src.batch(idx)
        loss = unit_loss(model(x.to(device), lengths.to(device)), lengths, idx)
        gradient_step(model, opt, sched, loss, hp, clip, epoch, losses, progress)

    every = run_epochs(model, keeper, hp, passes, lambda: length_batches(src.length, items, hp["batch_size"], gen),
                       train_step, lambda: evaluate(model), progress)
    best = keeper.restore(model)
    return Fitted(featurizer, head, 0.0, 1.0, keeper.epoch, best, len(keeper.curve), keeper.curve, step_curve(every),
                  model=model)
