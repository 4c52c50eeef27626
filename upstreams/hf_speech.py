"""Speech upstreams on raw 16 kHz waveforms: the FBANK / MFCC baselines and Hugging Face speech encoders
(wav2vec 2.0, HuBERT, WavLM, data2vec-audio). Imported only when a job builds one.

Every upstream takes a list of 1-D float waveforms at `sample_rate` and returns every layer's frames with a
frame mask; `downsample_rate` is the number of samples per output frame (160 for FBANK, 320 for wav2vec 2.0).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from benchmark.errors import BenchError, out_of_memory
from benchmark.media.audio import pad_batch
from benchmark.types import HiddenStates
from upstreams.hf_text import HFEncoder

SAMPLE_RATE = 16_000


FILTERBANK_BINS = {"fbank": 80, "mfcc": 13}


def filterbank_fingerprint(kind: str, normalise: bool = True) -> str:
    """Names the feature recipe: change it whenever the features change. Without CMVN the features are exactly
    version 1's, so they keep its fingerprint (and its cached frames)."""
    if not normalise:
        return f"{kind}-kaldi-v1:{FILTERBANK_BINS[kind]}+d+dd"
    return f"{kind}-kaldi-v2:{FILTERBANK_BINS[kind]}+d+dd+cmvn"


def cmvn(x: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Per-utterance mean and variance normalisation of (frames, dims), as s3prl's CMVN: subtract each
    dimension's mean, divide by eps + its standard deviation (Bessel-corrected; a single frame becomes zeros)."""
    std = x.std(dim=0, keepdim=True) if x.shape[0] > 1 else torch.zeros_like(x)
    return (x - x.mean(dim=0, keepdim=True)) / (eps + std)


class FilterbankUpstream(nn.Module):
    """Kaldi-compatible log-mel filterbank (80 bins) or MFCC (13 coefficients), each with first and second
    derivatives, then per-utterance mean and variance normalisation of every dimension: 25 ms windows every 10 ms,
    no dither (deterministic). This is s3prl's `fbank` / `mfcc` baseline (upstream/baseline: ExtractAudioFeature,
    Delta order 2 window 5, CMVN), so SUPERB's FBANK, its zero point. Version 1 (before 2026-12-06) had no CMVN:
    a recording's gain shifted every log-mel value by a constant the downstream had to undo. `normalise=False` is
    s3prl's `fbank_no_cmvn` (and bench's `mfcc_no_cmvn`: the features HuBERT's first iteration clusters)."""

    modality, sample_rate, downsample_rate, num_layers, n_parameters = "speech", SAMPLE_RATE, 160, 0, 0

    def __init__(self, kind: Literal["fbank", "mfcc"], *, name: str, normalise: bool = True) -> None:
        super().__init__()
        self.kind, self.name, self.normalise = kind, name, normalise
        self.bins = FILTERBANK_BINS[kind]
        self.hidden_size = 3 * self.bins
        self.fingerprint = filterbank_fingerprint(kind, normalise)
        self.source = "torchaudio.compliance.kaldi"

    def reinitialize(self, scope: str, seed: int) -> None:
        raise BenchError(f"'{self.name}' has no weights, so +rand / +re-emb do not apply to it")

    def _features(self, wave: np.ndarray) -> torch.Tensor:
        import torchaudio.compliance.kaldi as kaldi
        import torchaudio.functional as F

        x = torch.as_tensor(np.asarray(wave, dtype=np.float32)).reshape(1, -1)
        if x.shape[1] < 400:  # shorter than one 25 ms window: pad, so that it still gives one frame
            x = torch.nn.functional.pad(x, (0, 400 - x.shape[1]))
        x = x * 32768.0  # Kaldi's features are defined on 16-bit sample values
        if self.kind == "fbank":
            feats = kaldi.fbank(x, num_mel_bins=80, sample_frequency=SAMPLE_RATE, dither=0.0)
        else:
            feats = kaldi.mfcc(x, num_ceps=13, num_mel_bins=23, sample_frequency=SAMPLE_RATE, dither=0.0)
        d1 = F.compute_deltas(feats.T)
        d2 = F.compute_deltas(d1)
        out = torch.cat([feats.T, d1, d2], dim=0).T  # (frames, 3 * bins)
        return cmvn(out) if self.normalise else out

    def forward(self, inputs: Sequence[Any]) -> HiddenStates:
        if not inputs:
            raise ValueError("empty batch")
        frames = [self._features(w) for w in inputs]
        t = max(f.shape[0] for f in frames)
        out = torch.zeros(len(frames), t, self.hidden_size)
        mask = torch.zeros(len(frames), t, dtype=torch.bool)
        for i, f in enumerate(frames):
            out[i, : len(f)] = f
            mask[i, : len(f)] = True
        return HiddenStates(layers=(out,), mask=mask)


CONFIG_CLASSES = {"wav2vec2": "Wav2Vec2Config", "hubert": "HubertConfig", "wavlm": "WavLMConfig",
                  "data2vec-audio": "Data2VecAudioConfig"}


def default_config(family: str) -> Any:
    """The family's base architecture, from transformers' config defaults (no download)."""
    import transformers

    return getattr(transformers, CONFIG_CLASSES[family])()


def config_fingerprint(config: Any) -> str:
    text = json.dumps(config.to_diff_dict(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class HFSpeechUpstream(HFEncoder):
    """A Hugging Face speech encoder: raw waveform in, the CNN-projected input and every transformer layer out.

    Group-normalised feature encoders (the base models) normalise over the whole input, padding included, so a
    padded batch would change an item's features: such models run items of different lengths one at a time
    (length-bucketed batching keeps equal lengths together). Layer-normalised ones (large models) take an
    attention mask and batch freely.
    """

    modality, sample_rate = "speech", SAMPLE_RATE

    def __init__(self, family: str, source: str | None, *, name: str, trust_remote_code: bool = False,
                 from_config: bool = False) -> None:
        super().__init__()
        import transformers
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # rich owns the terminal
        self.family, self.name = family, name
        self.source = source or f"{CONFIG_CLASSES[family]}()"
        try:
            if source is None or from_config:
                self.config = default_config(family) if source is None else transformers.AutoConfig.from_pretrained(
                    source, trust_remote_code=trust_remote_code)
                model = transformers.AutoModel.from_config(self.config)  # the checkpoint's own architecture
            else:
                self.config = transformers.AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code)
                model = transformers.AutoModel.from_pretrained(source, trust_remote_code=trust_remote_code)
        except Exception as err:
            if out_of_memory(err):
                raise
            from upstreams.hf_text import _load_problem

            raise BenchError(f"cannot load speech model '{source}': {_load_problem(err)}") from None
        self.model = model.eval()
        self.normalize = self._wants_normalized_input(source)
        self.layer_norm_input = getattr(self.config, "feat_extract_norm", "group") == "layer"
        self.num_layers = int(self.config.num_hidden_layers)
        self.hidden_size = int(self.config.hidden_size)
        self.downsample_rate = int(np.prod(self.config.conv_stride))
        self.n_parameters = sum(p.numel() for p in self.model.parameters())
        if source is None:
            base = f"config:{CONFIG_CLASSES[family]}:{config_fingerprint(self.config)}"
        else:
            from upstreams.hf_text import HFTextUpstream

            base = HFTextUpstream.describe_source(source)
            if from_config:
                base = f"config-of:{base}"
        self._base_fingerprint, self._variant = base, ""

    def _wants_normalized_input(self, source: str | None) -> bool:
        """Zero-mean unit-variance input if the checkpoint's feature extractor says so (transformers' default)."""
        if source is not None:
            try:
                from transformers import AutoFeatureExtractor

                return bool(getattr(AutoFeatureExtractor.from_pretrained(source), "do_normalize", True))
            except Exception:  # no preprocessor_config.json: the default
                pass
        return True

    def reinitialize(self, scope: Literal["all", "embeddings"], seed: int) -> None:
        """'all': same architecture, random weights (+rand). 'embeddings': the speech analogue of re-initialised
        word embeddings (+re-emb): a new convolutional feature encoder and feature projection."""
        import transformers

        from upstreams.hf_text import variant_suffix

        torch.manual_seed(seed)
        fresh = transformers.AutoModel.from_config(self.config)
        if scope == "all":
            self.model.load_state_dict(fresh.state_dict())
        elif scope == "embeddings":
            for part in ("feature_extractor", "feature_projection"):
                getattr(self.model, part).load_state_dict(getattr(fresh, part).state_dict())
        else:
            raise ValueError(f"unknown reinitialize scope {scope!r}")
        self._variant += variant_suffix(scope, seed)

    def _prepare(self, waves: Sequence[Any]) -> tuple[torch.Tensor, torch.Tensor]:
        arrays = []
        for w in waves:
            a = np.asarray(w, dtype=np.float32).reshape(-1)
            if self.normalize:
                a = (a - a.mean()) / np.sqrt(a.var() + 1e-7)
            arrays.append(a)
        return pad_batch(arrays)

    def _run(self, waves: Sequence[Any]) -> HiddenStates:
        x, lengths = self._prepare(waves)
        device = self.device
        attention = (torch.arange(x.shape[1])[None, :] < lengths[:, None]).long()
        kwargs = {"attention_mask": attention.to(device)} if self.layer_norm_input else {}
        out = self.model(x.to(device), output_hidden_states=True, return_dict=True, **kwargs)
        frames = self.model._get_feat_extract_output_lengths(lengths).to(device)
        t = out.hidden_states[0].shape[1]
        mask = torch.arange(t, device=device)[None, :] < frames[:, None]
        return HiddenStates(layers=tuple(out.hidden_states), mask=mask)

    def forward(self, inputs: Sequence[Any]) -> HiddenStates:
        if not inputs:
            raise ValueError("empty batch")
        lengths = {int(np.asarray(w).size) for w in inputs}
        if self.layer_norm_input or len(lengths) == 1:
            return self._run(inputs)
        parts = [self._run([w]) for w in inputs]  # group norm: one item at a time, then pad the outputs
        t = max(p.mask.shape[1] for p in parts)
        layers = []
        for layer in range(len(parts[0].layers)):
            layers.append(torch.cat([nn.functional.pad(p.layers[layer], (0, 0, 0, t - p.mask.shape[1]))
                                     for p in parts]))
        mask = torch.cat([nn.functional.pad(p.mask, (0, t - p.mask.shape[1])) for p in parts])
        return HiddenStates(layers=tuple(layers), mask=mask)
