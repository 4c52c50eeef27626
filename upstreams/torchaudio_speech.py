"""The `torchaudio` upstream: torchaudio's wav2vec 2.0 / HuBERT / WavLM model builders with weights from a local
state-dict file, written `torchaudio:ARCH:PATH` (e.g. `torchaudio:hubert_base:/models/hubert_base.pt`).

ARCH is the name of a builder in `torchaudio.models`; PATH a `.pt` / `.pth` file of `model.state_dict()` (or a
dict holding it under 'state_dict' or 'model') or a `.safetensors` file. `torchaudio:ARCH+rand` is the
architecture with random weights and needs no file. This module stays free of torch: the model lives in
upstreams/torchaudio_encoder.py and is imported only when a job builds one; the architectures and the weights'
fingerprint, which both need, live in upstreams/torchaudio_archs.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmark.errors import BenchError, did_you_mean
from upstreams.torchaudio_archs import ARCHITECTURES, weights_fingerprint

SYNTAX = "torchaudio:ARCH:PATH"


EXAMPLE = "torchaudio:wav2vec2_base:/models/wav2vec2_base.pt"


def parse_arg(arg: str | None) -> tuple[str, str | None]:
    """'hubert_base:/m/h.pt' -> ('hubert_base', '/m/h.pt'); 'hubert_base' -> ('hubert_base', None)."""
    if not arg:
        raise BenchError(f"upstream 'torchaudio' needs an architecture and a state-dict file: {SYNTAX} (ARCH one "
                         f"of {', '.join(ARCHITECTURES)}; e.g. {EXAMPLE})")
    arch, _, path = arg.partition(":")
    if arch not in ARCHITECTURES:
        raise BenchError(f"unknown torchaudio architecture '{arch}'{did_you_mean(arch, ARCHITECTURES)} (one of "
                         f"{', '.join(ARCHITECTURES)}; {SYNTAX})")
    return arch, path or None


class TorchaudioSpeechFactory:
    """Builds a TorchaudioSpeechUpstream from ARCH:PATH; with +rand from ARCH alone (the file is not read)."""

    def missing(self, arg: str | None, modifiers: tuple[str, ...] = ()) -> str | None:
        arch, path = parse_arg(arg)
        if "rand" in modifiers:
            return None  # random weights: the architecture is all it needs
        how = (f"write torchaudio:{arch}:PATH with PATH a .pt/.pth file of model.state_dict() or a .safetensors "
               f"file, or torchaudio:{arch}+rand for random weights")
        if path is None:
            return f"a state-dict file for torchaudio:{arch} ({how})"
        p = Path(path).expanduser()
        if p.is_dir():
            return (f"a state-dict file for torchaudio:{arch}: '{path}' is a directory (pass the file itself; for a "
                    "Hugging Face model directory use wav2vec2:DIR, hubert:DIR or wavlm:DIR)")
        if not p.is_file():
            return f"state-dict file '{path}' for torchaudio:{arch} (not found; {how})"
        return None

    def fingerprint(self, arg: str | None, scopes: tuple[str, ...], seed: int) -> str | None:
        from upstreams.hf_text import variant_suffix

        try:
            arch, path = parse_arg(arg)
        except BenchError:
            return None
        suffix = "".join(variant_suffix(s, seed) for s in scopes)
        if "all" in scopes:
            return weights_fingerprint(arch, None) + suffix
        if path is None or not Path(path).expanduser().is_file():
            return None
        return weights_fingerprint(arch, path) + suffix

    def __call__(self, arg: str | None, *, name: str, trust_remote_code: bool = False,
                 modifiers: tuple[str, ...] = ()) -> Any:
        from upstreams.torchaudio_encoder import TorchaudioSpeechUpstream

        arch, path = parse_arg(arg)
        if "rand" in modifiers:
            path = None  # every weight is drawn again by reinitialize('all'): reading the file would be wasted
        elif path is None:
            raise BenchError(f"missing {self.missing(arg, modifiers)}")
        return TorchaudioSpeechUpstream(arch, path, name=name)
