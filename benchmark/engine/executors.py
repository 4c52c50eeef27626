"""Where jobs run. Builtin plugin: `local` (this process, the default) and `ray` (a Ray cluster or a local Ray
instance; `pip install 'encoder-bench[ray]'`).

An executor takes a plan and runs its unfinished jobs; every executor writes the same result files (one per
job, named by job id) and uses the same feature cache, so resume and caching behave the same wherever jobs
run. Third-party plugins add executors through `register_executors`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmark.engine.execution import LocalExecutor
from benchmark.hookspecs import hookimpl
from benchmark.interfaces import Executor, ExecutorRegistrar, Progress

if TYPE_CHECKING:
    from benchmark.engine.runner import Plan
    from benchmark.plugin.registry import Registry
    from benchmark.types import Result

__all__ = ["Executor", "LocalExecutor", "RayExecutorFactory"]  # Executor's home is benchmark.interfaces


class RayExecutorFactory:
    """Imports the Ray executor only when it is used: `bench --help` must not import ray."""

    description = ("fan jobs out over Ray workers (RAY_ADDRESS, or a local Ray instance); "
                   "pip install 'encoder-bench[ray]'")

    def run(self, plan: Plan, registry: Registry, *, device: str = "cpu", trust_remote_code: bool = False,
            progress: Progress | None = None, command: str | None = None) -> list[Result]:
        from benchmark.engine.ray_executor import RayExecutor

        return RayExecutor().run(plan, registry, device=device, trust_remote_code=trust_remote_code,
                                 progress=progress, command=command)


@hookimpl
def register_executors(register: ExecutorRegistrar) -> None:
    register("local", LocalExecutor())
    register("ray", RayExecutorFactory())
