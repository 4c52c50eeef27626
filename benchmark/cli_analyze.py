"""`bench analyze ...`: look inside encoders (contextual similarity, cross-lingual alignment, language shift,
in-context learning). Each command writes one analysis record under OUTPUT/analyses/ (benchmark.analysis) that
`bench report --html` draws, and prints a short summary. Heavy imports happen inside the commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from benchmark.clitypes import PathArg


@click.group(name="analyze")
def analyze() -> None:
    """Look inside an encoder: contextual similarity, cross-lingual alignment (MRR), language vectors, in-context
    learning. Results go to OUTPUT/analyses/ and into `bench report --html`."""


def output_option(fn: Any) -> Any:
    return click.option("--output", "-o", type=PathArg(path_type=Path), default=Path("bench-results"),
                        show_default=True, help="Results folder (analyses go to OUTPUT/analyses/).")(fn)


def device_option(fn: Any) -> Any:
    return click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default="cpu",
                        show_default=True)(fn)


def check_output(output: Path) -> None:
    """Fail before any work when the results folder cannot be written."""
    from benchmark.results import check_writable

    check_writable(output)


def save_record(output: Path, record: Any) -> Path:
    from benchmark.analysis import save

    path = save(output, record)
    click.echo(f"wrote {path} (bench report --output {output} --html report.html draws it)")
    return path
