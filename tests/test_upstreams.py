from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from benchmark.errors import BenchError
from benchmark.plugin.specs import build_upstream, parse_upstream
from benchmark.testing import check_upstream


def _build(spec: str, registry):
    return build_upstream(parse_upstream(spec), registry)


@pytest.fixture(scope="module")
def minilm(request):
    from benchmark.plugin.manager import load_plugins

    return _build("minilm", load_plugins().registry)


def test_minilm_passes_the_contract_and_reports_its_size(minilm) -> None:
    check_upstream(minilm).raise_for_failures()
    assert (minilm.num_layers, minilm.hidden_size) == (6, 384)
    assert minilm.n_parameters == 22_713_216  # all-MiniLM-L6-v2's published size (22.7M)
    assert minilm.fingerprint.startswith("dir:")


def test_text_offsets_and_segments_point_into_the_strings(minilm) -> None:
    with torch.inference_mode():
        h = minilm([("Good film.", "Bad acting")])
    seg = h.segments[0].tolist()
    assert seg[0] == -1 and 0 in seg and 1 in seg  # [CLS] first string [SEP] second string [SEP]
    first = [tuple(o) for o, s in zip(h.offsets[0].tolist(), seg) if s == 0]
    assert first[0] == (0, 4) and "Good film."[slice(*first[0])] == "Good"
    second = [tuple(o) for o, s in zip(h.offsets[0].tolist(), seg) if s == 1]
    assert "Bad acting"[slice(*second[-1])] == "acting"


def test_contract_catches_a_broken_upstream(minilm) -> None:
    class Leaky(torch.nn.Module):
        """Normalises over the whole batch: an item's output depends on its neighbours."""

        def __init__(self, inner):
            super().__init__()
            self.inner = inner
            for attr in ("modality", "num_layers", "hidden_size", "n_parameters", "sample_rate", "fingerprint"):
                setattr(self, attr, getattr(inner, attr))
            self.name = "leaky"

        def reinitialize(self, scope, seed):
            pass

        def forward(self, inputs):
            h = self.inner(inputs)
            layers = tuple(x / x.abs().mean() for x in h.layers)
            return type(h)(layers, h.mask, h.offsets, h.segments)

    report = check_upstream(Leaky(minilm))
    assert [c.name for c in report.failures()] == ["batch_independence"]
    with pytest.raises(AssertionError, match="batch_independence"):
        report.raise_for_failures()


def test_seed_variants(registry, tiny_bert_dir: Path) -> None:
    base = _build(f"bert:{tiny_bert_dir}", registry)
    rand = _build(f"bert:{tiny_bert_dir}+rand", registry)
    reemb = _build(f"bert:{tiny_bert_dir}+re-emb", registry)
    b, r, e = (dict(u.model.named_parameters()) for u in (base, rand, reemb))
    emb = "embeddings.word_embeddings.weight"
    assert not torch.equal(b[emb], r[emb]) and not torch.equal(b["encoder.layer.0.attention.self.query.weight"],
                                                               r["encoder.layer.0.attention.self.query.weight"])
    assert not torch.equal(b[emb], e[emb])
    assert all(torch.equal(b[k], e[k]) for k in b if k != emb)  # re-emb touches only the input embeddings
    assert len({base.fingerprint, rand.fingerprint, reemb.fingerprint}) == 3
    assert rand.fingerprint.endswith("+all@0") and rand.name == f"bert:{tiny_bert_dir}+rand"
    again = _build(f"bert:{tiny_bert_dir}+rand", registry)  # the random draw is fixed and reproducible
    assert torch.equal(dict(again.model.named_parameters())[emb], r[emb])
    for u in (base, rand, reemb):
        check_upstream(u).raise_for_failures()


def test_other_architectures_through_automodel(registry, tmp_path: Path, tiny_bert_dir: Path) -> None:
    """ELECTRA-style and encoder-decoder (BART-style: its encoder is benchmarked) models load via AutoModel."""
    from transformers import BartConfig, BartModel, ElectraConfig, ElectraModel

    small = dict(vocab_size=30522, max_position_embeddings=64)
    models = {
        "electra": ElectraModel(ElectraConfig(embedding_size=16, hidden_size=32, num_hidden_layers=2,
                                              num_attention_heads=2, intermediate_size=64, **small)),
        "bart": BartModel(BartConfig(d_model=32, encoder_layers=3, decoder_layers=1, encoder_attention_heads=2,
                                     decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, **small)),
    }
    for name, model in models.items():
        d = tmp_path / name
        model.save_pretrained(d)
        for f in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
            shutil.copy(tiny_bert_dir / f, d / f)
        u = _build(f"bert:{d}", registry)
        check_upstream(u).raise_for_failures()
        assert u.hidden_size == 32
    assert _build(f"bert:{tmp_path / 'bart'}", registry).num_layers == 3  # encoder layers only


def test_missing_model_is_reported_before_loading(registry, tmp_path: Path) -> None:
    from benchmark.plugin.specs import check_upstream_spec as lacks

    assert lacks(parse_upstream("minilm"), registry) is None
    assert "has no config.json" in lacks(parse_upstream(f"bert:{tmp_path}"), registry)
    with pytest.raises(BenchError, match="unknown upstream modifier '\\+random'"):
        parse_upstream("minilm+random")
    with pytest.raises(BenchError, match="nothing after ':'"):
        parse_upstream("bert:")


def test_remote_code_is_off_unless_asked(registry, tiny_bert_dir: Path, monkeypatch) -> None:
    import transformers

    seen = []
    real = transformers.AutoConfig.from_pretrained

    def spy(*args, **kwargs):
        seen.append(kwargs.get("trust_remote_code"))
        return real(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", spy)
    build_upstream(parse_upstream(f"bert:{tiny_bert_dir}"), registry)
    assert seen and set(seen) == {False}
    seen.clear()
    build_upstream(parse_upstream(f"bert:{tiny_bert_dir}"), registry, trust_remote_code=True)
    assert seen and set(seen) == {True}


def test_factories_announce_the_fingerprint_without_loading(registry, tiny_bert_dir: Path) -> None:
    from benchmark.plugin.specs import MODIFIERS, VARIANT_SEED

    for text in ("minilm", "minilm+rand", f"bert:{tiny_bert_dir}+re-emb", f"bert:{tiny_bert_dir}"):
        spec = parse_upstream(text)
        factory = registry.upstreams.get(spec.name).obj
        told = factory.fingerprint(spec.arg, tuple(MODIFIERS[m] for m in spec.modifiers), VARIANT_SEED)
        assert told == build_upstream(spec, registry).fingerprint
    # a Hub id that is not in the local cache cannot be told without the Hub: None (the model is loaded instead)
    assert registry.upstreams.get("bert").obj.fingerprint(None, (), 0) is None
