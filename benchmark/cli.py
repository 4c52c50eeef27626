"""The `bench` command line: a thin click group. All terminal output (rich) lives here.

Bad input never shows a traceback: BenchError and click usage errors become one line on stderr, exit code 2.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import click

from benchmark import __version__
from benchmark.cli_analyze import analyze
from benchmark.cli_prefetch import prefetch_cmd
from benchmark.cli_scaffold import new_plugin
from benchmark.cli_validate import validate
from benchmark.clitypes import PathArg
from benchmark.errors import BenchError
from benchmark.export import export_cmd

log = logging.getLogger("benchmark")
_INVOCATION: list[str] = []


def _plugins() -> Any:
    from benchmark.plugins import get_plugins

    return get_plugins()


def _warn_plugin_failures() -> None:
    from rich.console import Console

    console = Console(stderr=True)
    for line in _plugins().failures:
        console.print(f"[yellow]warning:[/] {line}", highlight=False, markup=True, soft_wrap=True)


def _tasks_files(paths: tuple[Path, ...]) -> None:
    """Add the user's --tasks-file YAML files to the registry (strictly validated; a problem is a BenchError)."""
    if paths:
        from benchmark.plugins import add_task_files

        add_task_files(_plugins(), list(paths))


_TASKS_FILE_HELP = ("A tasks YAML file of your own (the schema of tasks.yaml, docs/tasks.md); repeat for more. "
                    "Env: BENCH_TASKS_FILE (several separated by spaces).")


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _seeds(_ctx: Any, _param: Any, value: str) -> list[int]:
    try:
        seeds = [int(s) for s in _split(value)]
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a comma-separated list of integers (e.g. 0,1,2)") from None
    if not seeds:
        raise click.BadParameter("give at least one seed (e.g. 0,1,2)")
    return seeds


def _numbers(value: str | None, kind: type, example: str) -> list[Any] | None:
    if value is None:
        return None
    try:
        out = [kind(v) for v in _split(value)]
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


def _explicit(given: dict[str, Any]) -> set[str]:
    """The hyper-parameters the user set: every value given, and --layer weighted too (its value is None, the
    same as not giving it, but it must override a task's own layer default)."""
    out = {k for k, v in given.items() if v is not None}
    source = click.get_current_context().get_parameter_source("layer")
    if source is not None and source.name != "DEFAULT":
        out.add("layer")
    return out


def _layer(_ctx: Any, _param: Any, value: str | None) -> int | None:
    if value is None or value == "weighted":
        return None
    try:
        return int(value)
    except ValueError:
        raise click.BadParameter(f"'{value}' is not 'weighted' or a layer number (0 = embeddings)") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="bench")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """Benchmark self-supervised encoders GLUE- and SUPERB-style.

    \b
    bench run                                  offline default: minilm on the offline-text suite
    bench run --upstream bert --tasks glue     BERT on GLUE (Hub, or --data-dir with GLUE files)
    bench report --output bench-results        the leaderboard of every result in a directory
    """
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=max(level, logging.DEBUG), format="%(levelname)s %(name)s: %(message)s")


@cli.command()
@click.option("--upstream", "-u", default="minilm", show_default=True,
              help="Comma-separated upstreams: NAME, NAME:HUB_ID_OR_PATH, NAME+rand, NAME+re-emb.")
@click.option("--tasks", "-t", default="offline-text", show_default=True, help="Comma-separated suites and tasks.")
@click.option("--tasks-file", "tasks_files", multiple=True, envvar="BENCH_TASKS_FILE",
              type=PathArg(path_type=Path, dir_okay=False), help=_TASKS_FILE_HELP)
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
@click.option("--output", "-o", type=PathArg(path_type=Path), default=Path("bench-results"), show_default=True,
              help="Directory for the result files (one JSON per job).")
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
@click.option("--eval-batch-size", type=click.IntRange(min=1), default=None,
              help="Examples per forward pass when extracting features and evaluating (64); lower it on out-of-memory.")
@click.option("--dtype", type=click.Choice(["float32", "bfloat16", "float16"]), default=None,
              help="Autocast the upstream's forward passes (default float32; bfloat16 also helps recent CPUs).")
@click.option("--no-cache", is_flag=True, help="Do not keep frozen features in the feature cache.")
@click.option("--cache-dtype", type=click.Choice(["float32", "float16"]), default="float32", show_default=True,
              help="Precision of cached features (float16 halves the disk they take).")
@click.option("--executor", default="local", show_default=True, help="Where jobs run: local, ray (bench list executors).")
@click.option("--max-train", type=click.IntRange(min=1), default=None, help="Subsample training sets to N examples.")
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default="cpu", show_default=True)
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
        overwrite: bool, quiet: bool, predict_test: bool = False, offline: bool = False) -> None:
    """Train heads for every (upstream, task, seed) job and print the leaderboard.

    Finished jobs are skipped (their result file exists) unless --overwrite. A job that fails (training
    diverged, out of memory) is recorded beside the results as *.failed.json; the others go on, and the exit
    code is 1. Ctrl-C stops at once; finished jobs are kept and a rerun does the rest. Offline (--offline,
    BENCH_OFFLINE, HF_HUB_OFFLINE or no Hub), jobs whose inputs are not cached are named in one line and do not
    start; the others run, and the exit code is 1.
    """
    from rich.console import Console

    from benchmark import runner

    _warn_plugin_failures()
    if head_lr is not None and mode != "finetune":
        raise BenchError("--head-lr applies to --mode finetune (in frozen mode only the head trains: use --lr)")
    if no_cache and cache_dtype != "float32":
        raise BenchError("--cache-dtype has no effect with --no-cache; drop one of them")
    if train_on is not None:
        if click.get_current_context().get_parameter_source("tasks") != click.core.ParameterSource.DEFAULT:
            raise BenchError("--train-on replaces --tasks; give one of them")
        tasks = train_on
    elif eval_on is not None:
        raise BenchError("--eval-on needs --train-on TASKS: the tasks whose trained models it evaluates")
    _tasks_files(tasks_files)
    registry = _plugins().registry
    given = {"layer": layer, "pooling": pooling, "lr": lr, "head_lr": head_lr, "epochs": epochs,
             "batch_size": batch_size, "hidden": hidden, "weight_decay": weight_decay, "max_train": max_train,
             "predict_test": predict_test, "dtype": dtype, "eval_batch_size": eval_batch_size, "align": align,
             "stride": stride}
    hp = runner.resolve_hparams(mode, given)
    runner_executor = registry.executors.get(executor).obj
    the_plan = runner.plan(registry, _split(upstream), _split(tasks), seeds, hp, output, data_dir, overwrite,
                           use_cache=not no_cache, cache_dtype=cache_dtype, cache_max_bytes=runner.cache_max_bytes(),
                           explicit=_explicit(given), eval_on=_split(eval_on) if eval_on else (),
                           offline=offline)
    the_plan.check()
    if the_plan.offline:
        click.echo(f"not starting {the_plan.offline_message}", err=True)
    if the_plan.todo:
        from benchmark.results import check_writable

        check_writable(output)
    console = Console(stderr=True)
    if the_plan.done and not quiet:
        console.print(f"{len(the_plan.done)} of {len(the_plan.jobs)} jobs already finished in {output} "
                      "(--overwrite redoes them)", highlight=False)
    failed: list[tuple[Any, str]] = []
    if the_plan.todo:
        with _Progress(console, len(the_plan.todo), quiet) as progress:
            try:
                runner_executor.run(the_plan, registry, device=device, trust_remote_code=trust_remote_code,
                                    progress=progress, command=shlex.join(["bench", *_INVOCATION]))
            except KeyboardInterrupt:
                n = len(the_plan.todo)
                raise Interrupted(f"interrupted: {progress.done} of {n} jobs finished and saved in {output}"
                                  f"{f', {len(progress.failed)} failed' if progress.failed else ''}; "
                                  "rerun the same command to do the rest") from None
        failed = progress.failed
    if not quiet:
        _print_leaderboard(output, only={(j.upstream.text, j.task.name) for j in the_plan.jobs})
    if the_plan.offline:
        failed_too = f"; {len(failed)} of {len(the_plan.todo)} jobs failed ({output}/*.failed.json)" if failed else ""
        n = len(the_plan.offline)
        raise JobsFailed(f"{n} job{'s' * (n != 1)} did not start, {the_plan.offline_message}{failed_too}")
    if failed:
        raise JobsFailed(f"{len(failed)} of {len(the_plan.todo)} jobs failed (why: {output}/*.failed.json; "
                         f"first: {failed[0][0].upstream.text} · {failed[0][0].task.name} · seed "
                         f"{failed[0][0].seed}: {failed[0][1]}); rerun the same command to retry them")


class Interrupted(Exception):
    """Ctrl-C during `bench run`: the one-line summary of what finished."""


class JobsFailed(Exception):
    """Some jobs of a run failed (recorded as *.failed.json); exit code 1."""


class _Progress:
    """rich progress bars fed by the runner's events."""

    def __init__(self, console: Any, n_jobs: int, quiet: bool) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.quiet = quiet
        self.done = 0
        self.failed: list[tuple[Any, str]] = []
        # Bars only in a terminal: in a log file a bar is one stale frame. Per-job lines print either way.
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=console, transient=False,
                                 disable=quiet or not console.is_terminal)
        self.jobs = self.progress.add_task("jobs", total=n_jobs)
        self.step = self.progress.add_task("", total=None, visible=False)

    def __enter__(self) -> _Progress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is not None:  # an error or Ctrl-C: clear the bars, so that its one line stands alone
            self.progress.live.transient = True
        self.progress.__exit__(*exc)

    def __call__(self, event: str, **info: Any) -> None:
        p = self.progress
        if event == "load_upstream":
            p.update(self.step, description=f"loading {info['upstream']}", total=None, completed=0, visible=True)
        elif event == "load_data":
            p.update(self.step, description=f"loading data for {info['task']}", total=None, completed=0)
        elif event == "extract":
            job = info["job"]
            p.update(self.step, description=f"{job.upstream.text} · {job.task.name} · features ({info['label']})",
                     total=info["total"], completed=info["done"], visible=True)
        elif event == "epoch":
            job = info["job"]
            p.update(self.step, description=f"{job.upstream.text} · {job.task.name} · seed {job.seed} · "
                     f"epoch (select score {info['score']:.1f})", total=info["epochs"], completed=info["epoch"])
        elif event == "job_failed":
            self.failed.append((info["job"], info["reason"]))
            p.advance(self.jobs)
            p.update(self.step, visible=False)
            job = info["job"]
            p.console.print(f"  {job.upstream.text} · {job.task.name} · seed {job.seed}: FAILED: {info['reason']}",
                            highlight=False, markup=False)
        elif event == "job_done":
            self.done += 1
            p.advance(self.jobs)
            p.update(self.step, visible=False)
            if self.quiet:
                return
            r = info["result"]
            rel = "" if r.relative_to_human is None else f", {r.relative_to_human:.3f}× human"
            p.console.print(f"  {r.upstream} · {r.task} · seed {r.seed}: {r.main_score:.2f}{rel}", highlight=False)


def _fmt(value: float | None, digits: int = 1) -> str:
    from benchmark.html_report import _num

    return _num(value, digits)


def _print_leaderboard(output: Path, only: set[tuple[str, str]] | None = None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from benchmark import report, results

    registry = _plugins().registry
    rows = results.load_all(output)
    if only is not None:
        rows = [r for r in rows if (r["upstream"], r["task"]) in only]
    board = report.build(rows, registry, uncertainty=False)
    console = Console()
    if not board.rows:
        console.print(f"no results in {output}")
        return
    table = Table(title=f"bench leaderboard — {output}", title_justify="left", show_lines=False)
    table.add_column("upstream", no_wrap=True)
    table.add_column("params", justify="right")
    superb_suites = {s for s in board.suites if any(s in row.superb for row in board.rows)}
    for s in board.suites:
        table.add_column(s, justify="right", style="bold")
        table.add_column("×human", justify="right")
        if s in superb_suites:
            table.add_column("SUPERB", justify="right")
    lower = [t for t in board.tasks if board.task_info.get(t, {}).get("lower_is_better")]
    for t in board.tasks:
        table.add_column(f"{t} ↓" if t in lower else t, justify="right")
    for row in board.rows:
        cells = [escape(row.label), "—" if row.n_parameters is None else f"{row.n_parameters / 1e6:.1f}M"]
        for s in board.suites:
            value, rel = row.suites.get(s, (None, None))
            cells += [_fmt(value), _fmt(rel, 3)]
            if s in superb_suites:
                cells.append(_fmt(row.superb.get(s), 0))
        for t in board.tasks:
            c = row.tasks.get(t)
            if c is None:
                cells.append("—")
            else:
                std = f"±{c.score.std:.1f}" if c.score.n > 1 else ""
                rel = f" ({c.relative_to_human:.2f}×)" if c.relative_to_human is not None else ""
                cells.append(f"{c.score.mean:.1f}{std}{rel}")
        table.add_row(*cells)
    human = ["human", ""]
    for s in board.suites:
        human += [_fmt(board.human.get(s)), "1.000" if board.human.get(s) else "—"]
        if s in superb_suites:
            human.append("")
    human += [_fmt(board.human.get(t)) for t in board.tasks]
    table.add_row(*human, style="dim")
    console.print(table)
    console.print("Task scores in percent points (GLUE rule: two metrics → their mean). ×human = score / human "
                  "score. A suite with a missing task shows —."
                  + (" SUPERB = the SUPERB score: FBANK 0, state of the art 1000." if superb_suites else "")
                  + (" ↓ = an error rate: lower is better." if lower else ""),
                  style="dim", highlight=False)


@cli.command(name="report")
@click.option("--output", "-o", type=PathArg(path_type=Path), default=Path("bench-results"), show_default=True,
              help="Directory of result files.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown"]), default="table", show_default=True,
              help="What to print: the terminal table, the leaderboard as JSON, or Markdown for READMEs and papers.")
@click.option("--html", "html_file", type=PathArg(path_type=Path, dir_okay=False), default=None,
              help="Also write the leaderboard as one self-contained HTML file.")
@click.option("--title", default="bench leaderboard", show_default=True, help="Title of the HTML page.")
@click.option("--tasks-file", "tasks_files", multiple=True, envvar="BENCH_TASKS_FILE",
              type=PathArg(path_type=Path, dir_okay=False), help=_TASKS_FILE_HELP)
def report_cmd(output: Path, fmt: str, html_file: Path | None, title: str, tasks_files: tuple[Path, ...]) -> None:
    """Print the leaderboard of every result under --output (and write it as HTML with --html)."""
    from benchmark import report, results

    _warn_plugin_failures()
    _tasks_files(tasks_files)
    if html_file is not None or fmt in ("json", "markdown"):
        found = results.load_all(output)
        board = report.build(found, _plugins().registry)
        if html_file is not None:
            from benchmark import analysis, analysis_report, html_report

            inside = analysis_report.render(analysis.load_all(output), found)
            results.write_text_atomic(html_file, html_report.render(board, title=title, inside=inside))
            click.echo(f"wrote {html_file}", err=True)
        if fmt == "json":
            click.echo(json.dumps(report.to_json(board), indent=2))
        elif fmt == "markdown":
            from benchmark import markdown_report

            click.echo(markdown_report.render(board))
    if fmt == "table":
        _print_leaderboard(output)


@cli.command(name="list")
@click.argument("what", type=click.Choice(["upstreams", "tasks", "suites", "heads", "metrics", "executors"]))
@click.option("--tasks-file", "tasks_files", multiple=True, envvar="BENCH_TASKS_FILE",
              type=PathArg(path_type=Path, dir_okay=False), help=_TASKS_FILE_HELP)
def list_cmd(what: str, tasks_files: tuple[Path, ...]) -> None:
    """List what the installed plugins registered."""
    _warn_plugin_failures()
    _tasks_files(tasks_files)
    reg = _plugins().registry
    table_of = {"upstreams": reg.upstreams, "tasks": reg.tasks, "suites": reg.suites, "heads": reg.downstreams,
                "metrics": reg.metrics, "executors": reg.executors}[what]
    items = list(table_of)
    width = max((len(i.name) for i in items), default=0) + 2
    for item in items:
        extra = ""
        if what == "tasks":
            extra = f"[{','.join(reg.suites_of(item.name)) or '-'}] "
        elif what == "suites":
            extra = f"[{', '.join(item.obj.tasks)}] "
        elif what == "upstreams":
            extra = f"[{item.meta.get('modality', '?')}] "
        click.echo(f"{item.name:<{width}}{extra}{item.description}  ({item.plugin})")


@cli.group(name="cache")
def cache_group() -> None:
    """Inspect or empty the feature cache (BENCH_CACHE, default ~/.cache/bench)."""


def _feature_cache() -> Any:
    from benchmark.cache import FeatureCache
    from benchmark.runner import cache_max_bytes, default_cache_dir

    return FeatureCache(default_cache_dir(), max_bytes=cache_max_bytes())


@cache_group.command(name="info")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def cache_info(as_json: bool) -> None:
    """Where the feature cache is, how many entries it holds and how big it is."""
    info = _feature_cache().info()
    data = {"path": str(info.root), "entries": info.entries, "bytes": info.bytes, "max_bytes": info.max_bytes,
            "partial": info.partial}
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    limit = "no limit (BENCH_CACHE_MAX_GB)" if info.max_bytes is None else f"limit {info.max_bytes / 1e9:.2f} GB"
    click.echo(f"{info.root}: {info.entries} entries, {info.bytes / 1e6:.1f} MB, {limit}"
               + (f", {info.partial} unfinished (bench cache clear removes them)" if info.partial else ""))


@cache_group.command(name="clear")
def cache_clear() -> None:
    """Delete every cached feature entry (and what interrupted writers left behind)."""
    n = _feature_cache().clear()
    click.echo(f"removed {n} cache entries")


@cli.command(name="plugins")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def plugins_cmd(as_json: bool) -> None:
    """List loaded plugins, where they come from and what each registered."""
    plugins = _plugins()
    data = [{"name": i.name, "source": i.source, "registered": i.registered} for i in plugins.infos.values()]
    if as_json:
        click.echo(json.dumps({"plugins": data, "failures": plugins.failures}, indent=2))
        return
    for info in data:
        click.echo(f"{info['name']}  ({info['source']})")
        for kind, names in info["registered"].items():
            click.echo(f"    {kind}: {', '.join(names)}")
    for line in plugins.failures:
        click.echo(f"failed: {line}")


cli.add_command(export_cmd)  # bench export glue-submission
cli.add_command(analyze)  # bench analyze similarity|alignment|language-shift|in-context
cli.add_command(validate)  # bench validate UPSTREAM / --tasks-file FILE
cli.add_command(prefetch_cmd)  # bench prefetch --upstream ... --tasks ... [--check]
cli.add_command(new_plugin)  # bench new-plugin NAME


@cli.group()
def pretrain() -> None:
    """Pretrain an encoder with a self-supervised objective, offline; plugins add methods
    (bench pretrain simclr --data digits --out simclr.pt)."""


class PretrainProgress:
    """For pretraining commands (plugins' too): a rich bar over optimizer steps and one line per epoch with its
    mean loss. Feed it the trainer's events: progress("step", step=, steps=, loss=) / ("epoch", epoch=, epochs=,
    loss=)."""

    def __init__(self, title: str) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = Console(stderr=True)
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=self.console, disable=not self.console.is_terminal)
        self.bar = self.progress.add_task(title, total=None)
        self.title = title

    def __enter__(self) -> PretrainProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is not None:
            self.progress.live.transient = True
        self.progress.__exit__(*exc)

    def __call__(self, event: str, **info: Any) -> None:
        if event == "step":
            self.progress.update(self.bar, total=info["steps"], completed=info["step"],
                                 description=f"{self.title} · loss {info['loss']:.4f}")
        elif event == "epoch":
            unit = info.get("unit", "epoch")  # trainers that count steps, not epochs, say so
            self.progress.console.print(f"  {unit} {info['epoch']}/{info['epochs']}: loss {info['loss']:.4f}",
                                        highlight=False)



def _add_plugin_commands() -> None:
    from benchmark.plugins import add_commands

    plugins = _plugins()
    add_commands(plugins.pm, cli, plugins.failures)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: one-line errors with exit code 2, never a traceback for bad input."""
    args = sys.argv[1:] if argv is None else argv
    _INVOCATION[:] = args  # recorded in results as the command that produced them
    try:
        _add_plugin_commands()
        cli.main(args=args, prog_name="bench", standalone_mode=False)
    except BenchError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(2)
    except click.UsageError as err:
        if type(err).__name__.startswith("NoArgsIsHelp"):  # plain `bench`: show the help
            click.echo(err.ctx.get_help() if err.ctx else str(err))
            sys.exit(0)
        hint = f" (see '{err.ctx.command_path} --help')" if err.ctx else ""
        click.echo(f"error: {err.format_message()}{hint}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as err:
        sys.exit(err.exit_code)
    except Interrupted as err:
        click.echo(str(err), err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("interrupted: finished jobs are saved; rerun the same command to continue", err=True)
        sys.exit(130)
    except JobsFailed as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    except OSError as err:  # the file system said no (permissions, a full disk, a path that is a file...)
        if os.environ.get("BENCH_TRACEBACK"):
            raise
        where = f": {err.filename}" if err.filename else ""
        click.echo(f"error: {err.strerror or err}{where}", err=True)
        sys.exit(2)
    except Exception as err:  # a bug in bench or a plugin: still one line, with the way to see more
        if os.environ.get("BENCH_TRACEBACK"):
            raise
        first = (str(err).strip().splitlines() or [""])[0]
        click.echo(f"error: internal error: {type(err).__name__}: {first} (BENCH_TRACEBACK=1 shows where; "
                   "please report it)", err=True)
        sys.exit(1)
    if os.environ.get("BENCH_DEBUG_IMPORTS"):
        heavy = sorted(m for m in ("torch", "transformers", "datasets") if m in sys.modules)
        click.echo(f"imported: {','.join(heavy) or 'none'}", err=True)
