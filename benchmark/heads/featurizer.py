"""From all layers to one vector per example: pooling over time, then SUPERB's softmax-weighted layer sum.

Masked mean (or first-token) pooling is linear in the hidden states, so it commutes with the weighted sum:
sum_l w_l * mean_t h[l, t] == mean_t sum_l w_l * h[l, t]. Frozen runs therefore pool each layer once and
train the layer weights on the small (examples, layers, dim) tensor.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from benchmark.types import HiddenStates

Pooling = Literal["mean", "cls"]


def pool_layers(hidden: HiddenStates, pooling: Pooling) -> torch.Tensor:
    """Pool every layer over time: (batch, layers, dim).

    Layer by layer (a batched matrix product for the masked mean), never stacking the full
    (batch, layers, time, dim) tensor: that copy cost as much as a tenth of a small model's forward pass.
    """
    if pooling == "cls":
        return torch.stack([h[:, 0, :] for h in hidden.layers], dim=1)
    first = hidden.layers[0]
    m = hidden.mask.to(first.dtype)  # (batch, time)
    w = (m / m.sum(1, keepdim=True).clamp(min=1.0)).unsqueeze(1)  # (batch, 1, time): weights summing to 1
    return torch.cat([torch.bmm(w, h) for h in hidden.layers], dim=1)  # (batch, layers, dim)


class Featurizer(nn.Module):
    """Learnable softmax weights over layers (the default), or one fixed layer.

    `center` / `scale` standardise each layer's pooled features (statistics from the training split in frozen
    mode) so that layers with very different norms compete fairly for weight.
    """

    def __init__(self, n_layers: int, dim: int, layer: int | None = None) -> None:
        super().__init__()
        if layer is not None and not -n_layers <= layer < n_layers:
            raise ValueError(f"layer {layer} out of range for {n_layers} layers (0 = embeddings)")
        self.layer = None if layer is None else layer % n_layers
        self.weights = nn.Parameter(torch.zeros(n_layers)) if layer is None else None
        self.register_buffer("center", torch.zeros(n_layers, dim))
        self.register_buffer("scale", torch.ones(n_layers, dim))

    def set_statistics(self, center: torch.Tensor, scale: torch.Tensor) -> None:
        """Standardise with a per-(layer, dim) mean and standard deviation of the training features."""
        self.center.copy_(center)
        # A dimension (nearly) constant in train must not be blown up by dividing by ~0: the floor is a hundredth
        # of the layer's mean standard deviation (e.g. the pooled deltas of a stationary sound are ~0 in train
        # and any deviation at test time would dominate the head).
        floor = (0.01 * scale.mean(dim=-1, keepdim=True)).clamp(min=1e-5)
        self.scale.copy_(torch.maximum(scale, floor))

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        """(..., layers, dim) -> (..., dim): pooled vectors (batch, layers, dim) or frames (batch, time, layers, dim)."""
        x = (pooled - self.center) / self.scale
        if self.weights is None:
            return x[..., self.layer, :]
        w = torch.softmax(self.weights, dim=0)
        return torch.einsum("l,...ld->...d", w, x)

    def layer_weights(self) -> list[float]:
        """The normalised weight of each layer (one-hot for a fixed layer)."""
        if self.weights is None:
            n = self.center.shape[0]
            return [1.0 if i == self.layer else 0.0 for i in range(n)]
        return [round(float(w), 6) for w in torch.softmax(self.weights.detach(), dim=0)]
