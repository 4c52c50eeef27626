"""From a run request to running jobs: the one path `bench run` and `benchmark.run(...)` share.

    request = RunRequest.build(...)      # every option checked
    launch = prepare(request)            # plugins + tasks files, the plan, its inputs checked, output writable
    results = launch.run(progress)       # the request's executor runs the plan's unfinished jobs
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from benchmark.engine.request import RunRequest

if TYPE_CHECKING:
    from benchmark.engine.runner import Plan
    from benchmark.interfaces import Executor, Progress
    from benchmark.plugin.manager import Plugins
    from benchmark.plugin.registry import Registry
    from benchmark.types import Result


def registry_for(request: RunRequest, plugins: Plugins | None = None) -> Registry:
    """The registry a request plans with: the loaded plugins' (the process-wide set unless given), plus the
    request's tasks files."""
    from benchmark.plugin.manager import add_task_files, get_plugins

    plugins = plugins or get_plugins()
    if request.tasks_files:
        add_task_files(plugins, list(request.tasks_files))
    return plugins.registry


@dataclass(frozen=True)
class Launch:
    """A checked plan, ready to hand to its executor."""

    request: RunRequest
    registry: Registry
    plan: Plan
    executor: Executor

    def run(self, progress: Progress | None = None) -> list[Result]:
        """Run the plan's unfinished jobs where the request says; the results of those that finished."""
        r = self.request
        out: list[Any] = self.executor.run(self.plan, self.registry, device=r.device,
                                           trust_remote_code=r.trust_remote_code, progress=progress,
                                           command=r.command)
        return out


def prepare(request: RunRequest, plugins: Plugins | None = None) -> Launch:
    """Plan the request and check everything that can be checked before a job starts: the executor exists,
    every input is here (or the jobs lacking a network are set aside), and the output folder is writable when
    there is something to write. Raises one BenchError line otherwise."""
    from benchmark.engine import runner
    from benchmark.engine.results import check_writable

    registry = registry_for(request, plugins)
    executor = registry.executors.get(request.executor).obj
    plan = runner.plan_request(registry, request)
    plan.check()
    if plan.todo:
        check_writable(request.output)  # the one place: before any job, wherever the jobs then run
    return Launch(request, registry, plan, executor)
