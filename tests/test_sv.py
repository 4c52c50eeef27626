"""Speaker verification (SUPERB SV): the EER and minDCF metrics against reference computations, the official
VoxCeleb1 verification layout read from a miniature copy, the `speaker-verification` head kind's checks, and
fbank on the offline synth-sv end to end."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from voxceleb1_copy import DEV, TEST, make_voxceleb1

from benchmark.errors import BenchError
from benchmark.heads.protocol import declared, kind_of
from benchmark.scoring.stats import as_array
from benchmark.tasks.schema import parse_task
from benchmark.tasks.speech_layouts import LAYOUTS
from downstreams.sv_metrics import eer, min_dcf
from downstreams.sv_trials import all_pairs, as_trials

ROOT = Path(__file__).resolve().parent.parent


# -- metrics ---------------------------------------------------------------------------------------------------------


def _scores(seed: int, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    return labels, rng.normal(labels * 1.2, 1.0)  # overlapping classes: an EER around 27 %


def _reference_eer(labels: np.ndarray, scores: np.ndarray) -> float:
    """s3prl's / the VoxCeleb recipes' computation: brentq on the linearly interpolated ROC of scikit-learn."""
    from scipy.interpolate import interp1d
    from scipy.optimize import brentq
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(labels, scores, pos_label=1)
    return 100.0 * brentq(lambda x: 1.0 - x - interp1d(fpr, tpr)(x), 0.0, 1.0)


def _brute_min_dcf(labels: np.ndarray, scores: np.ndarray, p: float = 0.01) -> float:
    """Every threshold (each distinct score, and one above them all): accept a trial when its score >= threshold."""
    best = np.inf
    for t in [*np.unique(scores), np.inf]:
        p_miss = np.mean(scores[labels == 1] < t)
        p_fa = np.mean(scores[labels == 0] >= t)
        best = min(best, (p_miss * p + p_fa * (1 - p)) / min(p, 1 - p))
    return float(best)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_eer_and_min_dcf_equal_reference_computations(seed: int) -> None:
    labels, scores = _scores(seed)
    assert eer(labels, scores) == pytest.approx(_reference_eer(labels, scores), abs=1e-6)
    assert min_dcf(labels, scores) == pytest.approx(_brute_min_dcf(labels, scores), abs=1e-12)
    assert min_dcf(labels, scores, p_target=0.5) == pytest.approx(_brute_min_dcf(labels, scores, 0.5), abs=1e-12)
    rounded = np.round(scores, 1)  # ties between target and non-target scores
    assert min_dcf(labels, rounded) == pytest.approx(_brute_min_dcf(labels, rounded), abs=1e-12)


def test_hand_checked_tiny_example() -> None:
    # targets score .9 .8 .3, non-targets .5 .1. Between thresholds .8 and .5 the miss rate stays 1/3 while the
    # false-alarm rate goes 0 -> 1/2, so the rates are equal at 1/3: EER 33.33 %. minDCF (p 0.01): P_miss + 99 P_fa
    # normalised; the best threshold, .8, misses one target of three and accepts no non-target: 1/3.
    labels, scores = [1, 1, 1, 0, 0], [0.9, 0.8, 0.3, 0.5, 0.1]
    assert eer(labels, scores) == pytest.approx(100 / 3)
    assert min_dcf(labels, scores) == pytest.approx(1 / 3)
    assert eer([1, 0], [0.7, 0.2]) == 0.0 and min_dcf([1, 0], [0.7, 0.2]) == 0.0
    assert eer([1, 0], [0.2, 0.7]) == 100.0 and min_dcf([1, 0], [0.2, 0.7]) == 1.0  # a trivial system costs 1


def test_per_utterance_trials_score_as_the_flat_trials_after_a_json_round_trip() -> None:
    labels, scores = _scores(5, 12)
    trials = [((1, int(labels[k])), (2, int(labels[k + 1]))) for k in range(0, 12, 2)]
    preds = [[float(scores[k]), float(scores[k + 1])] for k in range(0, 12, 2)]
    stored = json.loads(json.dumps({"t": trials, "p": preds}))
    t, p = as_array(stored["t"]), as_array(stored["p"])  # what bootstrap CIs index
    assert eer(t, p) == pytest.approx(eer(labels, scores)) and min_dcf(t, p) == pytest.approx(min_dcf(labels, scores))
    assert eer(t[[0, 0, 3]], p[[0, 0, 3]]) == eer(list(t[[0, 0, 3]]), list(p[[0, 0, 3]]))


def test_metrics_refuse_what_cannot_be_scored() -> None:
    with pytest.raises(BenchError, match="needs target and non-target trials; got 2 target and 0"):
        eer([1, 1], [0.1, 0.2])
    with pytest.raises(BenchError, match="must be a trial list"):
        eer(["spk1"], [[0.1]])
    with pytest.raises(BenchError, match="not finite"):
        min_dcf([1, 0], [0.1, float("nan")])


# -- the official layout, from a miniature copy ------------------------------------------------------------------


def _rel(clips: list, base: Path) -> list[str]:
    return [Path(c.path).relative_to(base).as_posix() for c in clips]


@pytest.mark.parametrize("arrangement", ["merged", "s3prl"])
def test_voxceleb1_verification_splits(tmp_path: Path, arrangement: str) -> None:
    base = make_voxceleb1(tmp_path)
    if arrangement == "s3prl":  # dev/wav from vox1_dev_wav.zip, test/wav from vox1_test_wav.zip
        (base / "dev").mkdir()
        (base / "wav").rename(base / "dev" / "wav")
        (base / "test" / "wav").mkdir(parents=True)
        for speaker in TEST:
            (base / "dev" / "wav" / speaker).rename(base / "test" / "wav" / speaker)
    vox = LAYOUTS["voxceleb1-verification"]
    assert all(vox.missing(tmp_path, f"VoxCeleb1#{s}") is None for s in ("train", "select", "veri_test2"))
    assert vox.missing(tmp_path, "VoxCeleb1#veri_test") == "VoxCeleb1/veri_test.txt"
    clips, labels = vox.read(tmp_path, "VoxCeleb1#train")
    assert labels == [s for s in DEV[:6] for _ in range(4)]  # the test speakers and the 2 held-out ones are out
    assert _rel(clips, base)[:2] == [f"{'dev/' if arrangement == 's3prl' else ''}wav/id10001/5r0dWxy17C8/0000{u}.wav"
                                     for u in (1, 2)]
    clips, trials = vox.read(tmp_path, "VoxCeleb1#select")
    who = [Path(c.path).parts[-3] for c in clips]
    assert who == [DEV[6]] * 4 + [DEV[7]] * 4
    flat = [(i, j, label) for i, opened in enumerate(trials) for j, label in opened]
    assert sum(label for *_, label in flat) == 12 == len(flat) - 12  # 2 x C(4, 2) target trials, as many non-target
    assert all(i < j and label == int(who[i] == who[j]) for i, j, label in flat)
    assert vox.read(tmp_path, "VoxCeleb1#select")[1] == trials  # seeded: the same draw every time
    clips, trials = vox.read(tmp_path, "VoxCeleb1#veri_test2")
    assert ["/".join(Path(c.path).parts[-3:]) for c in clips] == [
        "id10270/5r0dWxy17C8/00001.wav", "id10270/x6uYqmx31kE/00001.wav", "id10271/5r0dWxy17C8/00001.wav",
        "id10271/x6uYqmx31kE/00002.wav"]
    assert trials == [((1, 1), (2, 0)), ((3, 0),), ((3, 1),), ()]  # each trial carried by its first file


def test_voxceleb1_verification_missing_and_errors(tmp_path: Path) -> None:
    vox = LAYOUTS["voxceleb1-verification"]
    assert vox.missing(tmp_path, "VoxCeleb1#train") == "VoxCeleb1/wav/"
    base = make_voxceleb1(tmp_path)
    (base / "veri_test2.txt").unlink()
    assert vox.missing(tmp_path, "VoxCeleb1#train") == "VoxCeleb1/veri_test2.txt"
    with pytest.raises(BenchError, match="no veri_test.txt or veri_test2.txt, which tell the test speakers"):
        vox.read(tmp_path, "VoxCeleb1#train")
    for text, message in (
            ("1 id10270/a/00001.wav\n", r"veri_test2.txt:1: expected '<0\|1> <speaker>/<video>/<file>.wav <spe"),
            ("1 id10270/5r0dWxy17C8/00001.wav id10270/x6uYqmx31kE/00001.wav\nyes a/b/c.wav a/b/d.wav\n",
             r"veri_test2.txt:2: expected"),
            ("0 id10270/5r0dWxy17C8/00001.wav id10270/5r0dWxy17C8/00001.wav\n", r"veri_test2.txt:1: a trial compares"),
            ("\n", r"veri_test2.txt: no trials"),
            ("1 id10270/5r0dWxy17C8/00001.wav id10270/x6uYqmx31kE/00009.wav\n",
             r"veri_test2.txt:1: audio file id10270/x6uYqmx31kE/00009.wav not found under .*VoxCeleb1/wav$")):
        (base / "veri_test2.txt").write_text(text, encoding="utf-8")
        with pytest.raises(BenchError, match=message):
            vox.read(tmp_path, "VoxCeleb1#veri_test2")


# -- the head kind -------------------------------------------------------------------------------------------------


def _task(**over: object):
    spec = {"description": "d", "version": 1, "modality": "speech", "head": "speaker-verification",
            "metrics": ["eer", "min_dcf"], "score": ["eer"], "evals": ["test"],
            "sources": {"recipe": {"name": "espeak-sv"}}, **over}
    return parse_task("sv-check", spec, "t")


def test_head_kind_validation_and_targets(registry) -> None:
    kind = kind_of(registry, "speaker-verification")
    assert declared(registry, "speaker-verification") == ("frames", "trial-scores")
    assert [registry.metrics.get(m).obj.higher_is_better for m in ("eer", "min_dcf")] == [False, False]
    assert kind.validate(_task()) == []
    assert kind.validate(_task(labels=["a", "b"])) == [
        "task 'sv-check': head 'speaker-verification' learns the training speakers from the data and scores trials; "
        "drop labels and vocabulary"]
    assert "modality must be speech" in kind.validate(_task(modality="text"))[0]
    assert "--mode frozen" in kind.check_mode(_task(), "finetune") and kind.check_mode(_task(), "frozen") is None
    assert kind.convert_target(_task(), " id10001 ", "x") == "id10001"
    assert kind.convert_target(_task(), [[3, 1], (4, "0")], "x") == ((3, 1), (4, 0))
    for bad, message in (("", "empty speaker name at x"), ([[3, 2]], r"trial \(3, 2\) must be"),
                         ([3], "a trial list must be pairs")):
        with pytest.raises(BenchError, match=message):
            kind.convert_target(_task(), bad, "x")
    assert as_trials([], "x") == ()
    assert all_pairs(["a", "b", "a"]) == (((1, 0), (2, 1)), ((2, 0),), ())
    registry.tasks.add("sv-check", _task(labels=["a"]), "test")
    assert registry.check({"sv-check"})[0].startswith("task 'sv-check': head 'speaker-verification' learns")


def _bench(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    import os

    # One torch thread: on a shared machine its thread pool's spin-waiting multiplied these runs' time several fold
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "BENCH_CACHE": str(cwd / "cache"), "COLUMNS": "200",
           "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "benchmark", *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=600)


def test_superb_sv_runs_on_the_miniature_layout(tmp_path: Path) -> None:
    make_voxceleb1(tmp_path / "data")
    r = _bench("run", "--upstream", "fbank", "--tasks", "superb-sv", "--data-dir", str(tmp_path / "data"), "--output",
               str(tmp_path / "out"), "--epochs", "1", "--hidden", "16", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    [result] = [json.loads(p.read_text()) for p in (tmp_path / "out").glob("superb-sv__*.json")]
    assert result["n_examples"] == {"train": 24, "select": 8, "test": 4}
    assert result["targets"]["test"] == [[[1, 1], [2, 0]], [[3, 0]], [[3, 1]], []]
    assert [len(p) for p in result["predictions"]["test"]] == [2, 1, 1, 0]
    assert set(result["scores"]) == {"eer", "min_dcf"} and 0 <= result["scores"]["eer"] <= 100


SMALL = {"seed": 0, "train_speakers": 12, "select_speakers": 4, "test_speakers": 5, "utterances": 6,
         "trial_utterances": 4}


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs Debian espeak-ng")
def test_fbank_beats_chance_on_synth_sv(tmp_path: Path) -> None:
    """Chance is 50 % EER (scores unrelated to the speakers); fbank's x-vector on 12 training voices verifies 5
    unseen ones far better."""
    import yaml

    tasks = yaml.safe_load((ROOT / "tasks.yaml").read_text(encoding="utf-8"))["tasks"]
    small = {**tasks["synth-sv"]}
    small["sources"] = {"recipe": {**small["sources"]["recipe"], "options": SMALL}}
    (tmp_path / "sv.yaml").write_text(yaml.safe_dump({"schema": 1, "suites": {}, "tasks": {"synth-sv-small": small}}))
    r = _bench("run", "--upstream", "fbank", "--tasks", "synth-sv-small", "--tasks-file", str(tmp_path / "sv.yaml"),
               "--seeds", "0", "--output", str(tmp_path / "out"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    [result] = [json.loads(p.read_text()) for p in (tmp_path / "out").glob("synth-sv-small__*.json")]
    flat = [label for opened in result["targets"]["test"] for _, label in opened]
    assert flat.count(1) == flat.count(0) == 5 * 6  # balanced: every same-speaker pair, as many others
    assert result["scores"]["eer"] < 40.0, result["scores"]


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs Debian espeak-ng")
def test_synth_sv_recipe_is_speaker_disjoint_balanced_and_cached(tmp_path: Path) -> None:
    from downstreams.recipes.speech_sv import EspeakVerification, trials

    tiny = {"train_speakers": 2, "select_speakers": 2, "test_speakers": 3, "utterances": 2, "trial_utterances": 2}
    loader = EspeakVerification()
    data = loader(task=None, options=tiny, cache_dir=tmp_path)
    assert [len(data[s]) for s in ("train", "select", "test")] == [4, 4, 6]
    train_speakers = set(data["train"].targets)
    assert len(train_speakers) == 2 and all(isinstance(t, str) for t in data["train"].targets)
    flat = [(i, j, label) for i, opened in enumerate(data["test"].targets) for j, label in opened]
    assert sorted(label for *_, label in flat) == [0, 0, 0, 1, 1, 1]  # 3 x C(2, 2) target trials, as many others
    assert all(i < j and label == int(i // 2 == j // 2) for i, j, label in flat)  # utterances grouped by speaker
    stored = np.load(next((tmp_path / "speech").glob("sv-*.npz")))
    groups = [set(stored[f"{s}_speakers"].tolist()) for s in ("train", "select", "test")]
    assert groups[0] == train_speakers and [len(g) for g in groups] == [2, 2, 3]
    assert not (groups[0] & groups[1] or groups[0] & groups[2] or groups[1] & groups[2])  # disjoint voices
    again = loader(task=None, options=tiny, cache_dir=tmp_path)  # from the cached file
    assert again["test"].targets == data["test"].targets
    assert all(np.array_equal(a, b) for a, b in zip(again["test"].inputs, data["test"].inputs, strict=True))
    assert trials([0, 0, 1, 1], 0, "test").tolist() == trials([0, 0, 1, 1], 0, "test").tolist()
    with pytest.raises(BenchError, match="unknown option 'speakers'"):
        loader.revision({"speakers": 3})
