"""`bench run`: build the run request from the options, plan it, run it with progress bars, print the leaderboard.

Every rule between options is the request's (benchmark.engine.request.RunRequest.build), shared with the Python API.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from benchmark.cli.common import split, tasks_file_option, warn_plugin_failures
from benchmark.cli.progress import Failure, reporter
from benchmark.cli.report import print_leaderboard
from benchmark.cli.types import OutputArg, PathArg
from benchmark.clitools import command_line


def _seeds(_ctx: Any, _param: Any, value: str) -> list[int]:
    try:
        seeds = [int(s) for s in split(value)]
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a comma-separated list of integers (e.g. 0,1,2)") from None
    if not seeds:
        raise click.BadParameter("give at least one seed (e.g. 0,1,2)")
    return seeds


def _numbers(value: str | None, kind: type, example: str) -> list[Any] | None:
    if value is None:
        return None
    try:
        out = [kind(v) for v in split(value)]
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a comma-separated list of numbers (e.g. {example})") from None
    if not out:
        raise click.BadParameter(f"give at least one value (e.g. {example})")
    return out


def _floats(_ctx: Any, _param: Any, value: str | None) -> list[float] | None:
    return _numbers(value, float, "1e-4,1e-3")


def _ints(_ctx: Any, _param: Any, value: str | None) -> list[int] | None:
    out = _numbers(value, int, "0,256")
    if out is not None and any(v < 0 for v in out):
        raise click.BadParameter(f"'{','.join(map(str, out))}' must not be negative")
    return out


def _layer(_ctx: Any, _param: Any, value: str | None) -> int | None:
    if value is None or value == "weighted":
        return None
    try:
        return int(value)
    except ValueError:
        raise click.BadParameter(f"'{value}' is not 'weighted' or a layer number (0 = embeddings)") from None


@click.command(name="run")
@click.option("--upstream", "-u", default="minilm", show_default=True,
              help="Comma-separated upstreams: NAME, NAME:HUB_ID_OR_PATH, NAME+rand, NAME+re-emb.")
@click.option("--tasks", "-t", default="offline-text", show_default=True, help="Comma-separated suites and tasks.")
@tasks_file_option
@click.option("--train-on", default=None, metavar="TASKS",
              help="Train on these suites / tasks (instead of --tasks) and evaluate each model on --eval-on too.")
@click.option("--eval-on", default=None, metavar="TASKS",
              help="Also evaluate every trained model on these tasks, zero-shot (same head and labels): the "
                   "cross-lingual matrix, e.g. --train-on squad --eval-on drcd.")
@click.option("--align", type=click.Choice(["first", "last", "mean"]), default=None,
              help="Tagging: a word's vector is its first sub-token's (default), its last, or their mean.")
@click.option("--doc-stride", "stride", type=click.IntRange(min=1), default=None, metavar="TOKENS",
              help="Span QA: a long context is read in windows overlapping by this many tokens (128).")
@click.option("--seeds", default="0", show_default=True, callback=_seeds, help="Comma-separated integer seeds.")
@click.option("--output", "-o", type=OutputArg(path_type=Path), default=Path("bench-results"), show_default=True,
              help="Directory for the result files (one JSON per job), or an fsspec URL: s3://bucket/run (docs/scale.md).")
@click.option("--data-dir", type=PathArg(path_type=Path), envvar="BENCH_DATA_DIR",
              help="Local task data, e.g. GLUE in its download layout (DIR/SST-2/train.tsv). Env: BENCH_DATA_DIR.")
@click.option("--mode", type=click.Choice(["frozen", "finetune"]), default="frozen", show_default=True,
              help="frozen: train only the head on the upstream's features; finetune: train everything.")
@click.option("--layer", default=None, callback=_layer, metavar="weighted|N",
              help="Learned softmax-weighted sum over layers (default) or one layer (0 = embeddings).")
@click.option("--pooling", type=click.Choice(["mean", "cls"]), default=None, help="Override the task's pooling.")
@click.option("--lr", default=None, callback=_floats, metavar="X[,Y...]",
              help="Learning rate (frozen head 1e-3; finetune upstream 2e-5). A list is a grid: 1e-4,1e-3,1e-2.")
@click.option("--head-lr", default=None, callback=_floats, metavar="X[,Y...]",
              help="Head learning rate in finetune mode (1e-3); a list is a grid.")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Max epochs (frozen 50 with early stop; finetune 3).")
@click.option("--batch-size", default=None, callback=_ints, metavar="N[,M...]",
              help="Training batch size (frozen 256; finetune 16); a list is a grid.")
@click.option("--hidden", default=None, callback=_ints, metavar="N[,M...]",
              help="Hidden units of an MLP head (0 = linear, the default); a list is a grid: 0,256.")
@click.option("--weight-decay", default=None, callback=_floats, metavar="X[,Y...]",
              help="AdamW weight decay (0.01); a list is a grid.")
@click.option("--group-by-length", is_flag=True, default=None,
              help="Finetune: batches of similar length, as transformers' group_by_length (shuffled megabatches "
                   "of 50 batches sorted by length, the longest batch first); less padding, other batches.")
@click.option("--fused-optimizer", is_flag=True, default=None,
              help="Finetune: torch's fused AdamW kernel (transformers' Trainer default) instead of the foreach one; "
                   "faster on a CPU, results differ in the last bits.")
@click.option("--fused-lstm", is_flag=True, default=None,
              help="Heads with a BiLSTM (CTC, tagging, span QA, diarization): run each direction as one unpacked LSTM "
                   "call, about 10x faster training on a CPU; results differ from the default's by rounding, so the "
                   "job id differs too.")
@click.option("--eval-batch-size", type=click.IntRange(min=1), default=None,
              help="Examples per forward pass when extracting features and evaluating (64); lower it on out-of-memory.")
@click.option("--dtype", type=click.Choice(["float32", "bfloat16", "float16"]), default=None,
              help="Autocast the upstream's forward passes (default float32; bfloat16 also helps recent CPUs).")
@click.option("--no-cache", is_flag=True, help="Do not keep frozen features in the feature cache.")
@click.option("--cache-dtype", type=click.Choice(["float32", "float16"]), default="float32", show_default=True,
              help="Precision of cached features (float16 halves the disk they take).")
@click.option("--executor", default="local", show_default=True, help="Where jobs run: local, ray (bench list executors).")
@click.option("--max-train", type=click.IntRange(min=1), default=None, help="Subsample training sets to N examples.")
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default="auto", show_default=True,
              help="auto: cuda when a CUDA device is available, else cpu. Not part of a job's identity: the same job "
                   "id (and result file) on either.")
@click.option("--trust-remote-code", is_flag=True, help="Allow Hub models that run their own code (off by default).")
@click.option("--offline", is_flag=True, help="Use no network (as BENCH_OFFLINE=1): jobs whose models or data are "
              "not in the caches do not start, and the line says which `bench prefetch` fetches them.")
@click.option("--overwrite", is_flag=True, help="Redo jobs whose result file already exists.")
@click.option("--predict-test", is_flag=True,
              help="Also predict each task's unlabeled test split(s), for bench export glue-submission.")
@click.option("--quiet", "-q", is_flag=True, help="No progress, no per-job lines, no leaderboard (failures still print).")
def run(upstream: str, tasks: str, tasks_files: tuple[Path, ...], train_on: str | None, eval_on: str | None,
        align: str | None, stride: int | None, seeds: list[int], output: Path,
        data_dir: Path | None, mode: str, layer: int | None, pooling: str | None, lr: list[float] | None,
        head_lr: list[float] | None, epochs: int | None, batch_size: list[int] | None, hidden: list[int] | None,
        weight_decay: list[float] | None, eval_batch_size: int | None, dtype: str | None, no_cache: bool,
        cache_dtype: str, executor: str, max_train: int | None, device: str, trust_remote_code: bool,
        overwrite: bool, quiet: bool, predict_test: bool = False, offline: bool = False,
        group_by_length: bool | None = None, fused_optimizer: bool | None = None,
        fused_lstm: bool | None = None) -> None:
    """Train heads for every (upstream, task, seed) job and print the leaderboard.

    Finished jobs are skipped (their result file exists) unless --overwrite. A job that fails (training
    diverged, out of memory) is recorded beside the results as *.failed.json; the others go on, and the exit
    code is 1. Ctrl-C stops at once; finished jobs are kept and a rerun does the rest. Offline (--offline,
    BENCH_OFFLINE, HF_HUB_OFFLINE or no Hub), jobs whose inputs are not cached are named in one line and do not
    start; the others run, and the exit code is 1.
    """
    from rich.console import Console

    from benchmark.engine.request import RunRequest
    from benchmark.engine.runner import prepare

    warn_plugin_failures()
    tasks_given = click.get_current_context().get_parameter_source("tasks") != click.core.ParameterSource.DEFAULT
    given = {"layer": layer, "pooling": pooling, "lr": lr, "head_lr": head_lr, "epochs": epochs,
             "batch_size": batch_size, "hidden": hidden, "weight_decay": weight_decay, "max_train": max_train,
             "predict_test": predict_test, "dtype": dtype, "eval_batch_size": eval_batch_size, "align": align,
             "stride": stride, "group_by_length": group_by_length or None,
             "fused_optimizer": fused_optimizer or None, "fused_lstm": fused_lstm or None}
    source = click.get_current_context().get_parameter_source("layer")
    if source is None or source.name == "DEFAULT":
        del given["layer"]  # --layer weighted, given, is None too, but must override a task's own layer default
    request = RunRequest.build(
        upstreams=upstream, tasks=tasks if tasks_given else None, train_on=train_on, eval_on=eval_on, seeds=seeds,
        output=output, data_dir=data_dir, tasks_files=tasks_files, mode=mode, hparams=given, overwrite=overwrite,
        offline=offline, device=device, trust_remote_code=trust_remote_code, executor=executor,
        use_cache=not no_cache, cache_dtype=cache_dtype, command=command_line() or "bench")
    launch = prepare(request)
    the_plan = launch.plan
    if the_plan.offline:
        click.echo(f"not starting {the_plan.offline_message}", err=True)
    console = Console(stderr=True)
    if the_plan.done and not quiet:
        console.print(f"{len(the_plan.done)} of {len(the_plan.jobs)} jobs already finished in {output} "
                      "(--overwrite redoes them)", highlight=False)
    failed: list[Failure] = []
    if the_plan.todo:
        with reporter(console, len(the_plan.todo), quiet, intro=_intro(the_plan, output)) as progress:
            try:
                launch.run(progress)
            except KeyboardInterrupt:
                n = len(the_plan.todo)
                raise Interrupted(f"interrupted: {progress.done} of {n} jobs finished and saved in {output}"
                                  f"{f', {len(progress.failed)} failed' if progress.failed else ''}; "
                                  "rerun the same command to do the rest") from None
        failed = progress.failed
    if not quiet:
        from benchmark.report.leaderboard import row_label

        # every result of the run's upstreams; the rows and tasks this run did not do are marked
        print_leaderboard(output, upstreams={j.upstream.text for j in the_plan.jobs},
                          ran={(row_label({"upstream": j.upstream.text, "mode": j.hparams["mode"],
                                           "hyperparameters": dict(j.hparams)}), j.task.name)
                               for j in the_plan.jobs})
    if the_plan.offline:
        failed_too = f"; {len(failed)} of {len(the_plan.todo)} jobs failed ({output}/*.failed.json)" if failed else ""
        n = len(the_plan.offline)
        raise JobsFailed(f"{n} job{'s' * (n != 1)} did not start, {the_plan.offline_message}{failed_too}")
    if failed:
        raise JobsFailed(f"{len(failed)} of {len(the_plan.todo)} jobs failed (why: {output}/*.failed.json; "
                         f"first: {failed[0].job.upstream.text} · {failed[0].job.task.name} · seed "
                         f"{failed[0].job.seed}: {failed[0].reason}); {what_next(failed)}")


class Interrupted(Exception):
    """Ctrl-C during `bench run`: the one-line summary of what finished."""


class JobsFailed(Exception):
    """Some jobs of a run failed (recorded as *.failed.json); exit code 1."""


def _intro(the_plan: Any, output: Path) -> str:
    """The first line of a log: what the run will do."""
    todo = the_plan.todo
    seeds = ",".join(str(s) for s in dict.fromkeys(j.seed for j in todo))
    return (f"bench run: {len(todo)} job{'s' * (len(todo) != 1)} to do "
            f"(upstreams: {', '.join(dict.fromkeys(j.upstream.text for j in todo))}; "
            f"tasks: {', '.join(dict.fromkeys(j.task.name for j in todo))}; seeds: {seeds}), results in {output}")


def what_next(failed: Sequence[Failure]) -> str:
    """The end of the failure line: rerun only when a rerun can help (the failure is `transient`: out of memory,
    a connection or a timeout, as the job's JobFailed said). A deterministic failure (a plugin that raises,
    diverged training, bad data) fails the same way again, so the line says to change something first."""
    n_transient = sum(f.transient for f in failed)
    if n_transient == len(failed):
        return "rerun the same command to retry them"
    change = "a rerun fails the same way: first change what the reason names (the plugin, the data or an option)"
    if n_transient:
        return f"{n_transient} may pass on a rerun (out of memory, network); for the others, {change}"
    return change
