"""`--fused-lstm`: a bidirectional LSTM over variable-length sequences without packing. Each direction runs as a
plain (unpacked) one-directional LSTM with the module's own weights, the backward direction on every sequence
reversed within its own length, so padding never reaches a real position's state in either direction.

Why: on a CPU torch runs a packed LSTM (`pack_padded_sequence`, the heads' default) step by step, and its backward
pass costs 10-20x the forward (one thread, a 2-layer BiLSTM of 128 units over 16 x 300 frames: 4.2 s per training
step packed against 0.34 s here; a synth-asr epoch spent 90 of its 96 s in that backward pass). A plain LSTM goes
to oneDNN's fused kernels. The outputs at real positions are the packed module's to rounding (~1e-7 of their
scale; tests/test_bilstm.py), padded positions are 0 as `pad_packed_sequence` leaves them, and the module and its
parameters are the same `nn.LSTM`. Rounding compounds over training, so it is opt-in (docs/superb.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from torch import nn

_WEIGHTS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def _one_direction(rnn: nn.LSTM, layer: int, suffix: str, x: torch.Tensor) -> torch.Tensor:
    """Layer `layer` of `rnn`, one direction, over (batch, time, dim) from the first position on."""
    import torch
    from torch import nn
    from torch.func import functional_call

    # a weightless stand-in (meta device: nothing allocated, no random draws) run with the real parameters
    template = nn.LSTM(x.shape[-1], rnn.hidden_size, num_layers=1, batch_first=True, bias=rnn.bias, device="meta")
    names = _WEIGHTS if rnn.bias else _WEIGHTS[:2]
    params = {f"{n}_l0": getattr(rnn, f"{n}_l{layer}{suffix}") for n in names}
    zeros = x.new_zeros(1, x.shape[0], rnn.hidden_size)
    out, _ = functional_call(template, params, (x, (zeros, torch.zeros_like(zeros))))
    return out  # (batch, time, hidden)


def bidirectional(rnn: nn.LSTM, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(batch, time, in_dim) + real lengths (batch,) -> (batch, time, 2 * hidden), zero past each length."""
    import torch
    from torch.nn import functional as F

    if not (rnn.bidirectional and rnn.batch_first) or rnn.proj_size:
        raise ValueError("bidirectional() runs a batch-first bidirectional nn.LSTM without projections")
    time = x.shape[1]
    lengths = lengths.to(x.device)
    steps = torch.arange(time, device=x.device).expand(x.shape[0], time)  # (batch, time)
    real = steps < lengths[:, None]
    # position t of the reversed sequence is position length-1-t of the original; padding stays where it is
    flip = torch.where(real, lengths[:, None] - 1 - steps, steps)

    def reverse(h: torch.Tensor) -> torch.Tensor:
        return torch.gather(h, 1, flip[..., None].expand(-1, -1, h.shape[-1]))

    h = x
    for layer in range(rnn.num_layers):
        if layer:  # nn.LSTM's dropout sits between layers, in training only
            h = F.dropout(h, rnn.dropout, rnn.training)
        forward = _one_direction(rnn, layer, "", h)
        backward = reverse(_one_direction(rnn, layer, "_reverse", reverse(h)))
        h = torch.cat([forward, backward], -1)
    return h * real[..., None]
