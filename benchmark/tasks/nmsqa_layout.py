"""The NMSQA layout as DUAL released it (Lin et al. 2022, github.com/DanielLin94144/DUAL-textless-SQA: its README,
alignment.py, which writes the answer-span files, and speeech-content-encoder/S2U_train_dev.py, which reads the
audio), per split (train, dev):

    NMSQA/<split>/<split>-answer-span.csv    one row per (question, aligned answer): hash (SQuAD's question id),
                                             context_id ("<article>_<paragraph>"), new_start, new_end (the answer's
                                             seconds in the whole passage); other columns (text, utterance, start,
                                             end, context_segment_id, new_utterance) are not read
    NMSQA/<split>/meta-<split>.csv           one row per utterance: id, duration (seconds); other columns unread
    NMSQA/<split>/<split>_hash2question.json hash -> the question's audio id
    NMSQA/<split>/<split>_audios/<id>.mp3    every utterance (the `<split>_audio.tar.gz` extracted); .wav also read

A passage is spoken in segments, context-<context_id>_0, _1, ... (meta ids), which DUAL merges back into the whole
passage; new_start / new_end add the durations of the segments before the answer's (alignment.py), so the
passage here is the segments' audio joined, each cut or padded to its listed duration. A question with several
rows (dev: one per annotator) has several gold spans. A split is "SUBDIR#train" or "SUBDIR#dev" (the released
test set, spoken by people, has another layout and is not read). Errors name the file and line.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.errors import BenchError
from benchmark.media.audio import AudioClip, clip
from benchmark.tasks.speech_files import missing_path, parse_split

SPLITS = ("train", "dev")
SPAN_COLUMNS = ("hash", "context_id", "new_start", "new_end")
AUDIO_SUFFIXES = (".mp3", ".wav")
SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class Segment:
    path: str
    seconds: float


@dataclass(frozen=True)
class SpokenQuestion:
    id: str
    """SQuAD's question id (the answer-span file's `hash`)."""
    audio: str
    context: str
    spans: tuple[tuple[float, float], ...]
    """Gold [start, end] seconds in the whole passage, one per row of the answer-span file."""


@dataclass(frozen=True)
class NmsqaSplit:
    questions: tuple[SpokenQuestion, ...]
    passages: dict[str, tuple[Segment, ...]]
    """context id -> its segments in spoken order."""


def files(base: Path, split: str) -> dict[str, Path]:
    hashes = base / f"{split}_hash2question.json"
    if not hashes.is_file() and (base / f"{split}-hash2question.json").is_file():
        hashes = base / f"{split}-hash2question.json"  # the name in DUAL's repository (dev-hash2question.json)
    return {"spans": base / f"{split}-answer-span.csv", "meta": base / f"meta-{split}.csv", "hashes": hashes,
            "audio": base / f"{split}_audios"}


def _rows(path: Path, need: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    try:
        with path.open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            lacking = [c for c in need if c not in (reader.fieldnames or [])]
            if lacking:
                raise BenchError(f"{path}: no column '{lacking[0]}' (NMSQA's columns: {', '.join(need)}; "
                                 "docs/spoken-qa.md)")
            return [(reader.line_num, row) for row in reader]
    except UnicodeDecodeError:
        raise BenchError(f"{path}: not UTF-8 text") from None
    except csv.Error as err:
        raise BenchError(f"{path}: not a CSV file ({err})") from None


def _seconds(row: dict[str, str], key: str, where: str) -> float:
    try:
        value = float(row[key])
    except (TypeError, ValueError):
        raise BenchError(f"{where}: {key} '{row[key]}' is not a number of seconds") from None
    if not np.isfinite(value) or value < 0:
        raise BenchError(f"{where}: {key} '{row[key]}' is not a number of seconds")
    return value


class Nmsqa:
    description = ("NMSQA (DUAL): SUBDIR#train / #dev, spoken SQuAD passages and questions; label: the answer's "
                   "time spans in the passage (<split>-answer-span.csv, meta-<split>.csv, "
                   "<split>_hash2question.json, <split>_audios/)")

    def missing(self, root: Path, split: str) -> str | None:
        sub, sel = parse_split(split, "nmsqa", SPLITS)
        f = files(root / sub / sel, sel)
        return (missing_path(f["spans"], root, folder=False) or missing_path(f["meta"], root, folder=False)
                or missing_path(f["hashes"], root, folder=False) or missing_path(f["audio"], root))

    def stamp(self, root: Path, split: str) -> str:
        """The split's files' sizes and times: what its revision digests (no audio is read)."""
        sub, sel = parse_split(split, "nmsqa", SPLITS)
        h = hashlib.sha256()
        for p in files(root / sub / sel, sel).values():
            st = p.stat()
            h.update(f"{p.name}:{st.st_size}:{int(st.st_mtime)}".encode())
        return h.hexdigest()[:16]

    def read(self, root: Path, split: str) -> NmsqaSplit:
        sub, sel = parse_split(split, "nmsqa", SPLITS)
        f = files(root / sub / sel, sel)
        audio = _audio_files(f["audio"])
        try:
            hashes = json.loads(f["hashes"].read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise BenchError(f"{f['hashes']}: not a JSON object of question ids ({err})") from None
        if not isinstance(hashes, dict):
            raise BenchError(f"{f['hashes']}: not a JSON object of question ids")
        segments: dict[str, list[tuple[int, Segment]]] = {}
        for line, row in _rows(f["meta"], ("id", "duration")):
            uid = row["id"] or ""
            if not uid.startswith("context-"):
                continue  # question utterances: their audio is found by id
            context, _, k = uid[len("context-"):].rpartition("_")
            if not context or not k.isdigit():
                raise BenchError(f"{f['meta']}:{line}: passage segment id '{uid}' is not context-<id>_<n>")
            seconds = _seconds(row, "duration", f"{f['meta']}:{line}")
            segments.setdefault(context, []).append((int(k), Segment(_audio(audio, f["audio"], uid, f"{f['meta']}:{line}"),
                                                                     seconds)))
        spans: dict[str, list[tuple[float, float]]] = {}
        first: dict[str, tuple[str, str]] = {}
        for line, row in _rows(f["spans"], SPAN_COLUMNS):
            where = f"{f['spans']}:{line}"
            start, end = _seconds(row, "new_start", where), _seconds(row, "new_end", where)
            if end <= start:
                raise BenchError(f"{where}: answer span {row['new_start']}..{row['new_end']} ends before it starts")
            qid, context = row["hash"] or "", row["context_id"] or ""
            if qid not in hashes:
                raise BenchError(f"{where}: question '{qid}' is not in {f['hashes'].name}")
            if context not in segments:
                raise BenchError(f"{where}: passage '{context}' has no segment context-{context}_0 in "
                                 f"{f['meta'].name}")
            if qid not in first:
                first[qid] = (_audio(audio, f["audio"], str(hashes[qid]), where), context)
            elif first[qid][1] != context:
                raise BenchError(f"{where}: question '{qid}' is answered in two passages ({first[qid][1]}, {context})")
            spans.setdefault(qid, []).append((start, end))
        passages = {c: tuple(s for _, s in sorted(segs)) for c, segs in segments.items()}
        questions = tuple(SpokenQuestion(q, a, c, tuple(spans[q])) for q, (a, c) in first.items())
        return NmsqaSplit(questions, {c: passages[c] for c in dict.fromkeys(q.context for q in questions)})


def _audio_files(folder: Path) -> dict[str, str]:
    """id -> file name of every audio file in the folder (one listing: a split has ~100,000)."""
    try:
        with os.scandir(folder) as it:
            names = sorted(e.name for e in it if not e.name.startswith("."))
    except (FileNotFoundError, NotADirectoryError):
        raise BenchError(f"{folder}: folder not found (see docs/spoken-qa.md for NMSQA's layout)") from None
    out: dict[str, str] = {}
    for name in names:
        stem, suffix = os.path.splitext(name)
        if suffix.lower() in AUDIO_SUFFIXES:
            out.setdefault(stem, name)
    return out


def _audio(found: dict[str, str], folder: Path, uid: str, where: str) -> str:
    if uid not in found:
        raise BenchError(f"{where}: audio file {folder / uid}.mp3 not found (is the download complete?)")
    return str(folder / found[uid])


def decode(path: str) -> np.ndarray:
    """A question's audio at 16 kHz (a one-line BenchError naming an unreadable file)."""
    return question_clip(path).decode(SAMPLE_RATE)


def question_clip(path: str) -> AudioClip:
    return clip(path)


def passage_audio(segments: tuple[Segment, ...]) -> np.ndarray:
    """The passage: its segments' audio joined, each cut or zero-padded to its listed duration, so that the
    answer-span file's passage times (which add up those durations) hold."""
    pieces = []
    for s in segments:
        wave = clip(s.path).decode(SAMPLE_RATE)
        n = int(round(s.seconds * SAMPLE_RATE))
        pieces.append(wave[:n] if len(wave) >= n else np.pad(wave, (0, n - len(wave))))
    return np.concatenate(pieces).astype(np.float32) if pieces else np.zeros(0, np.float32)


LAYOUT = Nmsqa()
