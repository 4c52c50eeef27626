"""Causal language model plugin: `gpt`, any Hugging Face decoder-only LM, for in-context learning (benchmark.icl).

`gpt` defaults to openai-community/gpt2 from the Hub; `gpt:NAME_OR_PATH` takes any Hub id or local directory that
`AutoModelForCausalLM` reads (GPT-2, Pythia, OPT, Llama, Qwen...). Besides the hidden states every upstream gives,
it scores continuations, which is how a model is asked to classify from a prompt with no training. Registration is
data: the model class is imported only when a job builds one.
"""

from __future__ import annotations

from typing import Any

from benchmark.hookspecs import hookimpl
from upstreams.text import TextUpstreamFactory

DEFAULT_GPT = "openai-community/gpt2"


class CausalLMFactory(TextUpstreamFactory):
    """Builds a CausalLMUpstream from `name` or `name:NAME_OR_PATH`; says up front what an offline run lacks."""

    def fingerprint(self, arg: str | None, scopes: tuple[str, ...], seed: int) -> str | None:
        """The fingerprint the built upstream will have, without loading it (None if it cannot be told)."""
        from upstreams.causal_lm import CausalLMUpstream
        from upstreams.hf_text import variant_suffix

        base = CausalLMUpstream.describe_source(self.source(arg))
        if base.endswith("@unknown"):
            return None  # a Hub model not in the cache: only loading it tells the revision
        return base + "".join(variant_suffix(s, seed) for s in scopes)

    def __call__(self, arg: str | None, *, name: str, trust_remote_code: bool = False) -> Any:
        from upstreams.causal_lm import CausalLMUpstream

        return CausalLMUpstream(self.source(arg), name=name, trust_remote_code=trust_remote_code)


@hookimpl
def register_upstreams(register: Any) -> None:
    register("gpt", CausalLMFactory("gpt", DEFAULT_GPT), modality="text",
             description="GPT-2 (124M) causal LM from the Hub, for in-context learning (bench analyze in-context) "
                         "and probes; gpt:NAME_OR_PATH for any HF causal LM (Pythia, OPT, Llama, Qwen...)")
