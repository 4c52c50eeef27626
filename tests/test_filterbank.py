"""The FBANK / MFCC baselines are s3prl's (upstream/baseline: Kaldi features, deltas of order 2 over 5 frames,
per-utterance CMVN), the features that define SUPERB's zero point; `*_no_cmvn` keeps bench's version-1 features."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from upstreams.hf_speech import FilterbankUpstream, cmvn, filterbank_fingerprint


def _wave(seed: int = 0, seconds: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(16_000 * seconds)) / 16_000
    tone = np.sin(2 * np.pi * (220 + 200 * t) * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    return (0.3 * tone + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def _s3prl(wave: np.ndarray, kind: str) -> torch.Tensor:
    """s3prl's extracter.py as its fbank.yaml / mfcc.yaml configure it: kaldi features of the [-1, 1] waveform
    (s3prl does not rescale to 16-bit values), torchaudio's ComputeDeltas twice, then (x - mean) / (1e-10 + std)."""
    import torchaudio
    import torchaudio.compliance.kaldi as kaldi

    x = torch.as_tensor(wave).view(1, -1)
    feats = (kaldi.fbank(x, num_mel_bins=80, frame_length=25.0, frame_shift=10.0, sample_frequency=16_000)
             if kind == "fbank" else kaldi.mfcc(x, num_ceps=13, frame_length=25.0, frame_shift=10.0,
                                                sample_frequency=16_000))
    stack = [feats]
    delta = torchaudio.transforms.ComputeDeltas(win_length=5)
    for _ in range(2):
        stack.append(delta(stack[-1].T.unsqueeze(0)).squeeze(0).T)
    x = torch.cat(stack, dim=-1)
    return (x - x.mean(dim=0, keepdim=True)) / (1e-10 + x.std(dim=0, keepdim=True))


@pytest.mark.parametrize("kind", ["fbank", "mfcc"])
def test_features_equal_s3prls_baseline_extracter(kind: str) -> None:
    wave = _wave()
    ours = FilterbankUpstream(kind, name=kind)._features(wave)  # type: ignore[arg-type]
    ref = _s3prl(wave, kind)
    assert ours.shape == ref.shape == (98, 3 * {"fbank": 80, "mfcc": 13}[kind])
    # bench feeds Kaldi 16-bit sample values, s3prl the float waveform: CMVN removes the constant log offset
    assert torch.allclose(ours, ref, atol=2e-3)
    assert torch.allclose(ours.mean(0), torch.zeros(ours.shape[1]), atol=1e-5)
    assert torch.allclose(ours.std(0), torch.ones(ours.shape[1]), atol=1e-4)


def test_cmvn_makes_features_gain_invariant_and_no_cmvn_keeps_version_1() -> None:
    wave = _wave(1)
    fbank = FilterbankUpstream("fbank", name="fbank")
    raw = FilterbankUpstream("fbank", name="fbank_no_cmvn", normalise=False)
    # a quarter of the amplitude: every log-mel energy drops by log(16), the deltas not at all
    assert torch.allclose(fbank._features(wave / 4), fbank._features(wave), atol=1e-3)
    shift = raw._features(wave) - raw._features(wave / 4)
    assert torch.allclose(shift[:, :80], torch.full((98, 80), float(np.log(16))), atol=1e-3)
    assert torch.allclose(shift[:, 80:], torch.zeros(98, 160), atol=1e-3)
    # no CMVN: version 1's features and fingerprint, so results and cached frames made before stay valid
    assert raw.fingerprint == filterbank_fingerprint("fbank", normalise=False) == "fbank-kaldi-v1:80+d+dd"
    assert fbank.fingerprint == "fbank-kaldi-v2:80+d+dd+cmvn"
    assert torch.equal(cmvn(torch.ones(1, 3)), torch.zeros(1, 3))  # one frame: no spread to divide by
