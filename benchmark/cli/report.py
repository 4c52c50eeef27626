"""`bench report` and the leaderboard table `bench run` prints at its end (rich, in the terminal)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import click

from benchmark.cli.common import add_tasks_files, plugins, tasks_file_option, warn_plugin_failures
from benchmark.cli.types import OutputArg, PathArg
from benchmark.paths import check_creatable


def _fmt(value: float | None, digits: int = 1) -> str:
    from benchmark.report.html import _num

    return _num(value, digits)


def _safe(text: object) -> str:
    """A name read from result files, fit for the terminal: control characters escaped, rich markup literal."""
    from rich.markup import escape

    from benchmark.engine.result_schema import printable

    return escape(printable(text))


EARLIER = "*"
"""Marks a leaderboard cell whose results come from an earlier run (bench run shows every result of its upstreams)."""
FOLDED = "+"
"""Marks a suite score that counts a task as the mean of its folds (SUPERB ER), or as one fold where others miss."""


@dataclass(frozen=True)
class _Column:
    header: str
    cells: list[str]
    """One per leaderboard row, then the human row (rich markup)."""
    justify: str = "right"
    style: str | None = None

    def width(self) -> int:
        from rich.text import Text

        return max(Text.from_markup(c).cell_len for c in [self.header, *self.cells])


def _chunks(key: list[_Column], groups: list[list[_Column]], width: int) -> tuple[list[list[_Column]], int]:
    """The columns as tables no wider than the terminal, and the width the first key column (the upstream) may
    take. The key columns (upstream, params) start every table; the other groups (a suite with its ×human and
    SUPERB columns, or one task) follow in order, never split, so that no header is cut (rich would shorten
    'offline-text' to 'offline-te…' at 80 columns). Where even one group does not fit beside the key, long
    upstream names fold onto a second line instead."""
    def size(cols: list[_Column]) -> int:
        return sum(c.width() + 3 for c in cols)  # padding 1 each side and one border per column

    widest = max((size(g) for g in groups), default=0)
    first = key[0].width()
    first = min(first, max(12, width - 1 - size(key[1:]) - widest - 3))
    room = width - 1 - (first + 3) - size(key[1:])
    out: list[list[_Column]] = []
    current: list[_Column] = []
    for group in groups:
        if current and size(current) + size(group) > room:
            out.append(current)
            current = []
        current = current + group
    if current or not out:
        out.append(current)
    return [key + cols for cols in out], first


def print_leaderboard(output: Path, upstreams: set[str] | None = None, ran: set[tuple[str, str]] | None = None) -> None:
    """The leaderboard of the results under `output`; with `upstreams`, only theirs (every task they have results
    for); with `ran`, the (row label, task) pairs the run did (the label names the upstream and, when not the
    default, its mode and layer), so that the other cells are marked as earlier ones."""
    from rich.console import Console
    from rich.table import Table

    from benchmark.engine import results
    from benchmark.report import leaderboard as report

    registry = plugins().registry
    rows = results.load_all(output)
    if upstreams is not None:
        rows = [r for r in rows if r["upstream"] in upstreams]
    board = report.build(rows, registry, uncertainty=False)
    console = Console(emoji=False, highlight=False)
    if not board.rows:
        console.print(f"no results in {_safe(output)}")
        return

    def earlier(row: report.Row, task: str) -> bool:
        return ran is not None and task in row.tasks and (row.label, task) not in ran

    def suite_tasks(suite: str) -> list[str]:
        return list(registry.suites.get(suite).obj.tasks) if suite in registry.suites else []

    marked = False
    folds_noted: set[str] = set()
    superb_suites = {s for s in board.suites if any(s in row.superb for row in board.rows)}
    key = [_Column("upstream", [_safe(row.label) for row in board.rows] + ["human"], justify="left"),
           _Column("params", ["—" if row.n_parameters is None else f"{row.n_parameters / 1e6:.1f}M"
                              for row in board.rows] + [""])]
    groups: list[list[_Column]] = []
    for s in board.suites:
        values = []
        for row in board.rows:
            mark = EARLIER if any(earlier(row, t) for t in suite_tasks(s)) else ""
            marked = marked or bool(mark)
            fold = FOLDED if any(c.note for (suite, _), c in row.folded.items() if suite == s) else ""
            folds_noted.update(f"{suite}: {c.note}" for (suite, _), c in row.folded.items() if suite == s and c.note)
            values.append(_fmt(row.suites.get(s, (None, None))[0]) + fold + mark)
        group = [_Column(_safe(s), values + [_fmt(board.human.get(s))], style="bold"),
                 _Column("×human", [_fmt(row.suites.get(s, (None, None))[1], 3) for row in board.rows]
                         + ["1.000" if board.human.get(s) else "—"])]
        if s in superb_suites:
            group.append(_Column("SUPERB", [_fmt(row.superb.get(s), 0) for row in board.rows] + [""]))
        groups.append(group)
    lower = [t for t in board.tasks if board.task_info.get(t, {}).get("lower_is_better")]
    for t in board.tasks:
        cells = []
        for row in board.rows:
            c = row.tasks.get(t)
            if c is None:
                cells.append("—")
                continue
            std = f"±{c.score.std:.1f}" if c.score.n > 1 else ""
            rel = f" ({c.relative_to_human:.2f}×)" if c.relative_to_human is not None else ""
            mark = " [red]![/red]" if c.flag else ""
            old = EARLIER if earlier(row, t) else ""
            marked = marked or bool(old)
            cells.append(f"{c.score.mean:.1f}{std}{rel}{old}{mark}")
        groups.append([_Column(_safe(f"{t} ↓" if t in lower else t), cells + [_fmt(board.human.get(t))])])
    chunks, first_width = _chunks(key, groups, console.width)
    for i, columns in enumerate(chunks):
        title = f"bench leaderboard — {_safe(output)}" + (" (continued)" if i else "")
        table = Table(title=title, title_justify="left", show_lines=False)
        table.add_column(key[0].header, max_width=first_width, overflow="fold")
        for col in columns[1:]:
            table.add_column(col.header, justify=col.justify, style=col.style, no_wrap=True)  # type: ignore[arg-type]
        for r in range(len(board.rows) + 1):
            table.add_row(*(col.cells[r] for col in columns), style="dim" if r == len(board.rows) else None)
        console.print(table)
    console.print("Task scores in percent points (GLUE rule: two metrics → their mean). ×human = score / human "
                  "score. A suite with a missing task shows —."
                  + (" SUPERB = the SUPERB score: FBANK 0, state of the art 1000." if superb_suites else "")
                  + (" ↓ = an error rate: lower is better." if lower else "")
                  + (f" {EARLIER} = from an earlier run (this run did not run that task)." if marked else "")
                  + (f" {FOLDED} = a task of the suite stands for its folds ({'; '.join(sorted(folds_noted))})."
                     if folds_noted else ""),
                  style="dim", highlight=False)
    for line in board.flagged:
        console.print(f"[red]![/red] not as bench wrote it: {_safe(line)}")


@click.command(name="report")
@click.option("--output", "-o", type=OutputArg(path_type=Path), default=Path("bench-results"), show_default=True,
              help="Directory of result files, or an fsspec URL (s3://bucket/run).")
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
