"""`bench prefetch`: fetch everything some jobs will need while a network is there; `--check` lists, per job, what
is here and what is not (exit 1 when something is missing)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from benchmark.cli.common import split, warn_plugin_failures
from benchmark.cli.types import PathArg
from benchmark.engine.request import RunRequest, default_cache_dir
from benchmark.errors import BenchError


def _jobs(registry: Any, ups: dict[str, list[Any]], ts: dict[str, list[Any]]) -> list[tuple[str, list[Any]]]:
    """[(job label, its needs)] for every (upstream, task) pair bench run would make of them (the upstream's
    modality is the task's); with only upstreams or only tasks, one per name."""
    from benchmark.plugin.specs import parse_upstream

    if not (ups and ts):
        return [*ups.items(), *ts.items()]
    jobs = []
    for u in ups:
        modality = registry.upstreams.get(parse_upstream(u).name).meta.get("modality")
        jobs += [(f"{u} · {t}", [*ups[u], *ts[t]]) for t in ts
                 if not modality or registry.tasks.get(t).obj.modality == modality]
    if not jobs:
        raise BenchError("no job: the upstreams and tasks given are of different modalities (bench list tasks)")
    return jobs


@click.command(name="prefetch")
@click.option("--upstream", "-u", default="", metavar="NAMES", help="Comma-separated upstreams (as bench run takes them).")
@click.option("--tasks", "-t", default="", metavar="NAMES", help="Comma-separated suites and tasks.")
@click.option("--tasks-file", "tasks_files", multiple=True, envvar="BENCH_TASKS_FILE",
              type=PathArg(exists=True, dir_okay=False, path_type=Path), help="Extra tasks YAML (repeatable).")
@click.option("--data-dir", type=PathArg(path_type=Path), envvar="BENCH_DATA_DIR",
              help="Tasks with local files read them from here and need nothing fetched.")
@click.option("--predict-test", is_flag=True, help="Also the unlabeled test splits kept in other configs (GLUE's ax).")
@click.option("--check", is_flag=True, help="Fetch nothing: list per job what is here and what is missing "
              "(exit 1 when something is).")
@click.option("--json", "as_json", is_flag=True, help="With --check: the list as JSON.")
def prefetch_cmd(upstream: str, tasks: str, tasks_files: tuple[Path, ...], data_dir: Path | None,
                 predict_test: bool, check: bool, as_json: bool) -> None:
    """Fetch into the caches everything the jobs of these upstreams and tasks need: Hub models (weights, config,
    tokenizer), Hub datasets at their pinned revisions, and what builtin recipes build (the VADER sdist from PyPI,
    synthesised audio, sampled protein families, parsed music). Then `bench run --offline` runs them with no
    network; copy ~/.cache/bench and ~/.cache/huggingface (BENCH_CACHE, HF_HOME) to take them to a machine
    without one."""
    from benchmark.engine import prefetch
    from benchmark.engine.runner import registry_for

    if as_json and not check:
        raise BenchError("--json goes with --check (the list of what is here and what is not)")
    if not split(upstream) and not split(tasks):
        raise BenchError("nothing to fetch: give --upstream NAMES and/or --tasks NAMES (as for bench run)")
    warn_plugin_failures()
    # The request bench run would make of these options: prefetch plans from the same thing.
    request = RunRequest.build(upstreams=upstream, tasks=tasks, data_dir=data_dir, tasks_files=tasks_files,
                               hparams={"predict_test": predict_test})
    registry = registry_for(request)
    cache = request.cache_dir or default_cache_dir()
    ups, ts = prefetch.request_needs(registry, request)
    jobs = _jobs(registry, ups, ts)
    if check:
        _report(jobs, ups, ts, as_json)
        return
    needs = list({n.key: n for _, job_needs in jobs for n in job_needs}.values())
    if not needs:
        click.echo("nothing to fetch: these jobs read only what is installed or given (local files, packaged "
                   "weights)")
        return
    if not sys.stderr.isatty():  # download bars are for a terminal; in a log they are noise
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()  # huggingface_hub is imported by now: its variable would be read too late
        os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"  # datasets is imported by the first fetch
    failed: list[str] = []
    for need in needs:
        if need.present:
            click.echo(f"present  {prefetch.describe(need)}")
            continue
        click.echo(f"fetching {prefetch.describe(need)} ...")
        t0 = time.perf_counter()
        try:
            _refuse_if_offline(need)
            prefetch.fetch(need)
        except BenchError as err:
            click.echo(f"  failed: {err}", err=True)
            failed.append(f"{need.kind} {need.name}")
            continue
        click.echo(f"fetched  {prefetch.describe(need)} in {time.perf_counter() - t0:.1f} s")
    if failed:
        raise BenchError(f"could not fetch {len(failed)} of {len(needs)}: {', '.join(failed)} (why: above); "
                         "rerun the same command to retry them")
    click.echo(f"all {len(needs)} present in the caches (bench: {cache}); `bench run --offline` will not use "
               "the network for them")


def _refuse_if_offline(need: Any) -> None:
    """Fail at once where a download cannot work (instead of the Hub client's minute of retries)."""
    from benchmark.engine import prefetch
    from benchmark.plugin.hub import endpoint, no_network_requested, offline_variable

    if not prefetch.blocked(need, no_network_requested()):
        return
    if offline_variable():
        raise BenchError(f"{offline_variable()} is set, so nothing is downloaded: unset it to fetch {need.name}")
    raise BenchError(f"the Hugging Face Hub ({endpoint()}) does not answer: fetch {need.name} where there is a "
                     "network (HF_ENDPOINT names a mirror)")


def _report(jobs: list[tuple[str, list[Any]]], ups: dict[str, list[Any]], ts: dict[str, list[Any]],
            as_json: bool) -> None:
    from benchmark.engine import prefetch

    missing = [(label, n) for label, needs in jobs for n in needs if not n.present]
    if as_json:
        click.echo(json.dumps([{"job": label, "needs": [
            {"kind": n.kind, "name": n.name, "present": n.present, "network": n.network,
             "fetchable": n.fetch is not None, "how": n.hint or None}
            for n in needs]} for label, needs in jobs], indent=2))
    else:
        width = max(len(label) for label, _ in jobs)
        for label, needs in jobs:
            if not needs:
                click.echo(f"{label:<{width}}  -        nothing to fetch")
            for i, n in enumerate(needs):
                state = "present" if n.present else "missing"
                # what to install for something built here (espeak-ng, hmmer) or that bench cannot fetch at all
                local = n.fetch is None or n.network is None
                hint = f"  ({n.hint})" if not n.present and n.hint and local else ""
                click.echo(f"{label if i == 0 else '':<{width}}  {state:<8} {prefetch.describe(n)}{hint}")
        complete = sum(all(n.present for n in needs) for _, needs in jobs)
        line = f"{complete} of {len(jobs)} jobs have everything they need"
        if missing:
            lacking = [[name for name, needs in group.items() if any(not n.present for n in needs)]
                       for group in (ups, ts)]
            line += f"; fetch the rest with: {prefetch.command(*lacking)}"
        click.echo(line)
    if missing:
        raise SystemExit(1)
