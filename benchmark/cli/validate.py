"""`bench validate`: check an upstream against the contract, or a tasks YAML file against the schema, before a
long run finds the problem. Heavy imports happen inside the command."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from benchmark.cli.types import PathArg
from benchmark.errors import BenchError


def _speed(upstream: Any, inputs: list[Any], repeats: int = 3) -> float:
    """Seconds per item of one batched forward pass over `inputs` (the best of `repeats`, after one warm-up)."""
    import torch

    with torch.inference_mode():
        upstream(inputs)
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            upstream(inputs)
            best = min(best, time.perf_counter() - t0)
    return best / len(inputs)


def _validate_upstream(text: str, device: str, trust_remote_code: bool) -> dict[str, Any]:
    from benchmark.engine.execution import resolve_device
    from benchmark.plugin.manager import get_plugins
    from benchmark.plugin.specs import build_upstream, check_upstream_spec, parse_upstream
    from benchmark.testing import _sample_inputs
    from benchmark.testing import check_upstream as contract

    registry = get_plugins().registry
    spec = parse_upstream(text)
    lacking = check_upstream_spec(spec, registry)
    if lacking:
        raise BenchError(f"upstream '{text}' cannot load: {lacking}")
    plugin = registry.upstreams.get(spec.name).plugin
    try:
        upstream = build_upstream(spec, registry, trust_remote_code=trust_remote_code).to(resolve_device(device))
    except BenchError:
        raise
    except Exception as err:  # a plugin's factory: that is what validate is for, so report it, do not crash
        first = (str(err).strip().splitlines() or [""])[0]
        return {"upstream": text, "plugin": plugin, "ok": False,
                "checks": [{"name": "load", "passed": False, "detail": f"{type(err).__name__}: {first}"}]}
    try:
        report = contract(upstream)
        checks = [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in report.checks]
    except Exception as err:  # forward() itself raised
        first = (str(err).strip().splitlines() or [""])[0]
        checks = [{"name": "forward", "passed": False, "detail": f"{type(err).__name__}: {first}"}]
    out: dict[str, Any] = {"upstream": text, "plugin": plugin, "ok": all(c["passed"] for c in checks),
                           "checks": checks}
    if out["ok"]:
        items = list(_sample_inputs(upstream))
        singles = [x for x in items if not isinstance(x, tuple)] or items
        out["seconds_per_item"] = _speed(upstream, singles)
        out["batch"] = len(singles)
        out["device"] = str(next(upstream.parameters()).device) if any(True for _ in upstream.parameters()) else device
        out["facts"] = {k: getattr(upstream, k, None) for k in ("modality", "num_layers", "hidden_size",
                                                                "n_parameters", "sample_rate", "fingerprint")}
    return out


@click.command(name="validate")
@click.argument("upstream", required=False)
@click.option("--tasks-file", "tasks_files", multiple=True, type=PathArg(path_type=Path, dir_okay=False),
              help="A tasks YAML file to validate with the rules of the builtin tasks.yaml; repeat for more.")
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default="auto", show_default=True)
@click.option("--trust-remote-code", is_flag=True, help="Allow Hub models that run their own code.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def validate(upstream: str | None, tasks_files: tuple[Path, ...], device: str, trust_remote_code: bool,
             as_json: bool) -> None:
    """Check UPSTREAM against the upstream contract (metadata, shapes, mask, offsets, determinism, batch
    independence; then its speed per item), and/or a tasks YAML file (--tasks-file) against the schema and the
    registered heads, metrics and loaders. Exit code 1 when the upstream breaks the contract."""
    if not upstream and not tasks_files:
        raise BenchError("nothing to validate: give an UPSTREAM (bench validate minilm) or --tasks-file FILE")
    report: dict[str, Any] = {}
    if tasks_files:
        from benchmark.plugin.manager import add_task_files, get_plugins

        plugins = get_plugins()
        add_task_files(plugins, list(tasks_files))  # one BenchError: every problem of every file, at its line
        files = []
        for path in dict.fromkeys(tasks_files):
            mine = plugins.infos[f"tasks file {path}"].registered
            files.append({"file": str(path), "tasks": sorted(mine.get("tasks", ())),
                          "suites": sorted(mine.get("suites", ()))})
        report["tasks_files"] = files
    if upstream:
        report["upstream"] = _validate_upstream(upstream, device, trust_remote_code)
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
    else:
        for f in report.get("tasks_files", []):
            click.echo(f"{f['file']}: valid — {len(f['tasks'])} tasks ({', '.join(f['tasks']) or 'none'}), "
                       f"{len(f['suites'])} suites ({', '.join(f['suites']) or 'none'})")
        up = report.get("upstream")
        if up:
            click.echo(f"upstream '{up['upstream']}' (plugin {up['plugin']}):")
            for c in up["checks"]:
                mark = "PASS" if c["passed"] else "FAIL"
                click.echo(f"  {mark}  {c['name']}" + ("" if c["passed"] else f" — {c['detail']}"))
            if up["ok"]:
                facts = up["facts"]
                click.echo(f"  speed: {up['seconds_per_item'] * 1e3:.1f} ms per item (batch of {up['batch']}, "
                           f"{up['device']}); {facts['num_layers']} layers × {facts['hidden_size']}, "
                           f"{facts['n_parameters'] / 1e6:.1f}M parameters")
                click.echo(f"all {len(up['checks'])} contract checks passed")
            else:
                bad = sum(not c["passed"] for c in up["checks"])
                click.echo(f"{bad} of {len(up['checks'])} contract checks failed (docs/plugins.md: the upstream "
                           "contract)")
    if report.get("upstream") and not report["upstream"]["ok"]:
        sys.exit(1)  # the report above says why; click's Exit would be swallowed by main's non-standalone mode
