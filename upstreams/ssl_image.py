"""Self-supervised pretraining of a ResNet on unlabeled images: SimCLR and BYOL, with their real objectives.

SimCLR (Chen et al. 2020, arXiv:2002.05709): two augmented views of every image, a projection MLP, and the
NT-Xent loss (each view must pick its partner out of the 2N-1 other views, cosine similarity / temperature).
BYOL (Grill et al. 2020, arXiv:2006.07733): an online network (encoder, projector, predictor) regresses the
projection a target network gives the other view; the target is an exponential moving average of the online
encoder and projector (tau from `tau` to 1 on a cosine schedule), and the loss is symmetrised.

Augmentations are the papers' (torchvision transforms v2), adapted to small images: a random resized crop to
the training size, horizontal flip (off for digits: a mirrored digit is not a digit), colour jitter (brightness
and contrast only for gray images, which have no hue or saturation), random grayscale (colour images) and a
3x3 Gaussian blur. Everything draws from one seeded generator in a fixed order: a rerun with the same seed on
the same machine gives the same checkpoint.
"""

from __future__ import annotations

import copy
import datetime
import math
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from benchmark.errors import BenchError
from benchmark.media.image import as_image, fit_channels
from upstreams.resnet_encoder import META_KEY, NAMED, ResNetSpec

Progress = Callable[..., None]
FORMAT = "bench-ssl-image/1"


@dataclass(frozen=True)
class PretrainConfig:
    method: str  # "simclr" or "byol"
    epochs: int = 30
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-6
    temperature: float = 0.5
    """SimCLR's NT-Xent temperature (0.5 is the paper's best for CIFAR-10 at batch 256-512)."""
    tau: float = 0.996
    """BYOL's base EMA rate for the target network (the paper's 0.996)."""
    projection_dim: int = 128
    hidden_dim: int = 1024
    seed: int = 0
    flip: bool = True


def _nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's loss over 2N views: view i's positive is its partner, the other 2N-2 views are negatives."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)  # (2N, d)
    n = z1.shape[0]
    sim = z @ z.T / temperature  # (2N, 2N)
    sim.fill_diagonal_(float("-inf"))  # a view is not its own negative
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, target)


def _regression(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """BYOL's loss: 2 - 2 cos(prediction, target projection), averaged over the batch."""
    return (2 - 2 * F.cosine_similarity(p, z.detach(), dim=-1)).mean()


def mlp(in_dim: int, hidden: int, out: int) -> nn.Module:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                         nn.Linear(hidden, out))


_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def _gray(x: torch.Tensor) -> torch.Tensor:
    """(batch, channels, h, w) -> luminance (batch, 1, h, w) (ITU-R 601, as torchvision's rgb_to_grayscale)."""
    if x.shape[1] == 1:
        return x
    return (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)


class Augment:
    """Two independent random views of a batch of images (batch, channels, h, w) in [0, 1], normalised.

    The SimCLR / BYOL pipeline as torchvision's v2 transforms define it (random resized crop, flip, colour jitter
    with p 0.8, random grayscale with p 0.2, Gaussian blur with p 0.5), computed for the whole batch at once with
    per-image parameters (torchvision's transforms draw one set of parameters per call, so they would run image
    by image: on 8 px digits that loop adds a quarter to each training step, batched it is ~6 %,
    benchmarks/pa_augment.py). Crop, resize and flip are one bilinear
    resampling; jitter applies brightness, contrast, saturation, hue in that order; hue is a rotation of the
    YIQ chroma plane. All randomness comes from the generator passed in.
    """

    def __init__(self, spec: ResNetSpec, flip: bool, scale: tuple[float, float] = (0.25, 1.0)) -> None:
        self.spec, self.flip, self.scale = spec, flip, scale
        self.colour = spec.channels == 3
        self.mean = torch.tensor(spec.mean).view(1, -1, 1, 1)
        self.std = torch.tensor(spec.std).view(1, -1, 1, 1)
        self.described = [f"RandomResizedCrop({spec.image_size}, scale={scale}, ratio=(3/4, 4/3))",
                          *(["RandomHorizontalFlip(p=0.5)"] if flip else []),
                          "RandomApply(ColorJitter(0.4, 0.4" + (", 0.4, 0.1" if self.colour else "") + "), p=0.8)",
                          *(["RandomGrayscale(p=0.2)"] if self.colour else []),
                          "RandomApply(GaussianBlur(3, sigma=(0.1, 1.0)), p=0.5)"]

    def view(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        n, size = x.shape[0], self.spec.image_size

        def u(lo: float, hi: float) -> torch.Tensor:
            return lo + (hi - lo) * torch.rand(n, generator=gen)

        area, ratio = u(*self.scale), torch.exp(u(math.log(3 / 4), math.log(4 / 3)))
        w, h = (area * ratio).sqrt().clamp(max=1.0), (area / ratio).sqrt().clamp(max=1.0)  # side fractions
        cx, cy = (1 - w) * u(-1, 1), (1 - h) * u(-1, 1)  # crop centre, in [-1, 1] image coordinates
        sign = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0) if self.flip else torch.ones(n)
        theta = torch.zeros(n, 2, 3)
        theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = w * sign, cx, h, cy
        grid = F.affine_grid(theta, [n, x.shape[1], size, size], align_corners=False)
        out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        jitter = (torch.rand(n, generator=gen) < 0.8).view(-1, 1, 1, 1)
        b, c = u(0.6, 1.4).view(-1, 1, 1, 1), u(0.6, 1.4).view(-1, 1, 1, 1)
        j = (out * b).clamp(0, 1)
        m = _gray(j).mean((1, 2, 3), keepdim=True)
        j = ((j - m) * c + m).clamp(0, 1)
        if self.colour:
            sat, hue = u(0.6, 1.4).view(-1, 1, 1, 1), u(-0.1, 0.1) * 2 * math.pi
            g = _gray(j)
            j = ((j - g) * sat + g).clamp(0, 1)
            yiq = torch.einsum("ij,njhw->nihw", _YIQ, j)
            cos, sin = hue.cos().view(-1, 1, 1), hue.sin().view(-1, 1, 1)
            i, q = yiq[:, 1] * cos - yiq[:, 2] * sin, yiq[:, 1] * sin + yiq[:, 2] * cos
            j = torch.einsum("ij,njhw->nihw", torch.linalg.inv(_YIQ), torch.stack([yiq[:, 0], i, q], 1)).clamp(0, 1)
        out = torch.where(jitter, j, out)
        if self.colour:
            out = torch.where((torch.rand(n, generator=gen) < 0.2).view(-1, 1, 1, 1), _gray(out).expand_as(out), out)
        sigma = u(0.1, 1.0)
        side = torch.exp(-1 / (2 * sigma**2))
        taps = torch.stack([side, torch.ones(n), side], 1) / (1 + 2 * side).unsqueeze(1)  # (n, 3)
        blur = (torch.rand(n, generator=gen) < 0.5).view(-1, 1, 1, 1)
        ch = out.shape[1]
        k = taps.repeat_interleave(ch, 0)  # one separable kernel per (image, channel)
        flat = out.reshape(1, n * ch, size, size)
        flat = F.conv2d(F.pad(flat, (1, 1, 0, 0), mode="replicate"), k.view(-1, 1, 1, 3), groups=n * ch)
        flat = F.conv2d(F.pad(flat, (0, 0, 1, 1), mode="replicate"), k.view(-1, 1, 3, 1), groups=n * ch)
        out = torch.where(blur, flat.view_as(out), out)
        return (out - self.mean) / self.std

    def __call__(self, images: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        x = fit_channels(images, self.spec.channels)
        return self.view(x, gen), self.view(x, gen)


class _Online(nn.Module):
    def __init__(self, spec: ResNetSpec, cfg: PretrainConfig) -> None:
        super().__init__()
        self.backbone = spec.build()
        hidden = cfg.hidden_dim if cfg.method == "byol" else spec.width
        self.projector = mlp(spec.width, hidden, cfg.projection_dim)
        self.predictor = mlp(cfg.projection_dim, cfg.hidden_dim, cfg.projection_dim) if cfg.method == "byol" else None

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return self.projector(self.backbone(x))


def _stack(images: Sequence[np.ndarray], size: int) -> torch.Tensor:
    """Same-size images stack as they are; mixed sizes (a photo folder) are first resized to 2x the training
    size (shorter side, centre crop), enough for the random crops to sample from."""
    shapes = {img.shape for img in images}
    if len(shapes) == 1:
        return torch.from_numpy(np.stack(images))
    from benchmark.media.image import to_batch

    channels = max(img.shape[0] for img in images)
    return to_batch(images, 2 * size, channels, (0.0,) * channels, (1.0,) * channels)


def pretrain(images: Sequence[Any], spec: ResNetSpec, cfg: PretrainConfig, *, device: str = "cpu",
             data: dict[str, Any] | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """Train a ResNet with SimCLR or BYOL on `images` (anything `benchmark.media.image.as_image` reads); the checkpoint
    as a dict of plain tensors and metadata (the per-epoch loss curve included), ready for torch.save."""
    if cfg.method not in ("simclr", "byol"):
        raise ValueError(f"unknown method {cfg.method!r}")
    if len(images) < 2:
        raise BenchError(f"pretraining needs at least 2 images; got {len(images)}")
    say = progress or (lambda *a, **k: None)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    # channels-last convolutions: a quarter faster on CPU (oneDNN) here, and the layout GPUs prefer
    online = _Online(spec, cfg).to(device, memory_format=torch.channels_last)
    target = copy.deepcopy(nn.ModuleDict({"backbone": online.backbone, "projector": online.projector}))
    target.requires_grad_(False)
    augment = Augment(spec, cfg.flip)
    aug_gen = torch.Generator().manual_seed(cfg.seed + 1)
    batch = min(cfg.batch_size, len(images))
    per_epoch = len(images) // batch  # the last partial batch is dropped: a batch of 1 breaks BatchNorm
    total = per_epoch * cfg.epochs
    opt = torch.optim.AdamW(online.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    warmup = max(1, total // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warmup, 0.5 * (1 + math.cos(math.pi * min(s, total) / total))))
    curve: list[float] = []
    step, t0 = 0, time.perf_counter()
    decoded = [as_image(x) for x in images] if len(images) <= 20_000 else None  # small sets: decode once
    for epoch in range(1, cfg.epochs + 1):
        online.train()
        target.train()
        losses = []
        order = torch.randperm(len(images), generator=gen)[: per_epoch * batch]
        for idx in order.split(batch):
            chosen = [decoded[i] if decoded is not None else as_image(images[i]) for i in idx.tolist()]
            v1, v2 = (v.to(device, memory_format=torch.channels_last)
                      for v in augment(_stack(chosen, spec.image_size), aug_gen))
            if cfg.method == "simclr":
                loss = _nt_xent(online.project(v1), online.project(v2), cfg.temperature)
            else:
                assert online.predictor is not None
                p1, p2 = online.predictor(online.project(v1)), online.predictor(online.project(v2))
                with torch.no_grad():
                    z1 = target["projector"](target["backbone"](v1))
                    z2 = target["projector"](target["backbone"](v2))
                loss = _regression(p1, z2) + _regression(p2, z1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if cfg.method == "byol":  # target <- tau * target + (1 - tau) * online, tau rising to 1
                tau = 1 - (1 - cfg.tau) * (math.cos(math.pi * step / total) + 1) / 2
                with torch.no_grad():
                    for t, o in zip(target.parameters(), [*online.backbone.parameters(),
                                                         *online.projector.parameters()], strict=True):
                        t.mul_(tau).add_(o.detach(), alpha=1 - tau)
                    for t, o in zip(target.buffers(), [*online.backbone.buffers(), *online.projector.buffers()],
                                    strict=True):
                        t.copy_(o)
            value = float(loss.item())
            if not math.isfinite(value):
                raise BenchError(f"pretraining diverged: the loss is {value} at epoch {epoch}; lower --lr")
            losses.append(value)
            say("step", epoch=epoch, epochs=cfg.epochs, step=step, steps=total, loss=value)
        curve.append(round(float(np.mean(losses)), 6))
        say("epoch", epoch=epoch, epochs=cfg.epochs, loss=curve[-1])
    state = {f"backbone.{k}": v.detach().cpu().contiguous() for k, v in online.backbone.state_dict().items()}
    state.update({f"projector.{k}": v.detach().cpu().contiguous() for k, v in online.projector.state_dict().items()})
    if online.predictor is not None:
        state.update({f"predictor.{k}": v.detach().cpu().contiguous() for k, v in online.predictor.state_dict().items()})
        state.update({f"target_{k}": v.detach().cpu().contiguous() for k, v in target.state_dict().items()})
    meta = {
        "format": FORMAT, "method": cfg.method, "spec": spec.to_json(), "arch": spec.arch,
        "data": data or {"images": len(images)}, "epochs": cfg.epochs, "batch_size": batch, "lr": cfg.lr,
        "weight_decay": cfg.weight_decay, "seed": cfg.seed, "steps": total,
        **({"temperature": cfg.temperature} if cfg.method == "simclr" else {"tau": cfg.tau}),
        "projection_dim": cfg.projection_dim, "hidden_dim": cfg.hidden_dim, "augmentations": augment.described,
        "loss": "nt-xent" if cfg.method == "simclr" else "byol-regression", "loss_curve": curve,
        "seconds": round(time.perf_counter() - t0, 1), "device": device,
        "versions": {"torch": str(torch.__version__), "python": platform.python_version()},
        "finished_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    return {"state_dict": state, META_KEY: meta}


def arch_spec(arch: str, *, channels: int, image_size: int, stem: str) -> ResNetSpec:
    if arch not in NAMED:
        raise BenchError(f"unknown --arch '{arch}' (one of {', '.join(NAMED)})")
    block, layers = NAMED[arch]
    return replace(ResNetSpec(), block=block, layers=layers, channels=channels, image_size=image_size,  # type: ignore[arg-type]
                   stem=stem, mean=(0.5,) * channels, std=(0.5,) * channels)  # type: ignore[arg-type]


def save(checkpoint: dict[str, Any], out: Path) -> None:
    """Write atomically: a crash or Ctrl-C never leaves a half-written checkpoint at `out`."""
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        torch.save(checkpoint, tmp)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
