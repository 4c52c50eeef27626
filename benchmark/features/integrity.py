"""Checks that a feature-cache entry holds what its writer wrote, and removal of entries that do not.

A writer records a crc32 of every chunk of an entry's rows in its `meta.json`; a reader scans the rows once per
process before trusting the entry (crc32 runs at gigabytes per second: far cheaper than recomputing features) and
also refuses non-finite values, which no writer stores. Entries written before checksums existed carry none:
they are still checked for non-finite values and accepted, so an upgrade does not throw a cache away.

An entry that fails (unreadable, foreign, edited on disk) is quarantined: renamed aside under a dot name, which
readers and eviction ignore, then deleted. Nothing here follows a symbolic link, so a link planted in the cache
never leads a deletion outside it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
import zlib
from pathlib import Path
from typing import Any

import numpy as np

CHECKSUM = "crc32"
QUARANTINE_PREFIX = ".bad-"


class CorruptEntry(ValueError):
    """An entry whose bytes are not what its writer recorded (or that no writer would have written)."""


def _chunk_bytes(row_bytes: int, target: int) -> int:
    """Whole rows per chunk, about `target` bytes: a chunk's values are then always aligned to the dtype."""
    return max(1, target // max(row_bytes, 1)) * max(row_bytes, 1)


def scan(path: Path, offset: int, row_bytes: int, dtype: np.dtype, target: int) -> dict[str, Any]:
    """crc32 of each chunk of the rows stored from `offset` on; raises CorruptEntry on a non-finite value."""
    size = path.stat().st_size - offset
    step = _chunk_bytes(row_bytes, target)
    values = []
    with path.open("rb", buffering=0) as f:
        for start in range(0, size, step):
            buf = os.pread(f.fileno(), min(step, size - start), offset + start)
            values.append(zlib.crc32(buf))
            usable = len(buf) - len(buf) % dtype.itemsize
            if not np.isfinite(np.frombuffer(buf[:usable], dtype=dtype)).all():
                raise CorruptEntry(f"{path.name} holds NaN or infinite values")
    return {"algorithm": CHECKSUM, "chunk_bytes": step, "values": values}


def verify(path: Path, offset: int, row_bytes: int, dtype: np.dtype, recorded: Any) -> None:
    """Raise CorruptEntry unless the rows match the checksums recorded at write time (none recorded: only the
    finiteness check applies, for entries written before checksums existed)."""
    if recorded is None:
        scan(path, offset, row_bytes, dtype, 16 << 20)
        return
    if not isinstance(recorded, dict) or recorded.get("algorithm") != CHECKSUM:
        raise CorruptEntry(f"unknown checksum record {recorded!r}")
    step = int(recorded["chunk_bytes"])
    found = scan(path, offset, row_bytes, dtype, step)["values"]
    if found != list(recorded["values"]):
        bad = next((i for i, (a, b) in enumerate(zip(found, recorded["values"], strict=False)) if a != b), len(found))
        raise CorruptEntry(f"{path.name} does not match its checksum (chunk {bad}: edited or damaged on disk)")


def file_crc(path: Path) -> int:
    return zlib.crc32(path.read_bytes())


def remove(path: Path) -> None:
    """Delete a file, a directory tree or a link (the link itself, never what it points to)."""
    if path.is_symlink() or not path.is_dir():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)


def quarantine(path: Path) -> None:
    """Move an entry aside at once (a reader never sees it half deleted), then delete it."""
    aside = path.with_name(f"{QUARANTINE_PREFIX}{path.name}-{uuid.uuid4().hex[:8]}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return
    except OSError:
        aside = path
    remove(aside)
