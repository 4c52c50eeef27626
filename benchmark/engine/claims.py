"""One runner per job: runs that share an output folder claim each job before running it.

Two `bench run`s into one `--output` (two terminals, a sweep script started twice, Ray workers of two drivers)
would otherwise both train every job. A claim is an exclusive `flock` on `OUTPUT/.locks/JOB_ID.lock`, held while
the job runs and dropped by the kernel when the process ends, however it ends (no stale lock after a SIGKILL).
A run that finds a job claimed runs its other jobs first, then waits for the claim; when it gets it, the job's
result is read back if the other run finished it, and the job is run only if it did not (it failed, or was killed).
Lock files are never deleted: removing one while another process waits on it would let two runners in.
An output on object storage has no flock: `claims_for` gives it leases instead (benchmark.storage.ObjectClaims).
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
LOCK_DIR = ".locks"


class Claims:
    def __init__(self, output: Path) -> None:
        self.dir = output / LOCK_DIR
        self._held: dict[str, int] = {}

    def _open(self, job: Any) -> int | None:
        try:
            self.dir.mkdir(exist_ok=True)
            return os.open(self.dir / f"{job.job_id}.lock", os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as err:  # a folder that takes no lock files: run unclaimed, as before claims existed
            log.debug("cannot claim job %s in %s: %s", job.job_id, self.dir, err)
            return None

    def try_claim(self, job: Any) -> bool:
        """Claim the job unless another process holds it (True: this process may run it)."""
        fd = self._open(job)
        if fd is None:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except OSError as err:  # a filesystem without flock (some network mounts): unclaimed
            log.debug("cannot lock %s: %s", self.dir, err)
            os.close(fd)
            return True
        self._held[job.job_id] = fd
        return True

    def wait(self, job: Any) -> None:
        """Claim the job, waiting for the process that holds it to finish it (or to end)."""
        fd = self._open(job)
        if fd is None:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as err:
            log.debug("cannot lock %s: %s", self.dir, err)
            os.close(fd)
            return
        self._held[job.job_id] = fd

    def release(self, job: Any) -> None:
        fd = self._held.pop(job.job_id, None)
        if fd is not None:
            os.close(fd)  # closing the descriptor drops the lock

    def close(self) -> None:
        for fd in self._held.values():
            os.close(fd)
        self._held.clear()


def claims_for(output: Any) -> Any:
    """The claims of an output: flocks in a local folder, leases on object storage (same methods)."""
    from benchmark.storage import ObjectClaims, ObjectPath

    return ObjectClaims(output) if isinstance(output, ObjectPath) else Claims(output)
