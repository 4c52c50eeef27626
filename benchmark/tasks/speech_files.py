"""What every speech corpus reader (benchmark.tasks.speech_layouts) shares: the `Layout` protocol, split strings
("SUBDIR#SELECTOR"), folder listings without hidden files, text files as lines, audio references, and one-line
errors naming the file (and line) that is wrong or missing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from benchmark.errors import BenchError
from benchmark.media.audio import AudioClip, clip


class Layout(Protocol):
    """A reader for one official download layout."""

    description: str

    def missing(self, root: Path, split: str) -> str | None:
        """None when the split can be read; else the path (relative to root) that is expected."""
        ...

    def read(self, root: Path, split: str) -> tuple[list[AudioClip], list[str]]:
        """The split's clips and raw labels (class names or transcripts), in sorted file order."""
        ...


def parse_split(split: str, layout: str, selectors: tuple[str, ...] | None) -> tuple[str, str]:
    """SUBDIR and SELECTOR of "SUBDIR#SELECTOR"; selectors=None takes any non-empty selector."""
    sub, _, sel = split.partition("#")
    ok = sel in selectors if selectors is not None else bool(sel) and "/" not in sel
    if not sub or not ok:
        wanted = " | ".join(selectors) if selectors is not None else "NAME"
        raise BenchError(f"{layout}: split '{split}' must read 'SUBDIR#SELECTOR' with SELECTOR {wanted}")
    return sub, sel


def visible(entries: Iterator[os.DirEntry[str]]) -> list[os.DirEntry[str]]:
    """Sorted entries, without hidden ones (macOS '._*' resource forks ship inside some corpora)."""
    return sorted((e for e in entries if not e.name.startswith(".")), key=lambda e: e.name)


def scan(path: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as it:
            return visible(it)
    except (FileNotFoundError, NotADirectoryError):
        raise BenchError(f"{path}: folder not found (see docs/superb.md for the expected layout)") from None


def read_lines(path: Path) -> list[str]:
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise BenchError(f"{path}: file not found (see docs/superb.md for the expected layout)") from None
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise BenchError(f"{path}:{line}: not UTF-8 text (byte 0x{data[err.start]:02x})") from None


def clip_at(path: Path | str, where: object, line: int = 0, **kw: float | None) -> AudioClip:
    """clip(path), or a BenchError naming `where` (a file, and its line when given): the message is only
    formatted on failure, which matters over 100,000 files."""
    try:
        return clip(path, **kw)  # type: ignore[arg-type]
    except FileNotFoundError:
        at = f"{where}:{line}" if line else f"{where}"
        raise BenchError(f"{at}: audio file {path} not found (is the download complete?)") from None


def missing_path(path: Path, root: Path, folder: bool = True) -> str | None:
    """None if `path` exists, else it relative to root (a folder with a trailing slash)."""
    if path.is_dir() if folder else path.is_file():
        return None
    return f"{path.relative_to(root)}{'/' if folder else ''}"
