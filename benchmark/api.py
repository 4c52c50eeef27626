"""The Python API: `benchmark.run(...)` plans, runs and returns results, as `bench run` does."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmark.engine.request import RunRequest
from benchmark.engine.results import result_from_dict  # noqa: F401  (its home was here)
from benchmark.engine.runner import prepare
from benchmark.interfaces import Progress
from benchmark.types import Result

log = logging.getLogger(__name__)


def _as_list(value: str | Sequence[str]) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value)


def run(upstreams: str | Sequence[str] = "minilm", tasks: str | Sequence[str] = "offline-text",
        seeds: Sequence[int] = (0,), output: str | Path = "bench-results", *, data_dir: str | Path | None = None,
        mode: str = "frozen", overwrite: bool = False, device: str = "auto", trust_remote_code: bool = False,
        cache_dir: str | Path | None = None, progress: Progress | None = None, predict_test: bool = False,
        use_cache: bool = True, cache_dtype: str = "float32", executor: str = "local",
        eval_on: str | Sequence[str] = (), offline: bool = False, tasks_files: Sequence[str | Path] = (),
        **hparams: Any) -> list[Result]:
    """Run every (upstream, task, seed) job not yet finished under `output`; return all of their results.

    hparams: lr, head_lr, epochs, batch_size, patience, weight_decay, hidden, dropout, layer, pooling, max_train,
    dtype (layer=None, given, is the weighted sum over layers even where a task defaults to one layer). A list
    for lr, head_lr, hidden, weight_decay, dropout or batch_size is a grid (best on the model-selection split
    wins). Tagging and QA: align (first, last, mean), stride (QA window overlap in tokens). Fine-tuning:
    group_by_length=True (batches of similar length), fused_optimizer=True (torch's fused AdamW; docs/finetune.md).
    fused_lstm=True: BiLSTM heads run each direction as one unpacked LSTM call (faster on a CPU; a different job).
    use_cache=False keeps no features; executor picks where jobs run. eval_on: tasks each trained model is also evaluated on,
    zero-shot (`Result.transfer`; as `bench run --train-on TASKS --eval-on ...`). offline: use no network (as
    `bench run --offline`); jobs whose models or data are not cached are logged and left out of the returned list.
    predict_test: after training, also predict each task's unlabeled test splits (`Result.test_predictions`, for
    `bench export glue-submission`); part of the job's hyper-parameters, so it is a different job.
    tasks_files: tasks YAML files of your own (as `bench run --tasks-file`).
    The options are checked as `bench run` checks them (`RunRequest.build`): the same one-line BenchError, which
    says how to fix it, for bad input or missing models / data. A job that fails (training diverged, out of
    memory, a broken upstream) is left out of the returned list; its reason is in a `*.failed.json` record
    under `output` (`benchmark.engine.results.load_failures(output)`).
    """
    eval_names = _as_list(eval_on)
    request = RunRequest.build(
        upstreams=_as_list(upstreams), tasks=None if eval_names else _as_list(tasks),
        train_on=_as_list(tasks) if eval_names else None, eval_on=eval_names, seeds=list(seeds), output=output,
        data_dir=data_dir, tasks_files=tasks_files, mode=mode, hparams={**hparams, "predict_test": predict_test},
        overwrite=overwrite, offline=offline, device=device, trust_remote_code=trust_remote_code,
        executor=executor, cache_dir=cache_dir, use_cache=use_cache, cache_dtype=cache_dtype)
    return run_request(request, progress)


def run_request(request: RunRequest, progress: Progress | None = None) -> list[Result]:
    """Run a request built with `RunRequest.build`; every job's result (finished earlier or now), in plan order."""
    launch = prepare(request)
    the_plan = launch.plan
    if the_plan.offline:
        log.warning("not starting %s", the_plan.offline_message)
    fresh = {r.job_id: r for r in launch.run(progress)}
    out = []
    for job in the_plan.jobs:
        if job.job_id in fresh:
            out.append(fresh[job.job_id])
        elif job.job_id in the_plan.finished:  # read and checked once, by planning
            out.append(result_from_dict(the_plan.finished[job.job_id]))
        # else the job failed: its reason is in the *.failed.json beside (benchmark.engine.results.load_failures)
    return out
