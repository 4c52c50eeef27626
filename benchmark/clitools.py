"""What a plugin's commands may use from bench's command line, without importing the CLI itself.

A plugin adds commands through its `register_commands(cli)` hook; for that it may need a core group to join
(`group(cli, "pretrain")`), the command line being run (`command_line()`, as results record it), the progress
display pretraining commands share (`PretrainProgress`), and the options and helpers of `bench analyze`
commands. Terminal output (rich) is allowed here: this is CLI-side code, imported by commands only.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from benchmark.cli.types import OutputArg

if TYPE_CHECKING:
    from benchmark.analysis.records import Analysis

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Invocation:
    """The arguments `bench` was started with (the click context's `obj` of every command)."""

    argv: tuple[str, ...]


def command_line() -> str | None:
    """The command line being run, 'bench run --upstream bert ...' (recorded in results), or None when not run
    through `bench` (a test invoking a click command directly)."""
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    return shlex.join(["bench", *obj.argv]) if isinstance(obj, Invocation) else None


def group(cli: click.Group, name: str) -> click.Group:
    """The core group `name` (pretrain, analyze) a plugin's command joins: group(cli, "pretrain").add_command(c)."""
    found = cli.commands.get(name)
    if not isinstance(found, click.Group):
        raise RuntimeError(f"this bench has no '{name}' command group to add to (bench {name})")
    return found


class PretrainProgress:
    """For pretraining commands (plugins' too): a rich bar over optimizer steps and one line per epoch with its
    mean loss. Feed it the trainer's events: progress("step", step=, steps=, loss=) / ("epoch", epoch=, epochs=,
    loss=). Off a terminal (a CI log, nohup) the bar is a plain line at most every BENCH_HEARTBEAT_S seconds (30):
    '  step 730/3000, 24%, loss 8.4127, ETA 27m10s'."""

    def __init__(self, title: str, interval: float | None = None, console: Any = None) -> None:
        import time

        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from benchmark.cli.progress import heartbeat_seconds

        self.console = console if console is not None else Console(stderr=True)
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=self.console, disable=not self.console.is_terminal)
        self.bar = self.progress.add_task(title, total=None)
        self.title = title
        self.clock = time.monotonic
        self.interval = heartbeat_seconds() if interval is None else interval
        self.last_line = self.clock()
        self.first: tuple[int, float] | None = None
        """(step, time) of the first step event: the ETA's rate is measured from there."""

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
            if not self.console.is_terminal:
                self._heartbeat(int(info["step"]), int(info["steps"]), float(info["loss"]))
        elif event == "epoch":
            unit = info.get("unit", "epoch")  # trainers that count steps, not epochs, say so
            self.progress.console.print(f"  {unit} {info['epoch']}/{info['epochs']}: loss {info['loss']:.4f}",
                                        highlight=False)
            self.last_line = self.clock()

    def _heartbeat(self, step: int, steps: int, loss: float) -> None:
        from benchmark.cli.progress import eta_text

        now = self.clock()
        if self.first is None:
            self.first = (step, now)
        if now - self.last_line < self.interval:
            return
        eta = eta_text(step, steps, self.first, now, now)
        self.console.print(f"  step {step}/{steps}, {100 * step / max(steps, 1):.0f}%, loss {loss:.4f}{eta}",
                           highlight=False, markup=False, soft_wrap=True)
        self.last_line = now


# -- for `bench analyze` commands ------------------------------------------------------------------------------

def output_option(fn: F) -> F:
    return click.option("--output", "-o", type=OutputArg(path_type=Path), default=Path("bench-results"),
                        show_default=True, help="Results folder (analyses go to OUTPUT/analyses/).")(fn)


def device_option(fn: F) -> F:
    return click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default="auto",
                        show_default=True)(fn)


def check_output(output: Path) -> None:
    """Fail before any work when the results folder cannot be written."""
    from benchmark.engine.results import check_writable

    check_writable(output)


def save_record(output: Path, record: Analysis) -> Path:
    """Save an analysis record under OUTPUT/analyses/ and say where (bench report --html draws it)."""
    from benchmark.analysis.records import save

    path = save(output, record)
    click.echo(f"wrote {path} (bench report --output {output} --html report.html draws it)")
    return path
