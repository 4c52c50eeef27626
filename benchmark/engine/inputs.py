"""What produced a result, as digests, so a rerun can tell a finished job from a stale one.

Every result records `inputs` (`Result.inputs`):

    {"upstream": the upstream's fingerprint (its weights and config, as its factory computes it),
     "task":     a digest of the task's definition (labels, metrics, head, source, options...),
     "data":     the data revision (a digest of the local files read, a corpus listing, the recipe's revision,
                 the pinned Hub revision),
     "transfer": {task: {"task": ..., "data": ...}} for the --eval-on tasks}

Job ids stay what they were (upstream spec text, task name and version, seed, hyper-parameters): they name a
job, the digests say what it read. On a rerun, the planner compares a finished job's recorded digests with what
the job would read now; a job whose inputs changed is *stale* and is redone, its old result kept aside in
`OUTPUT/.stale/` (never silently overwritten), with one warning line naming what changed.

A digest that cannot be told is unknown, never a reason to redo a job: results written before digests were
recorded, an upstream whose factory cannot fingerprint it without loading the model. Library versions are
recorded in `environment` but do not make a result stale (a new torch moves the last digits of a score; a change
meant to move scores bumps the task's `version`, which is part of the job id). Test splits are left out of the
data digest: they are unlabeled and move no score.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from benchmark.plugin.registry import Registry
    from benchmark.plugin.specs import UpstreamSpec
    from benchmark.tasks.schema import TaskSpec

log = logging.getLogger(__name__)

# Fields of a task that say nothing about how it is scored: editing them leaves results valid.
_COSMETIC = {"description", "citation", "license"}


def task_digest(task: TaskSpec, *, legacy: bool = False) -> str:
    """sha256 of the task's definition: fields at their default are left out, so a field a later bench adds
    changes no digest. References other than `human` (SUPERB's fbank / sota points, a paper's baseline) are left
    out too: a result never holds them (the report scales raw scores with them when it prints), and a task's fbank
    point is measured from the very run it must not invalidate. legacy: the digest before that rule (references
    included), which results written then recorded and which still matches."""
    body = task.model_dump(mode="json", exclude_defaults=True, exclude=_COSMETIC)
    if not legacy and "references" in body:
        body["references"] = {k: v for k, v in body["references"].items() if k == "human"}
        if not body["references"]:
            del body["references"]
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:16]


class Digests:
    """What jobs read now; each digest is computed once (many jobs share an upstream or a task)."""

    def __init__(self, registry: Registry, data_dir: Path | None) -> None:
        self.registry, self.data_dir = registry, data_dir
        self._memo: dict[tuple[str, str], str | None] = {}

    def _once(self, key: tuple[str, str], compute: Any) -> str | None:
        if key not in self._memo:
            try:
                self._memo[key] = compute()
            except Exception as err:  # noqa: BLE001  (a plugin's revision() or fingerprint(): unknown, never "changed")
                log.debug("digest of %s %s unknown: %s", *key, err)
                self._memo[key] = None
        return self._memo[key]

    def knows_data(self, task: TaskSpec, revision: str) -> None:
        """The data revision of a task whose data were just loaded without test splits (`TaskData.revision` is the
        same digest): recording results then reads no file a second time, and lists no corpus again."""
        self._memo[("data", task.name)] = revision

    def upstream(self, spec: UpstreamSpec) -> str | None:
        from benchmark.plugin.specs import announced_fingerprint

        return self._once(("upstream", spec.text), lambda: announced_fingerprint(spec, self.registry))

    def task(self, task: TaskSpec) -> str | None:
        return self._once(("task", task.name), lambda: task_digest(task))

    def data(self, task: TaskSpec) -> str | None:
        from benchmark.tasks.data import revision

        return self._once(("data", task.name), lambda: revision(task, self.data_dir, self.registry))

    def of(self, job: Any, upstream_fingerprint: str | None = None) -> dict[str, Any]:
        """The inputs of `job` now. upstream_fingerprint: the loaded model's (when recording a result), else the
        one its factory announces without loading it."""
        fingerprint = upstream_fingerprint if upstream_fingerprint is not None else self.upstream(job.upstream)
        out: dict[str, Any] = {"upstream": fingerprint, "task": self.task(job.task), "data": self.data(job.task)}
        if job.transfer:
            out["transfer"] = {t.name: {"task": self.task(t), "data": self.data(t)} for t in job.transfer}
        return out


def changes(recorded: Any, now: dict[str, Any], job: Any) -> list[str]:
    """What differs between the inputs a result recorded and the job's inputs now, in words ("the data of task
    'sst2'"); [] when nothing known differs (a digest missing on either side is unknown)."""
    if not isinstance(recorded, dict):
        return []  # written before inputs were recorded
    out = []

    def differ(key: str, old: Any, new: Any, what: str) -> None:
        if isinstance(old, str) and isinstance(new, str) and old != new:
            out.append(what)

    differ("upstream", recorded.get("upstream"), now.get("upstream"), f"the weights of upstream '{job.upstream.text}'")
    if not _same_task(recorded.get("task"), now.get("task"), job.task):
        differ("task", recorded.get("task"), now.get("task"), f"the definition of task '{job.task.name}'")
    differ("data", recorded.get("data"), now.get("data"), f"the data of task '{job.task.name}'")
    old_transfer = recorded.get("transfer") if isinstance(recorded.get("transfer"), dict) else {}
    specs = {t.name: t for t in job.transfer}
    for name, new in (now.get("transfer") or {}).items():
        old = old_transfer.get(name)
        if isinstance(old, dict):
            if name not in specs or not _same_task(old.get("task"), new.get("task"), specs[name]):
                differ("task", old.get("task"), new.get("task"), f"the definition of task '{name}'")
            differ("data", old.get("data"), new.get("data"), f"the data of task '{name}'")
    return out


def _same_task(old: Any, new: Any, task: TaskSpec) -> bool:
    """Whether a recorded task digest names the task as it is now: today's digest, or the one results recorded
    before scale references left it (computed only when today's differs: the common case costs nothing)."""
    return old == new or old == task_digest(task, legacy=True)
