"""The upstream contract test. Every upstream, ours and third-party, should pass `check_upstream(u)`.

Checks: metadata, shapes (L+1 layers of (batch, time, hidden_size)), the mask, text offsets, finite values,
determinism (same input -> same output) and batch independence (an item alone == the same item padded in a
batch with longer ones).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

SAMPLE_TEXT: tuple[Any, ...] = (
    "The film is a quiet triumph.",
    "A",
    "An unexpectedly long sentence, with punctuation; numbers like 1984 and 3.14, and rarer words such as "
    "antidisestablishmentarianism, to make the batch need padding.",
    ("A man is playing a guitar.", "Someone plays an instrument."),
)


@dataclass
class Check:
    name: str
    passed: bool
    detail: str = ""


@dataclass
class ContractReport:
    upstream: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.passed for c in self.checks)

    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def raise_for_failures(self) -> None:
        if not self.ok:
            lines = "; ".join(f"{c.name}: {c.detail}" for c in self.failures())
            raise AssertionError(f"upstream '{self.upstream}' breaks the contract: {lines}")


def sample_waveforms(sample_rate: int = 16_000) -> list[Any]:
    """Three deterministic test waveforms of different lengths (0.45 s, 1 s, 1.3 s): tones in noise."""
    import numpy as np

    rng = np.random.default_rng(0)
    out = []
    for seconds, hz in ((0.45, 220.0), (1.0, 440.0), (1.3, 330.0)):
        t = np.arange(int(seconds * sample_rate)) / sample_rate
        out.append((0.3 * np.sin(2 * np.pi * hz * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32))
    return out


def sample_images() -> list[Any]:
    """Three deterministic test images (float32 CHW in [0, 1]) of different sizes and channel counts: an 8x8 gray
    digit-like stroke, a 3x20x16 colour gradient and a 3x32x32 noisy checkerboard."""
    import numpy as np

    rng = np.random.default_rng(0)
    gray = np.zeros((1, 8, 8), np.float32)
    gray[0, 1:7, 3:5] = 1.0
    yy, xx = np.mgrid[0:20, 0:16] / np.array([19.0, 15.0])[:, None, None]
    colour = np.stack([yy, xx, 1 - yy]).astype(np.float32)
    board = ((np.indices((32, 32)).sum(0) // 4) % 2).astype(np.float32)
    noisy = np.clip(np.stack([board, 1 - board, board]) + 0.1 * rng.standard_normal((3, 32, 32)), 0, 1)
    return [gray, colour, noisy.astype(np.float32)]


def _sample_inputs(upstream: Any) -> Sequence[Any]:
    if upstream.modality == "text":
        return SAMPLE_TEXT
    if upstream.modality == "speech":
        return sample_waveforms(upstream.sample_rate)
    if upstream.modality == "image":
        return sample_images()
    raise ValueError(f"no sample inputs for modality {upstream.modality!r}; pass inputs=")


def check_upstream(upstream: Any, inputs: Sequence[Any] | None = None, atol: float = 1e-4) -> ContractReport:
    """Run the contract checks; returns a report (call .raise_for_failures() in a test)."""
    import torch

    report = ContractReport(str(getattr(upstream, "name", type(upstream).__name__)))
    add = report.checks.append
    meta = {"name": str, "modality": str, "num_layers": int, "hidden_size": int, "n_parameters": int,
            "fingerprint": str}
    for attr, typ in meta.items():
        value = getattr(upstream, attr, None)
        add(Check(f"metadata.{attr}", isinstance(value, typ) and value not in ("", None),
                  f"expected {typ.__name__}, got {value!r}"))
    add(Check("metadata.reinitialize", callable(getattr(upstream, "reinitialize", None)),
              "no reinitialize(scope, seed): +rand / +re-emb variants will not work"))
    if not report.ok:
        return report
    items = list(inputs if inputs is not None else _sample_inputs(upstream))
    singles = [x for x in items if not isinstance(x, tuple)] or items
    upstream.eval()
    with torch.inference_mode():
        batch = upstream(singles)
        again = upstream(singles)
        alone = [upstream([x]) for x in singles]
        pairs = [x for x in items if isinstance(x, tuple)]
        paired = upstream(pairs) if pairs else None
    n_layers, dim, b = upstream.num_layers + 1, upstream.hidden_size, len(singles)
    layers_ok = len(batch.layers) == n_layers
    add(Check("shape.layers", layers_ok, f"{len(batch.layers)} layers, expected num_layers + 1 = {n_layers}"))
    t = batch.mask.shape[1] if batch.mask.dim() == 2 else -1
    shapes = [tuple(h.shape) for h in batch.layers]
    add(Check("shape.hidden", all(s == (b, t, dim) for s in shapes), f"layer shapes {shapes}, expected ({b}, {t}, {dim})"))
    add(Check("mask.dtype", batch.mask.dtype == torch.bool and batch.mask.shape == (b, t), f"{batch.mask.dtype} {tuple(batch.mask.shape)}"))
    add(Check("mask.nonempty", bool(batch.mask.any(1).all()), "an input has no valid position"))
    lengths = batch.mask.sum(1)
    if upstream.modality != "image":  # images are resized to one input size: nothing is padded
        add(Check("mask.padding", bool((lengths < t).any()) or b == 1,
                  "inputs of different lengths but no padding in the mask"))
    add(Check("values.finite", all(bool(torch.isfinite(h).all()) for h in batch.layers), "NaN or inf in hidden states"))
    if upstream.modality == "text":
        off = batch.offsets
        ok = off is not None and tuple(off.shape) == (b, t, 2)
        add(Check("text.offsets", ok, f"offsets {None if off is None else tuple(off.shape)}, expected ({b}, {t}, 2)"))
        if ok:
            valid = off[..., 0] >= 0
            inside = all(int(off[i, :, 1].max()) <= len(str(singles[i])) for i in range(b))
            add(Check("text.offsets_in_range", inside and not bool((valid & ~batch.mask).any()),
                      "offsets point outside the text or at padding"))
        if paired is not None:
            add(Check("text.pairs", len(paired.layers) == n_layers and paired.layers[-1].shape[0] == len(pairs),
                      "a (text, text) pair batch did not give one row per pair"))
    same = all(torch.allclose(x, y, atol=atol) for x, y in zip(batch.layers, again.layers))
    add(Check("determinism", same, "two forward passes on the same batch differ (is dropout on in eval mode?)"))
    worst = 0.0
    for i, single in enumerate(alone):
        n = int(single.mask[0].sum())
        if int(lengths[i]) != n:
            add(Check("batch_independence", False, f"item {i}: {n} valid positions alone, {int(lengths[i])} in a batch"))
            return report
        for h_batch, h_alone in zip(batch.layers, single.layers):
            a = h_batch[i][batch.mask[i]]
            c = h_alone[0][single.mask[0]]
            worst = max(worst, float((a - c).abs().max()))
    add(Check("batch_independence", worst <= atol * 10, f"max difference {worst:.2e} between an item alone and in a batch"))
    return report
