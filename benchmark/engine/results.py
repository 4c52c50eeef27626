"""Result files: one JSON per job, written atomically, named by a hash of what determines the result."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import Any

from benchmark.engine import result_schema
from benchmark.errors import BenchError
from benchmark.paths import make_dir
from benchmark.storage import Location, ObjectPath
from benchmark.types import Result

log = logging.getLogger(__name__)
RESULT_SUFFIX = ".json"


def job_id(identity: dict[str, Any]) -> str:
    """A stable hash of everything that determines a job's result (upstream, task version, seed, hparams...)."""
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def slug(text: str) -> str:
    """A file-name-safe form of an upstream or task name."""
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", text).strip("_")[:80] or "x"


def result_path(output: Location, task: str, upstream: str, seed: int, jid: str) -> Location:
    return output / f"{slug(task)}__{slug(upstream)}__seed{seed}__{jid}{RESULT_SUFFIX}"


def _file_mode() -> int:
    """rw for everyone the umask allows (mkstemp's 0600 would hide shared results and reports)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_text_atomic(path: Location, text: str) -> None:
    """Replace `path` with `text` in one rename (an object: in one PUT); a failure leaves the previous file as it
    was."""
    if isinstance(path, ObjectPath):
        _put(path, text.encode("utf-8"))
        return
    try:
        make_dir(path.parent)  # (one level: a report's folder is checked by its command, as mkdir would)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise BenchError(f"cannot write {path}: {err.strerror or err}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except BaseException as err:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(err, OSError):  # a full disk, a quota, an I/O error: the old file was never touched
            raise BenchError(f"cannot write {path}: {err.strerror or err}; nothing was replaced (files already "
                             "there are intact): free space and rerun") from None
        raise


def _put(path: ObjectPath, data: bytes) -> None:
    from benchmark.storage import CREDENTIALS_HINT, describe_error

    try:
        path.write_bytes(data)
    except Exception as err:  # boto's errors are not OSErrors; the object at `path`, if any, is as it was
        raise BenchError(f"cannot write {path}: {describe_error(err)}; nothing was replaced ({CREDENTIALS_HINT})"
                         ) from None


STALE_DIR = ".stale"


def stale_dir(output: Location) -> Location:
    """Where the result files of redone jobs are kept (a subfolder: no report reads it as current results)."""
    return output / STALE_DIR


def keep_aside(path: Location) -> Location | None:
    """Keep the file at `path` in the output's stale folder (linked, or copied) before a new result replaces it,
    so that `path` is never absent; the kept name adds the time it was set aside."""
    import datetime
    import shutil

    if isinstance(path, ObjectPath):
        if not path.is_file():
            return None
    elif not path.exists() and not path.is_symlink():
        return None
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = stale_dir(path.parent) / f"{path.name[: -len(RESULT_SUFFIX)]}.{stamp}{RESULT_SUFFIX}"
    if isinstance(path, ObjectPath) and isinstance(target, ObjectPath):
        try:
            path.copy_to(target)  # a server-side copy: the result stays at `path` until the new one replaces it
        except Exception as err:
            raise BenchError(f"cannot keep the old result {path} aside in {target.parent}: {err}; nothing was "
                             "replaced") from None
        return target
    assert isinstance(path, Path) and isinstance(target, Path)
    try:
        target.parent.mkdir(exist_ok=True)
        if path.is_symlink() or not path.is_file():  # not a regular file: moved as it is (a link stays a link)
            os.replace(path, target)
        else:
            try:
                os.link(path, target)
            except OSError:  # a filesystem without hard links
                shutil.copy2(path, target)
    except OSError as err:
        raise BenchError(f"cannot keep the old result {path} aside in {target.parent}: {err.strerror or err}; "
                         "nothing was replaced") from None
    return target


def save(output: Location, result: Result, *, keep_old: bool = False) -> Location:
    """Write the result file atomically. keep_old: a file already at its path is kept aside first (a stale or
    unreadable result being redone), never silently overwritten."""
    path = result_path(output, result.task, result.upstream, result.seed, result.job_id)
    if keep_old:
        keep_aside(path)
    # Serialise first: a result that cannot be written as JSON never touches the file.
    body = dataclasses.asdict(result)
    # Canonical JSON keeps tuples as lists: the checksum is of what a reader will json.load back.
    body = json.loads(json.dumps(body, allow_nan=False))
    body[result_schema.CHECKSUM_FIELD] = result_schema.checksum(body)
    write_text_atomic(path, json.dumps(body, indent=2, allow_nan=False) + "\n")
    failure_path(path).unlink(missing_ok=True)  # an earlier failure of this job is history now
    return path


FAILED_SUFFIX = ".failed.json"


def failure_path(result_file: Location) -> Location:
    """Where a failed job's record lives: beside its result file, never mistaken for one (resume retries it)."""
    return result_file.with_name(result_file.name[: -len(RESULT_SUFFIX)] + FAILED_SUFFIX)


def save_failure(result_file: Location, record: dict[str, Any]) -> Location:
    path = failure_path(result_file)
    write_text_atomic(path, json.dumps(record, indent=2, allow_nan=False, default=str) + "\n")
    return path


def load_failures(output: Location) -> list[dict[str, Any]]:
    """The records of jobs that failed and have not succeeded since (a later success removes its record)."""
    if isinstance(output, ObjectPath):
        return [data for data, _ in (read_result(p, schema=False) for p in sorted(output.glob(f"*{FAILED_SUFFIX}")))
                if data is not None]
    out = []
    for path in sorted(output.glob(f"*{FAILED_SUFFIX}")) if output.is_dir() else []:
        try:
            st = os.stat(path)
            if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_RESULT_BYTES:  # a FIFO would block forever
                continue
            out.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, RecursionError):
            continue
    return out


def check_writable(output: Location) -> None:
    """Fail before any work when results could not be written."""
    if isinstance(output, ObjectPath):
        from benchmark.storage import check_writable as check_object_store

        check_object_store(output)
        return
    if output.exists() and not output.is_dir():
        raise BenchError(f"output path {output} exists and is not a directory; pass --output DIR")
    try:
        make_dir(output)  # its parent must exist: a typo is refused, not created (benchmark.paths)
        probe = tempfile.NamedTemporaryFile(dir=output, prefix=".write-test-", delete=True)
        probe.close()
    except OSError as err:
        raise BenchError(f"cannot write results to {output}: {err.strerror or err}; pass --output DIR") from None


MAX_RESULT_BYTES = 64 * 1024 * 1024
"""No result is this big (predictions of the largest task are a few MB); a larger file is not read into memory."""


def _read_object(path: ObjectPath) -> tuple[bytes | None, str]:
    from benchmark.storage import describe_error

    try:
        found = path.info()
        if found is None:
            return None, "cannot read it: no such object"
        if int(found.get("size", 0)) > MAX_RESULT_BYTES:
            return None, f"larger than {MAX_RESULT_BYTES // 2**20} MB"
        return path.read_bytes(), ""
    except Exception as err:
        return None, f"cannot read it: {describe_error(err)}"


def read_result(path: Location, *, schema: bool = True) -> tuple[dict[str, Any] | None, str]:
    """The result in `path` when it passes the schema, else None and why (one line, for the warning).

    Only regular files are opened (a FIFO would block forever, a link to /dev/zero would fill memory), and at
    most MAX_RESULT_BYTES of them. schema=False: any JSON object (a failure record)."""
    raw, why = _read_object(path) if isinstance(path, ObjectPath) else _read_file(path)
    if raw is None:
        return None, why
    try:
        data = json.loads(raw.decode("utf-8"))
    except RecursionError:
        return None, "nested too deeply"
    except ValueError as err:
        return None, f"not valid JSON: {err}"
    if not schema:
        return (data, "") if isinstance(data, dict) else (None, "not a JSON object")
    why = result_schema.problem(data)
    return (None, why) if why else (data, "")


def _read_file(path: Path) -> tuple[bytes | None, str]:
    try:
        st = os.stat(path)  # follows a link: a link to a regular file is read, a link to a device is not
    except OSError as err:
        return None, f"cannot read it: {err.strerror or err}"
    if not stat.S_ISREG(st.st_mode):
        return None, "not a regular file"
    if st.st_size > MAX_RESULT_BYTES:
        return None, f"larger than {MAX_RESULT_BYTES // 2**20} MB"
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_RESULT_BYTES + 1)
    except OSError as err:
        return None, f"cannot read it: {err.strerror or err}"
    if len(raw) > MAX_RESULT_BYTES:
        return None, f"larger than {MAX_RESULT_BYTES // 2**20} MB"
    return raw, ""


def load_all(output: Location) -> list[dict[str, Any]]:
    """Every result under `output` that passes the result schema; any other file is skipped with one warning."""
    if isinstance(output, ObjectPath):
        from benchmark.storage import check_readable

        check_readable(output)
    elif not output.is_dir():
        raise BenchError(f"no results directory {output}; run `bench run --output {output}` first")
    out = []
    for path in sorted(output.glob(f"*{RESULT_SUFFIX}")):
        if path.name.endswith(FAILED_SUFFIX):
            continue
        data, why = read_result(path)
        if data is None:
            log.warning("skipping result file %s: %s", result_schema.printable(path), result_schema.printable(why))
        else:
            out.append(data)
    return out


def result_from_dict(data: dict[str, Any]) -> Result:
    data = dict(data)
    data["suite"] = tuple(data.get("suite", ()))
    return Result(**{k: v for k, v in data.items() if k in Result.__dataclass_fields__})
