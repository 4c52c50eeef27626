"""What a plugin is handed and what it hands back, as types: the `register` callables of each hook, upstream
factories with their optional methods, executors. Light on purpose (typing only): hookspecs import it, and
`bench --help` must not import torch.

Optional methods are found at run time by name (duck typing: a factory without `needs` simply needs nothing);
each one is a small runtime-checkable Protocol, so the core asks `isinstance(factory, DeclaresNeeds)` and a
type checker knows the signature.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from benchmark.types import UpstreamFactory

if TYPE_CHECKING:
    from benchmark.plugin.needs import Need
    from benchmark.plugin.registry import Registry
    from benchmark.tasks.formats import DataFormat
    from benchmark.tasks.schema import SuiteSpec, TaskSpec
    from benchmark.types import Result

Progress = Callable[..., None]
"""progress(event, **info): the runner's events ("load_upstream", "extract", "epoch", "job_done", ...)."""


# -- upstream factories ----------------------------------------------------------------------------------------
# UpstreamFactory itself lives in benchmark.types (beside Upstream) and is re-exported here.


@runtime_checkable
class DeclaresMissing(Protocol):
    """factory.missing(arg[, modifiers=...]): what the upstream lacks to load now and how to get it, or None;
    asked before any job starts, so a missing checkpoint is one line, not a failure half-way through."""

    def missing(self, arg: str | None) -> str | None: ...


@runtime_checkable
class DeclaresNeeds(Protocol):
    """factory.needs(arg[, modifiers=...]): what `bench prefetch` fetches for it and `--offline` looks for."""

    def needs(self, arg: str | None) -> Sequence[Need]: ...


@runtime_checkable
class TellsFingerprint(Protocol):
    """factory.fingerprint(arg, scopes, seed): the fingerprint the built upstream will have (None: unknown), so
    that jobs whose features are all cached never load the model."""

    def fingerprint(self, arg: str | None, scopes: tuple[str, ...], seed: int) -> str | None: ...


@runtime_checkable
class HasHParams(Protocol):
    """factory.hparams: its own defaults per mode ({"finetune": {"lr": 1e-3}}), over a task's, under the user's."""

    hparams: Mapping[str, Mapping[str, Any]]


@runtime_checkable
class LoaderNeeds(Protocol):
    """A dataset loader's optional loader.needs(options, cache_dir): what its recipe fetches (as for factories)."""

    def needs(self, options: Mapping[str, Any], cache_dir: Path) -> Sequence[Need]: ...


# -- executors -------------------------------------------------------------------------------------------------

class ExecutorPlan(Protocol):
    """What an executor reads of a plan (`benchmark.engine.runner.Plan`): the jobs to run, where results go, the
    request the plan was made from, and `check()` (the one-line refusal when it cannot start). A Protocol, so this
    module of public interfaces depends on no engine module."""

    todo: list[Any]
    output: Path
    request: Any

    def check(self) -> None: ...


class Executor(Protocol):
    """Where jobs run. `plan.request` is the RunRequest the plan was made from: a remote worker re-plans its
    share with `runner.plan_request(registry, plan.request.only(...))` (same job ids, same file names)."""

    description: str

    def run(self, plan: ExecutorPlan, registry: Registry, *, device: str, trust_remote_code: bool, progress: Progress | None,
            command: str | None) -> list[Result]:
        """Run plan.todo; return their Results (and call progress(event, ...) as execution.execute does)."""
        ...


# -- the `register` callable each hook receives ---------------------------------------------------------------

class UpstreamRegistrar(Protocol):
    def __call__(self, name: str, factory: UpstreamFactory | Callable[..., Any], *, description: str = "",
                 modality: str = "text") -> None: ...


class DownstreamRegistrar(Protocol):
    def __call__(self, name: str, downstream: Any, *, description: str = "") -> None: ...


class TaskRegistrar(Protocol):
    def __call__(self, item: TaskSpec | SuiteSpec | str | Path) -> None: ...


class DatasetRegistrar(Protocol):
    def __call__(self, name: str, loader: Callable[..., Any], *, description: str = "") -> None: ...


class FormatRegistrar(Protocol):
    def __call__(self, fmt: DataFormat) -> None: ...


class MetricRegistrar(Protocol):
    def __call__(self, name: str, fn: Callable[[Any, Any], float], *, higher_is_better: bool = True,
                 kind: str = "classification") -> None: ...


class ExecutorRegistrar(Protocol):
    def __call__(self, name: str, executor: Executor, *, description: str = "") -> None: ...
