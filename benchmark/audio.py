"""Audio in: decode, down-mix, resample to an upstream's rate, check, and pad a batch with a mask.

Waveforms travel as 1-D float32 numpy arrays at the upstream's sample rate (16 kHz for every SUPERB upstream).
Problems with a file are one-line BenchErrors naming the file: empty, corrupt, NaN or infinite samples, an
absurd length. Several channels are averaged (down-mixed) and another sample rate is resampled: both are what a
user means, so they are done, not refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.errors import BenchError

MAX_SECONDS = 30 * 60.0
"""Longer inputs are refused: no SUPERB task has utterances near this, so it is a wrong file."""


def check_waveform(wave: np.ndarray, sample_rate: int, where: str) -> np.ndarray:
    """A finite, non-empty, mono float32 waveform of sensible length, or a BenchError naming `where`."""
    x = np.asarray(wave, dtype=np.float32)
    if x.ndim == 2:  # (samples, channels) as soundfile returns it
        x = x.mean(axis=1, dtype=np.float32)
    if x.ndim != 1:
        raise BenchError(f"{where}: audio must be 1-D (samples) or 2-D (samples, channels), got shape {x.shape}")
    if x.size == 0:
        raise BenchError(f"{where}: the audio is empty")
    if not np.isfinite(x).all():
        raise BenchError(f"{where}: the audio holds NaN or infinite samples")
    if x.size / sample_rate > MAX_SECONDS:
        raise BenchError(f"{where}: {x.size / sample_rate / 60:.0f} minutes of audio; bench takes utterances of at "
                         f"most {MAX_SECONDS / 60:.0f} minutes (split the file)")
    return x


def resample(wave: np.ndarray, orig: int, target: int) -> np.ndarray:
    """Band-limited resampling (torchaudio's sinc interpolation)."""
    if orig == target:
        return wave
    import torch
    import torchaudio.functional as F

    return F.resample(torch.from_numpy(np.ascontiguousarray(wave)), orig, target).numpy().astype(np.float32)


def load_audio(path: Path, sample_rate: int) -> np.ndarray:
    """Read an audio file (WAV, FLAC, OGG... through libsndfile) as mono float32 at `sample_rate`."""
    import soundfile as sf

    try:
        wave, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except FileNotFoundError:
        raise BenchError(f"{path}: audio file not found") from None
    except (RuntimeError, sf.LibsndfileError, OSError) as err:
        raise BenchError(f"{path}: not a readable audio file ({str(err).strip().splitlines()[0]})") from None
    wave = check_waveform(wave, rate, str(path))
    return resample(wave, rate, sample_rate)


def pad_batch(waves: Sequence[Any]) -> tuple[Any, Any]:
    """(batch, samples) float32 tensor zero-padded on the right, and each waveform's length."""
    import torch

    arrays = [np.asarray(w, dtype=np.float32).reshape(-1) for w in waves]
    lengths = torch.tensor([len(a) for a in arrays], dtype=torch.long)
    out = torch.zeros(len(arrays), int(lengths.max()) if arrays else 0)
    for i, a in enumerate(arrays):
        out[i, : len(a)] = torch.from_numpy(a)
    return out, lengths
