"""Readers for image download layouts: a torchvision ImageFolder tree, and the official binary versions of
CIFAR-10 and STL-10; and the conversion of Hugging Face Image columns to arrays.

A reader turns a split string from tasks.yaml ("SUBDIR" for a folder tree, "SUBDIR#train|test" for the binary
versions, relative to --data-dir) into task inputs and raw labels (class names). Inputs are what
`benchmark.media.image.as_image` accepts: `ImageFile` references for a folder tree (decoded per batch, so a folder
never sits in memory) and uint8 (3, H, W) arrays for the binary files, which are memory-mapped: pages are read
when a batch needs them and can be dropped again under memory pressure. Malformed input (a missing file, a
truncated binary, a class folder outside the task's labels) is one BenchError line naming the file and how to
fix it. The python-pickle version of CIFAR-10 is never read: unpickling a file runs code from it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from benchmark.errors import BenchError
from benchmark.media.image import ImageFile, image_file

IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".pgm", ".png", ".ppm", ".tif", ".tiff", ".webp")
"""Files an image folder is made of (torchvision's IMG_EXTENSIONS), matched without regard to case."""
CIFAR10_LABELS = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
"""CIFAR-10's classes in the order of its label bytes (batches.meta.txt; the Hub's ClassLabel names)."""
STL10_LABELS = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]
"""STL-10's classes in the order of its labels 1..10 (class_names.txt; the Hub's ClassLabel names 0..9)."""
CIFAR10_BINARY_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
STL10_BINARY_URL = "https://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz"
_CIFAR_RECORD = 1 + 3 * 32 * 32  # a label byte, then the red, green and blue planes, row by row
_STL_IMAGE = 3 * 96 * 96


class ImageLayout(Protocol):
    """A reader for one image download layout."""

    description: str

    def missing(self, root: Path, split: str) -> str | None:
        """None when the split can be read; else the path (relative to root) that is expected."""
        ...

    def read(self, root: Path, split: str, labels: Sequence[str] | None) -> tuple[list[Any], list[str], str]:
        """The split's inputs, their raw labels (class names), and a stamp of the files read (for the data
        revision: sizes and modification times, never the pixels)."""
        ...


def _parse(split: str, layout: str, selectors: tuple[str, ...]) -> tuple[str, str]:
    sub, _, sel = split.partition("#")
    if not sub or sel not in selectors:
        raise BenchError(f"{layout}: split '{split}' must read 'SUBDIR#SELECTOR' with SELECTOR {' | '.join(selectors)}")
    return sub, sel


def _stamp(paths: Sequence[Path]) -> str:
    parts = []
    for p in paths:
        st = p.stat()
        parts.append(f"{p.name}:{st.st_size}:{st.st_mtime_ns}")
    return ";".join(parts)


def _visible(path: Path) -> list[os.DirEntry[str]]:
    """Sorted entries of a folder, without hidden ones (macOS '._*' files ride along in some archives)."""
    try:
        with os.scandir(path) as it:
            return sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        raise BenchError(f"{path}: folder not found (see docs/images.md for the expected layout)") from None


def image_files(folder: Path) -> list[Path]:
    """Every image file under `folder` (any depth, hidden entries skipped), in sorted path order."""
    out: list[Path] = []
    for entry in _visible(folder):
        if entry.is_dir():
            out.extend(image_files(Path(entry.path)))
        elif entry.name.lower().endswith(IMAGE_SUFFIXES):
            out.append(Path(entry.path))
    return out


# -- torchvision ImageFolder ------------------------------------------------------------------------------------


class ImageFolder:
    description = ("torchvision ImageFolder: SUBDIR/<class>/<images> (any depth below the class folder); the class "
                   "folders are the task's labels")

    def missing(self, root: Path, split: str) -> str | None:
        sub = _folder(split)
        return None if (root / sub).is_dir() else f"{sub}/"

    def read(self, root: Path, split: str, labels: Sequence[str] | None) -> tuple[list[Any], list[str], str]:
        base = root / _folder(split)
        classes = [e for e in _visible(base) if e.is_dir()]
        if not classes:
            raise BenchError(f"{base}: no class folders; expected {base}/<class>/<images> (torchvision ImageFolder "
                             "layout, docs/images.md)")
        inputs: list[ImageFile] = []
        names: list[str] = []
        for entry in classes:
            if labels is not None and entry.name not in labels:
                raise BenchError(f"{base}: folder '{entry.name}' is not one of the task's labels {list(labels)}; "
                                 "rename or remove it, or add it to the task's labels")
            files = image_files(Path(entry.path))
            if not files:
                raise BenchError(f"{entry.path}: class folder holds no image files ({', '.join(IMAGE_SUFFIXES)}); "
                                 "add images or remove the folder")
            inputs.extend(image_file(f) for f in files)
            names.extend([entry.name] * len(files))
        digest = hashlib.sha256()
        for x in inputs:
            digest.update(x.key().encode())
        return inputs, names, digest.hexdigest()


def _folder(split: str) -> str:
    if not split or "#" in split or Path(split).is_absolute() or ".." in Path(split).parts:
        raise BenchError(f"image-folder: split '{split}' must be a folder under the data directory (SUBDIR, no '#')")
    return split


# -- CIFAR-10, binary version ----------------------------------------------------------------------------------


class Cifar10Binary:
    description = ("CIFAR-10 binary version: SUBDIR#train reads data_batch_1.bin..data_batch_5.bin, SUBDIR#test "
                   f"reads test_batch.bin ({CIFAR10_BINARY_URL})")
    _FILES = {"train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)), "test": ("test_batch.bin",)}

    def missing(self, root: Path, split: str) -> str | None:
        sub, sel = _parse(split, "cifar10-binary", tuple(self._FILES))
        base = root / sub
        _refuse_pickles(base, root)
        if not base.is_dir():
            return f"{sub}/"
        for name in self._FILES[sel]:
            if not (base / name).is_file():
                return f"{sub}/{name}"
        return None

    def read(self, root: Path, split: str, labels: Sequence[str] | None) -> tuple[list[Any], list[str], str]:
        sub, sel = _parse(split, "cifar10-binary", tuple(self._FILES))
        base = root / sub
        _refuse_pickles(base, root)
        paths = [base / name for name in self._FILES[sel]]
        inputs: list[Any] = []
        names: list[str] = []
        for path in paths:
            records = _map(path, _CIFAR_RECORD, "3,073-byte records (a label byte and 3,072 pixel bytes)",
                           CIFAR10_BINARY_URL)
            codes = np.asarray(records[:, 0])
            bad = np.flatnonzero(codes > 9)
            if bad.size:
                raise BenchError(f"{path}: record {bad[0]} has label byte {codes[bad[0]]}, outside 0..9 (not a CIFAR-10 "
                                 f"binary file? CIFAR-100's has two label bytes; download {CIFAR10_BINARY_URL})")
            images = records[:, 1:].reshape(len(records), 3, 32, 32)  # (n, channels, rows, columns): a view
            inputs.extend(images)
            names.extend(CIFAR10_LABELS[c] for c in codes)
        return inputs, names, _stamp(paths)


def _refuse_pickles(base: Path, root: Path) -> None:
    """The python version of CIFAR-10 is pickled, and unpickling runs code: point at the binary version."""
    pickled = base.name == "cifar-10-batches-py" or (base.is_dir() and (base / "data_batch_1").is_file()
                                                      and not (base / "data_batch_1.bin").is_file())
    sibling = not base.exists() and (root / "cifar-10-batches-py").is_dir()
    if pickled or sibling:
        found = base if pickled else root / "cifar-10-batches-py"
        raise BenchError(f"{found} is the python (pickle) version of CIFAR-10, which bench does not read (unpickling "
                         f"runs code); download the binary version {CIFAR10_BINARY_URL} and unpack it into {root}")


def _map(path: Path, record: int, what: str, url: str) -> np.ndarray:
    """The file as a read-only (records, record) uint8 array backed by the page cache (np.memmap)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise BenchError(f"{path}: file not found (is the download complete? {url})") from None
    if size == 0 or size % record:
        raise BenchError(f"{path}: {size:,} bytes is not a whole number of {what}; the file is truncated or not "
                         f"this format: download it again ({url})")
    return np.asarray(np.memmap(path, dtype=np.uint8, mode="r", shape=(size // record, record)))


# -- STL-10, binary version ------------------------------------------------------------------------------------


class Stl10Binary:
    description = ("STL-10 binary version: SUBDIR#train reads train_X.bin / train_y.bin, SUBDIR#test test_X.bin / "
                   f"test_y.bin ({STL10_BINARY_URL})")
    _SELECTORS = ("train", "test")

    def missing(self, root: Path, split: str) -> str | None:
        sub, sel = _parse(split, "stl10-binary", self._SELECTORS)
        if not (root / sub).is_dir():
            return f"{sub}/"
        for name in (f"{sel}_X.bin", f"{sel}_y.bin"):
            if not (root / sub / name).is_file():
                return f"{sub}/{name}"
        return None

    def read(self, root: Path, split: str, labels: Sequence[str] | None) -> tuple[list[Any], list[str], str]:
        sub, sel = _parse(split, "stl10-binary", self._SELECTORS)
        xs, ys = root / sub / f"{sel}_X.bin", root / sub / f"{sel}_y.bin"
        pixels = _map(xs, _STL_IMAGE, "96x96 colour images (27,648 bytes each)", STL10_BINARY_URL)
        try:
            codes = np.fromfile(ys, dtype=np.uint8)
        except FileNotFoundError:
            raise BenchError(f"{ys}: file not found (is the download complete? {STL10_BINARY_URL})") from None
        if len(codes) != len(pixels):
            raise BenchError(f"{ys} holds {len(codes):,} labels for the {len(pixels):,} images of {xs.name}; one of "
                             f"them is truncated: download them again ({STL10_BINARY_URL})")
        bad = np.flatnonzero((codes < 1) | (codes > 10))
        if bad.size:
            raise BenchError(f"{ys}: label {codes[bad[0]]} of image {bad[0]} is outside 1..10 (not an STL-10 label file?)")
        # Each image is stored column-major, one channel at a time (the dataset's Matlab origin): read as
        # (n, channel, column, row) and swap the last two axes, a view, so nothing is copied here.
        images = pixels.reshape(len(pixels), 3, 96, 96).transpose(0, 1, 3, 2)
        return list(images), [STL10_LABELS[c - 1] for c in codes], _stamp([xs, ys])


# -- Hugging Face Image columns --------------------------------------------------------------------------------


def pil_to_array(image: Any) -> np.ndarray:
    """A PIL image as a uint8 CHW array: grayscale keeps one channel, everything else becomes RGB."""
    gray = image.mode in ("1", "L")
    arr = np.asarray(image.convert("L" if gray else "RGB"), dtype=np.uint8)
    return arr[None] if gray else np.ascontiguousarray(arr.transpose(2, 0, 1))


def hub_images(split: Any, column: str, where: str) -> list[np.ndarray]:
    """A Hub split's Image column as uint8 CHW arrays, decoded a batch at a time: 4x smaller than float
    pixels, and never a whole split of PIL images at once."""
    out: list[np.ndarray] = []
    for batch in split.select_columns([column]).iter(batch_size=512):
        for value in batch[column]:
            if not hasattr(value, "getbands"):
                raise BenchError(f"{where}: column '{column}' holds {type(value).__name__}, not images (is it the "
                                 "dataset's Image column?)")
            out.append(pil_to_array(value))
    return out


LAYOUTS: dict[str, ImageLayout] = {
    "image-folder": ImageFolder(),
    "cifar10-binary": Cifar10Binary(),
    "stl10-binary": Stl10Binary(),
}
