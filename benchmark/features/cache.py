"""The feature cache: pooled per-layer features of one (upstream, split) on disk, written once, read many times.

In frozen mode an upstream runs once per (upstream fingerprint, pooling, split contents, compute dtype); every
later seed, head and learning rate reads the entry. An entry is a directory holding `features.npy`
((examples, layers, dim), float32 or float16) and `meta.json`. It is written in a temporary directory next to
its final place and renamed into place only when complete, so a writer killed at any point leaves nothing a
reader trusts (the leftovers are removed by `clear` and by later writers). Writers of one key take a file
lock, so two processes (or Ray workers) never compute the same entry twice or interleave their writes.

Rows are written and read with pwrite / pread, never through a memory map, so the resident memory of a job
does not grow with the size of the data: training streams chunks of rows from the file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.errors import BenchError

log = logging.getLogger(__name__)
FORMAT_VERSION = 1
CHUNK_BYTES = 16 << 20  # rows stream in chunks of about this many bytes (float32); peak memory scales with it
_TMP_PREFIX = ".tmp-"


def inputs_digest(inputs: Sequence[Any]) -> str:
    """A digest of a split's inputs, in order: any change of data or order gives another cache key."""
    h = hashlib.sha256()
    for x in inputs:
        if isinstance(x, np.ndarray):  # a waveform or an image: its dtype, shape and bytes
            h.update(f"{x.dtype.str}{x.shape}".encode())
            h.update(np.ascontiguousarray(x).tobytes())
        elif hasattr(x, "key"):  # audio on disk (benchmark.media.audio.AudioClip): path, slice and file stamp
            h.update(x.key().encode("utf-8"))
        else:
            h.update(json.dumps(x, ensure_ascii=False).encode("utf-8"))
        h.update(b"\x1e")
    return h.hexdigest()


def entry_key(upstream_fingerprint: str, pooling: str, digest: str, compute_dtype: str) -> str:
    text = json.dumps([FORMAT_VERSION, upstream_fingerprint, pooling, digest, compute_dtype])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class Features:
    """Read access to an (examples, layers, dim) feature file, by row ranges or in chunks; float32 out."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with path.open("rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = np.lib.format.read_array_header_2_0 if version >= (2, 0) else np.lib.format.read_array_header_1_0
            shape, fortran, dtype = read_header(f)
            self.offset = f.tell()
        if fortran or len(shape) != 3:
            raise ValueError(f"{path}: not a C-order (examples, layers, dim) array")
        self.shape: tuple[int, int, int] = tuple(shape)  # type: ignore[assignment]
        self.dtype = np.dtype(dtype)
        self.row_bytes = self.shape[1] * self.shape[2] * self.dtype.itemsize
        expected = self.offset + self.shape[0] * self.row_bytes
        if path.stat().st_size != expected:
            raise ValueError(f"{path}: {path.stat().st_size} bytes, expected {expected}")

    def __len__(self) -> int:
        return self.shape[0]

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows [start, stop) as float32 (one pread, no memory map)."""
        n = max(0, min(stop, len(self)) - start)
        with self.path.open("rb", buffering=0) as f:
            buf = os.pread(f.fileno(), n * self.row_bytes, self.offset + start * self.row_bytes)
        return np.frombuffer(buf, dtype=self.dtype).reshape(n, *self.shape[1:]).astype(np.float32)

    def chunk_rows(self) -> int:
        return max(1, CHUNK_BYTES // (self.shape[1] * self.shape[2] * 4))

    def chunks(self) -> Iterator[tuple[int, np.ndarray]]:
        step = self.chunk_rows()
        for start in range(0, len(self), step):
            yield start, self.read(start, start + step)


class Writer:
    """Writes rows at arbitrary indices into a new feature file (pwrite per batch of rows)."""

    def __init__(self, path: Path, n: int, dtype: np.dtype) -> None:
        self.path, self.n, self.dtype = path, n, dtype
        self.fd: int | None = None
        self.offset = 0
        self.row_bytes = 0
        self.written = 0

    def _open(self, layers: int, dim: int) -> None:
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
                  "shape": (self.n, layers, dim)}
        with self.path.open("wb") as f:
            np.lib.format.write_array_header_2_0(f, header)
            self.offset = f.tell()
        self.fd = os.open(self.path, os.O_WRONLY)
        self.row_bytes = layers * dim * self.dtype.itemsize
        os.ftruncate(self.fd, self.offset + self.n * self.row_bytes)

    def write(self, indices: Sequence[int], rows: np.ndarray) -> None:
        """rows: (len(indices), layers, dim); indices need not be contiguous (length-sorted batches)."""
        if self.fd is None:
            self._open(rows.shape[1], rows.shape[2])
        data = np.ascontiguousarray(rows, dtype=self.dtype)
        for i, row in zip(indices, data, strict=True):
            os.pwrite(self.fd, row.tobytes(), self.offset + int(i) * self.row_bytes)  # type: ignore[arg-type]
        self.written += len(indices)

    def close(self) -> None:
        if self.fd is not None:
            os.fsync(self.fd)
            os.close(self.fd)
            self.fd = None


class FrameWriter:
    """Appends each example's (frames, layers, dim) block to `frames.bin`; `index.npy` records where each starts.

    Frame-level tasks (CTC) need every frame, and the number of frames is known only once the upstream has run,
    so blocks are appended in arrival order rather than written at precomputed offsets.
    """

    def __init__(self, directory: Path, n: int, dtype: np.dtype) -> None:
        self.directory, self.n, self.dtype = directory, n, dtype
        self.index = np.full((n, 2), -1, dtype=np.int64)  # (first row, number of frames) per example
        self.rows = 0
        self.written = 0
        self.layers = self.dim = 0
        self.file: Any = None

    def write(self, indices: Sequence[int], blocks: Sequence[np.ndarray]) -> None:
        """blocks[k]: (frames, layers, dim) of example indices[k]."""
        if self.file is None:
            self.file = (self.directory / "frames.bin").open("wb")
            self.layers, self.dim = blocks[0].shape[1], blocks[0].shape[2]
        for i, block in zip(indices, blocks, strict=True):
            data = np.ascontiguousarray(block, dtype=self.dtype)
            self.file.write(data.tobytes())
            self.index[int(i)] = (self.rows, len(data))
            self.rows += len(data)
        self.written += len(indices)

    def close(self) -> None:
        if self.file is not None:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            self.file = None
            np.save(self.directory / "index.npy", self.index)

    def summary(self) -> dict[str, Any]:
        return {"frames": True, "rows": self.rows, "layers": self.layers, "dim": self.dim}


class FrameFeatures:
    """Read access to a frame-level entry: each example's (frames, layers, dim) block, float32 out (pread)."""

    def __init__(self, entry: Path, meta: dict[str, Any]) -> None:
        self.path = entry / "frames.bin"
        self.index = np.load(entry / "index.npy")
        self.layers, self.dim = int(meta["layers"]), int(meta["dim"])
        self.dtype = np.dtype(meta["dtype"])
        self.row_bytes = self.layers * self.dim * self.dtype.itemsize
        if self.path.stat().st_size != int(meta["rows"]) * self.row_bytes or (self.index[:, 0] < 0).any():
            raise ValueError(f"{self.path}: truncated or incomplete frame features")
        self.lengths = self.index[:, 1]

    def __len__(self) -> int:
        return len(self.index)

    def example(self, i: int) -> np.ndarray:
        start, n = (int(v) for v in self.index[i])
        with self.path.open("rb", buffering=0) as f:
            buf = os.pread(f.fileno(), n * self.row_bytes, start * self.row_bytes)
        return np.frombuffer(buf, dtype=self.dtype).reshape(n, self.layers, self.dim).astype(np.float32)


@dataclass(frozen=True)
class CacheInfo:
    root: Path
    entries: int
    bytes: int
    max_bytes: int | None
    partial: int


class FeatureCache:
    """Feature entries under ROOT/features. `enabled=False` (--no-cache) still streams through a temporary
    directory (so memory stays bounded) and deletes the entry when the job is done."""

    def __init__(self, root: Path, *, dtype: str = "float32", max_bytes: int | None = None,
                 enabled: bool = True) -> None:
        if dtype not in ("float32", "float16"):
            raise BenchError(f"unknown cache dtype '{dtype}' (float32 or float16)")
        self.root = root / "features"
        self.dtype = np.dtype(dtype)
        self.max_bytes = max_bytes
        self.enabled = enabled
        self._scratch: tempfile.TemporaryDirectory[str] | None = None

    # -- lookup ------------------------------------------------------------------------------------------
    def _base(self) -> Path:
        if self.enabled:
            return self.root
        if self._scratch is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="bench-nocache-")
        return Path(self._scratch.name)

    def path(self, key: str) -> Path:
        return self._base() / f"{key}-{self.dtype.name}"

    def get(self, key: str) -> Features | None:
        entry = self.path(key)
        try:
            meta = json.loads((entry / "meta.json").read_text(encoding="utf-8"))
            feats = Features(entry / "features.npy")
        except (OSError, ValueError) as err:
            if entry.exists():
                log.warning("ignoring unreadable cache entry %s: %s", entry, err)
            return None
        if meta.get("format") != FORMAT_VERSION or tuple(meta.get("shape", ())) != feats.shape:
            return None
        with contextlib.suppress(OSError):
            os.utime(entry / "meta.json")  # least-recently-used eviction reads this time
        return feats

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """An exclusive lock for computing one key (other processes wait, then find the entry made)."""
        base = self._base()
        try:
            base.mkdir(parents=True, exist_ok=True)
            f = (base / f".{key}.lock").open("a")
        except OSError as err:
            raise BenchError(f"cannot use the feature cache at {self.root.parent}: {err.strerror or err} (set BENCH_CACHE to "
                             "a writable directory, or run with --no-cache)") from None
        with f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    @contextlib.contextmanager
    def create(self, key: str, n: int, meta: dict[str, Any]) -> Iterator[Writer]:
        """Write a new entry: yields a Writer; the entry appears (atomic rename) only if the block completes."""
        with self._new_entry(key, lambda tmp: Writer(tmp / "features.npy", n, self.dtype),
                             lambda tmp, w: {"shape": list(Features(tmp / "features.npy").shape)}, meta) as writer:
            yield writer

    @contextlib.contextmanager
    def create_frames(self, key: str, n: int, meta: dict[str, Any]) -> Iterator[FrameWriter]:
        """Write a new frame-level entry (every example's (frames, layers, dim) block), atomically like create."""
        with self._new_entry(key, lambda tmp: FrameWriter(tmp, n, self.dtype), lambda tmp, w: w.summary(),
                             meta) as writer:
            yield writer

    def get_frames(self, key: str) -> FrameFeatures | None:
        entry = self.path(key)
        try:
            meta = json.loads((entry / "meta.json").read_text(encoding="utf-8"))
            if meta.get("format") != FORMAT_VERSION or not meta.get("frames"):
                return None
            feats = FrameFeatures(entry, meta)
        except (OSError, ValueError, KeyError) as err:
            if entry.exists():
                log.warning("ignoring unreadable cache entry %s: %s", entry, err)
            return None
        with contextlib.suppress(OSError):
            os.utime(entry / "meta.json")
        return feats

    @contextlib.contextmanager
    def _new_entry(self, key: str, make: Any, describe: Any, meta: dict[str, Any]) -> Iterator[Any]:
        base = self._base()
        try:
            base.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise BenchError(f"cannot use the feature cache at {self.root.parent}: {err.strerror or err} (set BENCH_CACHE to "
                             "a writable directory, or run with --no-cache)") from None
        for stale in base.glob(f"{_TMP_PREFIX}{key}-*"):  # a killed writer's leftovers (callers hold the key's lock)
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{key}-", dir=base))
        writer = make(tmp)
        try:
            yield writer
            writer.close()
            if writer.written != writer.n:
                raise RuntimeError(f"cache entry {key}: wrote {writer.written} of {writer.n} rows")
            body = {**meta, "format": FORMAT_VERSION, **describe(tmp, writer), "dtype": self.dtype.name,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            (tmp / "meta.json").write_text(json.dumps(body, indent=1), encoding="utf-8")
            final = self.path(key)
            try:
                os.rename(tmp, final)
            except OSError:  # another writer finished first: its entry is as good as ours
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException as err:
            with contextlib.suppress(OSError):
                writer.close()
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(err, OSError):  # a full disk or quota: nothing half-written is left behind
                raise BenchError(f"cannot write to the feature cache at {self.root.parent}: {err.strerror or err}; free "
                                 "space, lower BENCH_CACHE_MAX_GB, or run with --no-cache") from None
            raise
        self.evict()

    # -- housekeeping ----------------------------------------------------------------------------------
    def entries(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))

    def _size(self, entry: Path) -> int:
        return sum(f.stat().st_size for f in entry.iterdir() if f.is_file())

    def info(self) -> CacheInfo:
        entries = self.entries()
        partial = [p for p in self.root.iterdir() if p.name.startswith(_TMP_PREFIX)] if self.root.is_dir() else []
        return CacheInfo(self.root, len(entries), sum(self._size(e) for e in entries), self.max_bytes, len(partial))

    def evict(self) -> list[Path]:
        """Delete least-recently-used entries until the cache fits max_bytes."""
        if self.max_bytes is None or not self.enabled:
            return []
        entries = sorted(self.entries(), key=lambda e: (e / "meta.json").stat().st_mtime)
        total = sum(self._size(e) for e in entries)
        removed = []
        while entries and total > self.max_bytes:
            victim = entries.pop(0)
            total -= self._size(victim)
            shutil.rmtree(victim, ignore_errors=True)
            removed.append(victim)
        return removed

    def clear(self) -> int:
        """Remove every entry and every leftover of an interrupted writer; returns the number removed."""
        if not self.root.is_dir():
            return 0
        n = 0
        for p in self.root.iterdir():
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
                n += 1
            elif p.name.endswith(".lock"):
                p.unlink(missing_ok=True)
        return n

    def close(self) -> None:
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None
