"""Frame-level (CTC) tasks: error-rate metrics, greedy decoding, transcript targets, the frame cache, per-task
hyper-parameter defaults, and a CTC head that learns a transcription task end to end."""

from __future__ import annotations

import zlib
from pathlib import Path

import jiwer
import numpy as np
import pytest
import torch
from torch import nn

from benchmark import sequence as seq
from benchmark.cache import FeatureCache
from benchmark.data import convert_target
from benchmark.errors import BenchError
from benchmark.runner import resolve_hparams, task_hparams
from benchmark.taskspec import parse_task
from benchmark.types import HiddenStates
from downstreams.heads import CTC
from downstreams.metrics import cer, per, wer

ASR = {
    "description": "d", "version": 1, "modality": "text", "head": "ctc", "vocabulary": [" ", "a", "b", "c", "d"],
    "metrics": ["wer", "cer"], "score": ["wer"], "evals": ["test"],
    "sources": {"recipe": {"name": "x"}},
}


def test_error_rates_are_jiwer_corpus_rates_and_batched_forms_agree() -> None:
    refs = ["the cat sat", "a dog", "on the mat today"]
    hyps = ["the cat sat", "a fog barked", "on mat today"]
    assert wer(refs, hyps) == pytest.approx(100 * jiwer.wer(refs, hyps))
    # 0 + (1 substitution + 1 insertion) + 1 deletion over 3 + 2 + 4 reference words
    assert wer(refs, hyps) == pytest.approx(100 * 3 / 9)
    assert cer(refs, hyps) == pytest.approx(100 * jiwer.cer(refs, hyps))
    assert per(["sh iy", "hh ae t"], ["sh iy", "hh eh t"]) == pytest.approx(100 * 1 / 5)
    t, p = np.array(refs), np.array(hyps)
    draws = np.random.default_rng(0).integers(0, 3, size=(20, 3))
    for fn in (wer, cer):
        direct = [fn(t[d], p[d]) for d in draws]
        np.testing.assert_allclose(fn.batched(t[draws], p[draws]), direct)


def test_greedy_decoding_merges_repeats_and_drops_blanks() -> None:
    path = [1, 1, 0, 1, 2, 2, 0, 0, 3]  # blank = 0: "a a" separated by a blank stays two symbols
    log_probs = torch.full((1, len(path), 4), -10.0)
    log_probs[0, torch.arange(len(path)), torch.tensor(path)] = 0.0
    assert CTC.decode(log_probs, torch.tensor([9])) == [[0, 0, 1, 2]]
    assert CTC.decode(log_probs, torch.tensor([4])) == [[0, 0]]  # frames past the length are padding


def test_transcript_targets_are_checked_against_the_vocabulary() -> None:
    task = parse_task("t", ASR, "test")
    assert convert_target(task, "  ab  cd ", "f:1") == "ab cd"
    with pytest.raises(BenchError, match=r"task 't': 'x' at f:2 is not in the task's vocabulary \( abcd\)"):
        convert_target(task, "abx", "f:2")
    with pytest.raises(BenchError, match="empty transcript at f:3"):
        convert_target(task, "   ", "f:3")
    phones = parse_task("p", {**ASR, "vocabulary": ["sh", "iy", "t"], "tokenize": "whitespace",
                              "metrics": ["per"], "score": ["per"]}, "test")
    assert phones.symbols("sh iy t") == ["sh", "iy", "t"]
    with pytest.raises(BenchError, match="'aa' at f:4 is not in the task's vocabulary"):
        convert_target(phones, "sh aa", "f:4")


@pytest.mark.parametrize("change, message", [
    ({"labels": ["a", "b"]}, "labels .* or a vocabulary .* not both"),
    ({"vocabulary": ["ab", "c"]}, "with tokenize: characters every vocabulary entry is one character"),
    ({"vocabulary": ["a", "a"]}, "vocabulary entries must be distinct"),
    ({"hparams": {"zeroshot": {"lr": 1}}}, "hparams"),
])
def test_sequence_task_schema_errors(change: dict, message: str) -> None:
    with pytest.raises(BenchError, match=message):
        parse_task("t", {**ASR, **change}, "tasks.yaml")


def test_task_hyperparameter_defaults_yield_to_the_user() -> None:
    task = parse_task("t", {**ASR, "hparams": {"frozen": {"hidden": 256, "batch_size": 16}}}, "tasks.yaml")
    hp = resolve_hparams("frozen", {"batch_size": 8})
    got = task_hparams(hp, task, explicit={"batch_size"})
    assert (got["hidden"], got["batch_size"], got["lr"]) == (256, 8, hp["lr"])
    assert task_hparams(resolve_hparams("finetune", {}), task, explicit=set())["hidden"] == 0  # frozen only
    bad = parse_task("t", {**ASR, "hparams": {"frozen": {"hiden": 3}}}, "tasks.yaml")
    with pytest.raises(BenchError, match=r"task 't': hparams.frozen: unknown hyper-parameter 'hiden'"):
        task_hparams(hp, bad, explicit=set())
    worse = parse_task("t", {**ASR, "hparams": {"frozen": {"hidden": -1}}}, "tasks.yaml")
    with pytest.raises(BenchError, match=r"hparams.frozen: --hidden must be a whole number >= 0"):
        task_hparams(hp, worse, explicit=set())


def test_frame_cache_round_trip_in_any_write_order(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path)
    rng = np.random.default_rng(0)
    blocks = [rng.standard_normal((n, 2, 3)).astype(np.float32) for n in (5, 1, 7)]
    with cache.create_frames("k", 3, {"label": "x"}) as w:
        w.write([2, 0], [blocks[2], blocks[0]])
        w.write([1], [blocks[1]])
    got = cache.get_frames("k")
    assert got is not None and list(got.lengths) == [5, 1, 7]
    for i, b in enumerate(blocks):
        np.testing.assert_array_equal(got.example(i), b)
    with (cache.path("k") / "frames.bin").open("r+b") as f:  # a truncated entry is not trusted
        f.truncate(10)
    assert cache.get_frames("k") is None
    with pytest.raises(RuntimeError, match="wrote 1 of 2"), cache.create_frames("j", 2, {}) as w:
        w.write([0], [blocks[0]])
    assert cache.get_frames("j") is None and not list(cache.root.glob(".tmp-*"))


class SpellingUpstream(nn.Module):
    """Three frames per character: a fixed random vector per character plus noise (a 'speech' of letters); the
    first frame of each character carries an onset marker, so a doubled letter is two symbols, not one."""

    modality, sample_rate, name, num_layers, hidden_size, n_parameters = "text", None, "spell", 1, 16, 0
    fingerprint = "spell-v1"

    def forward(self, inputs):
        n = max(3 * len(t) for t in inputs)
        out = torch.zeros(len(inputs), n, 16)
        mask = torch.zeros(len(inputs), n, dtype=torch.bool)
        for i, t in enumerate(inputs):
            noise = torch.randn(3 * len(t), 16, generator=torch.Generator().manual_seed(zlib.crc32(t.encode())))
            out[i, : 3 * len(t)] = torch.stack([CHAR_VECTORS[ch] for ch in t]).repeat_interleave(3, 0) + 0.3 * noise
            out[i, 0: 3 * len(t): 3, 0] += 4.0
            mask[i, : 3 * len(t)] = True
        return HiddenStates((out, 2 * out), mask)


CHAR_VECTORS = {ch: torch.randn(16, generator=torch.Generator().manual_seed(k)) for k, ch in enumerate(" abcd")}


def _words(rng: np.random.Generator, n: int) -> list[str]:
    return [" ".join("".join(rng.choice(list("abcd"), size=rng.integers(2, 5))) for _ in range(rng.integers(1, 4)))
            for _ in range(n)]


def test_ctc_head_learns_to_transcribe_and_no_cache_gives_the_same_model(tmp_path: Path, registry) -> None:
    task = parse_task("spell", ASR, "test")
    rng = np.random.default_rng(0)
    train, dev, test = _words(rng, 120), _words(rng, 30), _words(rng, 30)
    hp = {**resolve_hparams("frozen", {"lr": 3e-2, "epochs": 8, "batch_size": 16}), "patience": 3}
    up = SpellingUpstream()
    cache = FeatureCache(tmp_path)
    cached = [seq.CachedFrames(seq.extract_frames(up, x, 8, cache)) for x in (train, dev, test)]
    fitted = seq.train(task, registry, cached[0], train, cached[1], dev, hp, seed=0)
    preds = seq.predict(task, CTC, fitted.model, cached[2], 8)
    assert wer(test, preds) < 10.0, list(zip(test, preds))[:5]  # chance (an empty transcript) is 100
    assert fitted.curve[0]["select_score"] > fitted.select_score  # dev WER went down
    assert fitted.select_score == min(c["select_score"] for c in fitted.curve)  # lower is better: the minimum
    live = [seq.LiveFrames(up, x) for x in (train, dev, test)]
    again = seq.train(task, registry, live[0], train, live[1], dev, hp, seed=0)
    assert seq.predict(task, CTC, again.model, live[2], 8) == preds
    assert [c["select_score"] for c in again.curve] == [c["select_score"] for c in fitted.curve]


class TrainableSpelling(SpellingUpstream):
    """SpellingUpstream followed by a learnable linear map: something for fine-tuning to train."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(16, 16)
        with torch.no_grad():
            self.proj.weight.copy_(torch.eye(16))
            self.proj.bias.zero_()

    def forward(self, inputs):
        hidden = super().forward(inputs)
        out = self.proj(hidden.layers[0])
        return HiddenStates((out, 2 * out), hidden.mask)


def test_ctc_fine_tuning_trains_the_upstream_too(registry) -> None:
    task = parse_task("spell", ASR, "test")
    rng = np.random.default_rng(1)
    train, dev, test = _words(rng, 80), _words(rng, 20), _words(rng, 20)
    hp = {**resolve_hparams("finetune", {"lr": 1e-3, "head_lr": 3e-2, "epochs": 6, "batch_size": 8})}
    up = TrainableSpelling()
    before = up.proj.weight.detach().clone()
    fitted = seq.train(task, registry, seq.LiveFrames(up, train, grad=True), train, seq.LiveFrames(up, dev), dev,
                       hp, seed=0, upstream=up)
    assert not torch.equal(up.proj.weight, before)  # the upstream's weights moved
    preds = seq.predict(task, CTC, fitted.model, seq.LiveFrames(up, test), 8)
    assert wer(test, preds) < 50.0, list(zip(test, preds))[:5]
    assert not up.training  # predict left the upstream in eval mode
