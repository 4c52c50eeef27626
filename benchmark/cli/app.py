"""The `bench` command line: a thin click group. All terminal output (rich) lives in the CLI modules.

Bad input never shows a traceback: BenchError and click usage errors become one line on stderr, exit code 2.
Core commands live in benchmark/cli_*.py; plugins add theirs through the `register_commands(cli)` hook (a
plugin command never replaces a core one), and may use benchmark.clitools, never this module.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from benchmark.cli.analyze import analyze
from benchmark.cli.common import add_tasks_files, plugins, tasks_file_option, warn_plugin_failures
from benchmark.cli.export import export_cmd
from benchmark.cli.prefetch import prefetch_cmd
from benchmark.cli.report import report_cmd
from benchmark.cli.run import Interrupted, JobsFailed, run
from benchmark.cli.scaffold import new_plugin
from benchmark.cli.types import PathArg
from benchmark.cli.validate import validate
from benchmark.clitools import Invocation, PretrainProgress  # noqa: F401  (PretrainProgress: re-exported)
from benchmark.errors import BenchError
from benchmark.heads.protocol import declared
from benchmark.version import __version__

log = logging.getLogger("benchmark")


def click_error_line(err: click.ClickException) -> str:
    """A click error (usage or other) as bench's one line: the same `error:` prefix as every other error, never
    click's own `Error:`."""
    ctx = getattr(err, "ctx", None)
    hint = f" (see '{ctx.command_path} --help')" if isinstance(err, click.UsageError) and ctx else ""
    return f"error: {err.format_message()}{hint}"


class BenchGroup(click.Group):
    """The `bench` group. Called in click's standalone mode (`cli()`, click's CliRunner), its errors still read
    `error: ...` with click's exit code (2 for usage), as `main` writes them."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            return super().main(*args, standalone_mode=False, **kwargs)
        except click.ClickException as err:
            if type(err).__name__.startswith("NoArgsIsHelp"):  # plain `bench`: the help (click 8.2+ raises it)
                click.echo(err.ctx.get_help() if getattr(err, "ctx", None) else str(err))  # type: ignore[attr-defined]
                sys.exit(0)
            click.echo(click_error_line(err), err=True)
            sys.exit(err.exit_code)
        except click.exceptions.Exit as err:
            sys.exit(err.exit_code)
        except click.exceptions.Abort:
            click.echo("interrupted", err=True)
            sys.exit(130)


@click.group(cls=BenchGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
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


@cli.command(name="list")
@click.argument("what", type=click.Choice(["upstreams", "tasks", "suites", "heads", "metrics", "formats", "datasets",
                                           "executors"]))
@tasks_file_option
@click.option("--data-dir", type=PathArg(path_type=Path), envvar="BENCH_DATA_DIR",
              help="tasks: where your local task data is, to mark the tasks it lets run offline. Env: BENCH_DATA_DIR.")
def list_cmd(what: str, tasks_files: tuple[Path, ...], data_dir: Path | None = None) -> None:
    """List what the installed plugins registered (heads: what each reads -> what it predicts; tasks: which can
    run offline now)."""
    warn_plugin_failures()
    add_tasks_files(tasks_files)
    reg = plugins().registry
    ready: set[str] = set()
    if what == "tasks":
        from benchmark.engine.prefetch import ready_offline
        from benchmark.engine.request import default_cache_dir

        cache = default_cache_dir()
        ready = {i.name for i in reg.tasks if ready_offline(i.obj, data_dir, reg, cache)}
    table_of = {"upstreams": reg.upstreams, "tasks": reg.tasks, "suites": reg.suites, "heads": reg.downstreams,
                "metrics": reg.metrics, "formats": reg.formats, "datasets": reg.datasets,
                "executors": reg.executors}[what]
    items = list(table_of)
    width = max((len(i.name) for i in items), default=0) + 2
    for item in items:
        extra = ""
        if what == "tasks":
            # (the name stays first on its line: scripts read `bench list tasks` by its first word)
            extra = f"[{','.join(reg.suites_of(item.name)) or '-'}] " + ("* " if item.name in ready else "")
        elif what == "suites":
            extra = f"[{', '.join(item.obj.tasks)}] "
        elif what == "upstreams":
            extra = f"[{item.meta.get('modality', '?')}] "
        elif what == "heads":
            try:
                extra = "[{} -> {}] ".format(*declared(reg, item.name))
            except BenchError:  # a plugin's object no head kind adopts: `bench plugins` reports it
                extra = "[?] "
        click.echo(f"{item.name:<{width}}{extra}{item.description}  ({item.plugin})")
    if what == "tasks":
        click.echo(f"\n* = can run offline now: its data is here ({len(ready)} of {len(items)}: local files under "
                   "--data-dir / BENCH_DATA_DIR, a recipe whose tools and inputs are here, or a Hub dataset that "
                   "bench prefetch prepared); the others need a network first (bench prefetch --tasks NAME)")


@cli.group(name="cache")
def cache_group() -> None:
    """Inspect or empty the feature cache (BENCH_CACHE, default ~/.cache/bench)."""


def _feature_cache() -> Any:
    from benchmark.engine.runner import cache_max_bytes, default_cache_dir
    from benchmark.features.cache import FeatureCache

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
    loaded = plugins()
    data = [{"name": i.name, "source": i.source, "registered": i.registered} for i in loaded.infos.values()]
    if as_json:
        click.echo(json.dumps({"plugins": data, "failures": loaded.failures}, indent=2))
        return
    for info in data:
        click.echo(f"{info['name']}  ({info['source']})")
        for kind, names in info["registered"].items():
            click.echo(f"    {kind}: {', '.join(names)}")
    for line in loaded.failures:
        click.echo(f"failed: {line}")


cli.add_command(run)  # bench run
cli.add_command(report_cmd)  # bench report
cli.add_command(export_cmd)  # bench export glue-submission
cli.add_command(analyze)  # bench analyze ...: the analyses come from plugins (downstreams/analyses.py)
cli.add_command(validate)  # bench validate UPSTREAM / --tasks-file FILE
cli.add_command(prefetch_cmd)  # bench prefetch --upstream ... --tasks ... [--check]
cli.add_command(new_plugin)  # bench new-plugin NAME


@cli.group()
def pretrain() -> None:
    """Pretrain an encoder with a self-supervised objective, offline; plugins add methods
    (bench pretrain simclr --data digits --out simclr.pt)."""


_CORE_COMMANDS: Any = None
"""The command tree before plugins add to it: each `main` starts from it (tests call main more than once)."""


def _add_plugin_commands() -> None:
    from benchmark.plugin.manager import add_commands, command_tree, reset_commands

    global _CORE_COMMANDS
    if _CORE_COMMANDS is None:
        _CORE_COMMANDS = command_tree(cli)
    reset_commands(cli, _CORE_COMMANDS)
    loaded = plugins()
    add_commands(loaded.pm, cli, loaded.failures)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: one-line errors with exit code 2, never a traceback for bad input."""
    args = sys.argv[1:] if argv is None else argv
    try:
        _add_plugin_commands()
        warn_plugin_failures()  # before any command runs, `bench --help` included
        # The arguments travel as the context's obj: results record the command that produced them.
        cli.main(args=args, prog_name="bench", standalone_mode=False, obj=Invocation(tuple(args)))
    except BenchError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(2)
    except click.UsageError as err:
        if type(err).__name__.startswith("NoArgsIsHelp"):  # plain `bench`: show the help
            click.echo(err.ctx.get_help() if err.ctx else str(err))
            sys.exit(0)
        click.echo(click_error_line(err), err=True)
        sys.exit(2)
    except click.ClickException as err:  # e.g. a plugin command's own click error: the same one line
        click.echo(click_error_line(err), err=True)
        sys.exit(err.exit_code)
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
