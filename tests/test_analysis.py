"""The encoder analyses' measurements, records and report sections, on vectors whose answers are known."""

from __future__ import annotations

import json
import math
import zlib
from itertools import permutations
from pathlib import Path

import pytest
import torch

from benchmark.analysis import alignment, similarity
from benchmark.analysis import records as analysis
from benchmark.analysis.wordvec import Occurrence, find, sample, span_vectors, word_means
from benchmark.errors import BenchError
from benchmark.plugin.specs import expand_upstream
from benchmark.report import analysis_html as analysis_report
from benchmark.types import HiddenStates


def test_two_sense_clusters_separate_and_identical_vectors_do_not() -> None:
    gen = torch.Generator().manual_seed(0)
    a = torch.tensor([1.0, 0.0, 0.0]) + 0.05 * torch.randn(6, 3, generator=gen)
    b = torch.tensor([0.0, 1.0, 0.0]) + 0.05 * torch.randn(6, 3, generator=gen)
    layer1 = torch.cat([a, b])  # (12, 3): two tight clusters
    layer0 = torch.ones(12, 3)  # the same vector everywhere
    out = similarity.analyse(torch.stack([layer0, layer1], 1), ["x"] * 6 + ["y"] * 6, permutations=500)
    l0, l1 = out["layers"]
    assert l0["separation"] == pytest.approx(0.0, abs=1e-9) and l0["p_value"] == 1.0
    assert l1["within"] > 0.98 and l1["across"] < 0.2 and l1["separation"] > 0.8
    assert l1["p_value"] < 0.01  # only a shuffle that regroups the senses exactly ties the true labels
    assert l1["nn_accuracy"] == 1.0
    assert out["nn_chance"] == pytest.approx(2 * 6 * 5 / (12 * 11), abs=1e-4)
    assert len(l1["matrix"]) == 12 and l1["matrix"][0][0] == pytest.approx(1.0)


def test_similarity_needs_two_senses() -> None:
    with pytest.raises(ValueError, match="two senses"):
        similarity.analyse(torch.ones(4, 2, 3), ["x"] * 4)


def test_reciprocal_ranks_follow_the_cosine_order() -> None:
    src = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    tgt = torch.tensor([[1.0, 0.1], [0.9, 0.5], [0.0, 1.0], [-1.0, 0.0]])  # cosine order for src 0: 0, 1, 2, 3
    rr = alignment.reciprocal_ranks(src, tgt, [{1}, {2, 3}])
    assert rr.tolist() == [pytest.approx(0.5), pytest.approx(1.0)]  # best gold of word 1 is candidate 2, rank 1


def test_chance_mrr_equals_the_mean_over_every_ranking() -> None:
    n, gold = 5, [{0}, {1, 3}]
    expected = []
    for golds in gold:
        total = 0.0
        for order in permutations(range(n)):
            total += 1 / (1 + min(order.index(g) for g in golds))
        expected.append(total / math.factorial(n))
    assert alignment.chance_mrr(n, gold) == pytest.approx(sum(expected) / 2, abs=1e-5)


def test_mrr_per_layer_and_centring() -> None:
    # Layer 1: every target is its source plus one shared offset; raw cosine is confused by the offset, centring
    # removes it and retrieves every word first.
    gen = torch.Generator().manual_seed(1)
    base = torch.randn(20, 8, generator=gen)
    src = torch.stack([torch.randn(20, 8, generator=gen), base], 1)
    tgt = torch.stack([torch.randn(20, 8, generator=gen), base + 30.0], 1)
    gold = [{i} for i in range(20)]
    raw = alignment.mrr_per_layer(src, tgt, gold)
    centred = alignment.mrr_per_layer(src, tgt, gold, centre=True)
    assert centred[1] == 1.0 and raw[1] < 0.9
    assert raw[0] < 0.5


def test_dictionary_pairs_keep_frequent_words_and_drop_identical_spellings() -> None:
    d = {"house": frozenset({"haus"}), "hotel": frozenset({"hotel"}), "dog": frozenset({"hund", "köter"}),
         "rare": frozenset({"selten"}), "cat": frozenset({"katze"})}
    src = {"house": 9, "hotel": 9, "dog": 9, "rare": 1, "cat": 9}
    tgt = {"haus": 9, "hotel": 9, "hund": 9, "köter": 1, "selten": 9}
    words, cands, gold, stats = alignment.dictionary_pairs(d, src, tgt, min_count=5, max_words=None, seed=0)
    assert words == ["dog", "house"] and cands == ["haus", "hund"]
    assert gold == [{1}, {0}] and stats["identical_dropped"] == 1
    words, *_ = alignment.dictionary_pairs(d, src, tgt, min_count=5, max_words=None, seed=0, keep_identical=True)
    assert words == ["dog", "hotel", "house"]
    few, *_ = alignment.dictionary_pairs(d, src, tgt, min_count=5, max_words=1, seed=3)
    assert len(few) == 1


class _Fake(torch.nn.Module):
    """Whitespace tokens; token t of a sentence has the vector (layer, position, len(token)) at every layer."""

    name = "fake"
    num_layers = 1

    def __init__(self, max_tokens: int = 100) -> None:
        super().__init__()
        self.max_tokens = max_tokens

    def forward(self, texts: list[str]) -> HiddenStates:
        rows = []
        for text in texts:
            spans, at = [], 0
            for tok in text.split()[: self.max_tokens]:
                start = text.index(tok, at)
                spans.append((start, start + len(tok)))
                at = start + len(tok)
            rows.append(spans)
        width = max(len(r) for r in rows)
        offsets = torch.full((len(texts), width, 2), -1)
        layers = [torch.zeros(len(texts), width, 3) for _ in range(2)]
        for b, spans in enumerate(rows):
            for t, (s, e) in enumerate(spans):
                offsets[b, t] = torch.tensor([s, e])
                for layer in range(2):
                    layers[layer][b, t] = torch.tensor([layer, t, e - s], dtype=torch.float)
        mask = offsets[..., 0] >= 0
        return HiddenStates(layers=tuple(layers), mask=mask, offsets=offsets)


def test_span_vectors_average_the_tokens_inside_each_word() -> None:
    sentences = ["the bank is here", "a river bank"]
    found = find(sentences, {"bank"})
    assert [(o.sentence, o.start, o.end) for o in found["bank"]] == [(0, 4, 8), (1, 8, 12)]
    vectors, seen = span_vectors(_Fake(), sentences, found["bank"], batch_size=1)
    assert seen.all()
    assert vectors[0, 1].tolist() == [1.0, 1.0, 4.0] and vectors[1, 0].tolist() == [0.0, 2.0, 4.0]
    # a span covering two tokens is their mean
    both, _ = span_vectors(_Fake(), ["one two"], [Occurrence(0, 0, 7, "one two")])
    assert both[0, 1].tolist() == [1.0, 0.5, 3.0]


def test_cut_off_words_are_an_error_or_left_out() -> None:
    sentences = ["a b c d target", "target here"]
    occ = find(sentences, {"target"})["target"]
    with pytest.raises(BenchError, match="cut off"):
        span_vectors(_Fake(max_tokens=3), sentences, occ)
    words, means = word_means(_Fake(max_tokens=3), sentences, {"target": occ})
    assert words == ["target"] and means[0, 1].tolist() == [1.0, 0.0, 6.0]  # only the second sentence's
    assert sample({"w": occ * 10}, 3, seed=0)["w"] == sample({"w": occ * 10}, 3, seed=0)["w"]


def test_analysis_records_round_trip_and_rerunning_replaces_the_file(tmp_path: Path) -> None:
    rec = analysis.Analysis(kind="alignment", upstream="bert:x", upstream_info={"fingerprint": "f1"},
                            params={"languages": "en-de"}, data={"pairs": {}})
    first = analysis.save(tmp_path, rec)
    again = analysis.save(tmp_path, rec)
    assert first == again and len(list((tmp_path / "analyses").iterdir())) == 1
    (tmp_path / "analyses" / "broken.json").write_text("{not json")
    (tmp_path / "analyses" / "other.json").write_text(json.dumps({"kind": "nope"}))
    [loaded] = analysis.load_all(tmp_path)
    assert loaded.upstream == "bert:x" and loaded.analysis_id == first.stem.rsplit("__", 1)[1]
    other = analysis.save(tmp_path, analysis.Analysis(kind="alignment", upstream="bert:x",
                                                      upstream_info={"fingerprint": "f2"},
                                                      params={"languages": "en-de"}, data={"pairs": {}}))
    assert other != first


def test_png_heat_map_is_a_valid_image() -> None:
    data = analysis_report.png([[(255, 0, 0), (0, 0, 255)], [(1, 2, 3), (4, 5, 6)]])
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    idat = data.index(b"IDAT")
    length = int.from_bytes(data[idat - 4:idat], "big")
    raw = zlib.decompress(data[idat + 4:idat + 4 + length])
    assert raw == b"\x00\xff\x00\x00\x00\x00\xff\x00\x01\x02\x03\x04\x05\x06"


def test_report_sections_draw_every_kind(tmp_path: Path) -> None:
    sim = similarity.analyse(torch.randn(6, 2, 4, generator=torch.Generator().manual_seed(0)), list("aaabbb"),
                             permutations=100)
    records = [
        analysis.Analysis("similarity", "minilm", {}, {}, {"words": {"bank": sim}, "source": "test"}),
        analysis.Analysis("alignment", "bert:a", {}, {}, {"pairs": {"en-de": {
            "mrr": [0.1, 0.3], "mrr_centred": [0.2, 0.4], "chance": 0.02, "dictionary": "d",
            "counts": {"source_words": 10, "candidates": 12, "identical_dropped": 1}}}, "pretraining_sentences": 500,
            "pretraining_step": 300}),
        analysis.Analysis("alignment", "bert:b", {}, {}, {"pairs": {"en-de": {
            "mrr": [0.1, 0.5], "mrr_centred": [0.2, 0.6], "chance": 0.02, "dictionary": "d",
            "counts": {"source_words": 10, "candidates": 12, "identical_dropped": 1}}}, "pretraining_sentences": 5000,
            "pretraining_step": 300}),
        analysis.Analysis("alignment", "bert:b/step-0", {}, {}, {"pairs": {"en-de": {  # a run's start: not its size
            "mrr": [0.1, 0.9], "mrr_centred": [0.2, 0.6], "chance": 0.02, "dictionary": "d",
            "counts": {"source_words": 10, "candidates": 12, "identical_dropped": 1}}}, "pretraining_sentences": 5000,
            "pretraining_step": 0}),
        analysis.Analysis("language-shift", "bert:b", {}, {}, {"pairs": {"en-de": {"layer": 2, "alphas": [
            {"alpha": 0.0, "kept": 0.9, "in_target": 0.1, "dictionary_accuracy": 0.0, "examples": [
                {"input": "the <house>", "output": "the house"}]},
            {"alpha": 2.0, "kept": 0.2, "in_target": 0.7, "dictionary_accuracy": 0.05, "examples": []}]}}}),
    ]
    results = [{"task": "upos", "mode": "frozen", "main_score": s, "upstream_info": {
        "checkpoint": {"series": "bert@runs/mlm", "step": step}}} for step, s in ((500, 40.0), (100, 20.0), (500, 50.0))]
    html = analysis_report.render(records, results)
    for anchor in ("checkpoints", "similarity", "alignment", "language-shift"):
        assert f'id="{anchor}"' in html
    assert "MRR against pre-training corpus size" in html and "&lt;house&gt;" in html
    assert analysis_report.corpus_size_curve(records) == {"en-de": [(500.0, 0.3), (5000.0, 0.5)]}
    assert analysis_report.checkpoint_curves(results) == {"bert@runs/mlm": {"upos (frozen)": [(100.0, 20.0),
                                                                                             (500.0, 45.0)]}}
    assert analysis_report.render([], []) == ""


def test_name_at_dir_expands_into_checkpoints_in_step_order(tmp_path: Path) -> None:
    for name in ("step-000500", "step-000020", "notes"):
        (tmp_path / name).mkdir()
    (tmp_path / "step-001000.pt").write_bytes(b"")
    (tmp_path / "renamed").mkdir()
    (tmp_path / "renamed" / "bench_pretraining.json").write_text(json.dumps({"step": 700}))
    specs = expand_upstream(f"bert@{tmp_path}")
    assert [s.step for s in specs] == [20, 500, 700, 1000]
    assert specs[0].text == f"bert:{tmp_path / 'step-000020'}" and specs[0].arg == str(tmp_path / "step-000020")
    assert {s.series for s in specs} == {f"bert@{tmp_path}"}
    assert expand_upstream("bert:roberta-base")[0].series is None
    with pytest.raises(BenchError, match="not a folder of checkpoints"):
        expand_upstream(f"bert@{tmp_path / 'missing'}")
    with pytest.raises(BenchError, match="no checkpoints"):
        expand_upstream(f"bert@{tmp_path / 'notes'}")
    (tmp_path / "ckpt-20").mkdir()
    with pytest.raises(BenchError, match="same step"):
        expand_upstream(f"bert@{tmp_path}")


def test_random_sampling_of_occurrences_is_reproducible() -> None:
    found = {"w": [Occurrence(i, 0, 1, "w") for i in range(50)]}
    a, b = sample(found, 5, seed=1)["w"], sample(found, 5, seed=1)["w"]
    assert a == b and len(a) == 5 and sample(found, 5, seed=2)["w"] != a
