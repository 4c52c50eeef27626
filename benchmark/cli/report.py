"""`bench report` and the leaderboard table `bench run` prints at its end (rich, in the terminal)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from benchmark.cli.common import add_tasks_files, plugins, tasks_file_option, warn_plugin_failures
from benchmark.cli.types import PathArg
from benchmark.paths import check_creatable


def _fmt(value: float | None, digits: int = 1) -> str:
    from benchmark.report.html import _num

    return _num(value, digits)


def _safe(text: object) -> str:
    """A name read from result files, fit for the terminal: control characters escaped, rich markup literal."""
    from rich.markup import escape

    from benchmark.engine.result_schema import printable

    return escape(printable(text))


def print_leaderboard(output: Path, only: set[tuple[str, str]] | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    from benchmark.engine import results
    from benchmark.report import leaderboard as report

    registry = plugins().registry
    rows = results.load_all(output)
    if only is not None:
        rows = [r for r in rows if (r["upstream"], r["task"]) in only]
    board = report.build(rows, registry, uncertainty=False)
    console = Console(emoji=False, highlight=False)
    if not board.rows:
        console.print(f"no results in {_safe(output)}")
        return
    table = Table(title=f"bench leaderboard — {_safe(output)}", title_justify="left", show_lines=False)
    table.add_column("upstream", no_wrap=True)
    table.add_column("params", justify="right")
    superb_suites = {s for s in board.suites if any(s in row.superb for row in board.rows)}
    for s in board.suites:
        table.add_column(_safe(s), justify="right", style="bold")
        table.add_column("×human", justify="right")
        if s in superb_suites:
            table.add_column("SUPERB", justify="right")
    lower = [t for t in board.tasks if board.task_info.get(t, {}).get("lower_is_better")]
    for t in board.tasks:
        table.add_column(_safe(f"{t} ↓" if t in lower else t), justify="right")
    for row in board.rows:
        cells = [_safe(row.label), "—" if row.n_parameters is None else f"{row.n_parameters / 1e6:.1f}M"]
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
                mark = " [red]![/red]" if c.flag else ""
                cells.append(f"{c.score.mean:.1f}{std}{rel}{mark}")
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
    for line in board.flagged:
        console.print(f"[red]![/red] not as bench wrote it: {_safe(line)}")


@click.command(name="report")
@click.option("--output", "-o", type=PathArg(path_type=Path), default=Path("bench-results"), show_default=True,
              help="Directory of result files.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown"]), default="table", show_default=True,
              help="What to print: the terminal table, the leaderboard as JSON, or Markdown for READMEs and papers.")
@click.option("--html", "html_file", type=PathArg(path_type=Path, dir_okay=False), default=None,
              help="Also write the leaderboard as one self-contained HTML file.")
@click.option("--title", default="bench leaderboard", show_default=True, help="Title of the HTML page.")
@tasks_file_option
def report_cmd(output: Path, fmt: str, html_file: Path | None, title: str, tasks_files: tuple[Path, ...]) -> None:
    """Print the leaderboard of every result under --output (and write it as HTML with --html)."""
    from benchmark.engine import results
    from benchmark.report import leaderboard as report

    warn_plugin_failures()
    add_tasks_files(tasks_files)
    if html_file is not None:
        check_creatable(html_file)  # before any work; its folder must exist (benchmark.paths)
    if html_file is not None or fmt in ("json", "markdown"):
        found = results.load_all(output)
        board = report.build(found, plugins().registry)
        if html_file is not None:
            from benchmark.analysis import records as analysis
            from benchmark.report import analysis_html as analysis_report
            from benchmark.report import html as html_report

            inside = analysis_report.render(analysis.load_all(output), found)
            results.write_text_atomic(html_file, html_report.render(board, title=title, inside=inside))
            click.echo(f"wrote {html_file}", err=True)
        if fmt == "json":
            click.echo(json.dumps(report.to_json(board), indent=2))
        elif fmt == "markdown":
            from benchmark.report import markdown as markdown_report

            click.echo(markdown_report.render(board))
    if fmt == "table":
        print_leaderboard(output)
