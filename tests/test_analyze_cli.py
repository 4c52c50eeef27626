"""`bench analyze ...`, `bench pretrain mlm` and checkpoint curves as a user runs them: offline subprocesses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_cli import bench
from test_icl import gpt_dir  # noqa: F401,F811  (the tiny GPT-2 fixture)

from benchmark.analysis.records import load_all


def _records(out: Path, kind: str) -> list:
    return [a for a in load_all(out) if a.kind == kind]


def test_similarity_on_minilm_separates_the_senses_at_every_contextual_layer(tmp_path: Path) -> None:
    r = bench("analyze", "similarity", "--upstream", "minilm", "--permutations", "500", "-o", str(tmp_path))
    assert r.returncode == 0, r.stderr[-2000:]
    [rec] = _records(tmp_path, "similarity")
    assert sorted(rec.data["words"]) == ["apple", "date", "party", "rock"]
    for word, res in rec.data["words"].items():
        first, *contextual = res["layers"]
        assert abs(first["separation"]) < 0.01, word  # the input embedding: one token id in every sentence
        for layer in contextual:
            assert layer["separation"] > 0.01 and layer["p_value"] < 0.01, (word, layer["layer"])
            assert layer["nn_accuracy"] > res["nn_chance"] + 0.2, (word, layer["layer"])
    assert "best layer" in r.stdout and "analyses/similarity__minilm__" in r.stdout


def test_similarity_input_errors_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "senses.tsv"
    bad.write_text("word\tsense\tsentence\nbank\triver\tThe bank was muddy.\n", encoding="utf-8")
    r = bench("analyze", "similarity", "--senses", str(bad), "-o", str(tmp_path))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "has only one sense" in r.stderr
    r = bench("analyze", "similarity", "--words", "bank", "-o", str(tmp_path))
    assert r.returncode == 2 and "'bank' is not in the senses file" in r.stderr
    assert not (tmp_path / "analyses").exists()


@pytest.fixture(scope="module")
def mlm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-dim multilingual BERT pretrained for 30 steps on 4,000 fortune sentences (seconds)."""
    out = tmp_path_factory.mktemp("mlm") / "run"
    r = bench("pretrain", "mlm", "--out", str(out), "--sentences", "4000", "--steps", "30", "--save-every", "10",
              "--hidden", "32", "--layers", "2", "--heads", "2", "--vocab", "2000", "--batch-size", "16")
    assert r.returncode == 0, r.stderr[-2000:]
    return out


@pytest.mark.slow
def test_pretrain_mlm_writes_a_model_and_its_checkpoints(mlm_dir: Path) -> None:
    assert sorted(p.name for p in mlm_dir.iterdir() if p.is_dir()) == ["step-000000", "step-000010", "step-000020",
                                                                       "step-000030"]
    meta = json.loads((mlm_dir / "bench_pretraining.json").read_text())
    assert meta["step"] == 30 and len(meta["loss_curve"]) == 3 and meta["loss_curve"][-1] < meta["loss_curve"][0]
    assert meta["data"]["per_language"] == {"de": 1000, "en": 1000, "es": 1000, "it": 1000}
    assert "fortunes-de" in meta["data"]["name"] and meta["architecture"]["layers"] == 2
    first = json.loads((mlm_dir / "step-000010" / "bench_pretraining.json").read_text())
    assert first["step"] == 10 and len(first["loss_curve"]) == 1
    init = json.loads((mlm_dir / "step-000000" / "bench_pretraining.json").read_text())
    assert init["step"] == 0 and init["loss_curve"] == []
    again = bench("pretrain", "mlm", "--out", str(mlm_dir), "--steps", "1")
    assert again.returncode == 2 and "--overwrite" in again.stderr


def test_pretrain_overwrite_never_deletes_a_folder_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("precious")
    r = bench("pretrain", "mlm", "--out", str(tmp_path), "--steps", "1", "--overwrite")
    assert r.returncode == 2 and "not a folder bench pretrain mlm wrote" in r.stderr
    assert (tmp_path / "notes.txt").read_text() == "precious"


@pytest.mark.slow
def test_alignment_language_shift_checkpoints_and_report_offline(mlm_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"
    r = bench("analyze", "alignment", "-u", f"bert:{mlm_dir / 'step-000010'}", "-u", f"bert:{mlm_dir}",
              "--languages", "en-de,en-it", "--max-words", "20", "--per-word", "3", "-o", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    records = _records(out, "alignment")
    assert len(records) == 2
    for rec in records:
        assert rec.data["pretraining_sentences"] == 4000 and rec.data["pretraining_step"] in (10, 30)
        for pair in ("en-de", "en-it"):
            res = rec.data["pairs"][pair]
            assert len(res["mrr"]) == 3 and all(0 < v <= 1 for v in res["mrr"] + res["mrr_centred"])
            assert res["counts"]["source_words"] == 20 and 0 < res["chance"] < 0.2
    r = bench("analyze", "language-shift", "-u", f"bert:{mlm_dir}", "--languages", "en-de", "--alphas", "0,3",
              "--sentences", "8", "--mean-sentences", "40", "-o", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    [shift] = _records(out, "language-shift")
    rows = shift.data["pairs"]["en-de"]["alphas"]
    assert [row["alpha"] for row in rows] == [0.0, 3.0] and rows[0]["tokens"] == rows[1]["tokens"] > 0
    assert all(0 <= row["kept"] <= 1 and 0 <= row["in_target"] <= 1 for row in rows)
    r = bench("run", "--upstream", f"bert@{mlm_dir}", "--tasks", "upos-movie-reviews", "--max-train", "40",
              "--epochs", "2", "-o", str(out), "-q")
    assert r.returncode == 0, r.stderr[-2000:]
    results = [json.loads(p.read_text()) for p in out.glob("*.json")]
    steps = sorted(res["upstream_info"]["checkpoint"]["step"] for res in results)
    assert steps == [0, 10, 20, 30]
    assert {res["upstream_info"]["checkpoint"]["series"] for res in results} == {f"bert@{mlm_dir}"}
    assert all(res["upstream_info"]["pretraining"]["method"] == "mlm" for res in results)
    html = tmp_path / "report.html"
    r = bench("report", "-o", str(out), "--html", str(html))
    assert r.returncode == 0, r.stderr[-2000:]
    page = html.read_text()
    for anchor in ("checkpoints", "alignment", "language-shift", "pretraining"):
        assert f'id="{anchor}"' in page, anchor
    assert "MRR against pre-training corpus size" not in page  # both records come from the same corpus size


def test_analysis_errors_are_one_line(tmp_path: Path) -> None:
    r = bench("analyze", "language-shift", "-u", "minilm", "--languages", "en-de", "-o", str(tmp_path))
    assert r.returncode == 2 and "without its masked-LM head" in r.stderr and r.stderr.count("\n") == 1
    r = bench("analyze", "alignment", "-u", "minilm", "--languages", "en", "-o", str(tmp_path))
    assert r.returncode == 2 and "is not SRC-TGT" in r.stderr
    r = bench("analyze", "alignment", "-u", "minilm", "--languages", "de-it", "-o", str(tmp_path))
    assert r.returncode == 2 and "--dictionary de-it=FILE" in r.stderr
    r = bench("run", "--upstream", f"bert@{tmp_path / 'nowhere'}", "-o", str(tmp_path))
    assert r.returncode == 2 and "is not a folder of checkpoints" in r.stderr
    r = bench("analyze", "in-context", "-u", "minilm", "--shots", "0,-1", "-o", str(tmp_path))
    assert r.returncode == 2 and "--shots" in r.stderr
    r = bench("analyze", "similarity", "-u", "fbank", "-o", str(tmp_path))
    assert r.returncode == 2 and "is a speech model; this analysis reads text" in r.stderr
    afile = tmp_path / "a-file"
    afile.write_text("keep me")
    r = bench("analyze", "similarity", "-o", str(afile))
    assert r.returncode == 2 and "is not a directory" in r.stderr and afile.read_text() == "keep me"
    assert not (tmp_path / "analyses").exists()


def test_decode_shifted_adds_the_vector_where_the_head_reads_it(tmp_path: Path, minilm_dir: Path) -> None:
    """The hook's output equals the masked-LM head applied by hand to the shifted last layer; special tokens are
    left alone; a head-less checkpoint is refused."""
    import shutil

    import torch
    from transformers import BertConfig, BertForMaskedLM

    from benchmark.errors import BenchError
    from upstreams.hf_text import HFTextUpstream

    torch.manual_seed(0)
    model = BertForMaskedLM(BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                       intermediate_size=64, max_position_embeddings=64))
    model.save_pretrained(tmp_path / "m")
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(minilm_dir / name, tmp_path / "m" / name)
    up = HFTextUpstream(str(tmp_path / "m"), name="t")
    texts = ["the house is red", "a dog"]
    shift = torch.randn(32) * 3
    ids, pred, mask, offsets = up.decode_shifted(texts, shift)
    enc = up.tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = up.masked_lm().bert(**enc).last_hidden_state
        real = mask.unsqueeze(-1)
        expected = up.masked_lm().cls(torch.where(real, hidden + shift, hidden)).argmax(-1)
    assert torch.equal(ids, enc["input_ids"]) and torch.equal(pred, expected)
    assert mask.sum().item() == 4 + 2 and offsets[0, 1].tolist() == [0, 3]
    _, plain, _, _ = up.decode_shifted(texts, None)
    assert not torch.equal(plain, pred)
    _, at_zero, _, _ = up.decode_shifted(texts, torch.zeros(32), layer=0)
    assert torch.equal(at_zero, plain)
    headless = HFTextUpstream(str(minilm_dir), name="minilm")
    with pytest.raises(BenchError, match="without its masked-LM head"):
        headless.masked_lm()


def test_in_context_command_records_a_k_shot_sweep(tmp_path: Path, gpt_dir: Path) -> None:  # noqa: F811
    r = bench("analyze", "in-context", "-u", f"gpt:{gpt_dir}", "--tasks", "vader-polarity", "--shots", "1,0",
              "--draws", "2", "--max-eval", "12", "--instruction", "Sentiment?", "-o", str(tmp_path))
    assert r.returncode == 0, r.stderr[-2000:]
    [rec] = _records(tmp_path, "in-context")
    res = rec.data["tasks"]["vader-polarity"]
    assert sorted(res["shots"]) == ["0", "1"] and res["n_eval"] == 12 and res["labels"] == ["negative", "positive"]
    assert len(res["shots"]["0"]["accuracy"]["per_draw"]) == 1 and len(res["shots"]["1"]["accuracy"]["per_draw"]) == 2
    assert all(0 <= a <= 1 for k in ("0", "1") for a in res["shots"][k]["accuracy"]["per_draw"])
    assert res["shots"]["1"]["example_prompt"].startswith("Sentiment?") and "Label: " in res["shots"]["1"]["example_prompt"]
    assert "k=0:" in r.stdout and "k=1:" in r.stdout
    html = tmp_path / "r.html"
    assert bench("report", "-o", str(tmp_path), "--html", str(html)).returncode == 0
    assert 'id="in-context"' in html.read_text()
    r = bench("analyze", "in-context", "-u", "minilm", "--tasks", "vader-polarity", "--max-eval", "4",
              "-o", str(tmp_path))
    assert r.returncode == 2 and "not a causal language model" in r.stderr
