"""The feature cache on object storage (BENCH_CACHE=s3://bucket/prefix): entries live in the bucket, jobs read
them from a local copy.

Training streams rows with pread (benchmark.features.cache), which object storage cannot serve well, so an
entry is used from a local staging folder: a per-process temporary folder (a cluster worker keeps nothing
between jobs and shares nothing but the bucket), or BENCH_CACHE_LOCAL when set (kept across runs, its own size
limit BENCH_CACHE_MAX_GB). The bucket holds the same layout as a local cache, BENCH_CACHE/features/KEY-DTYPE/.

- A miss in the staging folder downloads the entry: meta.json first, then its data files; the local checks
  (every chunk's checksum, finiteness) run on the copy as on any entry, so a damaged or mixed copy is refused,
  recomputed and uploaded again (healing, as locally).
- One writer per key: the local flock plus a lease in the bucket (benchmark.storage.Leases), so two machines
  never compute one entry twice; the second finds it in the bucket once it has the lease.
- Publication: an entry is uploaded once complete, each file as one object (one PUT, or a multipart upload that
  S3 publishes only when complete) and meta.json last, so a reader that finds meta.json finds every file.
Reuse of rows between entries (benchmark.features.reuse) sees the entries in the staging folder only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmark.errors import BenchError
from benchmark.features.cache import _TMP_PREFIX, FeatureCache, Features
from benchmark.features.frames import FrameFeatures
from benchmark.storage import Leases, ObjectPath, describe_error

log = logging.getLogger(__name__)
META = "meta.json"


class MirroredCache(FeatureCache):
    def __init__(self, remote: ObjectPath, local: Path | None = None, **kwargs: Any) -> None:
        self._staging: tempfile.TemporaryDirectory[str] | None = None
        if local is None:
            self._staging = tempfile.TemporaryDirectory(prefix="bench-features-")
            local = Path(self._staging.name)
        super().__init__(local, **kwargs)
        self.remote = remote / "features"
        self.leases = Leases(self.remote / ".locks")
        self.fetched = 0  # entries downloaded by this process (tests and logs read it)
        self.uploaded = 0

    def _name(self, key: str) -> str:
        return f"{key}-{self.dtype.name}"

    def get(self, key: str) -> Features | None:
        found = super().get(key)
        if found is None and self._fetch(key):
            found = super().get(key)
        return found

    def get_frames(self, key: str) -> FrameFeatures | None:
        found = super().get_frames(key)
        if found is None and self._fetch(key):
            found = super().get_frames(key)
        return found

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        with super().lock(key):
            try:
                self.leases.acquire(self._name(key))
            except Exception as err:
                raise self._error("use", err) from None
            try:
                yield
            finally:
                self.leases.release(self._name(key))

    @contextlib.contextmanager
    def _new_entry(self, key: str, make: Any, describe: Any, meta: dict[str, Any]) -> Iterator[Any]:
        with super()._new_entry(key, make, describe, meta) as writer:
            yield writer
        self._upload(key)  # only a complete entry (the block above raised otherwise)

    def _fetch(self, key: str) -> bool:
        """Download the bucket's entry `key` into the staging folder; False when there is none (or a local entry
        was refused: it is recomputed under the key's lock, and the new entry replaces the bucket's)."""
        if not self.enabled or os.path.lexists(self.path(key)):
            return False
        src = self.remote / self._name(key)
        try:
            meta = (src / META).read_bytes()
        except FileNotFoundError:
            return False
        except Exception as err:
            raise self._error("read", err) from None
        base = self._base()
        base.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{key}-", dir=base))
        try:
            (tmp / META).write_bytes(meta)
            for f in src.files():
                if f.name != META:
                    src.fs.get_file(f.key, str(tmp / f.name))
        except FileNotFoundError:  # the entry is being replaced (healed) in the bucket: a miss, computed again
            shutil.rmtree(tmp, ignore_errors=True)
            return False
        except Exception as err:
            shutil.rmtree(tmp, ignore_errors=True)
            raise self._error("read", err) from None
        try:
            os.rename(tmp, self.path(key))
        except OSError:  # another job of this process published it first: as good as ours
            shutil.rmtree(tmp, ignore_errors=True)
        self.fetched += 1
        log.debug("feature cache: fetched %s from %s", self._name(key), self.remote)
        return True

    def _upload(self, key: str) -> None:
        entry = self.path(key)
        dst = self.remote / entry.name
        try:
            for f in sorted(p for p in entry.iterdir() if p.is_file() and p.name != META):
                dst.fs.put_file(str(f), (dst / f.name).key)
            (dst / META).write_bytes((entry / META).read_bytes())  # last: its presence publishes the entry
        except Exception as err:
            raise self._error("write to", err) from None
        self.uploaded += 1

    def _error(self, what: str, err: BaseException) -> BenchError:
        from benchmark.storage import CREDENTIALS_HINT

        return BenchError(f"cannot {what} the feature cache at {self.remote.parent}: {describe_error(err)}; "
                          f"{CREDENTIALS_HINT}, or run with --no-cache")

    def close(self) -> None:
        super().close()
        self.leases.close()
        if self._staging is not None:
            self._staging.cleanup()
            self._staging = None
