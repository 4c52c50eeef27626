"""`resemblyzer`: Resemblyzer's voice encoder (GE2E speaker verification; Wan et al. 2018), every layer of it.

The network is Resemblyzer 0.1.4's `VoiceEncoder`: a 3-layer LSTM (hidden size 256) over 40-channel mel frames,
then linear + ReLU + L2 normalisation of the last layer's final state (the speaker embedding). Its weights are the
package's own `pretrained.pt`, loaded into the same architecture here. What `forward` returns, per 10 ms frame
(downsample_rate 160 at 16 kHz), num_layers = 4, hidden_size = 256:

    layers[0]  the 40 mel channels the LSTM reads, zero-padded to 256 (the input embedding has no weights)
    layers[1-3] the outputs of LSTM layers 1, 2 and 3
    layers[4]  L2-normalised ReLU(linear(LSTM 3)): at frame t, exactly VoiceEncoder's embedding of frames 0..t

The mel frames are Resemblyzer's `audio.wav_to_mel_spectrogram` (a librosa power mel spectrogram, 25 ms windows
every 10 ms, 40 bands; not a log), computed here with the same librosa call so that Resemblyzer's package need not
be imported: its `__init__` imports webrtcvad, whose 2.0.10 release needs `pkg_resources` (gone from setuptools
81 on). Before that, the volume is raised to -30 dBFS when quieter (`normalize_volume(..., increase_only=True)`,
as `preprocess_wav` does). `preprocess_wav`'s other step, cutting long silences with the WebRTC VAD, is left out:
it would change the frame count and break the frame/sample alignment a frame-level task relies on.

The LSTM is unidirectional, so a frame's features depend only on the frames before it in the same utterance: an
utterance alone and padded in a batch give the same features.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from bench_audio_encoders import RESEMBLYZER, package_file, package_version, variant_suffix, weights_digest
from benchmark.errors import BenchError
from benchmark.types import HiddenStates

# Resemblyzer's hparams.py (tests check these against the installed package's file).
SAMPLE_RATE = 16_000
MEL_WINDOW_MS = 25
MEL_STEP_MS = 10
MEL_CHANNELS = 40
HIDDEN = 256
LSTM_LAYERS = 3
NORM_TARGET_DBFS = -30
INT16_MAX = 2**15 - 1
RECIPE = "layers-v1"  # bump when the layers, the mel recipe or the volume normalisation change


@lru_cache(maxsize=1)
def resemblyzer_fingerprint() -> str:
    """The package version, the digest of its weight file and this module's recipe (without re-initialisation)."""
    path = package_file(RESEMBLYZER[0], "pretrained.pt")
    return f"resemblyzer=={package_version(RESEMBLYZER[0])}:pretrained.pt@{weights_digest(path)}:{RECIPE}"


def normalize_volume(wave: np.ndarray, target_dbfs: float = NORM_TARGET_DBFS) -> np.ndarray:
    """Resemblyzer's normalize_volume(wav, -30, increase_only=True): scale a quieter wave up to -30 dBFS RMS.

    A silent wave is left as it is (Resemblyzer would multiply 0 by infinity)."""
    rms = np.sqrt(np.mean((wave * INT16_MAX) ** 2))  # in float32, as Resemblyzer computes it: the same bits
    if rms == 0:
        return wave
    change_db = target_dbfs - 20 * np.log10(rms / INT16_MAX)
    if change_db < 0:
        return wave
    return (wave * (10 ** (change_db / 20))).astype(np.float32)


def mel_frames(wave: np.ndarray) -> np.ndarray:
    """Resemblyzer's wav_to_mel_spectrogram: (frames, 40) float32, frames = 1 + samples // 160."""
    import librosa

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "n_fft=400 is too large" for inputs under 25 ms: padded
        frames = librosa.feature.melspectrogram(
            y=wave, sr=SAMPLE_RATE, n_fft=SAMPLE_RATE * MEL_WINDOW_MS // 1000,
            hop_length=SAMPLE_RATE * MEL_STEP_MS // 1000, n_mels=MEL_CHANNELS)
    return frames.astype(np.float32).T


class ResemblyzerUpstream(nn.Module):
    """Resemblyzer's voice encoder with every layer exposed. Satisfies `benchmark.types.Upstream`."""

    modality = "speech"
    sample_rate = SAMPLE_RATE
    downsample_rate = SAMPLE_RATE * MEL_STEP_MS // 1000  # 160 samples per frame
    num_layers = LSTM_LAYERS + 1
    hidden_size = HIDDEN

    def __init__(self, *, name: str = "resemblyzer") -> None:
        super().__init__()
        self.name = name
        # One single-layer LSTM per layer, so that each layer's outputs can be read (nn.LSTM with num_layers=3
        # returns only the last one); the same computation as VoiceEncoder's nn.LSTM(40, 256, 3).
        self.lstms = nn.ModuleList(nn.LSTM(MEL_CHANNELS if i == 0 else HIDDEN, HIDDEN, batch_first=True)
                                   for i in range(LSTM_LAYERS))
        self.linear = nn.Linear(HIDDEN, HIDDEN)
        path = package_file(RESEMBLYZER[0], "pretrained.pt")
        state = torch.load(path, map_location="cpu", weights_only=True)["model_state"]
        self.load_state_dict(self.convert_state(state))
        self.n_parameters = sum(p.numel() for p in self.parameters())
        self.source = f"resemblyzer=={package_version(RESEMBLYZER[0])} (pretrained.pt)"
        self._base_fingerprint, self._variant = resemblyzer_fingerprint(), ""
        self.eval()

    @staticmethod
    def convert_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """VoiceEncoder's state dict (lstm.weight_ih_l1, ...) in this module's names (lstms.1.weight_ih_l0, ...).
        GE2E's similarity_weight / similarity_bias are training-only and dropped, as VoiceEncoder does."""
        out = {f"linear.{k}": state[f"linear.{k}"] for k in ("weight", "bias")}
        for i in range(LSTM_LAYERS):
            for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                out[f"lstms.{i}.{k}_l0"] = state[f"lstm.{k}_l{i}"]
        return out

    @property
    def fingerprint(self) -> str:
        return self._base_fingerprint + self._variant

    def reinitialize(self, scope: Literal["all", "embeddings"], seed: int) -> None:
        """'all' (`resemblyzer+rand`): PyTorch's default initialisation of every LSTM and linear weight, drawn from
        `seed`. 'embeddings' does not apply: the input is a mel filterbank, which has no weights."""
        if scope == "embeddings":
            raise BenchError(f"'{self.name}': the input is a mel filterbank with no weights, so +re-emb does not "
                             "apply; use +rand")
        if scope != "all":
            raise ValueError(f"unknown reinitialize scope {scope!r} (use 'all')")
        with torch.random.fork_rng(devices=[]):  # leave the caller's random state alone
            torch.manual_seed(seed)
            for module in (*self.lstms, self.linear):
                module.reset_parameters()
        self._variant += variant_suffix((scope,), seed)

    def forward(self, inputs: Sequence[Any]) -> HiddenStates:
        if len(inputs) == 0:
            raise ValueError("empty batch")
        mels = [mel_frames(normalize_volume(np.asarray(w, dtype=np.float32).reshape(-1))) for w in inputs]
        weight = self.linear.weight
        lengths = torch.tensor([len(m) for m in mels], device=weight.device)
        x = torch.zeros(len(mels), int(lengths.max()), MEL_CHANNELS, dtype=weight.dtype)
        for i, m in enumerate(mels):
            x[i, : len(m)] = torch.from_numpy(m)
        x = x.to(weight.device)  # (batch, frames, 40)
        mask = torch.arange(x.shape[1], device=weight.device)[None, :] < lengths[:, None]  # (batch, frames)
        keep = mask.unsqueeze(-1).to(x.dtype)
        layers = [nn.functional.pad(x, (0, HIDDEN - MEL_CHANNELS))]  # (batch, frames, 256)
        h = x
        for lstm in self.lstms:
            h, _ = lstm(h)  # (batch, frames, 256); a frame sees only earlier frames, so padding changes nothing
            layers.append(h * keep)  # padding exactly zero
        e = torch.relu(self.linear(h))
        e = e / e.norm(dim=-1, keepdim=True).clamp(min=1e-12)  # VoiceEncoder's L2 norm, safe for an all-zero ReLU
        layers.append(e * keep)
        return HiddenStates(layers=tuple(layers), mask=mask)
