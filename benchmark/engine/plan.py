"""The plan of a run as data: its jobs, which of them to run, and the one-line refusal when it cannot start.
Shared by the planner (`benchmark.engine.runner`) and the executors (`benchmark.engine.execution`, Ray), which
import it rather than each other."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.engine.request import RunRequest, feature_store
from benchmark.errors import BenchError
from benchmark.plugin.needs import Missing
from benchmark.plugin.specs import UpstreamSpec
from benchmark.tasks.schema import TaskSpec

Progress = Callable[..., None]


@dataclass(frozen=True)
class Job:
    upstream: UpstreamSpec
    task: TaskSpec
    seed: int
    hparams: dict[str, Any]
    job_id: str
    path: Path
    source: str
    transfer: tuple[TaskSpec, ...] = ()
    """Other tasks (same head and label space) the trained model is also evaluated on, zero-shot (--eval-on)."""


@dataclass
class Plan:
    jobs: list[Job]
    todo: list[Job]
    done: list[Job]
    output: Any  # a Path, or a benchmark.storage.ObjectPath for an fsspec URL
    data_dir: Path | None
    cache_dir: Path
    problems: list[Missing] = field(default_factory=list)
    request: RunRequest = field(default_factory=RunRequest)
    """The request the plan was made from: an executor re-plans any subset of the jobs from it
    (`request.only(...)`, `plan_request`)."""
    offline: list[Job] = field(default_factory=list)
    """Unfinished jobs set aside because they need a network this run may not use (not in `todo`)."""
    offline_message: str = ""
    """One line: what those jobs lack and the `bench prefetch` command that fetches it."""
    redo: dict[str, str] = field(default_factory=dict)
    """Jobs in `todo` whose result file is there but cannot stand (job id -> why, one clause): it fails the result
    schema, or the job's inputs changed since it ran. The old file is kept aside when the new result is saved."""
    finished: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The results of the jobs in `done` as planning read them, schema-checked (job id -> result)."""

    def check(self) -> None:
        """Raise the one-line BenchError when the plan cannot start: inputs missing, or every unfinished job
        needs a network it may not use."""
        if self.problems:
            raise BenchError(problems_message(self.problems))
        if self.offline and not self.todo:
            raise BenchError(f"cannot start: {self.offline_message}")

    def feature_cache(self) -> Any:
        """The request's feature cache: a local folder, or entries in a bucket (BENCH_CACHE=s3://...) used from a
        local staging copy (benchmark.features.remote)."""
        from benchmark.features.cache import FeatureCache

        remote = feature_store() if self.request.cache_dir is None and self.request.use_cache else None
        if remote is not None:
            from benchmark.features.remote import MirroredCache

            local = self.cache_dir if os.environ.get("BENCH_CACHE_LOCAL") else None
            return MirroredCache(remote, local, dtype=self.request.cache_dtype,
                                 max_bytes=self.request.cache_max_bytes)
        return FeatureCache(self.cache_dir, dtype=self.request.cache_dtype, max_bytes=self.request.cache_max_bytes,
                            enabled=self.request.use_cache)


def problems_message(problems: Sequence[Missing]) -> str:
    """All missing inputs in one line; problems that share what is missing and its fix are merged."""
    grouped: dict[tuple[str, str], list[Missing]] = {}
    for p in problems:
        grouped.setdefault((p.what, p.how), []).append(p)
    parts = []
    for (what, how), items in grouped.items():
        tasks = [p.task for p in items if p.task]
        files = ", ".join(dict.fromkeys(p.files for p in items if p.files))
        subject = f"{what} for {', '.join(tasks)}" if tasks else what
        parts.append(f"missing {subject} ({how.replace('{files}', files)})" if how else f"missing {subject}")
    return "cannot start: " + "; ".join(parts)
