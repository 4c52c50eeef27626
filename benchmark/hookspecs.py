"""The hooks a `bench` plugin can implement. Each is documented with its exact signature in docs/plugins.md.

Hooks are called through pluggy (`pm.hook.<name>`), so `tryfirst` / `trylast` and hook wrappers work; each
plugin's call gets its own `register`, which records the plugin as the owner of what it registers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from benchmark.interfaces import (
        DatasetRegistrar,
        DownstreamRegistrar,
        ExecutorRegistrar,
        FormatRegistrar,
        MetricRegistrar,
        TaskRegistrar,
        UpstreamRegistrar,
    )

hookspec = pluggy.HookspecMarker("bench")
hookimpl = pluggy.HookimplMarker("bench")


@hookspec
def register_upstreams(register: UpstreamRegistrar) -> None:
    """Register upstream factories: register(name, factory, *, description, modality)."""


@hookspec
def register_downstreams(register: DownstreamRegistrar) -> None:
    """Register downstream heads: register(name, downstream)."""


@hookspec
def register_tasks(register: TaskRegistrar) -> None:
    """Register tasks and suites: register(path_to_yaml) or register(task_spec) or register(suite_spec)."""


@hookspec
def register_datasets(register: DatasetRegistrar) -> None:
    """Register dataset loaders that task sources name with `recipe:`: register(name, loader)."""


@hookspec
def register_formats(register: FormatRegistrar) -> None:
    """Register data formats that `local:` sources name with `format:`: register(fmt), fmt a DataFormat
    (benchmark.tasks.formats): a name, a description, read() and optionally read_unlabeled()."""


@hookspec
def register_metrics(register: MetricRegistrar) -> None:
    """Register metrics: register(name, fn, *, higher_is_better, kind)."""


@hookspec
def register_executors(register: ExecutorRegistrar) -> None:
    """Register job executors (where jobs run: this process, a Ray cluster...): register(name, executor)."""


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add click commands to the `bench` command group: cli.add_command(...) or @cli.command()."""
