"""The NMSQA layout (benchmark.tasks.nmsqa_layout) on a miniature copy in DUAL's released layout, the `nmsqa`
recipe that reads it as units, and the metrics' best-over-annotators rule."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from benchmark.errors import BenchError
from benchmark.tasks.nmsqa_layout import LAYOUT, Segment, passage_audio
from downstreams.recipes import nmsqa
from downstreams.spoken_qa_metrics import aos, ff1

SPAN_HEADER = "hash,text,utterance,start,end,context_segment_id,context_id,new_start,new_end,new_utterance"
SEGMENTS = {"train": {"0_0": [1.0, 0.6, 0.8], "0_1": [1.2]}, "dev": {"3_2": [0.9, 1.1]}}
"""Per split, passage -> its segments' listed durations (seconds)."""
QUESTIONS = {"train": {"q-a": "question-0_0_0", "q-b": "question-0_0_1", "q-c": "question-0_1_0"},
             "dev": {"q-d": "question-3_2_0"}}
SPANS = {"train": [("q-a", "0_0", 1.1, 1.5), ("q-b", "0_0", 0.2, 0.7), ("q-c", "0_1", 0.3, 0.9)],
         "dev": [("q-d", "3_2", 0.4, 0.8), ("q-d", "3_2", 1.0, 1.6)]}  # two annotators


def tone(seconds: float, hz: float) -> np.ndarray:
    t = np.arange(int(round(seconds * 16_000))) / 16_000
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def write_nmsqa(root: Path) -> Path:
    """NMSQA/{train,dev}/ with answer spans, meta, hash2question and audio; returns the NMSQA folder."""
    base = root / "NMSQA"
    for split in ("train", "dev"):
        folder = base / split
        audio = folder / f"{split}_audios"
        audio.mkdir(parents=True)
        meta = ["id,speaker,duration,text"]
        for context, durations in SEGMENTS[split].items():
            for k in reversed(range(len(durations))):  # the meta lists segments in any order
                uid = f"context-{context}_{k}"
                meta.append(f"{uid},Joanna,{durations[k]},words")
                # the audio runs a little long or short: the passage keeps the listed durations
                sf.write(audio / f"{uid}.wav", tone(durations[k] + (0.05 if k % 2 else -0.05), 200 + 100 * k), 16_000)
        for qid in QUESTIONS[split].values():
            meta.append(f"{qid},Matthew,0.5,who")
            sf.write(audio / f"{qid}.mp3", tone(0.5, 440), 16_000, format="MP3")
        (folder / f"meta-{split}.csv").write_text("\n".join(meta) + "\n", encoding="utf-8")
        (folder / f"{split}_hash2question.json").write_text(json.dumps(QUESTIONS[split]), encoding="utf-8")
        rows = [SPAN_HEADER] + [f"{h},ans,u,0,0,0,{c},{a},{b},u" for h, c, a, b in SPANS[split]]
        (folder / f"{split}-answer-span.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return base


def test_reader_reads_questions_passages_and_spans(tmp_path: Path) -> None:
    write_nmsqa(tmp_path)
    train = LAYOUT.read(tmp_path, "NMSQA#train")
    audio = tmp_path / "NMSQA" / "train" / "train_audios"
    assert [(q.id, q.context, q.spans) for q in train.questions] == [
        ("q-a", "0_0", ((1.1, 1.5),)), ("q-b", "0_0", ((0.2, 0.7),)), ("q-c", "0_1", ((0.3, 0.9),))]
    assert train.questions[0].audio == str(audio / "question-0_0_0.mp3")
    assert train.passages["0_0"] == tuple(Segment(str(audio / f"context-0_0_{k}.wav"), d)
                                          for k, d in enumerate([1.0, 0.6, 0.8]))
    assert list(train.passages) == ["0_0", "0_1"]
    dev = LAYOUT.read(tmp_path, "NMSQA#dev")
    assert [(q.id, q.spans) for q in dev.questions] == [("q-d", ((0.4, 0.8), (1.0, 1.6)))]
    assert LAYOUT.missing(tmp_path, "NMSQA#dev") is None
    (tmp_path / "NMSQA" / "dev" / "meta-dev.csv").unlink()
    assert LAYOUT.missing(tmp_path, "NMSQA#dev") == "NMSQA/dev/meta-dev.csv"
    with pytest.raises(BenchError, match="must read 'SUBDIR#SELECTOR' with SELECTOR train | dev"):
        LAYOUT.missing(tmp_path, "NMSQA#test")


def test_passage_keeps_the_listed_durations(tmp_path: Path) -> None:
    write_nmsqa(tmp_path)
    segs = LAYOUT.read(tmp_path, "NMSQA#train").passages["0_0"]
    wave = passage_audio(segs)
    assert len(wave) == round(2.4 * 16_000)
    # segment 0 ran 0.05 s short: zero-padded; segment 1 ran 0.05 s long: cut at 1.6 s where segment 2 starts
    assert np.all(wave[round(0.95 * 16_000) + 1:16_000] == 0)
    assert np.allclose(wave[16_000 + 100:16_000 + 110], tone(0.6, 300)[100:110], atol=1e-4)
    assert np.allclose(wave[round(1.6 * 16_000) + 100:round(1.6 * 16_000) + 110], tone(0.8, 400)[100:110], atol=1e-4)
    assert len(passage_audio((Segment(segs[0].path, 0.5),))) == 8_000


def test_examples_from_runs() -> None:
    """Passages first, then questions, as clip_chunks gives them; answer units and gold spans from the CSV."""
    from benchmark.tasks.nmsqa_layout import NmsqaSplit, SpokenQuestion

    split = NmsqaSplit((SpokenQuestion("q1", "a.mp3", "p", ((0.25, 0.55), (0.0, 0.1))),),
                       {"p": (Segment("p0.wav", 1.0),)})
    runs = [[[3, 0, 10], [7, 10, 20], [3, 20, 30], [9, 30, 50], [1, 50, 60]], [[4, 0, 5], [4, 5, 9]]]
    ex = nmsqa.split_examples(split, runs, 100.0)
    q, p, bounds = ex.inputs[0]
    assert q == "u4 u4" and p == "u3 u7 u3 u9 u1" and bounds[3] == (0.3, 0.5)
    assert ex.targets[0] == {"answers": ["u3 u9 u1"], "starts": [6], "time": [0.25, 0.55],
                             "times": [[0.25, 0.55], [0.0, 0.1]]}


def test_metrics_take_the_best_annotator() -> None:
    gold = {"time": [2.0, 5.0], "times": [[2.0, 5.0], [1.0, 3.0]]}
    # pred [1, 3]: against [2, 5] F1 0.4 / AOS 0.25; against [1, 3] 1 / 1 -> the best
    assert ff1([gold], [[1.0, 3.0]]) == pytest.approx(100.0) and aos([gold], [[1.0, 3.0]]) == pytest.approx(100.0)
    # pred [2, 4]: [2, 5] F1 0.8 AOS 2/3; [1, 3] F1 0.5 AOS 1/3
    assert ff1([gold], [[2.0, 4.0]]) == pytest.approx(80.0) and aos([gold], [[2.0, 4.0]]) == pytest.approx(200 / 3)
    assert ff1([{"time": [1.0, 3.0]}], [[2.0, 4.0]]) == pytest.approx(50.0)  # one gold: as before


def test_recipe_reads_the_copy_as_units(tmp_path: Path) -> None:
    """The loader end to end: k-means units over the training passages, every clip encoded, the examples."""
    write_nmsqa(tmp_path / "data")
    loader = nmsqa.NmsqaLoader()
    options = {"units": {"k": 4, "max_frames": 200}}
    assert loader.missing(options, tmp_path, tmp_path / "data") is None
    assert "pass --data-dir DIR holding NMSQA/train/ and NMSQA/dev/" in loader.missing(options, tmp_path)
    got = loader(task=None, options=options, cache_dir=tmp_path / "cache", data_dir=tmp_path / "data")
    assert len(got["train"]) == 3 and len(got["dev"]) == 1
    assert [t["time"] for t in got["train"].targets] == [[1.1, 1.5], [0.2, 0.7], [0.3, 0.9]]
    assert got["dev"].targets[0]["times"] == [[0.4, 0.8], [1.0, 1.6]]
    q, p, bounds = got["train"].inputs[0]
    assert got["train"].inputs[1][1] == p  # the two questions of passage 0_0 read the same passage units
    assert bounds[0][0] == 0.0 and bounds[-1][1] == pytest.approx(2.4, abs=0.03)  # 2.4 s at 100 frames a second
    assert set(p.split()) <= {f"u{k}" for k in range(4)} and q
    for target, (_, context, b) in zip(got["train"].targets, got["train"].inputs, strict=True):
        t0, t1 = target["time"]
        start = target["starts"][0]
        first = context[:start].count(" ")
        assert b[first][0] < t1 and b[first][1] > t0  # the answer's first unit overlaps the gold span
    assert list((tmp_path / "cache" / "units").glob("nmsqa-*.json"))  # runs cached
    assert loader.revision(options, tmp_path / "data").startswith("nmsqa:")
