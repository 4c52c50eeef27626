"""The feature cache: pooled per-layer features of one (upstream, split) on disk, written once, read many times.

In frozen mode an upstream runs once per (upstream fingerprint, pooling, split contents, compute dtype); every
later seed, head and learning rate reads the entry. An entry is a directory holding `features.npy`
((examples, layers, dim), float32 or float16) and `meta.json`. It is written in a temporary directory next to
its final place and renamed into place only when complete, so a writer killed at any point leaves nothing a
reader trusts (the leftovers are removed by `clear` and by later writers). Writers of one key take a file
lock, so two processes (or Ray workers) never compute the same entry twice or interleave their writes.

Entries heal: `meta.json` records a checksum of every chunk of rows, checked (with finiteness) the first time a
process reads the entry; an entry that is unreadable, foreign or edited is quarantined and recomputed, with one
warning. Entries this process has opened are pinned: eviction spares them, so the size limit is best effort.

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
from benchmark.features import integrity
from benchmark.features.frames import FrameFeatures, FrameWriter
from benchmark.features.reuse import hash_input, write_rows_index

log = logging.getLogger(__name__)
FORMAT_VERSION = 1
CHUNK_BYTES = 16 << 20  # rows stream in chunks of about this many bytes (float32); peak memory scales with it
_TMP_PREFIX = ".tmp-"


def inputs_digest(inputs: Sequence[Any]) -> str:
    """A digest of a split's inputs, in order: any change of data or order gives another cache key."""
    h = hashlib.sha256()
    for x in inputs:
        hash_input(h, x)
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
        self._pinned: set[str] = set()  # entry names opened by this process: eviction never removes them
        self._verified: set[str] = set()  # entry names whose checksums this process has checked
        self._bad: dict[str, str] = {}  # key -> why its entry was refused (reported when it is replaced)

    # -- lookup ------------------------------------------------------------------------------------------
    def _base(self) -> Path:
        if self.enabled:
            return self.root
        if self._scratch is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="bench-nocache-")
        return Path(self._scratch.name)

    def path(self, key: str) -> Path:
        return self._base() / f"{key}-{self.dtype.name}"

    def _refuse(self, key: str, entry: Path, err: Exception) -> None:
        """Remember why an entry was refused; the writer that replaces it (under the key's lock) says so."""
        if os.path.lexists(entry):
            self._bad[key] = f"{type(err).__name__}: {err}" if isinstance(err, KeyError) else str(err)

    def _opened(self, entry: Path, data: Path, offset: int, row_bytes: int, dtype: np.dtype,
                meta: dict[str, Any]) -> None:
        """Check an entry's rows once per process, then pin it and mark it used (LRU eviction reads the time)."""
        if entry.name not in self._verified:
            integrity.verify(data, offset, row_bytes, dtype, meta.get("checksum"))
            self._verified.add(entry.name)
        self._pinned.add(entry.name)
        with contextlib.suppress(OSError):
            os.utime(entry / "meta.json")

    def get(self, key: str) -> Features | None:
        entry = self.path(key)
        try:
            meta = json.loads((entry / "meta.json").read_text(encoding="utf-8"))
            feats = Features(entry / "features.npy")
            if meta.get("format") != FORMAT_VERSION or tuple(meta.get("shape", ())) != feats.shape:
                raise integrity.CorruptEntry(f"not an entry of this format (format {meta.get('format')!r}, "
                                             f"shape {meta.get('shape')!r})")
            self._opened(entry, feats.path, feats.offset, feats.row_bytes, feats.dtype, meta)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            self._refuse(key, entry, err)
            return None
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
    def create(self, key: str, n: int, meta: dict[str, Any], digests: np.ndarray | None = None) -> Iterator[Writer]:
        """Write a new entry: yields a Writer; the entry appears (atomic rename) only if the block completes.
        digests: each row's input digest (benchmark.features.reuse), so later entries can reuse its rows."""
        def make(tmp: Path) -> Writer:
            if digests is not None:
                meta["rows_crc32"] = write_rows_index(tmp, digests)
            return Writer(tmp / "features.npy", n, self.dtype)

        with self._new_entry(key, make, self._describe_rows, meta) as writer:
            yield writer

    @contextlib.contextmanager
    def create_frames(self, key: str, n: int, meta: dict[str, Any]) -> Iterator[FrameWriter]:
        """Write a new frame-level entry (every example's (frames, layers, dim) block), atomically like create."""
        with self._new_entry(key, lambda tmp: FrameWriter(tmp, n, self.dtype), self._describe_frames,
                             meta) as writer:
            yield writer

    def _describe_rows(self, tmp: Path, _: Writer) -> dict[str, Any]:
        f = Features(tmp / "features.npy")
        return {"shape": list(f.shape), "checksum": integrity.scan(f.path, f.offset, f.row_bytes, f.dtype, CHUNK_BYTES)}

    def _describe_frames(self, tmp: Path, w: FrameWriter) -> dict[str, Any]:
        row_bytes = w.layers * w.dim * self.dtype.itemsize
        return {**w.summary(), "index_crc32": integrity.file_crc(tmp / "index.npy"),
                "checksum": integrity.scan(tmp / "frames.bin", 0, row_bytes, self.dtype, CHUNK_BYTES)}

    def get_frames(self, key: str) -> FrameFeatures | None:
        entry = self.path(key)
        try:
            meta = json.loads((entry / "meta.json").read_text(encoding="utf-8"))
            if meta.get("format") != FORMAT_VERSION or not meta.get("frames"):
                raise integrity.CorruptEntry(f"not a frame entry of this format (format {meta.get('format')!r})")
            if "index_crc32" in meta and integrity.file_crc(entry / "index.npy") != meta["index_crc32"]:
                raise integrity.CorruptEntry("index.npy does not match its checksum (edited or damaged on disk)")
            feats = FrameFeatures(entry, meta)
            self._opened(entry, feats.path, 0, feats.row_bytes, feats.dtype, meta)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            self._refuse(key, entry, err)
            return None
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
            integrity.remove(stale)
        final = self.path(key)
        if os.path.lexists(final):  # refused by get (callers hold the key's lock): corrupt or foreign, so replaced
            log.warning("feature cache entry %s is corrupt (%s); removed it and recomputing it", final.name,
                        self._bad.pop(key, "unreadable"))
            integrity.quarantine(final)
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
            try:
                os.rename(tmp, final)
            except OSError:  # another writer finished first: its entry is as good as ours
                shutil.rmtree(tmp, ignore_errors=True)
            self._pinned.add(final.name)  # the job reads it next: eviction below must spare it
            self._verified.add(final.name)
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
        stamped = []
        for e in self.entries():
            with contextlib.suppress(OSError):  # another process removed it meanwhile
                stamped.append(((e / "meta.json").stat().st_mtime, e, self._size(e)))
        stamped.sort(key=lambda t: t[0])
        total = sum(size for _, _, size in stamped)
        removed = []
        for _, victim, size in stamped:
            if total <= self.max_bytes:
                break
            if victim.name in self._pinned:  # in use by a job of this process: the limit yields (best effort)
                continue
            total -= size
            integrity.quarantine(victim)
            removed.append(victim)
        return removed

    def clear(self) -> int:
        """Remove everything under the root (entries, interrupted writers' leftovers, anything else found there,
        links as links: nothing outside the root); returns the number removed, lock files not counted."""
        if not self.root.is_dir():
            return 0
        n = 0
        for p in self.root.iterdir():
            lock = p.name.endswith(".lock") and p.is_file() and not p.is_symlink()
            integrity.remove(p)
            n += not lock
        return n

    def close(self) -> None:
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None
