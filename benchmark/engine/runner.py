"""Plan jobs from a run request and check their inputs (running them: `benchmark.engine.execution`). Never prints.

A job is (upstream, task, seed, hyper-parameters). Before anything runs, every job's model and data are
checked, and all that is missing is reported in one BenchError. Finished jobs (their result file exists) are
skipped unless `overwrite`. Jobs are grouped by upstream, so each model loads once and its pooled features
are shared by all of its tasks and seeds.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmark.engine import request as request_mod
from benchmark.engine import results as results_mod
from benchmark.engine.execution import (  # noqa: F401  (re-exported: their home was here)
    environment,
    execute,
    make_deterministic,
    record_failure,
    resolve_device,
)
from benchmark.engine.plan import Job, Plan, Progress, problems_message  # noqa: F401  (their home was here)
from benchmark.engine.request import (  # noqa: F401  (re-exported: their home was here)
    COMMON_DEFAULTS,
    MAX_SEED,
    MODE_DEFAULTS,
    HParams,
    RunRequest,
    default_cache_dir,
    feature_store,
    resolve_hparams,
)
from benchmark.errors import BenchError
from benchmark.heads.protocol import declared, kind_of
from benchmark.plugin.needs import Missing, Need
from benchmark.plugin.registry import Registry, expand_tasks  # noqa: F401  (expand_tasks: its home was here)
from benchmark.plugin.specs import (
    check_upstream_spec,
    expand_upstream,
)
from benchmark.tasks.data import choose_source
from benchmark.tasks.data import missing as data_missing
from benchmark.tasks.schema import TaskSpec

if TYPE_CHECKING:
    from benchmark.interfaces import Executor
    from benchmark.plugin.manager import Plugins
    from benchmark.types import Result

log = logging.getLogger(__name__)
cache_max_bytes = request_mod.cache_max_bytes  # re-exported (its home is benchmark.engine.request)

# Options added after results were published: left out of job ids while at their default, so older result
# files keep their ids (and are still found on resume). The switches (request.OPT_IN) are all such options.
_LATE_DEFAULTS: dict[str, Any] = {"predict_test": False, "dtype": "float32", "align": "first", "stride": 128,
                                  **request_mod.OPT_IN}


def task_hparams(hp: dict[str, Any], task: TaskSpec, explicit: Collection[str],
                 upstream: tuple[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The job's hyper-parameters: the run's, with the task's own defaults (`hparams:` in its YAML, per mode)
    for every one the user did not set (`explicit`).

    upstream: (name, {mode: {key: value}}) an upstream factory's own defaults (`factory.hparams`), which win over
    the task's: a model trained from scratch needs another learning rate than a pretrained one, whatever the task.
    """
    extra = {k: v for k, v in task.hparams.get(hp["mode"], {}).items() if k not in explicit}
    try:
        out = resolve_hparams(hp["mode"], {**hp, **extra}) if extra else hp
    except BenchError as err:
        raise BenchError(f"task '{task.name}': hparams.{hp['mode']}: {err}") from None
    own = {k: v for k, v in (upstream[1] if upstream else {}).get(hp["mode"], {}).items() if k not in explicit}
    if not own:
        return out
    assert upstream is not None
    try:
        return resolve_hparams(hp["mode"], {**out, **own})
    except BenchError as err:
        raise BenchError(f"upstream '{upstream[0]}': hparams.{hp['mode']}: {err}") from None


def check_transfer(train: TaskSpec, other: TaskSpec, registry: Registry) -> None:
    """A model trained on `train` can answer `other` only with the same input kind, head and label space."""
    why = None
    if other.modality != train.modality:
        why = f"it is a {other.modality} task and '{train.name}' a {train.modality} task"
    elif declared(registry, other.head) != declared(registry, train.head):  # what the heads consume and predict
        why = f"its head '{other.head}' predicts other things than '{train.name}''s head '{train.head}'"
    elif other.labels != train.labels:
        why = f"its labels {other.labels} differ from '{train.name}''s {train.labels}"
    elif other.vocabulary != train.vocabulary:
        why = f"its vocabulary differs from '{train.name}''s"
    elif other.symbol_map is not None or train.symbol_map is not None:
        why = "symbol tasks map their own alphabet onto the vocabulary"
    if why:
        raise BenchError(f"cannot evaluate a model trained on '{train.name}' on '{other.name}': {why}; --eval-on "
                         "needs tasks with the same head and label space")


def plan(registry: Registry, upstreams: Sequence[str], tasks: Sequence[str], seeds: Sequence[int],
         hparams: dict[str, Any], output: Path, data_dir: Path | None = None, overwrite: bool = False,
         cache_dir: Path | None = None, *, use_cache: bool = True, cache_dtype: str = "float32",
         cache_max_bytes: int | None = None, explicit: Collection[str] = (), eval_on: Sequence[str] = (),
         offline: bool = False) -> Plan:
    """`plan_request` for the arguments of a request given one by one (hparams as `resolve_hparams` gives them);
    kept for the callers that plan this way."""
    request = RunRequest(upstreams=tuple(upstreams), tasks=tuple(tasks), seeds=tuple(seeds), output=output,
                         hparams=HParams.from_dict(hparams), explicit=frozenset(explicit), data_dir=data_dir,
                         eval_on=tuple(eval_on), overwrite=overwrite, offline=offline, cache_dir=cache_dir,
                         use_cache=use_cache, cache_dtype=cache_dtype, cache_max_bytes=cache_max_bytes)
    return plan_request(registry, request)


def plan_request(registry: Registry, request: RunRequest) -> Plan:
    """Every job of the request, split into those to run and those already finished; inputs checked, nothing run.

    request.explicit: the hyper-parameters the user set; the others may take a task's own defaults
    (TaskSpec.hparams). request.eval_on: tasks every trained model is also evaluated on, zero-shot (cross-lingual
    / cross-domain transfer); each job's own task is left out of its list. request.offline: use no network (also
    when BENCH_OFFLINE is set). Unfinished jobs that would have to download a model or data are set aside in
    `Plan.offline`, and so are jobs that need the Hub while HF_HUB_OFFLINE is set or the Hub does not answer;
    the others run. The registry must already hold the request's tasks files (`registry_for`).
    """
    from benchmark.engine import prefetch
    from benchmark.plugin.hub import no_network_requested

    upstreams, tasks, seeds, output = request.upstreams, request.tasks, request.seeds, request.output
    data_dir, overwrite, explicit, eval_on = request.data_dir, request.overwrite, request.explicit, request.eval_on
    hparams = request.hparams.as_dict()
    offline_flag = request.offline
    offline = offline_flag or no_network_requested()
    if not upstreams:
        raise BenchError("no upstream given (--upstream NAME; bench list upstreams)")
    specs = list({s.text: s for u in dict.fromkeys(upstreams) for s in expand_upstream(u)}.values())
    task_specs = expand_tasks(tasks, registry)
    if not task_specs:
        raise BenchError("no task given (--tasks SUITE_OR_TASK; bench list tasks)")
    if data_dir is not None and not data_dir.is_dir():
        what = "is not a directory" if data_dir.exists() else "not found"
        raise BenchError(f"data directory {what}: {data_dir} (--data-dir / BENCH_DATA_DIR)")
    cache = request.cache_dir or default_cache_dir()
    problems: list[Missing] = []
    transfer_specs = expand_tasks(eval_on, registry) if eval_on else []
    all_tasks = [*task_specs, *(t for t in transfer_specs if t not in task_specs)]
    tests = bool(hparams.get("predict_test"))
    # What each upstream and task would have to download that this run may not: their jobs are set aside.
    lacks: dict[str, list[Need]] = {}
    for spec in specs:
        lacks[spec.text] = [n for n in prefetch.upstream_needs(spec, registry) if prefetch.blocked(n, offline)]
    for task in all_tasks:
        lacks[task.name] = [n for n in prefetch.task_needs(task, data_dir, registry, cache, tests)
                            if prefetch.blocked(n, offline)]
    for spec in specs:
        lack = None if lacks[spec.text] else check_upstream_spec(spec, registry)
        if lack:
            problems.append(Missing(lack, ""))  # the upstream's message already says how to fix it
    for task in task_specs:
        for other in transfer_specs:
            if other.name != task.name:
                check_transfer(task, other, registry)
    for task in all_tasks:
        lack = None if lacks[task.name] else data_missing(task, data_dir, registry, cache, tests=tests)
        if lack:
            problems.append(lack)
    jobs: list[Job] = []
    for spec in specs:
        modality = registry.upstreams.get(spec.name).meta.get("modality")
        for task in task_specs:
            if modality and modality != task.modality:
                raise BenchError(f"upstream '{spec.text}' is a {modality} model and task '{task.name}' is a "
                                 f"{task.modality} task; pick tasks of the upstream's modality")
            source = choose_source(task, data_dir)
            own = getattr(registry.upstreams.get(spec.name).obj, "hparams", None)
            job_hp = task_hparams(hparams, task, explicit, (spec.name, own) if isinstance(own, dict) else None)
            refused = kind_of(registry, task.head).check_mode(task, job_hp["mode"])  # e.g. k-NN: nothing to fine-tune
            if refused:
                raise BenchError(refused)
            others = tuple(t for t in transfer_specs if t.name != task.name)
            for seed in dict.fromkeys(seeds):
                identity = {
                    "upstream": spec.text, "task": task.name, "task_version": task.version, "source": source, "data_dir": str(data_dir) if data_dir else None,
                    "seed": seed, "hparams": _identity_hparams(job_hp), "result_schema": 1,
                }
                if others:  # absent otherwise, so that the ids of plain jobs stay what they were
                    identity["transfer"] = [[t.name, t.version, choose_source(t, data_dir)] for t in others]
                jid = results_mod.job_id(identity)
                path = results_mod.result_path(output, task.name, spec.text, seed, jid)
                jobs.append(Job(spec, task, seed, job_hp, jid, path, source, others))
    done, redo, read = ([], {}, {}) if overwrite else finished(jobs, registry, data_dir)
    unfinished = [j for j in jobs if j not in done]
    set_aside = [j for j in unfinished
                 if any(lacks[k] for k in (j.upstream.text, j.task.name, *(t.name for t in j.transfer)))]
    todo = [j for j in unfinished if j not in set_aside]
    suites = {name: list(registry.suites.get(name).obj.tasks) for name in tasks if name in registry.suites}
    message = offline_message(set_aside, len(unfinished), lacks, offline_flag, suites) if set_aside else ""
    return Plan(jobs, todo, done, output, data_dir, cache, problems, request, set_aside, message,
                {j.job_id: redo[j.job_id] for j in todo if j.job_id in redo}, read)


def finished(jobs: Sequence[Job], registry: Registry, data_dir: Path | None
             ) -> tuple[list[Job], dict[str, str], dict[str, dict[str, Any]]]:
    """The jobs whose result file holds a result bench can trust for what the job reads now; for the others
    that have a file there, why it is redone (job id -> reason): the file fails the result schema, or the job's
    inputs changed since it ran (benchmark.engine.inputs); and the finished jobs' results as read and checked
    (job id -> result), so that nothing reads them a second time."""
    from benchmark.engine.inputs import Digests, changes

    digests = Digests(registry, data_dir)
    done: list[Job] = []
    redo: dict[str, str] = {}
    read: dict[str, dict[str, Any]] = {}
    listed = _listed(jobs)
    for job in jobs:
        if (job.path.name not in listed) if listed is not None else not job.path.is_file():
            continue
        data, why = results_mod.read_result(job.path)
        if data is None:
            redo[job.job_id] = f"its result file fails the result schema ({why})"
            continue
        changed = changes(data.get("inputs"), digests.of(job), job) if isinstance(data.get("inputs"), dict) else []
        if changed:
            redo[job.job_id] = f"{' and '.join(changed)} changed since it ran"
            continue
        done.append(job)
        read[job.job_id] = data
    return done, redo, read


def _listed(jobs: Sequence[Job]) -> set[str] | None:
    """On object storage, the names of the result objects under each job's output, in one LIST per output
    (a HEAD per job would cost a request per job); None for local folders, checked file by file as before."""
    from benchmark.storage import ObjectPath

    folders = {j.path.parent for j in jobs if isinstance(j.path, ObjectPath)}
    if not folders:
        return None
    return {p.name for folder in folders for p in folder.glob(f"*{results_mod.RESULT_SUFFIX}")}


def redo_message(plan_: Plan) -> str:
    """One line on the finished jobs a run redoes and where their old results are kept; '' when none."""
    if not plan_.redo:
        return ""
    n = len(plan_.redo)
    reasons = list(dict.fromkeys(plan_.redo.values()))
    shown = "; ".join(reasons[:3]) + (f"; and {len(reasons) - 3} more" if len(reasons) > 3 else "")
    return (f"{n} finished job{'s are' if n != 1 else ' is'} redone: {shown}; the old result "
            f"file{'s are' if n != 1 else ' is'} kept in {results_mod.stale_dir(plan_.output)}")


def offline_message(set_aside: Sequence[Job], n_unfinished: int, lacks: dict[str, list[Any]],
                    offline_flag: bool, suites: dict[str, list[str]] | None = None) -> str:
    """One line: 'offline (--offline): 2 of 3 jobs need what is not here: model 'X'; Hub dataset 'Y' for sst2;
    fetch it with network access: bench prefetch --upstream bert --tasks sst2, or pass --data-dir DIR holding ...'.

    suites: the suites the user named, with their tasks: one whose every task lacks something is named as the
    suite in the prefetch command (`--tasks glue`, not nine names)."""
    from benchmark.engine import prefetch

    users: dict[str, list[str]] = {}
    hows: dict[str, list[str]] = {}
    upstreams: list[str] = []
    tasks: list[str] = []
    for job in set_aside:
        for key, is_task in ((job.upstream.text, False), (job.task.name, True), *((t.name, True) for t in job.transfer)):
            for need in lacks[key]:
                who = users.setdefault(need.shown, [])
                if is_task and key not in who:
                    who.append(key)
                (tasks if is_task else upstreams).append(key)
                if need.how:
                    hows.setdefault(need.how, []).append(need.files)
    what = "; ".join(label + (f" for {', '.join(who)}" if who else "") for label, who in users.items())
    alternatives = "; ".join(how.replace("{files}", ", ".join(dict.fromkeys(f for f in files if f)))
                             for how, files in hows.items())
    for suite, members in (suites or {}).items():
        if members and all(t in tasks for t in members):
            at = min(tasks.index(t) for t in members)
            tasks = [*(t for t in tasks[:at] if t not in members), suite, *(t for t in tasks[at:] if t not in members)]
    return (f"offline ({prefetch.offline_reason(offline_flag)}): {len(set_aside)} of {n_unfinished} jobs need what "
            f"is not here: {what}; fetch it with network access: {prefetch.command(upstreams, tasks)}"
            + (f", or {alternatives}" if alternatives else ""))


def _identity_hparams(hparams: dict[str, Any]) -> dict[str, Any]:
    """Hyper-parameters as hashed into job ids; options added later are left out while at their default, so
    the ids of jobs from before they existed stay the same (their result files are still found)."""
    return {k: v for k, v in hparams.items() if not (k in _LATE_DEFAULTS and v == _LATE_DEFAULTS[k])}


# -- from a request to running jobs: the one path `bench run` and `benchmark.run(...)` share ----------------
#
#     request = RunRequest.build(...)      # every option checked
#     launch = prepare(request)            # plugins + tasks files, the plan, its inputs checked, output writable
#     results = launch.run(progress)       # the request's executor runs the plan's unfinished jobs


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
    from benchmark.engine.results import check_writable
    from benchmark.storage import ObjectPath, check_readable

    registry = registry_for(request, plugins)
    executor = registry.executors.get(request.executor).obj
    if isinstance(request.output, ObjectPath):  # a missing bucket or bad credentials: one line, before planning
        check_readable(request.output, "use --output")
    store = feature_store() if request.use_cache and request.cache_dir is None else None
    if store is not None:  # BENCH_CACHE=s3://...: checked here, not halfway through the first job
        check_readable(store, "use the feature cache at")
    plan = plan_request(registry, request)
    plan.check()
    if plan.redo:
        log.warning("%s", redo_message(plan))
    if plan.todo:
        check_writable(request.output)  # the one place: before any job, wherever the jobs then run
    return Launch(request, registry, plan, executor)
