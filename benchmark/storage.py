"""Where results and cached features live: a local folder (pathlib, exactly as before) or an fsspec URL
(`s3://bucket/run`, `gs://...`; `file:///abs/dir` is the local folder /abs/dir).

Only this module knows about object storage. `location(text)` turns what a user gave (--output, BENCH_CACHE)
into a `Path` or an `ObjectPath`; an ObjectPath offers the few Path operations the results code uses (`/`,
name, parent, with_name, is_file, is_dir, glob, read_text, unlink), so that code keeps one shape, and the places
where a local guarantee needs a different mechanism branch on it:

- atomic writes: a local result is a temp file + rename; an object is written with one PUT of the whole body
  (S3 makes an object visible only when its PUT, or multipart upload, completes: a reader never sees half of one).
- one writer per job / cache key: locally an flock the kernel drops when the process dies; on object storage a
  *lease* (`Leases`): an object created with a conditional write (`If-None-Match: *`, fsspec's
  `pipe_file(mode="create")`; one creator wins, the others get FileExistsError), renewed by a heartbeat thread,
  and taken over once expired by creating the next generation's object, again conditionally, so that two
  takers cannot both win. A SIGKILLed holder stops renewing: its lease expires after BENCH_LEASE_SECONDS.
- resume, .stale/ and *.failed.json: the same object names as the local files.

fsspec and its filesystem packages (s3fs, gcsfs) are imported only when a URL is used.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.errors import BenchError

log = logging.getLogger(__name__)
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_PACKAGES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs"}
_EXTRA = {"s3fs": "pip install 'encoder-bench[s3]'"}
ENDPOINT_HINT = "the endpoint (AWS_ENDPOINT_URL or FSSPEC_S3_ENDPOINT_URL)"
CREDENTIALS_HINT = f"check the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE) and {ENDPOINT_HINT}"


def is_url(value: Any) -> bool:
    return isinstance(value, str) and bool(_URL.match(value))


@dataclass(frozen=True, order=True)
class ObjectPath:
    """`protocol://key` in an fsspec filesystem (key: bucket/prefix/name, no trailing slash)."""

    protocol: str
    key: str

    def __str__(self) -> str:
        return f"{self.protocol}://{self.key}"

    def __truediv__(self, name: str) -> ObjectPath:
        return ObjectPath(self.protocol, f"{self.key}/{name}")

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    @property
    def parent(self) -> ObjectPath:
        return ObjectPath(self.protocol, self.key.rsplit("/", 1)[0]) if "/" in self.key else self

    @property
    def bucket(self) -> str:
        return self.key.split("/", 1)[0]

    def with_name(self, name: str) -> ObjectPath:
        return self.parent / name

    @property
    def fs(self) -> Any:
        return filesystem(self.protocol)

    def info(self) -> dict[str, Any] | None:
        """The object's metadata (size, ETag, LastModified), or None when there is none."""
        try:
            found: dict[str, Any] = self.fs.info(self.key)
        except FileNotFoundError:
            return None
        return found if found.get("type") == "file" else None

    def is_file(self) -> bool:
        return self.info() is not None

    def exists(self) -> bool:
        return self.is_file()

    def bucket_exists(self) -> bool:
        """Whether the bucket is there; an error that is not 'not found' (credentials, endpoint) is raised, not
        mistaken for a missing bucket as fsspec's exists() would."""
        try:
            self.fs.info(self.bucket)
        except FileNotFoundError:
            return False
        return True

    def is_dir(self) -> bool:
        """A prefix 'exists' when its bucket does (object storage has no folders to create)."""
        return self.bucket_exists()

    def files(self) -> list[ObjectPath]:
        """The objects directly under this prefix (one LIST; none when the prefix is empty)."""
        try:
            entries = self.fs.ls(self.key, detail=True)
        except FileNotFoundError:
            return []
        return [ObjectPath(self.protocol, e["name"].rstrip("/")) for e in entries if e.get("type") == "file"]

    def glob(self, pattern: str) -> list[ObjectPath]:
        return [p for p in self.files() if fnmatch.fnmatchcase(p.name, pattern)]

    def read_bytes(self) -> bytes:
        data: bytes = self.fs.cat_file(self.key)
        return data

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def write_bytes(self, data: bytes) -> None:
        """The whole object in one PUT (fsspec uses a multipart upload past 100 MB, which S3 also publishes only
        when complete): never a partial object at this key."""
        self.fs.pipe_file(self.key, data)

    def create(self, data: bytes) -> bool:
        """Write the object only if there is none at this key (conditional write); False when there was one."""
        try:
            self.fs.pipe_file(self.key, data, mode="create")
        except FileExistsError:
            return False
        return True

    def unlink(self, missing_ok: bool = False) -> None:
        try:
            self.fs.rm_file(self.key)
        except FileNotFoundError:
            if not missing_ok:
                raise

    def copy_to(self, target: ObjectPath) -> None:
        self.fs.copy(self.key, target.key)  # server-side copy: one request, the target appears whole


Location = Path | ObjectPath


def location(value: str | os.PathLike[str] | ObjectPath) -> Location:
    """A local Path, or an ObjectPath for an fsspec URL (`file://` URLs are local paths)."""
    if isinstance(value, ObjectPath | Path):
        return value
    text = os.fspath(value)
    m = _URL.match(text)
    if not m:
        return Path(text)
    protocol, rest = m.group(1).lower(), text[m.end():].strip("/")
    if protocol in ("file", "local"):
        return Path("/" + rest)
    if not rest:
        raise BenchError(f"{text} names no bucket; give {protocol}://BUCKET/PREFIX")
    return ObjectPath(protocol, rest)


_FILESYSTEMS: dict[tuple[int, str], Any] = {}


def filesystem(protocol: str) -> Any:
    """The fsspec filesystem of `protocol` (one per process), configured from the environment: credentials and
    endpoint as boto reads them (AWS_*), or fsspec's FSSPEC_<PROTOCOL>_<OPTION> variables. A missing package is
    one line saying what to install."""
    key = (os.getpid(), protocol)
    if key in _FILESYSTEMS:
        return _FILESYSTEMS[key]
    package = _PACKAGES.get(protocol, "fsspec")
    hint = _EXTRA.get(package, f"pip install {package}")
    try:
        import fsspec
    except ImportError:
        raise BenchError(f"{protocol}:// needs fsspec: {hint}") from None
    try:
        # No listing cache: another worker's new result must be seen by the next LIST.
        fs = fsspec.filesystem(protocol, use_listings_cache=False, skip_instance_cache=True)
    except ImportError:
        raise BenchError(f"install {package}: {hint}") from None
    except ValueError as err:
        raise BenchError(f"{protocol}:// is not a storage bench can use: {err}") from None
    _FILESYSTEMS[key] = fs
    return fs


def describe_error(err: BaseException) -> str:
    """One line for a storage error (boto's, fsspec's or the OS's)."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def check_writable(output: ObjectPath) -> None:
    """Write and delete a probe object: a missing bucket, bad credentials or a wrong endpoint is one line here,
    before any job runs."""
    probe = output / f".write-test-{uuid.uuid4().hex}"
    check_readable(output, "write results to")
    try:
        probe.write_bytes(b"")
        probe.unlink(missing_ok=True)
    except BenchError:
        raise
    except Exception as err:  # boto's NoCredentialsError, ClientError, connection errors: none is an OSError
        raise BenchError(f"cannot write results to {output}: {describe_error(err)}; {CREDENTIALS_HINT}") from None


def check_readable(output: ObjectPath, what: str = "read results at") -> None:
    """The bucket is there and these credentials may see it (one line otherwise)."""
    output.fs  # noqa: B018  (a missing filesystem package is its own line: what to install)
    try:
        found = output.bucket_exists()
    except Exception as err:  # boto's NoCredentialsError, ClientError, connection errors: none is an OSError
        raise BenchError(f"cannot {what} {output}: {describe_error(err)}; {CREDENTIALS_HINT}") from None
    if not found:
        raise BenchError(f"cannot {what} {output}: bucket '{output.bucket}' does not exist; create it, or check "
                         f"{ENDPOINT_HINT}")


def stamp(path: ObjectPath) -> tuple[str, int, str] | None:
    """Which object is at `path` (ETag, size, modification time), or None: a change means another writer."""
    found = path.info()
    if found is None:
        return None
    return str(found.get("ETag", "")), int(found.get("size", 0)), str(found.get("LastModified", ""))


# -- leases: one holder per name on object storage ---------------------------------------------------------

def lease_seconds() -> float:
    raw = os.environ.get("BENCH_LEASE_SECONDS", "").strip()
    try:
        value = float(raw) if raw else 60.0
    except ValueError:
        raise BenchError(f"BENCH_LEASE_SECONDS={raw!r} is not a number of seconds") from None
    if not value > 0:
        raise BenchError(f"BENCH_LEASE_SECONDS={raw!r} must be a positive number of seconds")
    return value


class Leases:
    """Exclusive, expiring claims on names, kept as objects `DIR/NAME.GEN.lease`.

    The holder of NAME is the writer of its highest generation while that object's `expires` (the writer's
    clock, renewed every third of the lease by a heartbeat thread) is in the future. To take an expired lease, a
    process creates generation GEN+1 with a conditional write: of several takers exactly one succeeds. A release
    deletes every generation it saw. Clocks of the machines sharing a bucket must agree to well within a lease
    (NTP does); a holder stalled for longer than a lease can lose its lease, which is logged."""

    def __init__(self, folder: ObjectPath, ttl: float | None = None) -> None:
        self.dir = folder
        self.ttl = lease_seconds() if ttl is None else ttl
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._held: dict[str, ObjectPath] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def _generations(self, name: str) -> list[tuple[int, ObjectPath]]:
        found = []
        for p in self.dir.glob(f"{name}.*.lease"):
            gen = p.name[len(name) + 1: -len(".lease")]
            if gen.isdigit():
                found.append((int(gen), p))
        return sorted(found, key=lambda t: t[0])

    def _body(self) -> bytes:
        return json.dumps({"owner": self.owner, "expires": time.time() + self.ttl}).encode()

    def try_acquire(self, name: str) -> bool:
        gens = self._generations(name)
        if gens:
            top, path = gens[-1]
            try:
                body = json.loads(path.read_bytes())
                alive = float(body["expires"]) > time.time()
            except FileNotFoundError:  # released meanwhile: the next generation is free to take
                alive = False
            except (ValueError, KeyError, TypeError):  # a lease object cut short cannot be: a foreign one, expired
                alive = False
            if alive:
                return False
        else:
            top = 0
        mine = self.dir / f"{name}.{top + 1}.lease"
        if not mine.create(self._body()):
            return False  # another process took it first
        for _, old in gens:  # the expired generations are history now
            old.unlink(missing_ok=True)
        with self._lock:
            self._held[name] = mine
        self._start_heartbeat()
        return True

    def acquire(self, name: str, poll: float | None = None) -> None:
        """Wait for the lease (the holder finishes, or its lease expires)."""
        pause = poll if poll is not None else min(2.0, self.ttl / 4)
        while not self.try_acquire(name):
            time.sleep(pause)

    def release(self, name: str) -> None:
        with self._lock:  # under the lock: a renewal in flight cannot write the lease back after its deletion
            mine = self._held.pop(name, None)
            if mine is not None:
                try:
                    mine.unlink(missing_ok=True)
                except Exception as err:  # it expires anyway
                    log.warning("cannot release the lease %s: %s", mine, describe_error(err))

    @contextmanager
    def held(self, name: str) -> Iterator[None]:
        self.acquire(name)
        try:
            yield
        finally:
            self.release(name)

    def close(self) -> None:
        for name in list(self._held):
            self.release(name)
        self._stop.set()

    def _start_heartbeat(self) -> None:
        if self._beat is None or not self._beat.is_alive():
            self._stop.clear()
            self._beat = threading.Thread(target=self._renew, name="bench-lease-heartbeat", daemon=True)
            self._beat.start()

    def _renew(self) -> None:
        """Runs until close(): a thread that ended when nothing was held could miss a lease taken meanwhile."""
        while not self._stop.wait(self.ttl / 3):
            with self._lock:
                for path in self._held.values():
                    try:
                        path.write_bytes(self._body())
                    except Exception as err:
                        log.warning("cannot renew the lease %s: %s", path, describe_error(err))


class ObjectClaims:
    """`benchmark.engine.claims.Claims` for an output on object storage: a lease per job under OUTPUT/.locks/."""

    def __init__(self, output: ObjectPath) -> None:
        self.leases = Leases(output / ".locks")

    def try_claim(self, job: Any) -> bool:
        return self.leases.try_acquire(job.job_id)

    def wait(self, job: Any) -> None:
        self.leases.acquire(job.job_id)

    def release(self, job: Any) -> None:
        self.leases.release(job.job_id)

    def close(self) -> None:
        self.leases.close()
