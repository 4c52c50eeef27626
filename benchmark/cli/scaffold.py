"""`bench new-plugin NAME`: scaffold a third-party plugin package (the logic is in benchmark/scaffold.py)."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from benchmark.cli.types import PathArg


@click.command(name="new-plugin")
@click.argument("name")
@click.option("--dest", type=PathArg(path_type=Path, file_okay=False), default=None,
              help="The package directory to write (default: ./bench-NAME); it must not exist or be empty.")
def new_plugin(name: str, dest: Path | None) -> None:
    """Write a plugin package NAME (distribution bench-NAME): pyproject.toml with the `bench` entry point, the
    text upstream NAME (a small seeded Transformer that works offline; replace it with your model), a task with
    its dataset loader, and tests that run the upstream contract check and a real run. docs/plugins.md walks
    from there to a package on PyPI."""
    from benchmark.plugin.scaffold import create

    made = create(name, dest)
    names, where = made.names, made.dest
    click.echo(f"wrote {names.dist} into {where}/ (upstream '{names.name}', task '{names.task}', "
               f"suite '{names.name}'):")
    for rel in made.files:
        click.echo(f"  {rel}")
    click.echo("next:")
    for line in (f"cd {shlex.quote(str(where))}",
                 'pip install -e ".[test]"                  # bench finds the plugin through its entry point',
                 "pytest                                    # contract check, data, a real run",
                 f"bench validate {names.name}",
                 f"bench run --upstream {names.name} --tasks {names.task}"):
        click.echo(f"  {line}")
    click.echo(f"then replace the model in src/{names.module}/encoder.py (see README.md there)")
