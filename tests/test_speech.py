"""Speech: audio input, the FBANK / MFCC baselines and Hugging Face speech encoders under the upstream contract,
and the offline synthetic speech data."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from benchmark.errors import BenchError
from benchmark.media.audio import check_waveform, load_audio, resample
from benchmark.plugin.specs import build_upstream, parse_upstream
from benchmark.testing import check_upstream, sample_waveforms


@pytest.fixture(scope="module")
def tiny_speech_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny wav2vec 2.0 / HuBERT / WavLM checkpoints saved like Hub ones (group- and layer-normalised)."""
    import torch
    import transformers

    small = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, conv_dim=(32,) * 7,
                 num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)
    out = {}
    for family, cfg, model, extra in (("wav2vec2", "Wav2Vec2Config", "Wav2Vec2Model", {}),
                                      ("wav2vec2-large-style", "Wav2Vec2Config", "Wav2Vec2Model",
                                       {"feat_extract_norm": "layer", "do_stable_layer_norm": True}),
                                      ("hubert", "HubertConfig", "HubertModel", {}),
                                      ("wavlm", "WavLMConfig", "WavLMModel", {})):
        torch.manual_seed(1234)
        d = tmp_path_factory.mktemp(family)
        getattr(transformers, model)(getattr(transformers, cfg)(**small, **extra)).save_pretrained(d)
        out[family] = d
    return out


def test_audio_checks_downmix_and_resampling(tmp_path: Path) -> None:
    import soundfile as sf

    stereo = np.stack([np.full(800, 0.5, np.float32), np.full(800, -0.1, np.float32)], axis=1)
    assert np.allclose(check_waveform(stereo, 16000, "x"), 0.2)  # down-mixed, not refused
    with pytest.raises(BenchError, match=r"^x: the audio is empty$"):
        check_waveform(np.zeros(0), 16000, "x")
    with pytest.raises(BenchError, match=r"^x: the audio holds NaN or infinite samples$"):
        check_waveform(np.array([0.0, np.nan]), 16000, "x")
    with pytest.raises(BenchError, match=r"^x: 34 minutes of audio"):
        check_waveform(np.zeros(16000 * 60 * 34, np.float32), 16000, "x")
    t = np.arange(44100) / 44100
    sf.write(tmp_path / "a.wav", np.stack([np.sin(2 * np.pi * 440 * t)] * 2, axis=1), 44100)
    wave = load_audio(tmp_path / "a.wav", 16000)
    assert wave.shape == (16000,) and wave.dtype == np.float32
    peak = np.argmax(np.abs(np.fft.rfft(wave)))  # still a 440 Hz tone after resampling
    assert abs(peak - 440) <= 1
    (tmp_path / "bad.wav").write_bytes(b"RIFF....not audio")
    with pytest.raises(BenchError, match=r"bad.wav: not a readable audio file"):
        load_audio(tmp_path / "bad.wav", 16000)
    assert resample(wave, 16000, 16000) is wave


@pytest.mark.parametrize("spec", ["fbank", "mfcc"])
def test_filterbank_baselines_pass_the_contract(spec: str, registry) -> None:
    up = build_upstream(parse_upstream(spec), registry)
    check_upstream(up).raise_for_failures()
    h = up(sample_waveforms())
    assert len(h.layers) == 1 and h.layers[0].shape[-1] == (240 if spec == "fbank" else 39)
    assert h.mask.sum(1).tolist() == [43, 98, 128]  # 1 + (samples - 400) // 160: Kaldi snip-edges frames
    with pytest.raises(BenchError, match="has no weights"):
        build_upstream(parse_upstream(f"{spec}+rand"), registry)


@pytest.mark.parametrize("family", ["wav2vec2", "wav2vec2-large-style", "hubert", "wavlm"])
def test_speech_encoders_and_their_variants_pass_the_contract(family: str, tiny_speech_dirs, registry) -> None:
    name = "wavlm" if family == "wavlm" else "hubert" if family == "hubert" else "wav2vec2"
    d = tiny_speech_dirs[family]
    base = build_upstream(parse_upstream(f"{name}:{d}"), registry)
    check_upstream(base).raise_for_failures()  # includes: an item alone == the same item in a padded batch
    assert base.num_layers == 2 and base.hidden_size == 32 and base.downsample_rate == 320
    h = base(sample_waveforms())
    assert h.mask.sum(1).tolist() == [22, 49, 64]  # frames of the conv encoder for 0.45 s, 1 s, 1.3 s
    for mod in ("rand", "re-emb"):
        variant = build_upstream(parse_upstream(f"{name}:{d}+{mod}"), registry)
        check_upstream(variant).raise_for_failures()
        factory = registry.upstreams.get(name).obj
        scopes = ("all",) if mod == "rand" else ("embeddings",)
        assert variant.fingerprint == factory.fingerprint(str(d), scopes, 0) != base.fingerprint
        hv = variant(sample_waveforms()[:1])
        assert not np.allclose(hv.layers[-1].detach().numpy(), base(sample_waveforms()[:1]).layers[-1].detach().numpy())


def test_rand_variant_needs_no_checkpoint(registry) -> None:
    """`wav2vec2+rand` is the base architecture from transformers' config defaults: offline, deterministic."""
    factory = registry.upstreams.get("wav2vec2").obj
    assert factory.missing(None, ("rand",)) is None
    a = build_upstream(parse_upstream("wav2vec2+rand"), registry)
    assert a.num_layers == 12 and a.hidden_size == 768 and 90e6 < a.n_parameters < 100e6
    assert a.fingerprint == factory.fingerprint(None, ("all",), 0)
    b = build_upstream(parse_upstream("wav2vec2+rand"), registry)
    w = sample_waveforms()[:1]
    assert np.array_equal(a(w).layers[-1].detach().numpy(), b(w).layers[-1].detach().numpy())


def test_offline_speech_data_is_deterministic_and_speaker_disjoint(tmp_path: Path, registry) -> None:
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is required (apt-get install espeak-ng; .ci/run installs it)")
    if shutil.which("flite") is None:
        pytest.fail("flite is required (apt-get install flite; .ci/run installs it)")
    from downstreams.recipes import speech_synth as ss

    loader = registry.datasets.get("espeak-speech").obj
    opts = {"kind": "keywords", "seed": 3, "speakers": 6, "repeats": 1}
    first = loader(task=None, options=opts, cache_dir=tmp_path / "a")
    again = loader(task=None, options=opts, cache_dir=tmp_path / "b")  # built again from scratch
    assert [len(first[s]) for s in ("train", "select", "test")] == [48, 12, 12]  # 12 classes per speaker
    for split in first:
        assert all(np.array_equal(x, y) for x, y in zip(first[split].inputs, again[split].inputs, strict=True))
        assert all(len(x) == 16000 and x.dtype == np.float32 for x in first[split].inputs)
        assert sorted(set(first[split].targets)) == list(range(12))
    voices = ss.speakers(6, 3)
    assert len({v["id"] for v in voices}) == 6  # distinct speakers, split 4 / 1 / 1 without overlap
    pool = ss.speakers(200, 0)  # the whole pool: eSpeak NG's 168 accent x variant pairs and 4 x 8 Flite slots
    assert sum(v["accent"] == "flite" for v in pool) == 32 and len({v["id"] for v in pool}) == 200
    assert {v["variant"] for v in pool if v["accent"] == "flite"} == {"kal16", "awb", "rms", "slt"}
    silence = first["train"].inputs[first["train"].targets.index(11)]
    word = first["train"].inputs[first["train"].targets.index(0)]
    assert np.abs(word).max() > np.abs(silence).max()  # "yes" is louder than background noise alone
    assert re.match(r"espeak-speech-v2:espeak-ng-[\w.]+-flite-[\w.]+:[0-9a-f]{12}$", loader.revision(opts))
    with pytest.raises(BenchError, match="unknown option 'speakerz'"):
        loader(task=None, options={"speakerz": 3}, cache_dir=tmp_path)


def _f0(wave: np.ndarray, rate: int = 16_000) -> float:
    """Median F0 (Hz) of the voiced 40 ms frames, by autocorrelation: enough to tell a pitch change apart."""
    n, found = int(0.04 * rate), []
    for i in range(0, len(wave) - n, n):
        x = wave[i:i + n] - wave[i:i + n].mean()
        if np.sqrt((x**2).mean()) < 0.02:
            continue
        ac = np.correlate(x, x, "full")[n - 1:]
        lag = rate // 400 + int(np.argmax(ac[rate // 400: rate // 60]))
        if ac[lag] > 0.3 * ac[0]:
            found.append(rate / lag)
    return float(np.median(found))


def test_flite_voices_follow_the_speakers_pitch_and_speed() -> None:
    from downstreams.recipes import speech_synth as ss

    text = "the old man painted the red door"
    low, high = (ss.synthesize(text, {"accent": "flite", "variant": "slt"}, p, 175) for p in (20, 80))
    assert 1.25 < _f0(high) / _f0(low) < 1.7  # 2 ** (0.32 * 1.2) = 1.31 asked; the voice's own contour on top
    slow, fast = (ss.synthesize(text, {"accent": "flite", "variant": "awb"}, 50, s) for s in (130, 200))
    assert len(slow) / len(fast) == pytest.approx(200 / 130, rel=0.15)


SMALL_SPEECH_TASKS = """\
schema: 1
tasks:
  small-sid:
    description: speaker identification, 8 synthetic voices
    version: 1
    modality: speech
    head: classification
    labels: [s0, s1, s2, s3, s4, s5, s6, s7]
    metrics: [accuracy]
    score: [accuracy]
    evals: [test]
    sources:
      recipe: {name: espeak-speech, options: {kind: speakers, seed: 1, speakers: 8, sentences: 30},
               splits: {train: train, select: select, test: test}}
"""


def test_speech_jobs_run_end_to_end_and_speaker_id_is_learned(tmp_path: Path, tiny_speech_dirs) -> None:
    from reliability_workspace import make_workspace

    ws = make_workspace(tmp_path)
    (ws.root / "speech.yaml").write_text(SMALL_SPEECH_TASKS)
    # fbank without CMVN: a voice lives largely in its mean spectrum, which per-utterance CMVN removes (SUPERB's
    # FBANK identifies speakers barely above chance)
    r = ws.bench("run", "--upstream", f"fbank_no_cmvn,wav2vec2:{tiny_speech_dirs['wav2vec2']}+rand", "--tasks",
                 "small-sid", "--tasks-file", "speech.yaml", "--output", str(ws.out), "--seeds", "0,1", "-q")
    assert r.returncode == 0, r.stderr
    import json

    results = [json.loads(p.read_text()) for p in ws.out.glob("small-sid__*.json")]
    assert len(results) == 4
    fbank = [x["main_score"] for x in results if x["upstream"] == "fbank_no_cmvn"]
    assert sum(fbank) / 2 > 2 * 100 / 8, fbank  # well above chance (12.5 %) on unseen sentences
    for x in results:
        assert x["n_examples"] == {"train": 160, "select": 40, "test": 40}
        assert x["upstream_info"]["modality"] == "speech"
        assert x["task_info"]["data_revision"].startswith("espeak-speech-v2:")



@pytest.mark.slow
def test_a_ctc_head_on_fbank_learns_the_synthetic_sentences(tmp_path: Path) -> None:
    """synth-asr's own head, 10 epochs instead of 12, with --fused-lstm (the same BiLSTM run unpacked: tests/
    test_bilstm.py; the packed default spends 90 % of a CPU epoch in the LSTM's backward pass, 18 minutes of CI
    here): WER and CER far below chance (100, an empty transcript), and the recorded scores are jiwer's on the
    recorded transcripts."""
    import json

    import jiwer
    from reliability_workspace import make_workspace

    ws = make_workspace(tmp_path)
    r = ws.bench("run", "--upstream", "fbank", "--tasks", "synth-asr", "--output", str(ws.out), "--epochs", "10",
                 "--fused-lstm", "-q", timeout=1800)  # ~2 min alone
    assert r.returncode == 0, r.stderr
    (path,) = ws.out.glob("synth-asr__*.json")
    result = json.loads(path.read_text())
    refs, hyps = result["targets"]["test"], result["predictions"]["test"]
    assert len(refs) == 72 and all(isinstance(h, str) for h in hyps)
    assert result["scores"]["wer"] == pytest.approx(100 * jiwer.wer(refs, hyps), abs=1e-3)
    assert result["scores"]["cer"] == pytest.approx(100 * jiwer.cer(refs, hyps), abs=1e-3)
    # Published (packed, 12 epochs): WER 75.3, CER 32.6; --fused-lstm, 12 epochs: WER 79.0, CER 33.2. Empty: 100.
    assert result["scores"]["wer"] < 90.0 and result["scores"]["cer"] < 50.0, result["scores"]
    assert result["hyperparameters"]["hidden"] == 128  # the task's default head, a BiLSTM
    assert result["hyperparameters"]["fused_lstm"] is True
    curve = [c["select_score"] for c in result["selection"]["curve"]]
    assert result["selection"]["select_score"] == min(curve)  # WER: the lowest dev score is the best epoch

def test_audio_clips_decode_lazily_and_key_the_cache_by_file_content(tmp_path: Path) -> None:
    import os

    import soundfile as sf

    from benchmark.features.cache import inputs_digest
    from benchmark.features.extract import input_length
    from benchmark.media.audio import as_waveforms, clip

    t = np.arange(16_000) / 8_000
    left = (0.5 * np.sin(2 * np.pi * 100 * t)).astype(np.float32)
    path = tmp_path / "a.wav"
    sf.write(path, np.stack([left, left], 1), 8_000, subtype="FLOAT")  # 2 s, stereo, 8 kHz
    c = clip(path, start=0.5, stop=1.5, gain_db=-6.0)
    wave = c.decode(16_000)
    assert wave.shape == (16_000,)  # one second, resampled to 16 kHz, down-mixed
    assert np.abs(wave).max() == pytest.approx(0.5 * 10 ** (-6 / 20), rel=0.02)
    assert input_length(c) == 16_000 and input_length(clip(path)) > 0
    array = np.zeros(10, np.float32)
    assert as_waveforms([c, array], 16_000)[1] is array  # in-memory waveforms pass through
    before = inputs_digest([c])
    assert inputs_digest([clip(path, start=0.5, stop=1.5, gain_db=-6.0)]) == before
    sf.write(path, np.stack([left, -left], 1), 8_000, subtype="FLOAT")
    os.utime(path, ns=(1, 1))
    assert inputs_digest([clip(path, start=0.5, stop=1.5, gain_db=-6.0)]) != before  # the file changed
    with pytest.raises(BenchError, match="audio file not found"):
        type(c)(str(tmp_path / "gone.wav")).decode(16_000)


@pytest.mark.parametrize(("recipe", "count", "least"), [
    ("espeak-speech", "speakers", 1), ("espeak-slots", "speakers", 6), ("espeak-sv", "test_speakers", 2),
    ("espeak-diarization", "speakers", 12), ("synth-qbe", "terms", 1)])
def test_every_synthesised_recipe_checks_its_options_in_the_same_words(registry, recipe: str, count: str,
                                                                       least: int) -> None:
    loader = registry.datasets.get(recipe).obj
    names = ", ".join(loader.defaults)
    with pytest.raises(BenchError, match=rf"^{recipe}: unknown option 'voices' \(options: {names}\)$"):
        loader.options({"voices": 3})
    for bad in (least - 1, True, 2.0, "3"):
        with pytest.raises(BenchError, match=rf"^{recipe}: option {count} must be a whole number >= {least}, "):
            loader.options({count: bad})
    assert loader.options({count: least})[count] == least
    assert loader.options({}) == loader.defaults
