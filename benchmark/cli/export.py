"""`bench export glue-submission`: the command around benchmark.report.export (which stays pure: result dicts
-> file texts)."""

from __future__ import annotations

from pathlib import Path

import click

from benchmark.cli.types import OutputArg, PathArg
from benchmark.engine import results
from benchmark.errors import BenchError
from benchmark.paths import check_creatable
from benchmark.report.export import GLUE_TASKS, glue_submission, missing_message, write_files


@click.group(name="export")
def export_cmd() -> None:
    """Write results in a benchmark server's submission format."""


@export_cmd.command(name="glue-submission")
@click.option("--output", "-o", type=OutputArg(path_type=Path), default=Path("bench-results"), show_default=True,
              help="Directory of result files, from runs with --predict-test.")
@click.option("--to", "to", type=PathArg(path_type=Path), required=True,
              help="Directory for the TSV files (zip its files to submit them).")
@click.option("--upstream", "-u", default=None, help="Whose predictions, when --output holds several upstreams'.")
@click.option("--allow-missing", is_flag=True, help="Write the files there are predictions for; skip the others.")
@click.option("--overwrite", is_flag=True, help="Replace files that already exist in --to.")
def glue_submission_cmd(output: Path, to: Path, upstream: str | None, allow_missing: bool, overwrite: bool) -> None:
    """Write the GLUE test-set submission files (CoLA.tsv ... AX.tsv) of one upstream.

    Per task, the result with the best dev score among those with test predictions is used.
    """
    from benchmark.plugin.manager import get_plugins

    check_creatable(to)  # before any work: its folder must exist (benchmark.paths)
    registry = get_plugins().registry
    labels = {t: registry.tasks.get(t).obj.labels for t in GLUE_TASKS if t in registry.tasks}
    sub = glue_submission(results.load_all(output), labels, upstream, str(output))
    if sub.missing and not allow_missing:
        raise BenchError(missing_message(sub, str(output)))
    written = write_files(sub.files, to, overwrite)
    for task, src in sub.sources.items():
        click.echo(f"{task}: result {src['job_id']} (seed {src['seed']}, {src['mode']}, dev score "
                   f"{float(src['main_score']):.2f})")
    click.echo(f"wrote {len(written)} files of '{sub.upstream}' to {to}")
    if sub.missing:
        left = [f for fs in sub.missing.values() for f in fs]
        stale = [f for f in left if (to / f).exists()]
        note = f"; {', '.join(stale)} in {to} are from an earlier export" if stale else ""
        click.echo(f"warning: left out {', '.join(left)} (no test predictions){note}", err=True)
