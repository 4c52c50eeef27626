"""`bench analyze ...`: look inside encoders (contextual similarity, cross-lingual alignment, language shift,
in-context learning). The group is the core's; the analyses themselves come from plugins through
`register_commands` (the builtin ones: downstreams/analyses.py). Each writes one analysis record under
OUTPUT/analyses/ (benchmark.analysis.records) that `bench report --html` draws, and prints a short summary."""

from __future__ import annotations

import click

# What analysis commands use lives in benchmark.clitools (plugins import it, not the CLI); kept importable here.
from benchmark.clitools import check_output, device_option, output_option, save_record  # noqa: F401


@click.group(name="analyze")
def analyze() -> None:
    """Look inside an encoder: contextual similarity, cross-lingual alignment (MRR), language vectors, in-context
    learning. Results go to OUTPUT/analyses/ and into `bench report --html`."""
