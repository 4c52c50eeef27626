"""Images for image upstreams: files on disk as references, one conversion to the model's input, and the
convention that turns a CNN's stages into the layers of `HiddenStates`.

Task data holds images as CHW arrays (uint8 0-255, or float in [0, 1]) or as `ImageFile` references decoded per
batch, so a folder of photos never sits in memory. `features.upstream_inputs` hands an image upstream float32 CHW
arrays in [0, 1] whatever the task stored (`as_images`). The upstream owns the rest (`to_batch`: channels, size,
normalisation) and reports its stages with `stage_states`.

Stages of a CNN differ in width and resolution, and `HiddenStates` wants one (batch, time, dim) shape per layer.
`stage_states` average-pools every stage's map to the last stage's grid (its positions are the "time" axis) and
pads channels with zeros up to the widest stage (the upstream's hidden_size). Masked mean pooling over positions
then gives each stage's global-average-pooled vector, the representation linear probes read (SimCLR's
protocol uses the last one).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmark.errors import BenchError

if TYPE_CHECKING:
    import torch

    from benchmark.types import HiddenStates

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ImageFile:
    """An image file on disk (PNG, JPEG, ... anything Pillow reads), decoded when a batch needs it.

    `stamp` (size and modification time) enters the feature-cache key, so an edited file is never served stale.
    `shape` is (channels, height, width) when known (a cheap length proxy for batching), else (0,).
    """

    path: str
    stamp: str = ""
    shape: tuple[int, ...] = (0,)

    def key(self) -> str:
        return f"image:{self.path}:{self.stamp}"

    def decode(self) -> np.ndarray:
        """float32 CHW in [0, 1]: grayscale stays one channel, palette / CMYK become RGB, alpha is dropped."""
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(self.path) as im:
                im.load()
                mode = im.mode
                if mode in ("1", "L", "I;16", "I", "F"):
                    arr = np.asarray(im.convert("F"), dtype=np.float32)
                    scale = 255.0 if mode in ("1", "L") else float(max(arr.max(), 1.0))
                    return (arr / scale)[None]
                arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
        except FileNotFoundError:
            raise BenchError(f"image file not found: {self.path} (was the data moved after it was listed?)") from None
        except (UnidentifiedImageError, OSError) as err:
            raise BenchError(f"cannot read image {self.path}: {err}") from None
        return np.ascontiguousarray(arr.transpose(2, 0, 1))


def image_file(path: str | os.PathLike[str]) -> ImageFile:
    """An ImageFile with the file's stamp (size, mtime) taken now."""
    st = os.stat(path)
    return ImageFile(str(Path(path)), f"{st.st_size}:{st.st_mtime_ns}")


def as_image(x: Any) -> np.ndarray:
    """One task input as float32 CHW in [0, 1]: an ImageFile, a uint8 or float array (CHW, or HW for gray), or a
    PIL image."""
    if isinstance(x, ImageFile):
        return x.decode()
    if hasattr(x, "getbands"):  # a PIL image (Hugging Face datasets' Image feature decodes to these)
        arr = np.asarray(x.convert("L" if x.mode in ("1", "L") else "RGB"))
        return (arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)).astype(np.float32) / 255.0
    arr = np.asarray(x)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise BenchError(f"an image input must be CHW (or HW for grayscale); got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    return np.ascontiguousarray(arr, dtype=np.float32)


def as_images(batch: Any) -> list[np.ndarray]:
    return [as_image(x) for x in batch]


def digest(x: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()[:16]


def fit_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """Images (..., C, H, W) with `channels` channels: gray repeated to RGB, RGB to luminance (ITU-R 601, as
    torchvision's rgb_to_grayscale), an alpha channel dropped."""
    c = x.shape[-3]
    if c == 4:
        x, c = x[..., :3, :, :], 3
    if c == channels:
        return x
    if c == 1:
        return x.expand(*x.shape[:-3], channels, *x.shape[-2:])
    if c == 3 and channels == 1:
        return (0.299 * x[..., 0, :, :] + 0.587 * x[..., 1, :, :] + 0.114 * x[..., 2, :, :]).unsqueeze(-3)
    raise BenchError(f"cannot feed a {c}-channel image to a {channels}-channel model")


def to_batch(images: Any, size: int, channels: int, mean: tuple[float, ...], std: tuple[float, ...],
             device: Any = "cpu") -> torch.Tensor:
    """float CHW images of any size -> one normalised (batch, channels, size, size) tensor.

    Channels: gray is repeated to RGB, RGB becomes luminance (ITU-R 601) for a one-channel model, alpha is dropped.
    Size: the shorter side is resized to `size` (bilinear, antialiased), then the centre is cropped square (the
    standard evaluation transform; a square image is simply resized). Each image is processed alone, so an
    item's pixels never depend on its batch.
    """
    import torch
    from torch.nn import functional as F

    out = []
    for img in images:
        x = torch.as_tensor(np.asarray(img, dtype=np.float32))
        x = fit_channels(x[None] if x.ndim == 2 else x, channels)
        h, w = x.shape[1:]
        if (h, w) != (size, size):
            scale = size / min(h, w)
            nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
            x = F.interpolate(x[None], size=(nh, nw), mode="bilinear", align_corners=False,
                              antialias=nh < h or nw < w)[0]
            top, left = (nh - size) // 2, (nw - size) // 2
            x = x[:, top:top + size, left:left + size]
        out.append(x)
    batch = torch.stack(out).to(device)  # (batch, channels, size, size)
    m = torch.tensor(mean, device=batch.device).view(1, -1, 1, 1)
    s = torch.tensor(std, device=batch.device).view(1, -1, 1, 1)
    return (batch - m) / s


def stage_states(maps: list[torch.Tensor], width: int) -> HiddenStates:
    """Stage maps [(batch, C_i, H_i, W_i), ...] (stem first) -> HiddenStates with one layer per stage.

    Every map is average-pooled to the last map's grid, flattened to (batch, positions, C_i) and zero-padded to
    (batch, positions, width). The mask is all True: every position holds real input.
    """
    import torch
    from torch.nn import functional as F

    from benchmark.types import HiddenStates

    last = maps[-1]
    grid = tuple(last.shape[-2:])
    layers = []
    for m in maps:
        if tuple(m.shape[-2:]) != grid:
            m = F.adaptive_avg_pool2d(m, grid)
        x = m.flatten(2).transpose(1, 2)  # (batch, positions, channels)
        if x.shape[-1] < width:
            x = F.pad(x, (0, width - x.shape[-1]))
        layers.append(x)
    mask = torch.ones(last.shape[0], grid[0] * grid[1], dtype=torch.bool, device=last.device)
    return HiddenStates(layers=tuple(layers), mask=mask)
