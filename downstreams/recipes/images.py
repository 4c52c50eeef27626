"""Offline image data: scikit-learn's handwritten digits as the `digits` recipe, and the image listing that
`bench pretrain --data FOLDER` reads.

Digits (`sklearn.datasets.load_digits`): the test set of the "Optical Recognition of Handwritten Digits" data
(Alpaydin & Kaynak 1998, UCI Machine Learning Repository, https://doi.org/10.24432/C50P49, CC BY 4.0), 1,797
8x8 images of the digits 0-9 with pixel values 0-16, shipped inside scikit-learn, so the task builds on a fresh
machine without a download. Inputs are float32 arrays of shape (1, 8, 8) in [0, 1] (value / 16).

The split is fixed: 20 % of the images for test, then 25 % of the rest for model selection, the rest (60 %) for
training, each cut stratified by digit with `train_test_split(..., random_state=0)`: 1,077 / 360 / 360 images,
every split in the dataset's order. The split and the pixels are checked against a recorded digest, so a
scikit-learn release that shuffled differently stops the task with an error instead of moving its scores;
RECIPE_VERSION changes (and the task's `version` with it) whenever bench changes the split on purpose.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.errors import BenchError
from benchmark.hookspecs import hookimpl
from benchmark.media.image import ImageFile, image_file
from benchmark.tasks.image_layouts import IMAGE_SUFFIXES, image_files
from benchmark.types import Examples

RECIPE_VERSION = 1
DIGITS_LABELS = [str(d) for d in range(10)]
SPLIT_SEED = 0
TEST_FRACTION = 0.2
SELECT_FRACTION = 0.25  # of what is left after test: 20 % of all images
DIGITS_DIGEST = "af368a8574ba18ddc53adcd224c18549d110147e169d76c067aed8f7985031d0"
"""sha256 of the split (indices of train, select, test) and of the pixels and labels, as scikit-learn 1.9.1
makes them; a different value means a different split or different data."""


def _split_indices() -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """The digits' pixels (1797, 64) in 0..16, labels, and the sorted indices of each split."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise BenchError("the digits task needs scikit-learn: pip install scikit-learn") from None
    x, y = load_digits(return_X_y=True)
    every = np.arange(len(y))
    rest, test = train_test_split(every, test_size=TEST_FRACTION, stratify=y, random_state=SPLIT_SEED)
    train, select = train_test_split(rest, test_size=SELECT_FRACTION, stratify=y[rest], random_state=SPLIT_SEED)
    return x, y, {"train": np.sort(train), "select": np.sort(select), "test": np.sort(test)}


def digits_digest(x: np.ndarray, y: np.ndarray, splits: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in ("train", "select", "test"):
        h.update(name.encode())
        h.update(splits[name].astype("<i8").tobytes())
    h.update(np.ascontiguousarray(x, dtype="<f8").tobytes())
    h.update(np.ascontiguousarray(y, dtype="<i8").tobytes())
    return h.hexdigest()


@lru_cache(maxsize=1)
def _digits() -> dict[str, Examples]:
    x, y, splits = _split_indices()
    found = digits_digest(x, y, splits)
    if found != DIGITS_DIGEST:
        import sklearn

        raise BenchError(f"scikit-learn {sklearn.__version__} gives a different digits split or data than the one "
                         f"the digits tasks were recorded with (digest {found[:12]}, expected {DIGITS_DIGEST[:12]}); "
                         "install scikit-learn 1.9.1 to reproduce published scores, and report this to bench")
    images = (x.reshape(-1, 1, 8, 8) / 16.0).astype(np.float32)  # (1797, 1, 8, 8) in [0, 1]
    return {name: Examples(tuple(images[i] for i in idx), tuple(int(y[i]) for i in idx))
            for name, idx in splits.items()}


def digits_splits() -> dict[str, Examples]:
    """The fixed digits split: {"train": 1,077, "select": 360, "test": 360} Examples of float32 (1, 8, 8) images in
    [0, 1] with class indices 0-9 (the digit)."""
    return dict(_digits())


def few_labels(train: Examples, n: int) -> Examples:
    """The label-efficiency protocol (SimCLR's 1 % / 10 % labels, at digits' scale): `n` training images per
    class, drawn with a fixed seed, in their original order. Selection and test splits stay whole."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise BenchError(f"digits: labels_per_class must be a whole number >= 1, not {n!r}")
    rng = np.random.default_rng([SPLIT_SEED, n])
    y = np.asarray(train.targets)
    keep = []
    for c in np.unique(y):
        have = np.flatnonzero(y == c)
        if len(have) < n:
            raise BenchError(f"digits: labels_per_class {n} is more than the {len(have)} training images of class {c}")
        keep.extend(rng.choice(have, n, replace=False).tolist())
    return train.subset(sorted(keep))


def list_images(folder: Path) -> list[ImageFile]:
    """Every image file under `folder` (any depth; hidden files skipped), in sorted path order, as references."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BenchError(f"image folder not found: {folder}")
    files = image_files(folder)
    if not files:
        raise BenchError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) under {folder}")
    return [image_file(f) for f in files]


class Digits:
    """The `digits` recipe: no options; the split is fixed (see the module docstring)."""

    def missing(self, options: dict[str, Any], cache_dir: Path) -> str | None:
        try:
            import sklearn.datasets  # noqa: F401
        except ImportError:
            return "install scikit-learn (pip install scikit-learn): the digits ship inside it"
        return None

    def revision(self, options: dict[str, Any]) -> str:
        few = f":{options['labels_per_class']}-per-class" if options.get("labels_per_class") else ""
        return f"digits-v{RECIPE_VERSION}:{DIGITS_DIGEST[:12]}{few}"

    def __call__(self, *, task: Any, options: dict[str, Any], cache_dir: Path) -> dict[str, Examples]:
        unknown = sorted(set(options) - {"labels_per_class"})
        if unknown:
            raise BenchError(f"digits: unknown option '{unknown[0]}' (the recipe takes labels_per_class)")
        splits = digits_splits()
        n = options.get("labels_per_class")
        if n is not None:
            splits["train"] = few_labels(splits["train"], n)
        return splits


@hookimpl
def register_datasets(register: Any) -> None:
    register("digits", Digits(),
             description="scikit-learn's 1,797 8x8 handwritten digits (Alpaydin & Kaynak 1998, UCI), fixed "
                         "stratified 60/20/20 split")
