"""Reader of the LibriMix diarization layout as s3prl's SD recipe reads it (SUPERB SD: Libri2Mix, two speakers):
one Kaldi-style data directory per split, SUBDIR/<SELECTOR>/ (s3prl: data/train, data/dev, data/test), holding

- `wav.scp`: `<recording> <wav path>` (a path relative to SUBDIR, or absolute; piped commands are refused),
- `reco2dur`: `<recording> <seconds>` (s3prl derives each recording's number of label frames from it),
- `segments`: `<utterance> <recording> <start> <end>` and `utt2spk`: `<utterance> <speaker>` (what s3prl trains and
  scores on), or instead of those two an `rttm` (`SPEAKER <recording> <channel> <start> <duration> <NA> <NA>
  <speaker> ...`, the reference s3prl's score.sh hands to dscore).

A recording's raw label is its reference as JSON, `{"duration", "segments": [[start, end, speaker]]}`
(downstreams/sd_metrics.py reads it); recordings come in sorted id order. No audio is opened. Malformed lines are
one-line BenchErrors naming the file and line.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmark.errors import BenchError
from benchmark.media.audio import AudioClip
from benchmark.tasks.speech_files import clip_at, missing_path, parse_split, read_lines

LAYOUT = "librimix"


def _number(text: str, path: Path, lineno: int, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= 0 or value == float("inf"):
        raise BenchError(f"{path}:{lineno}: {what} must be a number of seconds >= 0, got {text!r}")
    return value


def _table(path: Path, fields: int, example: str, *, rest: bool = False) -> list[tuple[int, list[str]]]:
    """(line number, fields) of a Kaldi table's non-empty lines; `rest`: the last field takes the line's rest."""
    out = []
    for lineno, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        parts = line.split(None, fields - 1) if rest else line.split()
        if len(parts) != fields:
            raise BenchError(f"{path}:{lineno}: expected '{example}', got {line!r}")
        out.append((lineno, [p.strip() for p in parts]))
    return out


class LibriMix:
    description = ("LibriMix speaker diarization (SUPERB SD) as s3prl reads it: SUBDIR#<name> is the Kaldi data "
                   "directory SUBDIR/<name>/ (wav.scp, reco2dur, segments + utt2spk or rttm); label: the reference "
                   "segments")

    def missing(self, root: Path, split: str) -> str | None:
        sub, sel = parse_split(split, LAYOUT, None)
        folder = root / sub / sel
        for name in ("wav.scp", "reco2dur"):
            gap = missing_path(folder / name, root, folder=False)
            if gap:
                return gap
        if (folder / "rttm").is_file():
            return None
        return missing_path(folder / "segments", root, folder=False) or missing_path(folder / "utt2spk", root, False)

    def read(self, root: Path, split: str) -> tuple[list[AudioClip], list[str]]:
        sub, sel = parse_split(split, LAYOUT, None)
        base, folder = root / sub, root / sub / sel
        wavs: dict[str, tuple[str, int]] = {}
        scp = folder / "wav.scp"
        for lineno, (rec, path) in _table(scp, 2, "<recording> <wav path>", rest=True):
            if path.endswith("|") or path == "-":
                raise BenchError(f"{scp}:{lineno}: piped wav.scp entries are not read; write the audio to files and "
                                 "list their paths")
            if rec in wavs:
                raise BenchError(f"{scp}:{lineno}: recording '{rec}' is listed twice")
            wavs[rec] = (path, lineno)
        if not wavs:
            raise BenchError(f"{scp}: no recordings (is this a Kaldi data directory?)")
        durations: dict[str, float] = {}
        dur_file = folder / "reco2dur"
        for lineno, (rec, text) in _table(dur_file, 2, "<recording> <seconds>"):
            durations[rec] = _number(text, dur_file, lineno, "the duration")
        segments = self.segments(folder, wavs)
        clips, labels = [], []
        for rec in sorted(wavs):
            path, lineno = wavs[rec]
            if rec not in durations:
                raise BenchError(f"{dur_file}: no duration for recording '{rec}' (listed in {scp}:{lineno})")
            audio = Path(path) if Path(path).is_absolute() else base / path
            clips.append(clip_at(audio, scp, lineno, seconds=durations[rec]))
            labels.append(json.dumps({"duration": durations[rec], "segments": sorted(segments.get(rec, []))}))
        return clips, labels

    @staticmethod
    def segments(folder: Path, wavs: dict[str, tuple[str, int]]) -> dict[str, list[list[object]]]:
        """recording -> [[start, end, speaker]] from segments + utt2spk, or from rttm when there is no segments."""
        out: dict[str, list[list[object]]] = {}
        seg_file, spk_file, rttm = folder / "segments", folder / "utt2spk", folder / "rttm"
        if not seg_file.is_file() and rttm.is_file():
            for lineno, line in enumerate(read_lines(rttm), start=1):
                parts = line.split()
                if not parts or parts[0] != "SPEAKER":
                    continue  # other RTTM record types (SPKR-INFO...) carry no turns
                if len(parts) < 8:
                    raise BenchError(f"{rttm}:{lineno}: expected 'SPEAKER <recording> <channel> <start> <duration> "
                                     f"<NA> <NA> <speaker> ...', got {line!r}")
                rec = parts[1]
                if rec not in wavs:
                    raise BenchError(f"{rttm}:{lineno}: recording '{rec}' is not in wav.scp")
                start = _number(parts[3], rttm, lineno, "the start")
                out.setdefault(rec, []).append([start, start + _number(parts[4], rttm, lineno, "the duration"),
                                                parts[7]])
            return out
        speakers = {utt: spk for _, (utt, spk) in _table(spk_file, 2, "<utterance> <speaker>")}
        for lineno, (utt, rec, st, et) in _table(seg_file, 4, "<utterance> <recording> <start> <end>"):
            if rec not in wavs:
                raise BenchError(f"{seg_file}:{lineno}: recording '{rec}' is not in wav.scp")
            if utt not in speakers:
                raise BenchError(f"{seg_file}:{lineno}: utterance '{utt}' has no speaker in utt2spk")
            start, end = _number(st, seg_file, lineno, "the start"), _number(et, seg_file, lineno, "the end")
            if end <= start:
                raise BenchError(f"{seg_file}:{lineno}: the end ({et}) must come after the start ({st})")
            out.setdefault(rec, []).append([start, end, speakers[utt]])
        return out
