"""Parse and build upstream specs: `NAME`, `NAME:ARG` and the seed variants `NAME+rand`, `NAME+re-emb`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from benchmark.errors import BenchError
from benchmark.registry import Registry

# modifier -> the scope passed to Upstream.reinitialize
MODIFIERS: dict[str, str] = {"rand": "all", "re-emb": "embeddings"}
VARIANT_SEED = 0
"""The random draw behind +rand / +re-emb is fixed, so that seeds vary only the head (and features are shared)."""


@dataclass(frozen=True)
class UpstreamSpec:
    text: str
    name: str
    arg: str | None
    modifiers: tuple[str, ...]


def parse_upstream(text: str) -> UpstreamSpec:
    """'bert:roberta-base+re-emb' -> name 'bert', arg 'roberta-base', modifiers ('re-emb',)."""
    raw = text.strip()
    if not raw:
        raise BenchError("empty upstream name (bench list upstreams)")
    mods: list[str] = []
    rest = raw
    while "+" in rest:
        head, _, tail = rest.rpartition("+")
        if tail not in MODIFIERS:
            if ":" in head or not head:
                break  # a '+' inside a model path or id belongs to the argument
            raise BenchError(f"unknown upstream modifier '+{tail}' in '{raw}' (known: "
                             f"{', '.join('+' + m for m in MODIFIERS)})")
        mods.insert(0, tail)
        rest = head
    name, sep, arg = rest.partition(":")
    if sep and not arg:
        raise BenchError(f"upstream '{raw}': nothing after ':' (use NAME:HUB_ID_OR_PATH)")
    return UpstreamSpec(raw, name, arg or None, tuple(mods))


def check_upstream(spec: UpstreamSpec, registry: Registry) -> str | None:
    """Raise for an unknown name; return what the upstream lacks to load now (None when it can load)."""
    factory = registry.upstreams.get(spec.name).obj
    check = getattr(factory, "missing", None)
    return check(spec.arg) if check is not None else None


def build_upstream(spec: UpstreamSpec, registry: Registry, *, trust_remote_code: bool = False) -> Any:
    """Construct the upstream and apply its modifiers."""
    factory = registry.upstreams.get(spec.name).obj
    upstream = factory(spec.arg, name=spec.text, trust_remote_code=trust_remote_code)
    for mod in spec.modifiers:
        reinit = getattr(upstream, "reinitialize", None)
        if reinit is None:
            raise BenchError(f"upstream '{spec.name}' does not support '+{mod}' (it has no reinitialize method)")
        reinit(MODIFIERS[mod], VARIANT_SEED)
    return upstream
