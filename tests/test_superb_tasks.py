"""SUPERB's tasks as tasks.yaml declares them: reference points, the SUPERB score at them, label sets that match
the corpus readers, and a keyword-spotting run end to end on a miniature Speech Commands download."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from benchmark.scoring.scores import superb_keys, superb_score
from benchmark.tasks import speech_layouts as sl

# The SUPERB website's public-set table (FBANK, SOTA), as the issue and docs/superb.md cite it.
TABLE = {"superb-pr": ("per", 82.01, 3.53), "superb-ks": ("accuracy", 41.38, 96.66),
         "superb-ic": ("accuracy", 9.65, 98.76), "superb-sid": ("accuracy", 20.06, 90.3),
         **{f"superb-er-fold{k}": ("accuracy", 48.24, 67.62) for k in range(1, 6)},
         "superb-asr": ("wer", 23.18, 3.62), "superb-qbe": ("mtwv", 0.58, 7.36), "superb-sv": ("eer", 9.56, 5.11),
         "superb-sd": ("der", 10.05, 5.62)}


def test_superb_reference_points_and_the_score_at_them(registry) -> None:
    with_refs = [t.obj for t in registry.tasks if {"fbank", "sota"} <= set(t.obj.references)]
    assert {t.name for t in with_refs} >= set(TABLE)
    for task in with_refs:
        zero, top = task.references["fbank"].scores, task.references["sota"].scores
        assert superb_score(task, zero) == pytest.approx(0.0), task.name
        assert superb_score(task, top) == pytest.approx(1000.0), task.name
        if task.name in TABLE:
            metric, fbank, sota = TABLE[task.name]
            assert (zero, top) == ({metric: fbank}, {metric: sota}), task.name
            assert "arXiv:2105.01051" in task.references["sota"].citation
    asr = registry.tasks.get("superb-asr").obj
    better, worse = superb_score(asr, {"wer": 10.0}), superb_score(asr, {"wer": 20.0})
    assert 0 < worse < better < 1000  # a lower WER is a higher SUPERB score
    assert better == pytest.approx(1000 * (10.0 - 23.18) / (3.62 - 23.18))
    assert superb_score(asr, {"wer": 30.0}) < 0  # worse than FBANK is below zero
    # SF counts both of its metrics, as SUPERB does, though only slot-type F1 is the task's main score
    sf = registry.tasks.get("superb-sf").obj
    assert sf.score == ["slot_type_f1"] and superb_keys(sf) == ["slot_type_f1", "slot_value_cer"]
    assert (sf.references["fbank"].scores, sf.references["sota"].scores) == (
        {"slot_type_f1": 69.64, "slot_value_cer": 52.94}, {"slot_type_f1": 89.81, "slot_value_cer": 21.76})
    assert superb_score(sf, {"slot_type_f1": 89.81, "slot_value_cer": 52.94}) == pytest.approx(500.0)
    assert superb_score(sf, {"slot_type_f1": 89.81}) is None  # a metric SUPERB counts is missing


def test_superb_label_sets_match_the_corpus_readers(registry) -> None:
    def task(name):
        return registry.tasks.get(name).obj

    assert task("superb-ks").labels == sl.KS_LABELS and task("superb-ks").class_weights == "balanced"
    assert task("superb-ic").labels == sl.IC_LABELS and len(sl.IC_LABELS) == 31
    assert task("superb-sid").labels == sl.SID_LABELS and len(sl.SID_LABELS) == 1251
    assert all(task(f"superb-er-fold{k}").labels == sl.ER_LABELS for k in range(1, 6))
    assert task("superb-pr").vocabulary == sl.PHONEMES and task("superb-pr").tokenize == "whitespace"
    assert task("superb-asr").hparams["frozen"]["hidden"] == 1024  # SUPERB's ASR head: 2-layer 1024-unit BiLSTM
    assert task("superb-pr").hparams["frozen"]["hidden"] == 0  # PR: a linear layer
    assert registry.suites.get("superb").obj.tasks == ["superb-ks", "superb-ic", "superb-sid", "superb-er-fold1",
                                                       "superb-asr", "superb-pr", "superb-qbe", "superb-sf",
                                                       "superb-sv", "superb-sd"]


def _bench(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "benchmark", *args], capture_output=True, text=True, env=env,
                          timeout=600)


def _speech_commands(root: Path) -> None:
    """A miniature Speech Commands v0.01 download: a distinct tone per class, so FBANK can tell them apart."""
    from test_speech_layouts import DEV_SPEAKERS, TRAIN_SPEAKERS

    rng = np.random.default_rng(0)

    def tone(label: str) -> np.ndarray:
        k = sl.KS_LABELS.index(label) if label in sl.KS_LABELS else sl.KS_LABELS.index("_unknown_")
        t = np.arange(16_000) / 16_000
        return (0.3 * np.sin(2 * np.pi * (200 + 150 * k) * t) + 0.02 * rng.standard_normal(t.size)).astype(np.float32)

    train = root / "speech_commands_v0.01"
    for word in (*sl.KS_WORDS, "bed", "wow"):
        for spk in TRAIN_SPEAKERS + DEV_SPEAKERS:
            for take in range(2):
                (train / word).mkdir(parents=True, exist_ok=True)
                sf.write(train / word / f"{spk}_nohash_{take}.wav", tone(word), 16_000)
    (train / "_background_noise_").mkdir()
    sf.write(train / "_background_noise_" / "white_noise.wav",
             (0.3 * rng.standard_normal(5 * 16_000)).astype(np.float32), 16_000)
    test = root / "speech_commands_test_set_v0.01"
    for label in sl.KS_LABELS:
        (test / label).mkdir(parents=True)
        for take in range(2):
            wave = tone(label) if label != "_silence_" else (0.3 * rng.standard_normal(16_000)).astype(np.float32)
            sf.write(test / label / f"ffffffff_nohash_{take}.wav", wave, 16_000)


def test_superb_ks_runs_on_a_miniature_download_and_reports_a_superb_score(tmp_path: Path, monkeypatch) -> None:
    import os

    env = {**os.environ, "BENCH_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(Path(__file__).parent)}
    env.pop("BENCH_DATA_DIR", None)
    out = tmp_path / "out"
    lack = _bench("run", "--upstream", "fbank", "--tasks", "superb-ks", "-o", str(out), env=env)
    assert lack.returncode == 2 and len(lack.stderr.strip().splitlines()) == 1
    assert "speech_commands_test_set_v0.01/" in lack.stderr and "--data-dir" in lack.stderr
    data = tmp_path / "data"
    data.mkdir()
    half = _bench("run", "--upstream", "fbank", "--tasks", "superb-ks", "--data-dir", str(data), "-o", str(out),
                  env=env)
    assert half.returncode == 2 and "speech_commands_v0.01/" in half.stderr
    _speech_commands(data)
    # fbank without CMVN: a mean-pooled head on per-utterance-normalised frames sees nearly one vector for every
    # clip (docs/superb.md, FBANK and MFCC); this test is about the layout and the SUPERB score
    run = _bench("run", "--upstream", "fbank_no_cmvn", "--tasks", "superb-ks", "--data-dir", str(data), "-o",
                 str(out), "--epochs", "30", "-q", env=env)
    assert run.returncode == 0, run.stderr
    result = json.loads(next(out.rglob("*.json")).read_text())
    assert result["n_examples"] == {"train": 12 * 4 + 4, "select": 12 * 4 + 4, "test": 24}  # + silence crops
    assert result["task_info"]["data_revision"].startswith("local:speech-commands:")
    assert result["main_score"] >= 50.0  # chance is 8.3 (24 test clips, 12 classes)
    report = _bench("report", "-o", str(out), "--format", "json", env=env)
    board = json.loads(report.stdout)
    cell = board["rows"][0]["tasks"]["superb-ks"]
    assert cell["superb"] == pytest.approx(1000 * (result["main_score"] - 41.38) / (96.66 - 41.38), abs=0.01)


def _float_wav(path: Path, wave: np.ndarray, rate: int = 16_000) -> None:
    sf.write(path, wave, rate, subtype="FLOAT")


@pytest.mark.parametrize("case, damage, message", [
    ("empty", lambda p: _float_wav(p, np.zeros(0, np.float32)), "the audio is empty"),
    ("corrupt", lambda p: p.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunk"), "not a readable audio file"),
    ("nan", lambda p: _float_wav(p, np.full(16_000, np.nan, np.float32)), "the audio holds NaN or infinite samples"),
    ("3-d", None, None),
])
def test_bad_audio_is_one_line_naming_the_file_and_nothing_is_written(tmp_path: Path, case, damage, message) -> None:
    import os

    env = {**os.environ, "BENCH_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(Path(__file__).parent)}
    data, out = tmp_path / "data", tmp_path / "out"
    _speech_commands(data)
    victim = data / "speech_commands_test_set_v0.01" / "yes" / "ffffffff_nohash_1.wav"
    if damage is None:  # not damage: a stereo 8 kHz file is down-mixed and resampled, and the run goes on
        t = np.arange(8_000) / 8_000
        tone = (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
        sf.write(victim, np.stack([tone, tone], 1), 8_000)
    else:
        damage(victim)
    run = _bench("run", "--upstream", "fbank", "--tasks", "superb-ks", "--data-dir", str(data), "-o", str(out),
                 "--epochs", "2", "-q", env=env)
    if damage is None:
        assert run.returncode == 0, run.stderr
        return
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr
    assert str(victim) in lines[0] and message in lines[0]
    assert not list(out.rglob("*.json"))  # no result, no failure record: the data is wrong, not the job


@pytest.mark.parametrize("local, message", [
    ({"format": "speech-commands", "dir": "x", "splits": {"train": "a#train", "test": "a#test"}},
     "format speech-commands reads its own layout: drop dir, inputs and label"),
    ({"format": "glue-tsv", "inputs": ["s"], "label": "l", "splits": {"train": "t.tsv", "test": "t.tsv"}},
     "format glue-tsv needs dir, inputs and label"),
])
def test_local_sources_are_tables_or_corpus_layouts(local: dict, message: str) -> None:
    from benchmark.errors import BenchError
    from benchmark.tasks.schema import parse_task

    body = {"description": "d", "version": 1, "modality": "speech", "head": "classification", "labels": ["a"],
            "metrics": ["accuracy"], "score": ["accuracy"], "evals": ["test"], "sources": {"local": local}}
    with pytest.raises(BenchError, match=message):
        parse_task("t", body, "tasks.yaml")


def test_balanced_class_weights_make_every_class_count_the_same(registry) -> None:
    import torch

    from downstreams.heads_pooled import class_weights

    ks = registry.tasks.get("superb-ks").obj
    ys = torch.tensor([10] * 17 + [0, 1] + [11] * 2)  # _unknown_ 17 times as frequent as a keyword
    w = class_weights(ks, ys)
    per_class = torch.bincount(ys, minlength=12).float() * w
    present = per_class[per_class > 0]
    assert torch.allclose(present, torch.full_like(present, len(ys) / 4))  # equal total weight per present class
    assert w[2:10].tolist() == [0.0] * 8  # absent classes get none
    assert class_weights(registry.tasks.get("synth-ks").obj, ys) is None  # not asked for
