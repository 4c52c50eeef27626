"""Analysis records: what `bench analyze ...` measured about an encoder, one JSON file each, beside the results.

A record is not a task result (nothing is trained or scored against a reference): it holds one analysis of one
upstream (contextual similarity, cross-lingual alignment, language shift, in-context learning) with the
parameters that produced it and a kind-specific payload the HTML report draws. Files live in
`OUTPUT/analyses/`, are written atomically, and are named by a hash of what determines them, so rerunning the
same analysis replaces its file instead of piling up copies.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmark.engine.results import job_id, slug, write_text_atomic

log = logging.getLogger(__name__)

FOLDER = "analyses"
KINDS = ("similarity", "alignment", "language-shift", "in-context")


@dataclass(frozen=True)
class Analysis:
    kind: str
    """One of KINDS."""
    upstream: str
    upstream_info: dict[str, Any]
    params: dict[str, Any]
    """What was asked for (words, languages, layers, alpha values...): with kind and upstream fingerprint, the id."""
    data: dict[str, Any]
    """The measurements, kind-specific (docs/analysis.md describes each)."""
    environment: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    finished_at: str | None = None
    analysis_id: str = ""
    schema: int = 1


def analysis_id(kind: str, upstream_info: dict[str, Any], params: dict[str, Any]) -> str:
    return job_id({"kind": kind, "upstream": upstream_info.get("fingerprint"), "params": params})


def save(output: Path, record: Analysis) -> Path:
    """Write `record` under OUTPUT/analyses/ (atomically); returns the file."""
    aid = record.analysis_id or analysis_id(record.kind, record.upstream_info, record.params)
    record = dataclasses.replace(record, analysis_id=aid,
                                 finished_at=record.finished_at or datetime.now(UTC).isoformat())
    path = output / FOLDER / f"{record.kind}__{slug(record.upstream)}__{aid}.json"
    write_text_atomic(path, json.dumps(dataclasses.asdict(record), indent=1, default=str) + "\n")
    return path


def load_all(output: Path) -> list[Analysis]:
    """Every readable analysis record under OUTPUT/analyses/ (unreadable files are logged and skipped)."""
    folder = output / FOLDER
    out: list[Analysis] = []
    if not folder.is_dir():
        return out
    names = {f.name for f in dataclasses.fields(Analysis)}
    for path in sorted(folder.glob("*.json")):
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            log.warning("skipping unreadable analysis %s: %s", path, err)
            continue
        if not isinstance(raw, dict) or raw.get("kind") not in KINDS or not {"upstream", "data"} <= raw.keys():
            log.warning("skipping %s: not a bench analysis file", path)
            continue
        out.append(Analysis(**{k: v for k, v in raw.items() if k in names}))
    return sorted(out, key=lambda a: (a.kind, a.finished_at or "", a.upstream))


def open_upstream(text: str, *, device: str = "cpu", trust_remote_code: bool = False, modality: str = "text") -> Any:
    """Build the upstream `text` names (NAME, NAME:ARG, +variants) for an analysis, in eval mode on `device`;
    a missing model, an unknown name or another modality is one BenchError line, as for `bench run`."""
    from benchmark.engine.execution import resolve_device
    from benchmark.errors import BenchError
    from benchmark.plugin.manager import get_plugins
    from benchmark.plugin.specs import build_upstream, check_built, check_upstream_spec, parse_upstream

    registry = get_plugins().registry
    spec = parse_upstream(text)
    lacking = check_upstream_spec(spec, registry)
    kind = registry.upstreams.get(spec.name).meta.get("modality")
    if kind and kind != modality:
        raise BenchError(f"upstream '{text}' is a {kind} model; this analysis reads {modality} "
                         "(bench list upstreams)")
    if lacking:
        raise BenchError(f"upstream '{text}' cannot load: {lacking}")
    dev = resolve_device(device)
    upstream = build_upstream(spec, registry, trust_remote_code=trust_remote_code)
    check_built(upstream, spec, registry.upstreams.get(spec.name).plugin)
    return upstream.to(dev).eval()
