"""`bench pretrain mlm`'s pieces and the multilingual data behind it (fortunes, FreeDict)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from benchmark.errors import BenchError
from downstreams.recipes import multilingual
from upstreams.mlm import _lr_lambda, mask_tokens, split_corpus


def test_bert_masking_rates_and_special_tokens() -> None:
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(10, 1000, (200, 100), generator=gen)
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, 0] = special[:, -1] = True
    inputs, labels = mask_tokens(ids, special, vocab_size=1000, mask_id=4, rate=0.15, gen=gen)
    chosen = labels != -100
    assert not chosen[special].any()  # [CLS] / [SEP] are never targets
    assert chosen.float().mean().item() == pytest.approx(0.15 * 98 / 100, abs=0.005)
    assert torch.equal(labels[chosen], ids[chosen])
    masked = (inputs == 4) & chosen
    kept = (inputs == ids) & chosen
    assert masked.sum() / chosen.sum() == pytest.approx(0.8, abs=0.02)
    assert kept.sum() / chosen.sum() == pytest.approx(0.1 + 0.1 / 1000, abs=0.02)  # a random token may be itself
    assert torch.equal(inputs[~chosen], ids[~chosen])


def test_corpus_split_holds_out_and_balances_languages() -> None:
    texts = {"en": [f"e{i}" for i in range(50)], "de": [f"d{i}" for i in range(30)], "it": [f"i{i}" for i in range(12)]}
    c = split_corpus(texts, 60, held_out=10)
    assert c.sizes() == {"en": 38, "de": 20, "it": 2}  # Italian and German give all they have; English the rest
    assert split_corpus(texts, 30, held_out=10).sizes() == {"en": 14, "de": 14, "it": 2}
    assert c.held_out["en"] == [f"e{i}" for i in range(10)] and c.sentences["en"][0] == "e10"
    assert sum(split_corpus(texts, None, held_out=10).sizes().values()) == 40 + 20 + 2


def test_learning_rate_warms_up_then_decays_to_zero() -> None:
    f = _lr_lambda(100, 0.1)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(55) == pytest.approx(0.5) and f(100) == 0.0


def test_freedict_translation_lines() -> None:
    entry = "dog /dˈɒɡ/\nHund <masc>, Köter <masc> [ugs.]\n   Synonym: {hound}\n see: {dogs}\n"
    assert multilingual._translations(entry) == ["Hund", "Köter"]
    assert multilingual._translations("adroit /x/\nágil, experto, 1. diestro\n") == ["ágil", "experto", "diestro"]
    assert multilingual._translations("check-in /x/\nAbfertigungshalle im Flughafen\n") == []


def test_user_dictionary_and_corpus_files(tmp_path: Path) -> None:
    d = tmp_path / "d.tsv"
    d.write_text("# en-xx\nHouse\tcasa\nhouse\tchiesa\n", encoding="utf-8")
    assert multilingual.read_dictionary(d) == {"house": frozenset({"casa", "chiesa"})}
    d.write_text("house casa\n", encoding="utf-8")
    with pytest.raises(BenchError, match="d.tsv:1: expected 'source<TAB>target'"):
        multilingual.read_dictionary(d)
    c = tmp_path / "c.txt"
    c.write_text("one  two\n\nthree\n", encoding="utf-8")
    assert multilingual.read_corpus(c) == ("one two", "three")
    c.write_bytes(b"\xff\xfe")
    with pytest.raises(BenchError, match="not UTF-8"):
        multilingual.read_corpus(c)
    with pytest.raises(BenchError, match="no FreeDict dictionary English-xx"):
        multilingual.freedict("xx")


@pytest.mark.skipif(not multilingual.DICTD.joinpath("freedict-eng-deu.index").is_file(),
                    reason="dict-freedict-eng-deu is not installed (.ci/run installs it)")
def test_the_installed_freedict_and_fortunes() -> None:
    de = multilingual.freedict("de")
    assert "hund" in de["dog"] and "haus" in de["house"] and len(de) > 50_000
    sentences = multilingual.fortune_sentences("de")
    assert len(sentences) > 10_000 and all(4 <= len(s.split()) <= 48 for s in sentences[:500])
    assert sentences == multilingual.fortune_sentences("de")  # a fixed order: prefixes are fixed samples
    with pytest.raises(BenchError, match="--corpus xx=FILE"):
        multilingual.fortune_sentences("xx")


def test_the_learned_vocabulary_is_in_a_fixed_order() -> None:
    """Ids follow the sorted vocabulary (specials first), so the same vocabulary always gets the same ids; which
    rare entries make the cut can still vary, as the Rust trainer breaks ties at the cut-off in hash order."""
    from upstreams.mlm import train_tokenizer

    text = [f"the {w} and the {v} went {u}" for w in ("cat", "dog", "bird", "Hund", "Katze")
            for v in ("house", "Haus", "casa", "maison") for u in ("home", "away", "nach Hause")] * 3
    tok = train_tokenizer(text, 120)
    vocab = tok.get_vocab()
    ordered = sorted(vocab, key=vocab.__getitem__)
    assert ordered[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] and ordered[5:] == sorted(ordered[5:])
    assert len(vocab) <= 120 and {"the", "went", "hund"} <= set(vocab)
    enc = tok("the Hund went nach Hause", return_offsets_mapping=True)
    assert tok.decode(enc["input_ids"], skip_special_tokens=True) == "the hund went nach hause"
