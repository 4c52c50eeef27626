"""The `ray` executor: one Ray task per job, on the cluster at RAY_ADDRESS or on a local Ray instance.

Each task rebuilds the plugin registry in its worker, re-plans only its own job from the driver's plan request
(so the job id and result file name are the ones the driver planned: checked), and runs it with
`execution.execute`. Workers therefore write the same result files and share the same feature cache as the local
executor; the cache's file locks make two workers on one (upstream, split) compute its features once.

Scheduling. On GPUs a task takes one GPU (one process per device). On CPUs a task takes a share of a node's
cores and sets torch's thread count to exactly that share, so workers never oversubscribe the cores: with
fewer jobs than cores each job gets several threads; with more, one thread each and as many jobs at once as
there are cores (on 2 cores, two 1-thread jobs side by side beat one 2-thread job after another: the Python
parts of a job run in parallel too, and single-threaded workers lose far less to a busy machine).
BENCH_RAY_CPUS_PER_JOB=N gives each job at least N cores (fewer jobs at once: less memory). Jobs are submitted
seed by seed, so the jobs running side by side first are different (upstream, task) pairs, which need
different feature-cache entries instead of waiting on one another's lock.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import site
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmark.engine.request import RunRequest
from benchmark.errors import BenchError

log = logging.getLogger(__name__)

INSTALL_HINT = "the ray executor needs Ray: pip install 'encoder-bench[ray]'"
# Passed on to the workers (a cluster's processes do not inherit the driver's environment).
FORWARD_ENV = ("BENCH_CACHE", "BENCH_OFFLINE", "BENCH_DISABLE_PLUGIN_AUTOLOAD", "BENCH_BLOCK_PLUGINS", "BENCH_PLUGINS",
               "HF_HOME",
               "HF_HUB_CACHE", "HF_DATASETS_CACHE", "HF_ENDPOINT", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",
               "HF_DATASETS_OFFLINE",
               # Object storage (--output / BENCH_CACHE as s3:// URLs, docs/scale.md): the credentials and endpoint
               # the driver uses, for workers that have no role of their own; FSSPEC_* options are forwarded too.
               "BENCH_LEASE_SECONDS", "BENCH_CACHE_LOCAL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
               "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_ENDPOINT_URL",
               "AWS_ENDPOINT_URL_S3", "GOOGLE_APPLICATION_CREDENTIALS")


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise BenchError(INSTALL_HINT) from None
    return ray


def local_cpus() -> int:
    """The cores this process may use (its affinity mask, which containers and taskset narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def source_roots() -> list[str]:
    """Directories that hold the top-level packages of bench and of its loaded plugins when they are not installed
    into site-packages (an editable install, a checkout, a BENCH_PLUGINS module beside the user's files): the
    workers need them on their path to import `benchmark` and load the same plugins through the plugin manager."""
    import benchmark
    from benchmark.plugin.manager import get_plugins

    tops = dict.fromkeys([benchmark.__name__, *(getattr(p, "__name__", "").partition(".")[0]
                                                for p in get_plugins().pm.get_plugins())])
    installed = {os.path.realpath(p) for p in [*site.getsitepackages(), site.getusersitepackages()]}
    roots: dict[str, None] = {}
    for top in tops:
        module = sys.modules.get(top)
        where = getattr(module, "__file__", None)
        if not where:
            continue
        path = Path(where)
        roots[os.path.realpath(path.parent.parent if path.name == "__init__.py" else path.parent)] = None
    return [r for r in roots if r not in installed]


def worker_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in FORWARD_ENV or k.startswith("FSSPEC_")}
    roots = source_roots()
    if roots:
        rest = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p not in roots]
        env["PYTHONPATH"] = os.pathsep.join([*roots, *rest])
    return env


@contextlib.contextmanager
def _env(**values: str) -> Iterator[None]:
    """Set environment variables the user has not set, for the duration of the block."""
    added = [k for k in values if k not in os.environ]
    for k in added:
        os.environ[k] = values[k]
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


@contextlib.contextmanager
def _quiet(logger: str) -> Iterator[None]:
    """Errors only from `logger` for the duration of the block. Ray's notice that a new local instance uses
    token authentication (its default, which stays on) is not news to a `bench run` user."""
    lg = logging.getLogger(logger)
    level = lg.level
    lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        lg.setLevel(level)


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast on a RAY_ADDRESS nobody listens at: Ray's client would retry for minutes."""
    import socket

    hostport = address.split("://", 1)[-1]
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto", "local" or a form Ray resolves itself
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as err:
        why = err.strerror or type(err).__name__
        raise BenchError(f"cannot reach the Ray cluster at RAY_ADDRESS={address}: {why} (check RAY_ADDRESS, or unset "
                         "it to run on this machine)") from None


@contextlib.contextmanager
def _native_stderr_to_log() -> Iterator[None]:
    """Send what native code writes to file descriptor 2 to the debug log instead of the user's terminal."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            for line in sink.read().decode("utf-8", "replace").splitlines():
                log.debug("ray: %s", line)


@contextlib.contextmanager
def ray_session(ray: Any) -> Iterator[bool]:
    """Reuse an initialised Ray, or connect to RAY_ADDRESS, or start a local instance (shut down afterwards).
    Yields whether this call started or connected it."""
    if ray.is_initialized():
        yield False
        return
    address = os.environ.get("RAY_ADDRESS") or None
    quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING,
             "configure_logging": True}
    if address:
        _check_reachable(address)
    try:
        if address:
            with _native_stderr_to_log():  # Ray's C++ client prints a line per connection retry
                ray.init(address=address, **quiet)
        else:
            # address="local": never attach to some other `ray start` instance found in /tmp/ray. No usage
            # statistics, so a local run sends nothing anywhere; Ray's token authentication (its default for a new
            # instance) stays on, without its notice about it.
            with _env(RAY_USAGE_STATS_ENABLED="0"), _quiet("ray._private.authentication"):
                ray.init(address="local", num_cpus=local_cpus(), **quiet)
    except Exception as err:  # Ray raises plain Exceptions too (a node that does not come up in time)
        with contextlib.suppress(Exception):
            ray.shutdown()
        where = f"the Ray cluster at RAY_ADDRESS={address}" if address else "a local Ray instance"
        why = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        fix = ("check RAY_ADDRESS, or unset it to run on this machine" if address
               else "Ray's logs: /tmp/ray/session_latest/logs")
        raise BenchError(f"cannot start {where}: {why} ({fix})") from None
    try:
        yield True
    finally:
        ray.shutdown()


def _node_cpus(ray: Any) -> tuple[int, int]:
    """(cores of the largest node, cores of the whole cluster) as Ray counts them."""
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    per_node = [int(n.get("Resources", {}).get("CPU", 0)) for n in nodes]
    total = int(ray.cluster_resources().get("CPU", 0))
    return max(per_node, default=total) or 1, total or 1


def min_share() -> int:
    raw = os.environ.get("BENCH_RAY_CPUS_PER_JOB", "").strip()
    if not raw:
        return 1
    if not raw.isdigit() or int(raw) < 1:
        raise BenchError(f"BENCH_RAY_CPUS_PER_JOB={raw!r} must be a whole number of cores, at least 1")
    return int(raw)


def placement(device: str, n_jobs: int, gpus: float, node_cpus: int,
              total_cpus: int) -> tuple[str, dict[str, Any], int]:
    """(device for the workers, Ray resource options per task, torch threads per task)."""
    if device not in ("cpu", "cuda", "auto"):
        raise BenchError(f"unknown device '{device}' (cpu, cuda or auto)")
    if device == "cuda" or (device == "auto" and gpus >= 1):
        if gpus < 1:
            raise BenchError("--device cuda but the Ray cluster has no GPU; use --device cpu or auto")
        return "cuda", {"num_gpus": 1, "num_cpus": 1}, 0  # one process per GPU; torch keeps its own threads
    share = min(node_cpus, max(min_share(), total_cpus // max(n_jobs, 1)))
    return "cpu", {"num_cpus": share}, share


def submission_order(jobs: list[Any]) -> list[Any]:
    """Seed by seed (stable within a seed): jobs that start together need different feature-cache entries."""
    rank = {s: i for i, s in enumerate(dict.fromkeys(j.seed for j in jobs))}
    return sorted(jobs, key=lambda j: rank[j.seed])


def describe(job: Any) -> str:
    return f"{job.upstream.text} · {job.task.name} · seed {job.seed}"


def run_one(upstream: str, task: str, seed: int, job_id: str, file_name: str, request: RunRequest, *,
            threads: int, cwd: str, series: str | None = None) -> dict[str, Any]:
    """The Ray task: re-plan this one job from the driver's request and run it. Returns {"result": asdict(Result)}
    or, for a BenchError, {"error": its one-line message} (it travels as text: no pickled exception classes)."""
    import torch

    import benchmark
    from benchmark.engine import execution, runner
    from benchmark.engine.runner import registry_for
    from benchmark.errors import BenchError
    from benchmark.plugin.manager import load_plugins

    if threads:
        torch.set_num_threads(threads)  # the task's CPU share: deterministic, and no oversubscription
    worker = {"pid": os.getpid(), "benchmark": str(Path(benchmark.__file__).resolve().parent),
              "threads": torch.get_num_threads(), "python": sys.executable, "started": time.time()}
    here = contextlib.chdir(cwd) if os.path.isdir(cwd) else contextlib.nullcontext()  # relative paths as the driver
    try:
        with here:
            registry = registry_for(request, load_plugins())  # the plugins, as the driver loads them
            p = runner.plan_request(registry, request.only(series or upstream, task, seed))
            if series:  # one checkpoint of NAME@DIR: planned through its series, so it keeps its step
                mine = [j for j in p.jobs if j.upstream.text == upstream]
                p = dataclasses.replace(p, jobs=mine, todo=[j for j in p.todo if j in mine],
                                        done=[j for j in p.done if j in mine])
            [job] = p.jobs
            if job.job_id != job_id or job.path.name != file_name:
                raise RuntimeError(f"the worker planned job {job.job_id} ({job.path.name}) where the driver planned "
                                   f"{job_id} ({file_name}): is the worker running another version of bench "
                                   f"({worker['benchmark']})?")
            if p.offline:  # the worker's caches lack what the driver's have
                return {"error": f"cannot start on the worker (pid {worker['pid']}): {p.offline_message}",
                        "worker": {**worker, "finished": time.time()}}
            if not p.todo:  # finished meanwhile by another run sharing the output directory
                from benchmark.engine.results import read_result

                data, why = read_result(job.path)
                if data is None:  # replaced by something else since the plan: said, never trusted
                    return {"error": f"the result file {job.path} changed while the job was planned: {why}; rerun",
                            "worker": {**worker, "finished": time.time()}}
                return {"result": data, "worker": worker}
            ran = execution.execute(p, registry, device=request.device, trust_remote_code=request.trust_remote_code,
                                 command=request.command)
            if not ran:  # the job failed; execute wrote its record
                import json

                from benchmark.engine.results import failure_path

                record = json.loads(failure_path(job.path).read_text(encoding="utf-8"))  # a Path or an ObjectPath
                return {"failed": record["reason"], "transient": bool(record.get("transient")),
                        "worker": {**worker, "finished": time.time()}}
            [result] = ran
    except BenchError as err:
        return {"error": str(err), "worker": {**worker, "finished": time.time()}}
    return {"result": dataclasses.asdict(result), "worker": {**worker, "finished": time.time()}}


class RayExecutor:
    description = "fan jobs out over Ray workers (RAY_ADDRESS, or a local Ray instance)"

    def __init__(self) -> None:
        self.workers: list[dict[str, Any]] = []
        """Where each job ran (pid, the worker's `benchmark` package, its torch threads), in completion order."""

    def run(self, plan: Any, registry: Any, *, device: str = "cpu", trust_remote_code: bool = False,
            progress: Any = None, command: str | None = None) -> list[Any]:
        from benchmark.engine.results import result_from_dict

        plan.check()
        if not plan.todo:
            return []
        ray = _import_ray()
        emit = progress or (lambda *a, **k: None)
        with ray_session(ray):
            gpus = float(ray.cluster_resources().get("GPU", 0))
            dev, resources, threads = placement(device, len(plan.todo), gpus, *_node_cpus(ray))
            # What the workers run with: the request as planned, with this call's device (as placed) and options.
            request = dataclasses.replace(plan.request, device=dev, trust_remote_code=trust_remote_code,
                                          command=command)
            remote = ray.remote(run_one).options(runtime_env={"env_vars": worker_env()}, max_retries=0,
                                                 name="bench-job", **resources)
            log.info("ray: %d jobs, %s per task, device %s", len(plan.todo), resources, dev)
            pending: dict[Any, Any] = {}
            t0 = time.perf_counter()
            for job in submission_order(plan.todo):
                ref = remote.remote(job.upstream.text, job.task.name, job.seed, job.job_id, job.path.name,
                                    request, threads=threads, cwd=os.getcwd(), series=job.upstream.series)
                pending[ref] = job
            done: dict[str, Any] = {}
            try:
                while pending:
                    [ref], _ = ray.wait(list(pending), num_returns=1)
                    job = pending.pop(ref)
                    payload = self._get(ray, ref, job)
                    self.workers.append({"job": job.job_id, **payload.get("worker", {})})
                    if "error" in payload:
                        raise BenchError(payload["error"])
                    if "failed" in payload:
                        emit("job_failed", job=job, reason=payload["failed"], transient=payload.get("transient", False))
                        continue
                    result = result_from_dict(payload["result"])
                    done[job.job_id] = result
                    emit("job_done", job=job, result=result)
            finally:
                for ref in pending:  # an error or Ctrl-C: stop the rest (finished result files stay)
                    ray.cancel(ref)
            log.info("ray: %d jobs in %.1f s", len(done), time.perf_counter() - t0)
        return [done[j.job_id] for j in plan.todo if j.job_id in done]

    @staticmethod
    def _get(ray: Any, ref: Any, job: Any) -> dict[str, Any]:
        try:
            return ray.get(ref)
        except ray.exceptions.OutOfMemoryError as err:
            raise BenchError(f"job {describe(job)} ran out of memory on its Ray worker; run fewer jobs at once "
                             "(BENCH_RAY_CPUS_PER_JOB=N gives each job N cores) or use more memory") from err
        except ray.exceptions.RayTaskError as err:
            cause = getattr(err, "cause", None)
            what = f"{type(cause).__name__}: {cause}" if cause is not None else str(err).splitlines()[-1]
            raise RuntimeError(f"job {describe(job)} failed on a Ray worker: {what}") from err
        except ray.exceptions.RayError as err:
            raise RuntimeError(f"job {describe(job)} was lost on Ray: {type(err).__name__}: {err}") from err
