"""The torchaudio architectures the `torchaudio` upstream knows and the fingerprint of a weights file: shared by the
torch-free factory (upstreams/torchaudio_speech.py) and the model (upstreams/torchaudio_encoder.py), so neither
imports the other at module level."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from upstreams.checkpoint_files import file_sha256


def _builder(name: str) -> Callable[[], Any]:
    def build() -> Any:
        import torchaudio.models

        return getattr(torchaudio.models, name)()

    return build


ARCHITECTURES: dict[str, Callable[[], Any]] = {name: _builder(name) for name in (
    "wav2vec2_base", "wav2vec2_large", "wav2vec2_large_lv60k", "hubert_base", "hubert_large", "hubert_xlarge",
    "wavlm_base", "wavlm_large", "wav2vec2_xlsr_300m", "wav2vec2_xlsr_1b", "wav2vec2_xlsr_2b")}
"""ARCH -> a function that builds the (randomly initialised) torchaudio model; tests add tiny ones."""


def weights_fingerprint(arch: str, path: str | None) -> str:
    """The architecture plus the file's content (random weights when there is no file)."""
    if path is None:
        return f"torchaudio:{arch}:random"
    return f"torchaudio:{arch}:sha256:{file_sha256(Path(path).expanduser())[:16]}"
