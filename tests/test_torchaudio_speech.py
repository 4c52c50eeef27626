"""The `torchaudio:ARCH:PATH` upstream: torchaudio's wav2vec 2.0 / HuBERT / WavLM builders with a local state-dict
file. Tiny architectures (2 layers, 32 dims) are added to ARCHITECTURES for the in-process tests; the command-line
tests use the real `wav2vec2_base` builder, whose file errors are found before any weight is allocated."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from benchmark.errors import BenchError
from benchmark.plugin.specs import build_upstream, parse_upstream
from benchmark.testing import check_upstream, sample_waveforms
from upstreams import torchaudio_speech
from upstreams.checkpoint_files import file_sha256

CONVS = [(32, 10, 5)] + [(32, 3, 2)] * 4 + [(32, 2, 2)] * 2  # wav2vec 2.0's strides (320 samples per frame)


def _tiny(kind: str) -> Any:
    from torchaudio.models import wav2vec2_model, wavlm_model

    layer_norm = kind != "group"
    kw: dict[str, Any] = dict(
        extractor_mode="layer_norm" if layer_norm else "group_norm", extractor_conv_layer_config=CONVS,
        extractor_conv_bias=layer_norm, encoder_embed_dim=32, encoder_projection_dropout=0.1,
        encoder_pos_conv_kernel=16, encoder_pos_conv_groups=4, encoder_num_layers=2, encoder_num_heads=2,
        encoder_attention_dropout=0.1, encoder_ff_interm_features=64, encoder_ff_interm_dropout=0.1,
        encoder_dropout=0.1, encoder_layer_norm_first=layer_norm, encoder_layer_drop=0.1, aux_num_out=None)
    if kind == "wavlm":
        return wavlm_model(**kw, encoder_num_buckets=32, encoder_max_distance=80)
    return wav2vec2_model(**kw)


TINY = {"tiny_base": "group", "tiny_large": "layer", "tiny_wavlm": "wavlm"}


@pytest.fixture(autouse=True)
def tiny_archs(monkeypatch: pytest.MonkeyPatch) -> None:
    for arch, kind in TINY.items():
        monkeypatch.setitem(torchaudio_speech.ARCHITECTURES, arch, lambda kind=kind: _tiny(kind))


def _trained(arch: str, seed: int = 1234) -> Any:
    """Stands in for pretrained weights: drawn with a seed that is not bench's variant seed (0)."""
    torch.manual_seed(seed)
    return torchaudio_speech.ARCHITECTURES[arch]().eval()


def _save(model: Any, path: Path, wrap: str | None = None) -> Path:
    state = model.state_dict()
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save({wrap: state, "epoch": 7} if wrap else state, path)
    return path


def _layers(up: Any, waves: list[np.ndarray]) -> list[np.ndarray]:
    with torch.inference_mode():
        return [h.numpy() for h in up(waves).layers]


@pytest.mark.parametrize("arch", list(TINY))
def test_a_saved_state_dict_passes_the_contract_and_reproduces_the_model(arch: str, tmp_path: Path,
                                                                         registry) -> None:
    original = _trained(arch)
    path = _save(original, tmp_path / "model.pt")
    up = build_upstream(parse_upstream(f"torchaudio:{arch}:{path}"), registry)
    check_upstream(up).raise_for_failures()  # includes: an item alone == the same item in a padded batch
    assert (up.num_layers, up.hidden_size, up.downsample_rate, up.sample_rate) == (2, 32, 320, 16000)
    assert up.n_parameters == sum(p.numel() for p in original.parameters())
    assert up.normalize == (arch != "tiny_base")  # layer-norm feature encoders take normalised waveforms
    assert up.pads_safely == (arch == "tiny_large")  # group norm / WavLM: lengths never share a batch
    assert up.fingerprint == f"torchaudio:{arch}:sha256:{file_sha256(path)[:16]}"
    waves = sample_waveforms()
    with torch.inference_mode():
        h = up(waves)
    assert h.mask.sum(1).tolist() == [22, 49, 64]  # frames of the conv encoder for 0.45 s, 1 s, 1.3 s
    for i, wave in enumerate(waves):  # exactly what torchaudio computes on the item alone
        x = torch.from_numpy(wave)[None]
        if arch != "tiny_base":
            x = torch.nn.functional.layer_norm(x, x.shape[1:])
        with torch.inference_mode():
            want, _ = original.extract_features(x)
            feats, _ = original.feature_extractor(x, None)
            want = [original.encoder.feature_projection(feats), *want]
        n = int(h.mask[i].sum())
        assert len(h.layers) == len(want) == 3
        for got, alone, ref in zip(h.layers, _layers(up, [wave]), want, strict=True):
            assert np.array_equal(alone[0], ref[0].numpy())
            # in a padded batch (tiny_large) the attention sums run over more (masked) keys: rounding only
            assert np.allclose(got[i, :n].numpy(), ref[0].numpy(), atol=1e-5)


def test_state_dict_wrappers_safetensors_and_fairseq_keys_load_the_same_weights(tmp_path: Path, registry) -> None:
    original = _trained("tiny_base")
    plain = _save(original, tmp_path / "plain.pt")
    fairseq = {_fairseq_key(k): v for k, v in original.state_dict().items()}
    fairseq.update({"mask_emb": torch.zeros(32), "quantizer.vars": torch.zeros(1, 8, 4)})  # training-only: dropped
    torch.save({"model": fairseq}, tmp_path / "fairseq.pt")
    torch.save({**original.state_dict(), "aux.weight": torch.zeros(5, 32), "aux.bias": torch.zeros(5)},
               tmp_path / "asr.pt")  # a fine-tuned model's CTC head is ignored
    paths = [plain, _save(original, tmp_path / "m.safetensors"), _save(original, tmp_path / "sd.pt", "state_dict"),
             _save(original, tmp_path / "model.pt", "model"), tmp_path / "fairseq.pt", tmp_path / "asr.pt"]
    waves = sample_waveforms()[:1]
    ref = _layers(build_upstream(parse_upstream(f"torchaudio:tiny_base:{plain}"), registry), waves)
    prints = set()
    for path in paths:
        up = build_upstream(parse_upstream(f"torchaudio:tiny_base:{path}"), registry)
        assert all(np.array_equal(a, b) for a, b in zip(_layers(up, waves), ref, strict=True)), path.name
        prints.add(up.fingerprint)
    assert len(prints) == len(paths)  # the fingerprint is the file's content: six files, six fingerprints
    other = build_upstream(parse_upstream(f"torchaudio:tiny_base:{_save(_trained('tiny_base', 99), tmp_path / 'o.pt')}"),
                           registry)
    assert other.fingerprint not in prints
    assert not np.allclose(_layers(other, waves)[-1], ref[-1])


def _fairseq_key(key: str) -> str:
    """torchaudio's key -> fairseq's (the inverse of torchaudio's import_fairseq map, for a group-norm model)."""
    for pattern, repl in ((r"^feature_extractor\.conv_layers\.0\.layer_norm\.", "feature_extractor.conv_layers.0.2."),
                          (r"^feature_extractor\.conv_layers\.(\d+)\.conv\.", r"feature_extractor.conv_layers.\1.0."),
                          (r"^encoder\.feature_projection\.projection\.", "post_extract_proj."),
                          (r"^encoder\.feature_projection\.layer_norm\.", "layer_norm."),
                          (r"^encoder\.transformer\.pos_conv_embed\.conv\.parametrizations\.weight\.original0",
                           "encoder.pos_conv.0.weight_g"),
                          (r"^encoder\.transformer\.pos_conv_embed\.conv\.parametrizations\.weight\.original1",
                           "encoder.pos_conv.0.weight_v"),
                          (r"^encoder\.transformer\.pos_conv_embed\.conv\.", "encoder.pos_conv.0."),
                          (r"^encoder\.transformer\.layer_norm\.", "encoder.layer_norm."),
                          (r"^encoder\.transformer\.layers\.(\d+)\.attention\.", r"encoder.layers.\1.self_attn."),
                          (r"^encoder\.transformer\.layers\.(\d+)\.layer_norm\.", r"encoder.layers.\1.self_attn_layer_norm."),
                          (r"^encoder\.transformer\.layers\.(\d+)\.feed_forward\.intermediate_dense\.", r"encoder.layers.\1.fc1."),
                          (r"^encoder\.transformer\.layers\.(\d+)\.feed_forward\.output_dense\.", r"encoder.layers.\1.fc2."),
                          (r"^encoder\.transformer\.layers\.(\d+)\.final_layer_norm\.", r"encoder.layers.\1.final_layer_norm.")):
        if re.match(pattern, key):
            return re.sub(pattern, repl, key)
    raise AssertionError(key)


def test_rand_and_re_emb_variants(tmp_path: Path, registry) -> None:
    path = _save(_trained("tiny_large"), tmp_path / "m.pt")
    factory = registry.upstreams.get("torchaudio").obj
    base = build_upstream(parse_upstream(f"torchaudio:tiny_large:{path}"), registry)
    waves = sample_waveforms()
    ref = _layers(base, waves[:1])
    rand = build_upstream(parse_upstream("torchaudio:tiny_large+rand"), registry)  # no file needed
    check_upstream(rand).raise_for_failures()
    assert rand.fingerprint == "torchaudio:tiny_large:random+all@0" == factory.fingerprint("tiny_large", ("all",), 0)
    again = build_upstream(parse_upstream(f"torchaudio:tiny_large:{path}+rand"), registry)  # the file is not read
    assert again.fingerprint == rand.fingerprint
    assert all(np.array_equal(a, b) for a, b in zip(_layers(rand, waves[:1]), _layers(again, waves[:1]), strict=True))
    assert not np.allclose(_layers(rand, waves[:1])[-1], ref[-1])
    emb = build_upstream(parse_upstream(f"torchaudio:tiny_large:{path}+re-emb"), registry)
    check_upstream(emb).raise_for_failures()
    assert emb.fingerprint == f"{base.fingerprint}+embeddings@0" == factory.fingerprint(f"tiny_large:{path}",
                                                                                         ("embeddings",), 0)
    assert not np.allclose(_layers(emb, waves[:1])[0], ref[0])
    kept = "encoder.transformer.layers.1.feed_forward.output_dense.weight"
    changed = "feature_extractor.conv_layers.0.conv.weight"
    assert torch.equal(emb.model.state_dict()[kept], base.model.state_dict()[kept])
    assert not torch.equal(emb.model.state_dict()[changed], base.model.state_dict()[changed])
    assert torch.equal(emb.model.state_dict()[changed], rand.model.state_dict()[changed])  # same seeded draw


def test_missing_says_what_to_pass(tmp_path: Path, registry) -> None:
    factory = registry.upstreams.get("torchaudio").obj
    with pytest.raises(BenchError, match=r"^upstream 'torchaudio' needs an architecture and a state-dict file: "
                                         r"torchaudio:ARCH:PATH \(ARCH one of wav2vec2_base, wav2vec2_large, "):
        factory.missing(None, ())
    with pytest.raises(BenchError, match=r"^unknown torchaudio architecture 'hubert_bas' — did you mean "
                                         r"'hubert_base'\?"):
        factory.missing("hubert_bas:/x.pt", ())
    assert factory.missing("hubert_base", ()) == (
        "a state-dict file for torchaudio:hubert_base (write torchaudio:hubert_base:PATH with PATH a .pt/.pth file of "
        "model.state_dict() or a .safetensors file, or torchaudio:hubert_base+rand for random weights)")
    assert factory.missing("hubert_base", ("rand",)) is None
    assert factory.missing(f"hubert_base:{tmp_path}/nope.pt", ()).startswith(
        f"state-dict file '{tmp_path}/nope.pt' for torchaudio:hubert_base (not found; ")
    assert "is a directory" in factory.missing(f"hubert_base:{tmp_path}", ())
    assert factory.fingerprint("hubert_base", (), 0) is None  # nothing to load yet
    path = _save(_trained("tiny_base"), tmp_path / "m.pt")
    assert factory.missing(f"tiny_base:{path}", ()) is None


def test_real_builders_exist_and_rand_builds_wav2vec2_base(registry) -> None:
    import torchaudio.models

    real = [a for a in torchaudio_speech.ARCHITECTURES if a not in TINY]
    assert len(real) == 11 and all(callable(getattr(torchaudio.models, a, None)) for a in real)
    up = build_upstream(parse_upstream("torchaudio:wav2vec2_base+rand"), registry)
    assert (up.num_layers, up.hidden_size, up.downsample_rate) == (12, 768, 320)
    assert 90e6 < up.n_parameters < 100e6 and not up.normalize and not up.pads_safely
    h = up(sample_waveforms()[:1])
    assert len(h.layers) == 13 and h.layers[0].shape == (1, 22, 768) and bool(h.mask.all())


SMALL_KS = """\
schema: 1
tasks:
  small-ks:
    description: keyword spotting, 6 synthetic voices
    version: 1
    modality: speech
    head: classification
    labels: ['yes', 'no', 'up', 'down', 'left', 'right', 'on', 'off', 'stop', 'go', '_unknown_', '_silence_']
    metrics: [accuracy]
    score: [accuracy]
    evals: [test]
    sources:
      recipe: {name: espeak-speech, options: {kind: keywords, seed: 3, speakers: 6, repeats: 1},
               splits: {train: train, select: select, test: test}}
"""


def test_files_that_are_not_state_dicts_are_refused_in_one_line(tmp_path: Path, registry) -> None:
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint at all")
    torch.save([torch.zeros(3)], tmp_path / "list.pt")
    torch.save({"model": _trained("tiny_base").state_dict(), "epoch": 3}, tmp_path / "ok.pt")  # unwrapped: fine
    torch.save({"encoder.weight": torch.zeros(2), "epoch": 3}, tmp_path / "epoch.pt")
    state = _trained("tiny_base").state_dict()
    state["encoder.feature_projection.projection.weight"] = torch.zeros(64, 32)
    torch.save(state, tmp_path / "wide.pt")
    cases = {
        "junk.pt": "not a PyTorch or safetensors state-dict file (UnpicklingError: Unsupported operand 110)",
        "junk.safetensors": "not a PyTorch or safetensors state-dict file (SafetensorError: Error while deserializing "
                            "header: header too large)",
        "list.pt": "it holds a list, not a state dict (parameter name -> tensor; save model.state_dict())",
        "epoch.pt": "entry 'epoch' is an int, not a tensor: not a state dict (save model.state_dict(), alone or under "
                    "'state_dict' or 'model')",
        "wide.pt": "its tensors are not torchaudio's tiny_base architecture: encoder.feature_projection.projection."
                   "weight is [64, 32] in the file, [32, 32] in tiny_base (is ARCH right?)",
    }
    for name, message in cases.items():
        with pytest.raises(BenchError) as err:
            build_upstream(parse_upstream(f"torchaudio:tiny_base:{tmp_path / name}"), registry)
        assert str(err.value) == f"cannot load torchaudio model tiny_base from '{tmp_path / name}': {message}"
    assert build_upstream(parse_upstream(f"torchaudio:tiny_base:{tmp_path / 'ok.pt'}"), registry).num_layers == 2


def test_bad_files_fail_in_one_line_on_the_command_line(tmp_path: Path) -> None:
    """A pickle that would run code and a Hugging Face state dict, through `bench run`: one line, exit code 2."""
    from reliability_workspace import make_workspace

    ws = make_workspace(tmp_path / "ws")
    (ws.root / "speech.yaml").write_text(SMALL_KS)
    marker = tmp_path / "PWNED"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"feature_extractor.conv_layers.0.conv.weight": torch.zeros(1), "x": Payload()}, tmp_path / "evil.pt")
    torch.save({"wav2vec2.feature_projection.projection.weight": torch.zeros(768, 512),
                "wav2vec2.encoder.layers.0.attention.k_proj.weight": torch.zeros(768, 768)}, tmp_path / "hf.pt")
    cases = {
        "evil.pt": "refused: its weights are a pickle that would run code (posix.system), and bench unpickles only "
                   "plain tensors (torch.load(weights_only=True)); use a safetensors checkpoint, or re-save only the "
                   "tensors: torch.save(model.state_dict(), PATH)",
        "hf.pt": "its keys are not torchaudio's wav2vec2_base layout (missing feature_extractor.conv_layers.0.layer_norm"
                 ".weight, feature_extractor.conv_layers.0.layer_norm.bias, feature_extractor.conv_layers.0.conv.weight,"
                 " ... (210 in all); unexpected wav2vec2.feature_projection.projection.weight, wav2vec2.encoder.layers"
                 ".0.attention.k_proj.weight); expected the keys of torchaudio.models.wav2vec2_base().state_dict(), as "
                 "torch.save(bundle.get_model().state_dict(), PATH) writes them, or fairseq's checkpoint['model']; a "
                 "Hugging Face checkpoint loads with wav2vec2:DIR, hubert:DIR or wavlm:DIR",
    }
    for name, message in cases.items():
        path = tmp_path / name
        r = ws.bench("run", "--upstream", f"torchaudio:wav2vec2_base:{path}", "--tasks", "small-ks", "--tasks-file",
                     "speech.yaml", "--output", str(ws.out), "-q")
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert r.stderr.strip() == f"error: cannot load torchaudio model wav2vec2_base from '{path}': {message}"
    assert not marker.exists(), "the payload ran"
    assert not list(ws.out.glob("small-ks*"))  # no result, no failure record
