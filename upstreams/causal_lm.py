"""The Hugging Face causal language model behind the `gpt` upstream: GPT-2, Pythia, Llama, Qwen... read left to right.

Two roles. As an upstream it returns every layer's hidden states like any text encoder (the contract of
benchmark.types.Upstream), so the usual probes run on it. As a scorer it gives the log-probability of a
continuation after a context, which is what in-context learning (benchmark.analysis.icl) needs: no head, no gradient.

Imported only when a model is built: torch and transformers stay out of `bench --help`.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from typing import Any

import torch

from benchmark.errors import BenchError, out_of_memory
from benchmark.types import HiddenStates, TextInput
from upstreams.hf_text import MAX_TOKENS, HFEncoder, HFTextUpstream, _load_problem

log = logging.getLogger(__name__)

FINGERPRINT_PREFIX = "clm:"
"""Set apart from `bert:` on the same checkpoint: that one reads it through AutoModel (the encoder of an
encoder-decoder, no LM head), so the two must never share cached features."""
_FALLBACK_CONTEXT = 2048  # models whose config states no context window (rare: state-space models)


class CausalLMUpstream(HFEncoder):
    """A Hugging Face causal LM: every layer's hidden states for raw strings, and continuation log-probabilities."""

    modality = "text"
    sample_rate = None
    single_token_words = HFTextUpstream.single_token_words  # symbol tasks: it only reads self.tokenizer

    def __init__(self, name_or_path: str, *, name: str, trust_remote_code: bool = False) -> None:
        super().__init__()
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # rich owns the terminal; transformers' tqdm bars would interleave

        self.name = name
        self.source = name_or_path
        self._trust_remote_code = trust_remote_code
        kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code}
        try:
            self.config = AutoConfig.from_pretrained(name_or_path, **kwargs)
            self.tokenizer = AutoTokenizer.from_pretrained(name_or_path, use_fast=True, **kwargs)
            model = AutoModelForCausalLM.from_pretrained(name_or_path, **kwargs)
        except Exception as err:  # transformers, safetensors and torch raise many types for a bad checkpoint
            if out_of_memory(err):
                raise
            raise BenchError(f"cannot load causal language model '{name_or_path}': {_load_problem(err)} "
                             "(gpt:NAME_OR_PATH takes a decoder-only model that AutoModelForCausalLM reads)") from None
        if not getattr(self.tokenizer, "is_fast", False):
            raise BenchError(f"model '{name_or_path}' has no fast tokenizer; bench needs one for token offsets")
        self.model = model
        self.model.eval()
        cfg = self.config.get_text_config() if hasattr(self.config, "get_text_config") else self.config
        self.hidden_size = int(getattr(cfg, "hidden_size", None) or cfg.n_embd)
        self.num_layers = int(getattr(cfg, "num_hidden_layers", None) or cfg.n_layer)
        positions = getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None)
        tok_max = self.tokenizer.model_max_length
        tok_max = tok_max if isinstance(tok_max, int) and tok_max < 1_000_000 else None  # unset: a huge sentinel
        # The context window: how many tokens one scored sequence may hold.
        self.max_length = int(min(x for x in (positions, tok_max) if x) if positions or tok_max else _FALLBACK_CONTEXT)
        # Features for the probes stop where every other text upstream stops, so a long-context LM is not charged
        # 8x the memory of an encoder on the same task; in-context scoring uses the whole window.
        self.feature_length = min(self.max_length, MAX_TOKENS)
        # GPT-2 and many other causal LMs have no pad token. Padding is on the right and masked, so any id will
        # do; eos is the conventional choice and stays inside the vocabulary.
        pad = self.tokenizer.pad_token_id
        pad = pad if pad is not None else self.tokenizer.eos_token_id
        self.pad_id = int(pad) if pad is not None else 0
        self._prefix = self._special_prefix()
        self._keep_arg = "logits_to_keep" in inspect.signature(self.model.forward).parameters
        self.n_parameters = sum(p.numel() for p in self.model.parameters())
        self._variant = ""
        self._base_fingerprint = self.describe_source(name_or_path)

    @staticmethod
    def describe_source(name_or_path: str) -> str:
        """The fingerprint of the weights and config at `name_or_path`, computed without loading them."""
        return FINGERPRINT_PREFIX + HFTextUpstream.describe_source(name_or_path)

    def _special_prefix(self) -> list[int]:
        """The special tokens the tokenizer puts before a text (Llama's <s>; nothing for GPT-2). Scored contexts
        keep them, since the model was trained with them there."""
        plain = self.tokenizer("a", add_special_tokens=False)["input_ids"]
        full = self.tokenizer("a")["input_ids"]
        start = next((i for i in range(len(full) - len(plain) + 1) if full[i:i + len(plain)] == plain), 0)
        return list(full[:start])

    def _fresh_model(self) -> torch.nn.Module:
        # With tied weights (GPT-2) the output projection is the input embedding, so +re-emb changes both ends of
        # the learned vocabulary: the variant asks what the model does without it.
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM.from_config(self.config, trust_remote_code=self._trust_remote_code)

    def forward(self, inputs: Sequence[TextInput]) -> HiddenStates:
        if not inputs:
            raise ValueError("empty batch")
        tok = self.tokenizer
        if isinstance(inputs[0], tuple | list):
            # A pair is the tokenizer's own pair template (for GPT-2 the two token lists end to end).
            first, second = [str(a) for a, _ in inputs], [str(b) for _, b in inputs]
            enc = tok(first, second, truncation="longest_first", max_length=self.feature_length,
                      return_offsets_mapping=True)
        else:
            enc = tok([str(t) for t in inputs], truncation=True, max_length=self.feature_length,
                      return_offsets_mapping=True)
        # GPT-2 reads "" as no tokens at all; such a row gets the document-boundary token alone (a special token:
        # no offsets, no segment), so every input keeps one valid position.
        ids = [row or [self._start_token()] for row in enc["input_ids"]]
        b, t = len(ids), max(len(x) for x in ids)
        # Padded by hand, on the right: causal attention then leaves every real position exactly as it is alone.
        input_ids = torch.full((b, t), self.pad_id, dtype=torch.long)
        mask = torch.zeros((b, t), dtype=torch.bool)
        offsets = torch.full((b, t, 2), -1, dtype=torch.long)
        segments = torch.full((b, t), -1, dtype=torch.long)
        for i, row in enumerate(ids):
            n = len(row)
            input_ids[i, :n] = torch.tensor(row, dtype=torch.long)
            mask[i, :n] = True
            if not enc["input_ids"][i]:
                continue  # the boundary token alone: offsets and segment stay -1
            seq = torch.tensor([-1 if s is None else s for s in enc.sequence_ids(i)], dtype=torch.long)
            segments[i, :n] = seq
            offsets[i, :n] = torch.tensor(enc["offset_mapping"][i], dtype=torch.long).masked_fill((seq < 0)[:, None], -1)
        device = self.device
        # The body alone: every hidden state, without projecting each position onto the vocabulary.
        body = getattr(self.model, "base_model", None)
        body = self.model if body is None else body
        out = body(input_ids=input_ids.to(device), attention_mask=mask.long().to(device), output_hidden_states=True,
                   use_cache=False, return_dict=True)
        return HiddenStates(layers=tuple(out.hidden_states), mask=mask.to(device), offsets=offsets, segments=segments)

    def token_count(self, text: str) -> int:
        """How many tokens `text` is on its own (no special tokens): the length a continuation is normalised by."""
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _token_ids(self, texts: Sequence[str]) -> dict[str, list[int]]:
        unique = list(dict.fromkeys(texts))  # a context is scored once per label: tokenize it once
        ids = self.tokenizer(unique, add_special_tokens=False)["input_ids"] if unique else []
        return dict(zip(unique, ids, strict=True))

    def continuation_logprobs(self, contexts: Sequence[str], continuations: Sequence[str],
                              batch_size: int = 8) -> list[float]:
        """For each (context, continuation): the sum of log P(token | everything before it) over the
        continuation's tokens. Context and continuation are tokenized apart and their ids joined (as
        lm-evaluation-harness does), so a label is the same tokens whatever precedes it; a sequence too long for
        the context window loses tokens from the left of the context."""
        if len(contexts) != len(continuations):
            raise ValueError(f"{len(contexts)} contexts but {len(continuations)} continuations")
        ctx_ids, cont_ids = self._token_ids(contexts), self._token_ids(continuations)
        rows = [self._row(ctx_ids[ctx], cont_ids[cont], cont) for ctx, cont in zip(contexts, continuations, strict=True)]
        scores = [0.0] * len(rows)
        order = sorted(range(len(rows)), key=lambda i: -len(rows[i][0]))  # longest first: out-of-memory shows early
        was_training = self.model.training
        self.model.eval()  # dropout would make scores random
        try:
            with torch.inference_mode():
                for s in range(0, len(order), max(1, batch_size)):
                    batch = order[s:s + max(1, batch_size)]
                    for i, value in zip(batch, self._score_batch([rows[i] for i in batch]), strict=True):
                        scores[i] = value
        finally:
            self.model.train(was_training)
        return scores

    def _start_token(self) -> int:
        """The token that opens a document (bos, else eos: GPT-2 separates documents with <|endoftext|>)."""
        tok = self.tokenizer
        start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        if start is None:
            raise BenchError(f"an empty text and the tokenizer of '{self.source}' has no bos or eos token to start "
                             "from; give non-empty texts")
        return int(start)

    def _row(self, context: list[int], target: list[int], continuation: str) -> tuple[list[int], list[int]]:
        """(model input, continuation tokens) for one pair, cut from the left to fit the context window."""
        if not target:
            raise BenchError(f"continuation {continuation!r} is no tokens at all; give every label a non-empty name")
        if len(target) > self.max_length:
            raise BenchError(f"continuation {continuation[:40]!r} is {len(target)} tokens, more than the model's "
                             f"context window ({self.max_length}); use shorter label names")
        head = self._prefix + context
        if not head:  # nothing to condition the first token on: start from the document boundary, as lm-eval does
            head = [self._start_token()]
        full = (head + target)[-(self.max_length + 1):]  # the last token is only a target: the model never reads it
        return full[:-1], target

    def _score_batch(self, rows: list[tuple[list[int], list[int]]]) -> list[float]:
        b, t = len(rows), max(len(r) for r, _ in rows)
        input_ids = torch.full((b, t), self.pad_id, dtype=torch.long)
        mask = torch.zeros((b, t), dtype=torch.long)
        for i, (row, _) in enumerate(rows):
            input_ids[i, :len(row)] = torch.tensor(row, dtype=torch.long)
            mask[i, :len(row)] = 1
        # Position p's logits predict token p + 1, so a row of n inputs and c continuation tokens needs positions
        # n - c .. n - 1. Only the union of those is projected onto the vocabulary (logits_to_keep), not t x vocab.
        needed = sorted({p for row, cont in rows for p in range(len(row) - len(cont), len(row))})
        column = {p: j for j, p in enumerate(needed)}
        device = self.device
        kwargs: dict[str, Any] = {"logits_to_keep": torch.tensor(needed, device=device)} if self._keep_arg else {}
        out = self.model(input_ids=input_ids.to(device), attention_mask=mask.to(device), use_cache=False,
                         return_dict=True, **kwargs)
        logits = out.logits if self._keep_arg else out.logits[:, needed]  # (batch, len(needed), vocab)
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        which = [i for i, (_, cont) in enumerate(rows) for _ in cont]  # one entry per continuation token
        cols = [column[p] for row, cont in rows for p in range(len(row) - len(cont), len(row))]
        targets = [token for _, cont in rows for token in cont]
        which_t = torch.tensor(which, device=device)
        picked = logprobs[which_t, torch.tensor(cols, device=device), torch.tensor(targets, device=device)]
        return torch.zeros(b, device=device).index_add_(0, which_t, picked).tolist()
