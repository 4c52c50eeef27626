"""Running a plan's jobs in this process: the device, determinism and environment every result records, each
upstream loaded once for its jobs, and one result file (or failure record) per job. The local executor and
every Ray worker call `execute`."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmark.engine import results as results_mod
from benchmark.errors import BenchError, JobFailed, out_of_memory, transient_error
from benchmark.plugin.specs import LazyUpstream, UpstreamSpec, build_upstream, check_built
from benchmark.tasks.data import load as load_data

if TYPE_CHECKING:
    from benchmark.engine.plan import Job, Plan, Progress
    from benchmark.plugin.registry import Registry
    from benchmark.types import Result


def environment(device: str, command: str | None = None) -> dict[str, Any]:
    import torch

    from benchmark.version import __version__

    versions = {"bench": __version__, "python": platform.python_version(), "torch": torch.__version__}
    for mod, dist in (("transformers", "transformers"), ("datasets", "datasets"), ("numpy", "numpy"),
                      ("sklearn", "scikit-learn")):
        try:  # the installed version, without importing the package (datasets and sklearn take seconds)
            versions[mod] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[mod] = None
    git = None
    try:
        git = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        pass
    return {"versions": versions, "git": git, "device": device, "threads": torch.get_num_threads(),
            "platform": platform.platform(), "command": command}


def make_deterministic(device: str) -> dict[str, Any]:
    """Ask torch for deterministic kernels and say what was set (recorded in every result).

    Every random draw in a job is seeded: the head's initialisation and batch order by the job's seed, the
    model-selection hold-out by HOLDOUT_SEED, the +rand / +re-emb weights by VARIANT_SEED, --max-train's
    subsample by the job's seed. On the CPU that makes a rerun identical; on CUDA, deterministic kernels also
    need CUBLAS_WORKSPACE_CONFIG set before CUDA starts (done here when the user has not set it).
    """
    import torch

    from benchmark.plugin.specs import VARIANT_SEED
    from benchmark.tasks.data import HOLDOUT_SEED

    if device.startswith("cuda"):
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)  # warn, not fail, for ops with no such kernel
    torch.backends.cudnn.benchmark = False
    # Subnormal floats make CPU kernels tens of times slower; a CTC head's LSTM meets them as its gradients shrink
    # (an epoch went from 35 s to many minutes). Flushing them to zero changes no result a float32 head can tell.
    flushed = torch.set_flush_denormal(True)
    return {"torch_deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
            "flush_denormal": flushed,
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
            "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
            "seeds": {"head_and_batch_order": "the job's seed", "selection_holdout": HOLDOUT_SEED,
                      "upstream_variants": VARIANT_SEED, "max_train_subsample": "the job's seed"}}


def _check_layer(job: Job, upstream: Any) -> None:
    """--layer N must name one of the upstream's layers (0 = embeddings .. num_layers)."""
    layer = job.hparams.get("layer")
    if layer is None:
        return
    n = int(upstream.info()["num_layers"] if isinstance(upstream, LazyUpstream) else upstream.num_layers)
    if not -(n + 1) <= layer <= n:
        raise BenchError(f"--layer {layer} is out of range for upstream '{job.upstream.text}', which has layers "
                         f"0 (embeddings) to {n}")


def record_failure(job: Job, err: JobFailed, env: dict[str, Any]) -> Path:
    """Write the failed job's record beside where its result would be; a rerun retries the job. `transient`: a
    rerun may pass (JobFailed.transient)."""
    import datetime

    return results_mod.save_failure(job.path, {
        "status": "failed", "reason": str(err), "transient": err.transient, "job_id": job.job_id,
        "upstream": job.upstream.text,
        "task": job.task.name, "seed": job.seed, "hyperparameters": dict(job.hparams), "environment": env,
        "failed_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")})


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise BenchError("--device cuda but no CUDA device is available; use --device cpu or auto")
    if device not in ("cpu", "cuda"):
        raise BenchError(f"unknown device '{device}' (cpu, cuda or auto)")
    return device


def execute(plan_: Plan, registry: Registry, *, device: str = "cpu", trust_remote_code: bool = False,
            progress: Progress | None = None, command: str | None = None) -> list[Result]:
    """Run the plan's unfinished jobs in this process; returns their results (finished ones are not re-read)."""
    from benchmark.engine.job import run_job
    from benchmark.plugin.hub import hub_reachable, use_no_network

    plan_.check()
    if not plan_.todo:
        return []
    if not hub_reachable() or plan_.request.offline:
        # Let transformers / datasets use their caches without retrying the network for each file.
        use_no_network()
    emit = progress or (lambda *a, **k: None)
    dev = resolve_device(device)
    env = {**environment(dev, command), "determinism": make_deterministic(dev)}
    cache = plan_.feature_cache()
    data_cache: dict[str, Any] = {}
    out: list[Result] = []
    by_upstream: dict[str, list[Job]] = {}
    for job in plan_.todo:
        by_upstream.setdefault(job.upstream.text, []).append(job)
    from benchmark.engine.claims import claims_for
    from benchmark.engine.inputs import Digests

    digests = Digests(registry, plan_.data_dir)
    for job in plan_.todo:  # every task's data is read and checked before any job runs
        for task in (job.task, *job.transfer):
            if task.name not in data_cache:
                emit("load_data", task=task.name)
                tests = bool(job.hparams.get("predict_test")) and task is job.task
                data_cache[task.name] = load_data(task, plan_.data_dir, registry, plan_.cache_dir, tests=tests)
                if not tests:  # its revision is the data digest results record (test splits left out)
                    digests.knows_data(task, data_cache[task.name].revision)
    claims = claims_for(plan_.output)
    planned = {job.job_id: _stamp(job.path) for job in plan_.todo}
    deferred: list[Job] = []

    def finished_elsewhere(job: Job) -> Result | None:
        """The job's result when another run sharing the output finished it since this run was planned."""
        from benchmark.engine.inputs import changes

        if _stamp(job.path) == planned[job.job_id]:
            return None  # the file this run was planned with (none, a stale one, or one --overwrite replaces)
        data, _ = results_mod.read_result(job.path)
        if data is None or not isinstance(data.get("inputs"), dict) or changes(data["inputs"], digests.of(job), job):
            return None  # absent, unreadable, stale, or older than recorded inputs: this run's to do
        return results_mod.result_from_dict(data)

    def run_group(jobs: list[Job], wait: bool) -> None:
        spec = jobs[0].upstream

        def load(spec: UpstreamSpec = spec) -> Any:
            emit("load_upstream", upstream=spec.text)
            plugin = registry.upstreams.get(spec.name).plugin
            try:
                built = build_upstream(spec, registry, trust_remote_code=trust_remote_code)
            except (BenchError, JobFailed):
                raise
            except Exception as err:  # a plugin's factory: its jobs fail, the others go on
                if out_of_memory(err):
                    raise JobFailed(f"out of memory loading upstream '{spec.text}'", transient=True) from None
                raise JobFailed(f"upstream '{spec.text}' (plugin '{plugin}') failed to load: "
                                f"{type(err).__name__}: {err}", transient=transient_error(err)) from None
            check_built(built, spec, plugin)
            return built.to(dev)

        t0 = time.perf_counter()
        if all(j.hparams["mode"] == "frozen" for j in jobs):
            # Loaded only if some split's features are not cached yet.
            upstream: Any = LazyUpstream(spec, registry, load, plan_.cache_dir)
        else:
            try:
                upstream = load()
            except JobFailed as err:
                for job in jobs:
                    record_failure(job, err, env)
                    emit("job_failed", job=job, reason=str(err), transient=err.transient)
                return
        load_s = time.perf_counter() - t0
        pristine = True
        for job in jobs:
            if wait:
                emit("job_waiting", job=job)
                claims.wait(job)
            elif not claims.try_claim(job):  # another run is on it: after this run's other jobs
                deferred.append(job)
                continue
            try:
                other = finished_elsewhere(job)
                if other is not None:
                    emit("job_done", job=job, result=other, elsewhere=True)
                    out.append(other)
                    continue
                emit("job_start", job=job)
                try:
                    if job.hparams["mode"] == "finetune" and not pristine:
                        upstream = load()  # fine-tuning changed the weights: the next job starts from pretrained ones
                    pristine = job.hparams["mode"] != "finetune"
                    _check_layer(job, upstream)
                    result = run_job(job, upstream, load, data_cache[job.task.name], registry, cache, env, emit,
                                     transfer_data={t.name: data_cache[t.name] for t in job.transfer})
                except JobFailed as err:
                    record_failure(job, err, env)
                    emit("job_failed", job=job, reason=str(err), transient=err.transient)
                    pristine = False  # a failed fine-tuning run may have changed the weights
                    continue
                result.durations["load_upstream"] = round(load_s, 3)
                result = dataclasses.replace(result, inputs=digests.of(job, result.upstream_info.get("fingerprint")))
                results_mod.save(plan_.output, result, keep_old=job.job_id in plan_.redo)
                emit("job_done", job=job, result=result)
                out.append(result)
            finally:
                claims.release(job)
        del upstream

    try:
        for jobs in by_upstream.values():
            run_group(jobs, wait=False)
        waiting: dict[str, list[Job]] = {}
        for job in deferred:
            waiting.setdefault(job.upstream.text, []).append(job)
        for jobs in waiting.values():
            run_group(jobs, wait=True)
    finally:
        claims.close()
        cache.close()
    return out


def _stamp(path: Any) -> tuple[Any, ...] | None:
    """Which file is at `path` (inode, size, modification time; an object's ETag, size, time), or None."""
    from benchmark.storage import ObjectPath, stamp

    if isinstance(path, ObjectPath):
        return stamp(path)
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


class LocalExecutor:
    description = "run jobs one after another in this process (default)"

    def run(self, plan: Plan, registry: Registry, *, device: str = "cpu", trust_remote_code: bool = False,
            progress: Progress | None = None, command: str | None = None) -> list[Result]:
        return execute(plan, registry, device=device, trust_remote_code=trust_remote_code, progress=progress,
                       command=command)
