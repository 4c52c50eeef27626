"""Where jobs run. Builtin plugin: `local` (this process, the default) and `ray` (a Ray cluster or a local Ray
instance; `pip install 'bench[ray]'`).

An executor takes a plan and runs its unfinished jobs; every executor writes the same result files (one per
job, named by job id) and uses the same feature cache, so resume and caching behave the same wherever jobs
run. Third-party plugins add executors through `register_executors`.
"""

from __future__ import annotations

from typing import Any, Protocol

from benchmark.hookspecs import hookimpl


class Executor(Protocol):
    description: str

    def run(self, plan: Any, registry: Any, *, device: str, trust_remote_code: bool, progress: Any,
            command: str | None) -> list[Any]:
        """Run plan.todo; return their Results (and call progress(event, ...) as runner.execute does)."""
        ...


class LocalExecutor:
    description = "run jobs one after another in this process (default)"

    def run(self, plan: Any, registry: Any, *, device: str = "cpu", trust_remote_code: bool = False,
            progress: Any = None, command: str | None = None) -> list[Any]:
        from benchmark.runner import execute

        return execute(plan, registry, device=device, trust_remote_code=trust_remote_code, progress=progress,
                       command=command)


class RayExecutorFactory:
    """Imports the Ray executor only when it is used: `bench --help` must not import ray."""

    description = "fan jobs out over Ray workers (RAY_ADDRESS, or a local Ray instance); pip install 'bench[ray]'"

    def run(self, *args: Any, **kwargs: Any) -> list[Any]:
        from benchmark.ray_executor import RayExecutor

        return RayExecutor().run(*args, **kwargs)


@hookimpl
def register_executors(register: Any) -> None:
    register("local", LocalExecutor())
    register("ray", RayExecutorFactory())
