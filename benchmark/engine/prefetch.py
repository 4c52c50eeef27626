"""What a job needs from outside this machine, whether it is here, and fetching it ahead of time.

Every input a job reads is a `Need`: a Hub model (weights, config, tokenizer), a Hub dataset at its pinned
revision, or what a builtin recipe builds into the bench cache (the VADER sdist from PyPI, synthesised audio,
sampled protein families). Upstream factories and dataset loaders say what they need through an optional
`needs(...)` method (docs/plugins.md); a Hub dataset source is known to the core. `bench prefetch` fetches the
absent ones while a network is there; `bench prefetch --check` lists them per job; and `runner.plan` sets aside,
before anything starts, every job that would need a network it may not use (`--offline`, HF_HUB_OFFLINE, or an
unreachable Hub), naming the prefetch command that would fetch what it lacks.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

from benchmark.engine.request import RunRequest
from benchmark.errors import BenchError
from benchmark.interfaces import LoaderNeeds
from benchmark.plugin.hub import HUB, hub_reachable, offline_variable
from benchmark.plugin.needs import Need
from benchmark.plugin.registry import Registry
from benchmark.plugin.specs import UpstreamSpec
from benchmark.tasks.schema import TaskSpec


def upstream_needs(spec: UpstreamSpec, registry: Registry) -> list[Need]:
    """What the upstream's factory says it needs (nothing when it does not say: it brings its own weights)."""
    from benchmark.plugin.specs import ask_factory

    return list(ask_factory(spec, registry, "needs", []))


def task_needs(task: TaskSpec, data_dir: Path | None, registry: Registry, cache_dir: Path,
               tests: bool = False) -> list[Need]:
    """What the task's data source needs: a Hub dataset at its revision, or what its recipe says it needs.
    A local source needs nothing fetched (its files are checked by data.missing)."""
    from benchmark.tasks.data import choose_source

    kind = choose_source(task, data_dir)
    if kind == "hub":
        from benchmark.tasks.data import hub_dataset_needs

        assert task.sources.hub is not None
        return hub_dataset_needs(task, task.sources.hub, tests=tests)
    if kind == "recipe":
        recipe = task.sources.recipe
        assert recipe is not None
        loader = registry.datasets.get(recipe.name).obj
        return list(loader.needs(recipe.options, cache_dir)) if isinstance(loader, LoaderNeeds) else []
    return []


def request_needs(registry: Registry, request: RunRequest) -> tuple[dict[str, list[Need]], dict[str, list[Need]]]:
    """({upstream: its needs}, {task: its needs}) for a run request, upstreams expanded (NAME@DIR) and suites into
    their tasks (the request's eval_on tasks included). Either may be empty: prefetch takes upstreams or tasks
    alone."""
    from benchmark.engine.request import default_cache_dir
    from benchmark.plugin.registry import expand_tasks
    from benchmark.plugin.specs import expand_upstream

    specs = list({s.text: s for u in dict.fromkeys(request.upstreams) for s in expand_upstream(u)}.values())
    names = [*request.tasks, *request.eval_on]
    task_specs = expand_tasks(names, registry) if names else []
    data_dir = request.data_dir
    if data_dir is not None and not data_dir.is_dir():
        raise BenchError(f"data directory not found: {data_dir} (--data-dir / BENCH_DATA_DIR)")
    cache = request.cache_dir or default_cache_dir()
    return ({s.text: upstream_needs(s, registry) for s in specs},
            {t.name: task_needs(t, data_dir, registry, cache, request.predict_test) for t in task_specs})


def blocked(need: Need, offline: bool) -> bool:
    """True when the need is absent and fetching it would use a network this run may not use: any network with
    `offline` (--offline, BENCH_OFFLINE); the Hub when HF_HUB_OFFLINE (or its kin) is set or it does not answer."""
    if need.present or need.network is None:
        return False
    return offline or (need.network == HUB and not hub_reachable())


def offline_reason(offline_flag: bool) -> str:
    """Why the run may not use the network, as the message names it."""
    return "--offline" if offline_flag else offline_variable() or "the Hugging Face Hub is unreachable"


def command(upstreams: Sequence[str], tasks: Sequence[str]) -> str:
    """The `bench prefetch` command line that fetches what these upstreams and tasks need."""
    parts = ["bench", "prefetch"]
    if upstreams:
        parts += ["--upstream", ",".join(dict.fromkeys(upstreams))]
    if tasks:
        parts += ["--tasks", ",".join(dict.fromkeys(tasks))]
    return shlex.join(parts)


def describe(need: Need) -> str:
    return f"{need.kind} {need.name}" + (f", from {need.network}" if need.network else "")


def fetch(need: Need) -> None:
    """Fetch one need into its cache; a failure is one BenchError line saying what could not be had and why."""
    if need.fetch is None:
        raise BenchError(f"bench cannot fetch {need.kind} {need.name}: {need.hint or 'supply it by hand'}")
    try:
        need.fetch()
    except BenchError:
        raise
    except Exception as err:  # the Hub client and pip raise many types for a network that is not there
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise BenchError(f"cannot fetch {describe(need)}: {type(err).__name__}: {first}") from None


def ready_offline(task: TaskSpec, data_dir: Path | None, registry: Registry, cache_dir: Path) -> bool:
    """True when the task's data is here, so that it can run with no network now: its local files (under
    `data_dir`), a recipe whose tools are installed and whose inputs are built or cached, or a Hub dataset prepared
    in the datasets cache (what `bench prefetch` leaves). The upstream's own needs are not counted."""
    from benchmark.tasks.data import choose_source, missing

    try:
        if choose_source(task, data_dir) != "hub" and missing(task, data_dir, registry, cache_dir) is not None:
            return False
        return not any(blocked(n, offline=True) for n in task_needs(task, data_dir, registry, cache_dir))
    except BenchError:  # a source bench cannot read (an unknown format): not runnable, offline or not
        return False
