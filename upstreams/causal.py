"""Causal language model plugin: `gpt`, any Hugging Face decoder-only LM, for in-context learning (benchmark.analysis.icl).

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

    def model_class(self) -> Any:
        from upstreams.causal_lm import CausalLMUpstream

        return CausalLMUpstream


@hookimpl
def register_upstreams(register: Any) -> None:
    register("gpt", CausalLMFactory("gpt", DEFAULT_GPT), modality="text",
             description="GPT-2 (124M) causal LM from the Hub, for in-context learning (bench analyze in-context) "
                         "and probes; gpt:NAME_OR_PATH for any HF causal LM (Pythia, OPT, Llama, Qwen...)")
