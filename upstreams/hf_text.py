"""The Hugging Face text encoder behind the `bert` and `minilm` upstreams: any encoder (BERT, RoBERTa, ELECTRA, DeBERTa, the encoder of BART / T5).

Imported only when a model is built: torch and transformers stay out of `bench --help`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from benchmark.errors import BenchError, out_of_memory
from benchmark.types import HiddenStates, TextInput

log = logging.getLogger(__name__)

MAX_TOKENS = 512
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack")


def _file_digest(path: Path, chunk: int = 1 << 20) -> str:
    """Size plus the first and last MiB: tells weight files apart without reading gigabytes."""
    h = hashlib.sha256(str(path.stat().st_size).encode())
    with path.open("rb") as f:
        h.update(f.read(chunk))
        if path.stat().st_size > 2 * chunk:
            f.seek(-chunk, os.SEEK_END)
            h.update(f.read(chunk))
    return h.hexdigest()


def directory_fingerprint(path: Path) -> str:
    """A digest of a model directory: config and tokenizer files in full, weight files by size and ends."""
    h = hashlib.sha256()
    files = (p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")
             and "__pycache__" not in p.relative_to(path).parts)  # bytecode appears when remote code is imported
    for f in sorted(files):
        h.update(str(f.relative_to(path)).encode())
        if f.suffix in _WEIGHT_SUFFIXES:
            h.update(_file_digest(f).encode())
        elif f.stat().st_size < 8 << 20:
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _load_problem(err: Exception) -> str:
    """One line saying why a checkpoint did not load, and what to do about the cases bench refuses on purpose."""
    text = str(err).strip()
    if isinstance(err, pickle.UnpicklingError) or "weights_only" in text:
        found = re.search(r"GLOBAL (\S+)", text)
        what = f" ({found.group(1)})" if found else ""
        return (f"refused: its weights are a pickle that would run code{what}, and bench unpickles only plain "
                "tensors (torch.load(weights_only=True)); use a safetensors checkpoint")
    if "contains custom code" in text or "trust_remote_code" in text:
        return ("it needs to run its own Python code (auto_map in config.json); read that code, then pass "
                "--trust-remote-code if you trust it")
    first = text.splitlines()[0] if text else ""
    name = type(err).__name__
    return first if isinstance(err, OSError | ValueError) and first else f"{name}: {first}" if first else name


def variant_suffix(scope: str, seed: int) -> str:
    """What a seed variant adds to the fingerprint (shared with the factory's load-free fingerprint)."""
    return f"+{scope}@{seed}"


class HFEncoder(nn.Module):
    """What the Hugging Face upstreams share: a fingerprint of the weights plus any seed variant, and a device."""

    _base_fingerprint: str
    _variant: str
    model: nn.Module

    @property
    def fingerprint(self) -> str:
        return f"{self._base_fingerprint}{self._variant}"

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _fresh_model(self) -> nn.Module:
        """The same architecture with new random weights (drawn from torch's RNG, seeded by the caller)."""
        raise NotImplementedError

    def reinitialize(self, scope: Literal["all", "embeddings"], seed: int) -> None:
        """Seed variants: 'all' -> same architecture, random weights; 'embeddings' -> new input embeddings."""
        torch.manual_seed(seed)
        fresh = self._fresh_model()
        if scope == "all":
            self.model.load_state_dict(fresh.state_dict())
        elif scope == "embeddings":
            with torch.no_grad():
                self.model.get_input_embeddings().weight.copy_(fresh.get_input_embeddings().weight)
        else:
            raise ValueError(f"unknown reinitialize scope {scope!r}")
        self._variant += variant_suffix(scope, seed)


class HFTextUpstream(HFEncoder):
    """A Hugging Face encoder that maps raw strings (or string pairs) to every layer's hidden states."""

    modality = "text"
    sample_rate = None

    def __init__(self, name_or_path: str, *, name: str, trust_remote_code: bool = False) -> None:
        super().__init__()
        from transformers import AutoConfig, AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # rich owns the terminal; transformers' tqdm bars would interleave

        self.name = name
        self.source = name_or_path
        kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code}
        try:
            self.config = AutoConfig.from_pretrained(name_or_path, **kwargs)
            self.tokenizer = AutoTokenizer.from_pretrained(name_or_path, use_fast=True, **kwargs)
            verbosity = hf_logging.get_verbosity()
            hf_logging.set_verbosity_error()  # its load report lists the pooler and MLM head as noise; see below
            try:
                model, loading = AutoModel.from_pretrained(name_or_path, output_loading_info=True, **kwargs)
            finally:
                hf_logging.set_verbosity(verbosity)
        except Exception as err:  # transformers, safetensors and torch raise many types for a bad checkpoint
            if out_of_memory(err):
                raise
            raise BenchError(f"cannot load text model '{name_or_path}': {_load_problem(err)}") from None
        if getattr(self.config, "auto_map", None) and not trust_remote_code:
            # A built-in model type with auto_map: transformers loads its own class and never imports the model's
            # code; say so, rather than let the user believe their custom model ran.
            log.warning("model '%s' ships its own code (auto_map in config.json), but its model type '%s' is built "
                        "into transformers: loading transformers' %s instead, without running that code; pass "
                        "--trust-remote-code to use it", name_or_path, self.config.model_type, type(model).__name__)
        if not getattr(self.tokenizer, "is_fast", False):
            raise BenchError(f"model '{name_or_path}' has no fast tokenizer; bench needs one for token offsets")
        # A checkpoint saved with an MLM head has no pooler: bench never reads the pooler, so only other
        # missing weights (newly initialised parts of the encoder) deserve a warning.
        fresh = [k for k in loading.get("missing_keys", ()) if "pooler" not in k]
        if fresh:
            log.warning("model '%s': %d weights were not in the checkpoint and are random (%s, ...)", name_or_path,
                        len(fresh), fresh[0])
        # Encoder-decoder models (BART, T5): benchmark the encoder, which reads the input text.
        self.model = model.get_encoder() if getattr(self.config, "is_encoder_decoder", False) else model
        self.model.eval()
        cfg = self.config.get_text_config() if hasattr(self.config, "get_text_config") else self.config
        self.hidden_size = int(getattr(cfg, "hidden_size", None) or cfg.d_model)
        self.num_layers = int(getattr(cfg, "num_hidden_layers", None) or cfg.num_layers)
        positions = getattr(cfg, "max_position_embeddings", None) or MAX_TOKENS
        self.max_length = int(min(positions, MAX_TOKENS, self.tokenizer.model_max_length or MAX_TOKENS))
        if positions < MAX_TOKENS and getattr(cfg, "model_type", "") == "roberta":
            self.max_length = positions - 2  # RoBERTa reserves two positions for its padding offset
        self.n_parameters = sum(p.numel() for p in self.model.parameters())
        self._variant = ""
        self._base_fingerprint = self.describe_source(name_or_path)
        from upstreams.mlm import read_metadata

        record = read_metadata(Path(name_or_path).expanduser())
        if record is not None:  # a model `bench pretrain mlm` made: results carry how (the report draws its loss)
            self.pretraining = record
        self._trust_remote_code = trust_remote_code
        self._mlm: nn.Module | None = None

    @staticmethod
    def describe_source(name_or_path: str) -> str:
        """The fingerprint of the weights and config at `name_or_path`, computed without loading them."""
        path = Path(name_or_path).expanduser()
        if path.is_dir():
            return f"dir:{directory_fingerprint(path)}"
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(name_or_path, "config.json")
        # The snapshot directory name is the Hub commit hash: the exact revision that was loaded.
        revision = Path(cached).parent.name if isinstance(cached, str) else "unknown"
        return f"hub:{name_or_path}@{revision}"

    def _fresh_model(self) -> nn.Module:
        from transformers import AutoModel

        fresh = AutoModel.from_config(self.config)
        return fresh.get_encoder() if getattr(self.config, "is_encoder_decoder", False) else fresh

    def single_token_words(self) -> list[str]:
        """Whole words of the vocabulary that the tokenizer reads as exactly one token each, first in a text and
        after a space alike, so words joined by spaces give one token per word (symbol tasks map their alphabet
        onto these). Alphabetic ASCII words of two or more letters; special and continuation tokens excluded."""
        cached = getattr(self, "_single_token_words", None)
        if cached is not None:
            return cached
        tok = self.tokenizer
        special = set(tok.all_special_ids)
        ids = sorted(i for i in tok.get_vocab().values() if i not in special)
        texts = tok.batch_decode([[i] for i in ids])
        candidates = sorted({t.strip() for t in texts if t.strip().isascii() and t.strip().isalpha()
                             and len(t.strip()) >= 2})
        alone = tok(candidates, add_special_tokens=False)["input_ids"]
        after = tok(["a " + w for w in candidates], add_special_tokens=False)["input_ids"]
        lead = len(tok("a", add_special_tokens=False)["input_ids"])
        words = [w for w, one, two in zip(candidates, alone, after, strict=True) if len(one) == 1
                 and len(two) == lead + 1]
        self._single_token_words = words
        return words

    def masked_lm(self) -> nn.Module:
        """The checkpoint's masked-LM model (encoder + prediction head), loaded once, on this upstream's device.
        A checkpoint saved without its head (sentence encoders such as all-MiniLM-L6-v2) is a BenchError: a
        freshly initialised head would decode noise."""
        if self._mlm is not None:
            return self._mlm
        from transformers import AutoModelForMaskedLM
        from transformers.utils import logging as hf_logging

        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # a head-less checkpoint makes it log a page; the check below says it in one line
        try:
            mlm, info = AutoModelForMaskedLM.from_pretrained(self.source, output_loading_info=True,
                                                             trust_remote_code=self._trust_remote_code)
        except Exception as err:
            if out_of_memory(err):
                raise
            raise BenchError(f"model '{self.source}' has no masked-LM model: {_load_problem(err)}") from None
        finally:
            hf_logging.set_verbosity(verbosity)
        base = getattr(mlm, "base_model_prefix", "")
        head_missing = [k for k in info.get("missing_keys", ()) if not k.startswith(f"{base}.")]
        if head_missing:
            raise BenchError(f"model '{self.source}' was saved without its masked-LM head ({head_missing[0]} ... "
                             "missing); language shift decodes through that head: use a checkpoint trained with "
                             "MLM and saved whole (bench pretrain mlm, bert-base-multilingual-cased)")
        self._mlm = mlm.to(self.device).eval()
        return self._mlm

    @torch.inference_mode()
    def decode_shifted(self, texts: Sequence[str], shift: torch.Tensor | None, layer: int | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run the masked-LM model on `texts` with `shift` (dim,) added to every real token's hidden state at
        `layer` (default: the last) and return (input ids, predicted ids, mask) (batch, time) and the tokens'
        character offsets (batch, time, 2): the
        language-vector experiment of arXiv 2010.10041. Layers are BERT-family modules: embeddings (0) and
        encoder.layer[i - 1] (i >= 1)."""
        mlm = self.masked_lm()
        enc = self.tokenizer([str(t) for t in texts], truncation=True, max_length=self.max_length, padding=True,
                             return_tensors="pt", return_special_tokens_mask=True, return_offsets_mapping=True)
        special = enc.pop("special_tokens_mask").bool()
        offsets = enc.pop("offset_mapping")  # (batch, time, 2)
        mask = enc["attention_mask"].bool() & ~special  # (batch, time): the tokens that get the shift
        at = self.num_layers if layer is None else layer
        handle = None
        if shift is not None:
            base = mlm.base_model
            try:
                module = base.embeddings if at == 0 else base.encoder.layer[at - 1]
            except (AttributeError, IndexError):
                raise BenchError(f"model '{self.source}' is not laid out like BERT (embeddings, encoder.layer); "
                                 "shift the last layer only (no --layer)") from None
            delta = shift.to(self.device, torch.float32)
            where = mask.to(self.device).unsqueeze(-1)  # (batch, time, 1)

            def add(_module: nn.Module, _inputs: Any, output: Any) -> Any:
                hidden = output[0] if isinstance(output, tuple) else output
                shifted = torch.where(where, hidden + delta.to(hidden.dtype), hidden)
                return (shifted, *output[1:]) if isinstance(output, tuple) else shifted

            handle = module.register_forward_hook(add)
        try:
            logits = mlm(**{k: v.to(self.device) for k, v in enc.items()}).logits  # (batch, time, vocab)
        finally:
            if handle is not None:
                handle.remove()
        return enc["input_ids"], logits.argmax(-1).cpu(), mask, offsets

    def token_lengths(self, inputs: Sequence[TextInput]) -> list[int]:
        """Each input's number of tokens as `forward` reads it (special tokens included, truncated the same way)."""
        if not inputs:
            return []
        if isinstance(inputs[0], tuple | list):
            enc = self.tokenizer([str(a) for a, _ in inputs], [str(b) for _, b in inputs], truncation="longest_first",
                                 max_length=self.max_length)
        else:
            enc = self.tokenizer([str(t) for t in inputs], truncation=True, max_length=self.max_length)
        return [len(ids) for ids in enc["input_ids"]]

    def forward(self, inputs: Sequence[TextInput]) -> HiddenStates:
        if not inputs:
            raise ValueError("empty batch")
        pairs = isinstance(inputs[0], tuple | list)
        if pairs:
            first, second = [str(a) for a, _ in inputs], [str(b) for _, b in inputs]
            enc = self.tokenizer(first, second, truncation="longest_first", max_length=self.max_length,
                                 padding=True, return_offsets_mapping=True, return_tensors="pt")
        else:
            enc = self.tokenizer([str(t) for t in inputs], truncation=True, max_length=self.max_length,
                                 padding=True, return_offsets_mapping=True, return_tensors="pt")
        offsets = enc.pop("offset_mapping")  # (batch, time, 2)
        seq_ids = torch.tensor([[-1 if s is None else s for s in enc.sequence_ids(i)] for i in range(len(inputs))])
        offsets = offsets.masked_fill((seq_ids < 0).unsqueeze(-1), -1)
        device = self.device
        model_inputs = {k: v.to(device) for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
        out = self.model(**model_inputs, output_hidden_states=True, return_dict=True)
        mask = enc["attention_mask"].to(device).bool()  # (batch, time)
        return HiddenStates(layers=tuple(out.hidden_states), mask=mask, offsets=offsets, segments=seq_ids)
