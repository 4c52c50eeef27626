"""The hooks a `bench` plugin can implement. Each is documented with its exact signature in docs/plugins.md."""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("bench")
hookimpl = pluggy.HookimplMarker("bench")


@hookspec
def register_upstreams(register: Any) -> None:
    """Register upstream factories: register(name, factory, *, description, modality)."""


@hookspec
def register_downstreams(register: Any) -> None:
    """Register downstream heads: register(name, downstream)."""


@hookspec
def register_tasks(register: Any) -> None:
    """Register tasks and suites: register(path_to_yaml) or register(task_spec) or register(suite_spec)."""


@hookspec
def register_datasets(register: Any) -> None:
    """Register dataset loaders that task sources name with `recipe:`: register(name, loader)."""


@hookspec
def register_formats(register: Any) -> None:
    """Register data formats that `local:` sources name with `format:`: register(fmt), fmt a DataFormat
    (benchmark.formats): a name, a description, read() and optionally read_unlabeled()."""


@hookspec
def register_metrics(register: Any) -> None:
    """Register metrics: register(name, fn, *, higher_is_better, kind)."""


@hookspec
def register_executors(register: Any) -> None:
    """Register job executors (where jobs run: this process, a Ray cluster...): register(name, executor)."""


@hookspec
def register_commands(cli: Any) -> None:
    """Add click commands to the `bench` command group: cli.add_command(...) or @cli.command()."""
