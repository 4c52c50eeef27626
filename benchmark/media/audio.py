"""Audio in: decode, down-mix, resample to an upstream's rate, check, and pad a batch with a mask.

Waveforms travel as 1-D float32 numpy arrays at the upstream's sample rate (16 kHz for every SUPERB upstream).
Problems with a file are one-line BenchErrors naming the file: empty, corrupt, NaN or infinite samples, an
absurd length. Several channels are averaged (down-mixed) and another sample rate is resampled: both are what a
user means, so they are done, not refused.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
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

    if not Path(path).is_file():
        raise BenchError(f"{path}: audio file not found")
    try:
        wave, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except FileNotFoundError:
        raise BenchError(f"{path}: audio file not found") from None
    except (RuntimeError, sf.LibsndfileError, OSError) as err:
        raise BenchError(f"{path}: not a readable audio file ({str(err).strip().splitlines()[0]})") from None
    wave = check_waveform(wave, rate, str(path))
    return resample(wave, rate, sample_rate)


@dataclass(frozen=True)
class AudioClip:
    """Audio on disk (or a slice of it), decoded only when an upstream reads it: a SUPERB corpus (65,000 Speech
    Commands clips, 100 hours of LibriSpeech) does not fit in memory as waveforms.

    start / stop are seconds into the file (stop None: to the end); gain_db is applied after decoding (s3prl's
    Speech Commands recipe applies -3 dB). `stamp` (size and modification time, filled by `clip`) is part of the
    feature-cache key, so features are recomputed when a file changes. `seconds` (when known) lets batches be
    grouped by length without decoding.
    """

    path: str
    start: float = 0.0
    stop: float | None = None
    gain_db: float = 0.0
    seconds: float | None = None
    stamp: str = ""

    @property
    def shape(self) -> tuple[int]:
        """An approximate length in 16 kHz samples, for grouping inputs of similar length into a batch."""
        if self.seconds is not None:
            return (int(self.seconds * 16_000),)
        span = (self.stop - self.start) if self.stop is not None else None
        if span is not None:
            return (int(span * 16_000),)
        size = int(self.stamp.split(":")[0]) if self.stamp[:1].isdigit() else 0
        return (size // 2,)  # 16-bit PCM-ish

    def key(self) -> str:
        """What identifies the clip's content in the feature cache."""
        return json.dumps(asdict(self), sort_keys=True)

    def decode(self, sample_rate: int) -> np.ndarray:
        """The clip as mono float32 at `sample_rate`; problems are one-line BenchErrors naming the file."""
        import soundfile as sf

        where = self.path if not (self.start or self.stop) else f"{self.path} [{self.start:g}-{self.stop or 0:g} s]"
        if not os.path.isfile(self.path):  # soundfile reports a missing file as a generic "System error"
            raise BenchError(f"{self.path}: audio file not found")
        try:
            info = sf.info(self.path)
            first = int(round(self.start * info.samplerate))
            last = None if self.stop is None else int(round(self.stop * info.samplerate))
            wave, rate = sf.read(self.path, start=first, stop=last, dtype="float32", always_2d=True)
        except FileNotFoundError:
            raise BenchError(f"{self.path}: audio file not found") from None
        except (RuntimeError, sf.LibsndfileError, OSError) as err:
            raise BenchError(f"{self.path}: not a readable audio file ({str(err).strip().splitlines()[0]})") from None
        x = check_waveform(wave, rate, where)
        if self.gain_db:
            x = x * np.float32(10 ** (self.gain_db / 20))
        return resample(x, rate, sample_rate)


def clip(path: Path | str, start: float = 0.0, stop: float | None = None, gain_db: float = 0.0,
         seconds: float | None = None) -> AudioClip:
    """An AudioClip stamped with the file's size and modification time (FileNotFoundError if it is absent)."""
    st = os.stat(path)
    return AudioClip(str(path), start, stop, gain_db, seconds, f"{st.st_size}:{st.st_mtime_ns}")


def as_waveforms(inputs: Sequence[Any], sample_rate: int) -> list[Any]:
    """Decode the AudioClips of a batch (in-memory waveforms pass through): what a speech upstream is given."""
    return [x.decode(sample_rate) if isinstance(x, AudioClip) else x for x in inputs]


def pad_batch(waves: Sequence[Any]) -> tuple[Any, Any]:
    """(batch, samples) float32 tensor zero-padded on the right, and each waveform's length."""
    import torch

    arrays = [np.asarray(w, dtype=np.float32).reshape(-1) for w in waves]
    lengths = torch.tensor([len(a) for a in arrays], dtype=torch.long)
    out = torch.zeros(len(arrays), int(lengths.max()) if arrays else 0)
    for i, a in enumerate(arrays):
        out[i, : len(a)] = torch.from_numpy(a)
    return out, lengths


def trim(wave: np.ndarray, db: float, sample_rate: int = 16_000) -> np.ndarray:
    """The clip from its first to its last 10 ms frame within `db` of its loudest frame (a synthesiser pads its
    output with silence; a diarization reference or an answer's time is the speech's extent)."""
    hop = sample_rate // 100
    n = max(1, len(wave) // hop)
    energy = np.array([float(np.mean(wave[i * hop:(i + 1) * hop] ** 2)) for i in range(n)]) + 1e-12
    loud = np.flatnonzero(10 * np.log10(energy / energy.max()) > -db)
    return wave[loud[0] * hop:(loud[-1] + 1) * hop] if len(loud) else wave
