"""`bench pretrain simclr|byol`: make a self-supervised ResNet checkpoint offline (upstreams/ssl_image.py).

    bench pretrain simclr --data digits --out simclr.pt          # scikit-learn's digits (train split), minutes
    bench pretrain byol --data ~/photos --size 32 --out byol.pt  # any folder of images, searched recursively
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from benchmark.clitools import group
from benchmark.errors import BenchError
from benchmark.paths import check_creatable

DEFAULTS = {"simclr": {"epochs": 30, "batch_size": 256, "lr": 3e-3},
            "byol": {"epochs": 100, "batch_size": 64, "lr": 1e-3}}
"""Per method, what gave both methods a clear margin over random init on digits (docs/images.md): BYOL has no
negatives to gain from large batches and needs more steps for its target network to move."""
_SHORT = {"simclr": "SimCLR (NT-Xent over two augmented views) on digits or an image folder.",
          "byol": "BYOL (online network regresses an EMA target) on digits or an image folder."}
_DOC = {"simclr": "SimCLR: NT-Xent over two augmented views (Chen et al. 2020).",
        "byol": "BYOL: online network + predictor regress an EMA target network (Grill et al. 2020)."}


def _images(data: str) -> tuple[list[Any], dict[str, Any], bool]:
    """(images, what to record about them, whether horizontal flips keep their meaning)."""
    if data == "digits":
        # The `digits` recipe through the registry (downstreams/images.py registers it): a plugin does not import
        # another plugin's modules.
        from benchmark.engine.request import default_cache_dir
        from benchmark.plugin.manager import get_plugins

        loader = get_plugins().registry.datasets.get("digits").obj
        train = loader(task=None, options={}, cache_dir=default_cache_dir())["train"]
        return list(train.inputs), {"name": "digits", "split": "train", "images": len(train),
                                    "source": "scikit-learn load_digits (Alpaydin & Kaynak 1998, UCI)"}, False
    folder = Path(data).expanduser()
    if not folder.is_dir():
        raise BenchError(f"--data '{data}' is neither 'digits' nor a folder of images")
    from benchmark.media.image import image_file
    from benchmark.tasks.image_layouts import IMAGE_SUFFIXES, image_files

    files = image_files(folder)
    if not files:
        raise BenchError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) under {folder}")
    found = [image_file(f) for f in files]
    return found, {"name": "folder", "path": str(folder.resolve()), "images": len(found)}, True


def _command(method: str) -> click.Command:
    @click.command(name=method, short_help=_SHORT[method], help=f"{_DOC[method]} Writes a checkpoint that `bench run --upstream {method}:FILE` "
                                     "reads; its metadata holds the per-epoch loss curve.")
    @click.option("--data", default="digits", show_default=True,
                  help="'digits' (scikit-learn's, the offline-image tasks' train split) or a folder of images.")
    @click.option("--out", "-o", type=click.Path(dir_okay=False, path_type=Path), required=True,
                  help="Checkpoint file to write (.pt).")
    @click.option("--epochs", type=click.IntRange(min=1), default=DEFAULTS[method]["epochs"], show_default=True)
    @click.option("--batch-size", type=click.IntRange(min=2), default=DEFAULTS[method]["batch_size"],
                  show_default=True)
    @click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=DEFAULTS[method]["lr"],
                  show_default=True, help="AdamW peak learning rate (linear warm-up, cosine decay).")
    @click.option("--arch", default="resnet18", show_default=True, help="torchvision ResNet: resnet18 ... resnet152.")
    @click.option("--size", type=click.IntRange(min=8), default=None,
                  help="Training resolution in pixels [digits: 8, their own size; folders: 32].")
    @click.option("--channels", type=click.Choice(["1", "3"]), default=None,
                  help="Input channels [digits: 1; folders: 3].")
    @click.option("--seed", type=click.IntRange(min=0, max=2**32 - 1), default=0, show_default=True)
    @click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default="auto", show_default=True)
    @click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
    @click.option("--temperature", type=click.FloatRange(min=0, min_open=True), default=0.5, show_default=True,
                  hidden=method != "simclr", help="NT-Xent temperature.")
    @click.option("--tau", type=click.FloatRange(0, 1), default=0.996, show_default=True, hidden=method != "byol",
                  help="Base EMA rate of the target network (rises to 1 on a cosine schedule).")
    def command(data: str, out: Path, epochs: int, batch_size: int, lr: float, arch: str, size: int | None,
                channels: str | None, seed: int, device: str, overwrite: bool, temperature: float, tau: float) -> None:
        if out.exists() and not overwrite:
            raise BenchError(f"--out '{out}' exists; pass --overwrite to replace it, or choose another file")
        check_creatable(out)
        import torch

        from benchmark.clitools import PretrainProgress
        from upstreams.ssl_image import PretrainConfig, arch_spec, pretrain, save

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        elif device == "cuda" and not torch.cuda.is_available():
            raise BenchError("--device cuda: no CUDA device is available (use --device cpu)")
        images, described, flips = _images(data)
        digits = data == "digits"
        n_channels = int(channels) if channels else (1 if digits else 3)
        px = size or (8 if digits else 32)
        spec = arch_spec(arch, channels=n_channels, image_size=px, stem="cifar" if px < 96 else "imagenet")
        cfg = PretrainConfig(method=method, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, flip=flips,
                             temperature=temperature, tau=tau)
        with PretrainProgress(f"{method} · {spec.arch} · {len(images)} images") as progress:
            ckpt = pretrain(images, spec, cfg, device=device, data=described, progress=progress)
        save(ckpt, out)
        meta = ckpt["bench"]
        curve = meta["loss_curve"]
        click.echo(f"wrote {out} ({method}, {spec.arch}, {epochs} epochs on {len(images)} images, loss "
                   f"{curve[0]:.4f} -> {curve[-1]:.4f}, {meta['seconds']:.0f} s)")
        click.echo(f"use it: bench run --upstream {method}:{out} --tasks offline-image")

    return command


def add_commands(cli: click.Group) -> None:
    """`bench pretrain simclr|byol` (called by upstreams.image's register_commands hook)."""
    pretrain = group(cli, "pretrain")
    for method in ("simclr", "byol"):
        pretrain.add_command(_command(method))
