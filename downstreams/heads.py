"""Builtin heads on a pooled vector: classification (cross-entropy) and regression (MSE on standardised targets)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from benchmark.hookspecs import hookimpl

if TYPE_CHECKING:  # torch is imported when a head is built, not when the plugin loads
    import torch
    from torch import nn


def build_mlp(in_dim: int, out_dim: int, hidden: int = 0, dropout: float = 0.1) -> nn.Module:
    """A linear layer (hidden=0, the standard probe) or a one-hidden-layer MLP."""
    from torch import nn

    if hidden <= 0:
        return nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, out_dim))
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(dropout),
                         nn.Linear(hidden, out_dim))


@dataclass(frozen=True)
class PooledHead:
    """A head that reads one vector per example. `target` says what the task's targets are."""

    description: str
    target: str  # "class" or "real"

    def build(self, in_dim: int, n_labels: int | None, hidden: int = 0, dropout: float = 0.1) -> nn.Module:
        out = n_labels if self.target == "class" else 1
        if not out:
            raise ValueError("a classification head needs the task's labels")
        return build_mlp(in_dim, out, hidden, dropout)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        from torch.nn import functional as F

        if self.target == "class":
            return F.cross_entropy(outputs, targets)
        return F.mse_loss(outputs.squeeze(-1), targets)

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs.argmax(-1) if self.target == "class" else outputs.squeeze(-1)


CLASSIFICATION = PooledHead("linear (or MLP) classifier on the pooled vector; cross-entropy", "class")
REGRESSION = PooledHead("linear (or MLP) regressor on the pooled vector; MSE on standardised targets", "real")


@hookimpl
def register_downstreams(register: Any) -> None:
    register("classification", CLASSIFICATION)
    register("regression", REGRESSION)
