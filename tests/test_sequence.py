"""Frame-level (CTC) tasks: error-rate metrics, greedy decoding, transcript targets, the frame cache, per-task
hyper-parameter defaults, and a CTC head that learns a transcription task end to end."""

from __future__ import annotations

from pathlib import Path

import jiwer
import numpy as np
import pytest
import torch
from fakes import SpellingUpstream, TrainableSpelling

from benchmark.engine.runner import resolve_hparams, task_hparams
from benchmark.errors import BenchError
from benchmark.features.cache import FeatureCache
from benchmark.heads import sequence as seq
from benchmark.tasks.data import convert_target
from benchmark.tasks.schema import parse_task
from benchmark.types import HiddenStates
from downstreams import heads_ctc as ctc
from downstreams.heads import CTC
from downstreams.metrics import cer, per, wer

ASR = {
    "description": "d", "version": 1, "modality": "text", "head": "ctc", "vocabulary": [" ", "a", "b", "c", "d"],
    "metrics": ["wer", "cer"], "score": ["wer"], "evals": ["test"],
    "sources": {"recipe": {"name": "espeak-speech"}},
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
    fitted = ctc.train(task, registry, cached[0], train, cached[1], dev, hp, seed=0)
    preds = ctc.predict(task, CTC, fitted.model, cached[2], 8)
    assert wer(test, preds) < 10.0, list(zip(test, preds))[:5]  # chance (an empty transcript) is 100
    assert fitted.curve[0]["select_score"] > fitted.select_score  # dev WER went down
    assert fitted.select_score == min(c["select_score"] for c in fitted.curve)  # lower is better: the minimum
    assert fitted.curve[-1]["dev_loss"] < fitted.curve[0]["dev_loss"]  # the CTC loss on dev fell too
    assert fitted.steps[-1]["step"] >= len(fitted.curve) and fitted.steps[-1]["train_loss"] < fitted.steps[0]["train_loss"]
    live = [seq.LiveFrames(up, x) for x in (train, dev, test)]
    again = ctc.train(task, registry, live[0], train, live[1], dev, hp, seed=0)
    assert ctc.predict(task, CTC, again.model, live[2], 8) == preds
    assert [c["select_score"] for c in again.curve] == [c["select_score"] for c in fitted.curve]


def test_ctc_fine_tuning_trains_the_upstream_too(registry) -> None:
    task = parse_task("spell", ASR, "test")
    rng = np.random.default_rng(1)
    train, dev, test = _words(rng, 80), _words(rng, 20), _words(rng, 20)
    hp = {**resolve_hparams("finetune", {"lr": 1e-3, "head_lr": 3e-2, "epochs": 6, "batch_size": 8})}
    up = TrainableSpelling()
    before = up.proj.weight.detach().clone()
    fitted = ctc.train(task, registry, seq.LiveFrames(up, train, grad=True), train, seq.LiveFrames(up, dev), dev,
                       hp, seed=0, upstream=up)
    assert not torch.equal(up.proj.weight, before)  # the upstream's weights moved
    preds = ctc.predict(task, CTC, fitted.model, seq.LiveFrames(up, test), 8)
    assert wer(test, preds) < 50.0, list(zip(test, preds))[:5]
    assert not up.training  # predict left the upstream in eval mode


SPELL_TASKS = """\
schema: 1
tasks:
  spell-asr:
    description: transcribe spelled-out words
    version: 1
    modality: text
    head: ctc
    vocabulary: [' ', a, b, c, d]
    metrics: [wer, cer]
    score: [wer]
    evals: [test]
    hparams:
      frozen: {lr: 0.03, epochs: 6, batch_size: 16}
      finetune: {lr: 0.001, head_lr: 0.03, epochs: 4, batch_size: 8}
    sources:
      local: {format: jsonl, dir: SPELL, inputs: [text], label: text,
              splits: {train: train.jsonl, select: dev.jsonl, test: test.jsonl}}
"""


def test_ctc_jobs_end_to_end_frozen_live_and_fine_tuned(tmp_path: Path) -> None:
    import json

    from reliability_workspace import make_workspace

    ws = make_workspace(tmp_path)
    (ws.root / "spell.yaml").write_text(SPELL_TASKS)
    rng = np.random.default_rng(2)
    for split, n in (("train", 100), ("dev", 25), ("test", 25)):
        (ws.data / "SPELL").mkdir(parents=True, exist_ok=True)
        (ws.data / "SPELL" / f"{split}.jsonl").write_text("".join(json.dumps({"text": w}) + "\n" for w in _words(rng, n)))
    base = ("run", "--upstream", "spell", "--tasks", "spell-asr", "--tasks-file", str(ws.root / "spell.yaml"),
            "--data-dir", str(ws.data), "-q")
    runs = {"cached": (), "live": ("--no-cache",), "finetune": ("--mode", "finetune")}
    results = {}
    for name, extra in runs.items():
        out = ws.root / name
        r = ws.bench(*base, "--output", str(out), *extra)
        assert r.returncode == 0, r.stderr
        (path,) = out.glob("spell-asr__*.json")
        results[name] = json.loads(path.read_text())
    for name, res in results.items():
        refs, hyps = res["targets"]["test"], res["predictions"]["test"]
        assert res["scores"]["wer"] == pytest.approx(100 * jiwer.wer(refs, hyps), abs=1e-3), name
        assert res["scores"]["wer"] < 60.0, (name, res["scores"], list(zip(refs, hyps))[:3])  # chance: 100
        assert res["task_info"]["head"] == "ctc" and len(res["layer_weights"]) == 2
    assert results["cached"]["hyperparameters"]["lr"] == 0.03  # the task's own frozen defaults
    assert results["finetune"]["hyperparameters"]["head_lr"] == 0.03
    # --no-cache recomputes the frames every epoch: the same model, the same transcripts
    assert results["live"]["predictions"] == results["cached"]["predictions"]
    assert results["live"]["selection"]["curve"] == results["cached"]["selection"]["curve"]


def test_heads_and_targets_must_agree(registry) -> None:
    ok = parse_task("fine", ASR, "t")
    labels = parse_task("labels", {**ASR, "vocabulary": None, "labels": ["a", "b"], "metrics": ["accuracy"],
                                   "score": ["accuracy"]}, "t")
    vocab = parse_task("vocab", {**ASR, "head": "classification"}, "t")
    mixed = parse_task("mixed", {**ASR, "metrics": ["wer", "cer", "accuracy"], "score": ["wer", "accuracy"]}, "t")
    for task in (ok, labels, vocab, mixed):
        registry.tasks.add(task.name, task, "test")
    assert registry.check({"fine"}) == []
    assert registry.check({"labels"}) == ["task 'labels': head 'ctc' emits transcripts and needs a vocabulary"]
    assert registry.check({"vocab"}) == ["task 'vocab': head 'classification' reads a pooled vector; a task with a "
                                         "vocabulary needs a sequence head such as ctc"]
    assert registry.check({"mixed"}) == ["task 'mixed' averages metrics that disagree on direction (wer, accuracy); "
                                         "score higher-is-better and lower-is-better metrics in separate tasks"]


def test_frames_are_packed_whatever_the_padding_side() -> None:
    layer = torch.arange(2 * 4 * 1, dtype=torch.float32).reshape(2, 4, 1)
    left = HiddenStates((layer, layer + 100), torch.tensor([[False, True, True, True], [False, False, True, True]]))
    frames, lengths = seq._frames(left)
    assert lengths.tolist() == [3, 2] and frames.shape == (2, 3, 2, 1)
    assert frames[0, :, 0, 0].tolist() == [1, 2, 3] and frames[1, :2, 1, 0].tolist() == [106, 107]
