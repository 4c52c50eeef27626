"""Speaker diarization (SUPERB SD): the DER against hand computations and pyannote called directly, frames <->
segments, the permutation-invariant loss, the synth-sd recipe's mixtures and labels, the LibriMix layout on a
miniature copy, and fbank beating the all-one-speaker baseline end to end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from benchmark.errors import BenchError
from benchmark.tasks.librimix_layout import LibriMix
from downstreams.recipes import speech_sd
from downstreams.sd_metrics import (
    activity_to_segments,
    components,
    der,
    frame_labels,
    one_speaker,
    postprocess,
    reference_of,
)

# A 10-second recording: A speaks 0-4 and 8-10, B 3-7 (1 s of overlap, 1 s of silence); 10 s of speaker time.
REF = {"duration": 10.0, "segments": [[0.0, 4.0, "A"], [3.0, 7.0, "B"], [8.0, 10.0, "A"]]}
# X is mapped to A and Y to B (3.5 + 3.5 s in common, against 0.5 + 2.0 the other way round). By hand:
#   3-3.5 A+B vs X: 0.5 missed;  3.5-4 A+B vs Y: 0.5 missed;  7-7.5 nobody vs Y: 0.5 false alarm;
#   8-8.5 A vs nobody: 0.5 missed;  8.5-10 A vs Y (= B): 1.5 confusion.
HYP = [[0.0, 3.5, "X"], [3.5, 7.5, "Y"], [8.5, 10.0, "Y"]]


def test_der_equals_a_hand_computation() -> None:
    assert components(REF, HYP) == pytest.approx((1.5, 0.5, 1.5, 10.0))
    assert der([REF], [HYP]) == pytest.approx(35.0)
    assert der([REF], [REF["segments"]]) == pytest.approx(0.0)
    assert der([REF], [[]]) == pytest.approx(100.0)  # nothing said: all of it missed


def test_all_one_speaker_baseline_by_hand() -> None:
    # One speaker over 0-10, mapped to A: 3-4 misses B (1 s), 4-7 calls B A (3 s), 7-8 is a false alarm (1 s).
    assert one_speaker(REF) == [[0.0, 10.0, "spk0"]]
    assert components(REF, one_speaker(REF)) == pytest.approx((1.0, 1.0, 3.0, 10.0))
    assert der([REF], [one_speaker(REF)]) == pytest.approx(50.0)


def test_der_equals_pyannote_called_directly_and_is_corpus_level() -> None:
    from pyannote.core import Annotation, Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    refs = [REF, {"duration": 6.0, "segments": [[0.5, 3.0, "s1"], [2.0, 5.5, "s2"]]},
            {"duration": 4.0, "segments": [[0.0, 4.0, "s1"]]}]
    hyps = [HYP, [[0.4, 2.2, "spk1"], [2.2, 5.0, "spk0"]], [[0.0, 1.0, "spk0"], [1.0, 4.0, "spk1"]]]
    metric = DiarizationErrorRate(collar=0.0, skip_overlap=False)
    for ref, hyp in zip(refs, hyps, strict=True):
        r, h = Annotation(), Annotation()
        for k, (a, b, s) in enumerate(ref["segments"]):
            r[Segment(a, b), k] = s
        for k, (a, b, s) in enumerate(hyp):
            h[Segment(a, b), k] = s
        metric(r, h, uem=Timeline([Segment(0, ref["duration"])]))
    assert der(refs, hyps) == pytest.approx(100 * abs(metric))
    per = [components(r, h) for r, h in zip(refs, hyps, strict=True)]
    assert der(refs, hyps) == pytest.approx(100 * sum(sum(p[:3]) for p in per) / sum(p[3] for p in per))
    # the batched form (bootstrap resamples) equals the plain one on each row
    t, p = np.empty(3, dtype=object), np.empty(3, dtype=object)
    for i in range(3):
        t[i], p[i] = refs[i], hyps[i]
    rows = np.array([[0, 1, 2], [0, 0, 2], [1, 1, 1]])
    assert der.batched(t[rows], p[rows]) == pytest.approx([der(t[r], p[r]) for r in rows])  # type: ignore[attr-defined]


def test_frames_to_segments_on_fixed_arrays() -> None:
    active = np.array([[1, 0], [1, 0], [0, 0], [1, 1], [0, 1], [0, 1]])
    assert activity_to_segments(active, 0.02) == [[0.0, 0.04, "spk0"], [0.06, 0.08, "spk0"], [0.06, 0.12, "spk1"]]
    assert activity_to_segments(np.zeros((4, 2)), 0.02) == []
    probs = np.array([[0.9, 0.1], [0.2, 0.6], [0.8, 0.45], [0.7, 0.1], [0.1, 0.1]])
    assert postprocess(probs, 0.5).astype(int).tolist() == [[1, 0], [0, 1], [1, 0], [1, 0], [0, 0]]
    assert postprocess(probs, 0.4).astype(int).tolist() == [[1, 0], [0, 1], [1, 1], [1, 0], [0, 0]]
    # a 3-frame median filter closes the one-frame gap in speaker 0 and drops speaker 1's lone frame
    assert postprocess(probs, 0.5, 3).astype(int).tolist() == [[0, 0], [1, 0], [1, 0], [1, 0], [0, 0]]
    # labels at 1 s a frame: frames round(start) .. round(end) - 1 of each segment (s3prl's rule)
    ref = {"duration": 5.0, "segments": [[0.4, 2.6, "b"], [2.0, 4.0, "a"]]}
    assert frame_labels(ref, 5, 1.0).astype(int).tolist() == [[0, 1], [0, 1], [1, 1], [1, 0], [0, 0]]
    assert activity_to_segments(frame_labels(ref, 5, 1.0), 1.0, ("a", "b")) == [[0.0, 3.0, "b"], [2.0, 4.0, "a"]]


@pytest.mark.parametrize("raw, message", [
    ("{not json", "must be JSON"),
    ({"duration": 3.0}, "is {\"duration\": seconds"),
    ({"duration": 0, "segments": []}, "duration must be positive"),
    ({"duration": 3.0, "segments": [[2.0, 1.0, "a"]]}, "segment 1 \\[2.0, 1.0\\] must have 0 <= start < end"),
    ({"duration": 3.0, "segments": [[0.0, "x", "a"]]}, "end must be a number of seconds"),
    ({"duration": 3.0, "segments": [[0.0, 1.0]]}, "segment 1 must be \\[start, end, speaker\\]"),
])
def test_bad_references_are_one_line_errors(raw: object, message: str) -> None:
    with pytest.raises(BenchError, match=message):
        reference_of(raw, "here")


def test_references_are_normalised() -> None:
    ref = reference_of(json.dumps({"duration": 2, "segments": [[1, 2.5, "b"], [0, 1, " a "]]}), "here")
    assert ref == {"duration": 2.0, "segments": [[0.0, 1.0, "a"], [1.0, 2.0, "b"]]}  # sorted, clipped to 2 s


def test_pit_loss_is_the_better_speaker_order() -> None:
    import torch
    from torch.nn import functional as F

    from downstreams.heads_sd_run import pit_loss

    logits = torch.tensor([[[2.0, -1.0], [0.5, 1.5], [-3.0, 0.0]]])
    labels = torch.tensor([[[0.0, 1.0], [1.0, 0.0], [0.0, 0.0]]])
    lengths = torch.tensor([2])  # the third frame is padding
    straight = F.binary_cross_entropy_with_logits(logits[0, :2], labels[0, :2])
    swapped = F.binary_cross_entropy_with_logits(logits[0, :2], labels[0, :2].flip(-1))
    assert float(pit_loss(logits, labels, lengths)) == pytest.approx(float(min(straight, swapped)))
    assert float(pit_loss(logits, labels.flip(-1), lengths)) == pytest.approx(float(pit_loss(logits, labels, lengths)))


def test_the_head_kind_reads_references_and_refuses_labels(registry) -> None:
    from benchmark.heads.protocol import kind_of

    task = registry.tasks.get("synth-sd").obj
    kind = kind_of(registry, "diarization")
    assert (kind.consumes, kind.target, kind.validate(task)) == ("frames", "diarization", [])
    assert kind.convert_target(task, json.dumps(REF), "x") == REF
    with pytest.raises(BenchError, match="task 'synth-sd': x: a diarization reference"):
        kind.convert_target(task, 3, "x")
    labelled = task.model_copy(update={"labels": ["a", "b"]})
    assert "drop labels and vocabulary" in kind.validate(labelled)[0]
    assert "median filter" in kind.selection_rule(task, {"mode": "frozen", "patience": 6}, False)
    assert registry.metrics.get("der").obj.higher_is_better is False


# -- the synth-sd recipe ---------------------------------------------------------------------------------------------


def test_placement_hits_the_stated_overlap_and_silence() -> None:
    for seed in range(20):
        rng = np.random.default_rng(seed)
        durations = list(rng.uniform(1.2, 2.5, size=4))
        starts, length = speech_sd.placement(durations, 0.2, 0.1, rng)
        ref = {"duration": length, "segments": [[s, s + d, "AB"[k % 2]] for k, (s, d) in
                                                enumerate(zip(starts, durations, strict=True))]}
        overlap, silence = speech_sd.rates([ref], step=0.001)
        assert overlap == pytest.approx(0.2, abs=0.01) and silence == pytest.approx(0.1, abs=0.01)
        for k in range(2, 4):  # a voice never overlaps itself
            assert starts[k] >= starts[k - 2] + durations[k - 2]


def test_recipe_mixtures_labels_and_disjoint_voices(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a stand-in synthesiser (a tone padded with silence), each reference segment is the tone's extent, and
    the train / select / test mixtures are spoken by disjoint sets of voices."""
    tones: list[float] = []
    pairs: list[tuple[str, str]] = []

    def fake(text: str, voice: dict, pitch: int, speed: int) -> np.ndarray:
        seconds = 1.0 + 0.1 * (len(text) % 7)
        tones.append(round(seconds, 2))
        t = np.arange(int(seconds * 16_000)) / 16_000
        tone = 0.3 * np.sin(2 * np.pi * (150 + pitch) * t)
        return np.concatenate([np.zeros(3_200), tone, np.zeros(4_800)]).astype(np.float32)

    real = speech_sd.mixture

    def tracked(pair, o, rng):  # type: ignore[no-untyped-def]
        pairs.append(tuple(json.dumps(v, sort_keys=True) for v in pair))  # type: ignore[arg-type]
        return real(pair, o, rng)

    monkeypatch.setattr(speech_sd, "synthesize", fake)
    monkeypatch.setattr(speech_sd, "mixture", tracked)
    o = speech_sd.EspeakDiarization().options({"speakers": 12, "train": 4, "select": 2, "test": 2, "turns": 3})
    built = speech_sd.build_splits(o)
    voices = {"train": set(), "select": set(), "test": set()}
    for k, pair in enumerate(pairs):
        voices["train" if k < 4 else "select" if k < 6 else "test"] |= set(pair)
    assert not (voices["train"] & voices["select"]) and not (voices["train"] & voices["test"])
    assert not (voices["select"] & voices["test"]) and len(voices["train"]) >= 2
    for split, (waves, refs) in built.items():
        assert len(waves) == len(refs) == o[split]
        for wave, ref in zip(waves, refs, strict=True):
            assert ref["duration"] == pytest.approx(len(wave) / 16_000, abs=1e-3)
            assert len(ref["segments"]) == 3 and {s for _, _, s in ref["segments"]} == {"A", "B"}
            for start, end, _ in ref["segments"]:
                assert 0 <= start < end <= ref["duration"]
                assert round(end - start, 2) in tones  # the energy-trimmed tone, not its silent padding
    assert speech_sd.rates(built["train"][1])[0] > 0.1  # the turns overlap


def test_the_all_one_speaker_baseline_on_recipe_references() -> None:
    refs = [{"duration": 8.0, "segments": [[0.4, 3.0, "A"], [2.5, 5.0, "B"], [5.5, 7.6, "A"]]}]
    # by hand: 0-0.4, 5-5.5 and 7.6-8 false alarm (1.3 s); 2.5-3 missed (0.5); B alone 3-5 confused (2 s); 7.2 s
    assert der(refs, [one_speaker(r) for r in refs]) == pytest.approx(100 * (1.3 + 0.5 + 2.0) / 7.2)


# -- the LibriMix layout -----------------------------------------------------------------------------------------


def _wav(path: Path, seconds: float = 0.5) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.full(int(seconds * 16_000), 0.1, np.float32), 16_000)


def librimix(root: Path, splits: tuple[str, ...] = ("train", "dev", "test"), rttm: bool = False) -> Path:
    """A miniature copy of s3prl's LibriMix data directories: two mixtures a split, relative wav paths."""
    base = root / "LibriMix" / "data"
    for split in splits:
        d = base / split
        d.mkdir(parents=True)
        recs = [f"{split}-mix{k}" for k in range(2)]
        for rec in recs:
            _wav(base / "wav" / f"{rec}.wav")
        (d / "wav.scp").write_text("".join(f"{r} wav/{r}.wav\n" for r in reversed(recs)))
        (d / "reco2dur").write_text("".join(f"{r} 0.5\n" for r in recs))
        turns = [(r, k, spk, st, et) for r in recs
                 for k, (spk, st, et) in enumerate([("61", 0.0, 0.3), ("84", 0.2, 0.5)])]
        if rttm:
            (d / "rttm").write_text("".join(f"SPEAKER {r} 1 {st:.2f} {et - st:.2f} <NA> <NA> {spk} <NA> <NA>\n"
                                            for r, _, spk, st, et in turns))
        else:
            (d / "segments").write_text("".join(f"{spk}-{r}-{k} {r} {st:.2f} {et:.2f}\n"
                                                for r, k, spk, st, et in turns))
            (d / "utt2spk").write_text("".join(f"{spk}-{r}-{k} {spk}\n" for r, k, spk, _, _ in turns))
            (d / "spk2utt").write_text("")  # s3prl's directories have one; nothing reads it
    return root


@pytest.mark.parametrize("rttm", [False, True])
def test_librimix_layout_reads_a_miniature_copy(tmp_path: Path, rttm: bool) -> None:
    root = librimix(tmp_path, rttm=rttm)
    layout = LibriMix()
    assert layout.missing(root, "LibriMix/data#test") is None
    clips, labels = layout.read(root, "LibriMix/data#test")
    assert [Path(c.path).name for c in clips] == ["test-mix0.wav", "test-mix1.wav"]  # sorted by recording
    assert clips[0].seconds == 0.5
    assert json.loads(labels[0]) == {"duration": 0.5, "segments": [[0.0, 0.3, "61"], [0.2, 0.5, "84"]]}
    assert layout.missing(root, "LibriMix/data#eval") == "LibriMix/data/eval/wav.scp"


@pytest.mark.parametrize("file, text, message", [
    ("wav.scp", "test-mix0\n", "wav.scp:1: expected '<recording> <wav path>', got 'test-mix0'"),
    ("wav.scp", "test-mix0 sox a.wav -t wav - |\n", "wav.scp:1: piped wav.scp entries are not read"),
    ("wav.scp", "test-mix0 wav/test-mix0.wav\ntest-mix0 wav/test-mix1.wav\n", "recording 'test-mix0' is listed twice"),
    ("wav.scp", "test-mix0 wav/gone.wav\ntest-mix1 wav/test-mix1.wav\n", "wav.scp:1: audio file .*gone.wav not found"),
    ("reco2dur", "test-mix0 long\n", "reco2dur:1: the duration must be a number of seconds >= 0, got 'long'"),
    ("reco2dur", "test-mix1 0.5\n", "reco2dur: no duration for recording 'test-mix0'"),
    ("segments", "u test-mix0 0.0\n", "segments:1: expected '<utterance> <recording> <start> <end>'"),
    ("segments", "61-test-mix0-0 nowhere 0.0 0.3\n", "segments:1: recording 'nowhere' is not in wav.scp"),
    ("segments", "61-test-mix0-9 test-mix0 0.0 0.3\n", "utterance '61-test-mix0-9' has no speaker in utt2spk"),
    ("segments", "61-test-mix0-0 test-mix0 0.3 0.1\n", "the end \\(0.1\\) must come after the start \\(0.3\\)"),
])
def test_librimix_layout_one_line_errors(tmp_path: Path, file: str, text: str, message: str) -> None:
    root = librimix(tmp_path, ("test",))
    (root / "LibriMix" / "data" / "test" / file).write_text(text)
    with pytest.raises(BenchError, match=message):
        LibriMix().read(root, "LibriMix/data#test")


def test_superb_sd_task_reads_the_layout_as_references(tmp_path: Path, registry) -> None:
    from benchmark.tasks.data import load

    task = registry.tasks.get("superb-sd").obj
    assert task.head == "diarization" and task.score == ["der"]
    assert (task.references["fbank"].scores, task.references["sota"].scores) == ({"der": 10.05}, {"der": 5.62})
    data = load(task, librimix(tmp_path), registry, tmp_path / "cache")
    assert len(data.train) == len(data.select) == len(data.evals["test"]) == 2
    assert data.evals["test"].targets[1] == {"duration": 0.5, "segments": [[0.0, 0.3, "61"], [0.2, 0.5, "84"]]}


# -- end to end ----------------------------------------------------------------------------------------------------

SMALL = """\
schema: 1
suites: {}
tasks:
  sd-small:
    description: synth-sd at a test's size
    version: 1
    modality: speech
    head: diarization
    metrics: [der]
    score: [der]
    evals: [test]
    hparams:
      frozen: {hidden: 64, batch_size: 8, lr: 0.003, epochs: 12, patience: 4}
    sources:
      recipe:
        name: espeak-diarization
        options: {seed: 0, speakers: 12, train: 32, select: 8, test: 10}
        splits: {train: train, select: select, test: test}
"""


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")
def test_fbank_beats_the_all_one_speaker_baseline(tmp_path: Path) -> None:
    (tmp_path / "sd.yaml").write_text(SMALL)
    # One intra-op thread: an LSTM's many small steps crawl when two threads fight other processes for two cores.
    env = {**os.environ, "BENCH_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "benchmark", "run", "--upstream", "fbank", "--tasks", "sd-small",
                          "--tasks-file", str(tmp_path / "sd.yaml"), "--seeds", "0", "-o", str(tmp_path / "out"),
                          "-q"], capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr
    result = json.loads(next((tmp_path / "out").rglob("*.json")).read_text())
    refs = result["targets"]["test"]
    baseline = der(refs, [one_speaker(r) for r in refs])
    assert result["scores"]["der"] == pytest.approx(der(refs, result["predictions"]["test"]), abs=1e-3)
    assert baseline > 40.0  # one speaker over everything: silence, overlap and the other voice are all errors
    assert result["main_score"] < baseline - 10.0, (result["main_score"], baseline)
    assert any("post-processing chosen" in n for n in result["task_info"]["notes"])
