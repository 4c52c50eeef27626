"""The official VoxCeleb1 verification layout (SUPERB SV), read as the `voxceleb1-verification` corpus layout.

Under --data-dir, SUBDIR holds the audio as `wav/<speaker>/<video>/<utterance>.wav` (both zips unpacked in one
place) or as `<name>/wav/...` folders (s3prl's `dev/wav` and `test/wav`), and the trial lists `veri_test.txt`
(VoxCeleb1-O, 37,720 trials) and / or `veri_test2.txt` (its cleaned version, 37,611 trials), one trial per line:
`<1|0> <speaker>/<video>/<file>.wav <speaker>/<video>/<file>.wav` (1: the same speaker).

Selectors (the split string is SUBDIR#SELECTOR):
- `train`: every utterance of the dev speakers (speakers no `veri_test*.txt` list names: 1,211 in VoxCeleb1),
  less the model-selection speakers; the raw label is the speaker's id.
- `select`: trials over dev speakers held out of training (every SELECT_EVERY-th dev speaker in sorted order, 40
  of VoxCeleb1's 1,211; at least 2): SELECT_UTTERANCES utterances each (evenly spaced in path order), every
  same-speaker pair and as many different-speaker pairs drawn with a seeded generator.
- any other NAME: the trial list SUBDIR/NAME.txt (`veri_test2` is SUPERB's).
A trial split's utterances are its distinct files in sorted order; each utterance's raw label is the tuple of
trials it opens, ((index of the other utterance, label), ...), so each file is encoded once
(downstreams/heads_sv.py). No audio is decoded here.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from benchmark.errors import BenchError
from benchmark.media.audio import AudioClip, clip
from benchmark.tasks.speech_files import missing_path, parse_split, read_lines, scan

SELECT_EVERY = 30
SELECT_UTTERANCES = 6
SELECT_SEED = "voxceleb1-verification/select"
LINE = "'<0|1> <speaker>/<video>/<file>.wav <speaker>/<video>/<file>.wav'"
Trials = tuple[tuple[int, int], ...]


def wav_roots(base: Path) -> list[Path]:
    """SUBDIR/wav (both zips unpacked in one place), then SUBDIR/<name>/wav in name order."""
    found = [base / "wav"] if (base / "wav").is_dir() else []
    return found + sorted(p for p in base.glob("*/wav") if p.is_dir() and not p.parent.name.startswith("."))


def trial_lists(base: Path) -> list[Path]:
    return sorted(p for p in base.glob("veri_test*.txt") if p.is_file())


def read_trials(path: Path) -> list[tuple[int, str, str, int]]:
    """(label, first, second, line number) of every trial of a list; a malformed line is a one-line error."""
    out = []
    for lineno, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        parts = line.split()
        ok = (len(parts) == 3 and parts[0] in ("0", "1")
              and all(p.count("/") == 2 and p.endswith(".wav") and ".." not in p for p in parts[1:]))
        if not ok:
            raise BenchError(f"{path}:{lineno}: expected {LINE}, got {line!r}")
        if parts[1] == parts[2]:
            raise BenchError(f"{path}:{lineno}: a trial compares {parts[1]} with itself")
        out.append((int(parts[0]), parts[1], parts[2], lineno))
    if not out:
        raise BenchError(f"{path}: no trials (expected lines {LINE})")
    return out


class VoxCeleb1Verification:
    description = ("VoxCeleb1 verification (SUPERB SV): SUBDIR#train is the dev speakers' utterances (speakers in "
                   "no SUBDIR/veri_test*.txt), SUBDIR#select trials over held-out dev speakers, SUBDIR#NAME the "
                   "trial list SUBDIR/NAME.txt (veri_test2: SUPERB's); audio under SUBDIR/wav/ or SUBDIR/*/wav/")

    def missing(self, root: Path, split: str) -> str | None:
        sub, sel = parse_split(split, "voxceleb1-verification", None)
        base = root / sub
        if not wav_roots(base):
            return f"{sub}/wav/"
        if sel in ("train", "select"):
            return None if trial_lists(base) else f"{sub}/veri_test2.txt"
        return missing_path(base / f"{sel}.txt", root, folder=False)

    def read(self, root: Path, split: str) -> tuple[list[AudioClip], list[object]]:
        sub, sel = parse_split(split, "voxceleb1-verification", None)
        base = root / sub
        roots = wav_roots(base)
        if not roots:
            raise BenchError(f"{base}: no wav/ folder (expected {sub}/wav/<speaker>/<video>/<file>.wav)")
        if sel not in ("train", "select"):
            return self.trial_split(base, roots, base / f"{sel}.txt")
        train, held = self.dev_speakers(base, roots)
        if sel == "train":
            files = [(rel, at) for speaker in train for rel, at in self.utterances(roots, speaker)]
            return [clip(at) for _, at in files], [rel.split("/")[0] for rel, _ in files]
        return self.select_split(roots, held)

    @staticmethod
    def dev_speakers(base: Path, roots: list[Path]) -> tuple[list[str], list[str]]:
        """(training speakers, model-selection speakers): the speakers no trial list names, split."""
        lists = trial_lists(base)
        if not lists:
            raise BenchError(f"{base}: no veri_test.txt or veri_test2.txt, which tell the test speakers from the dev "
                             "speakers (download them from the VoxCeleb1 site)")
        tested = {p.split("/")[0] for path in lists for _, a, b, _ in read_trials(path) for p in (a, b)}
        speakers = sorted({e.name for r in roots for e in scan(r) if e.is_dir()} - tested)
        held = [s for i, s in enumerate(speakers) if i % SELECT_EVERY == SELECT_EVERY - 1]
        if len(held) < 2:
            held = speakers[-2:]
        train = [s for s in speakers if s not in set(held)]
        if len(train) < 2:
            raise BenchError(f"{base}: {len(speakers)} dev speakers (speakers in no veri_test*.txt); training and "
                             "model selection need at least 4")
        return train, held

    @staticmethod
    def utterances(roots: list[Path], speaker: str) -> list[tuple[str, str]]:
        """(speaker/video/file.wav, path) of a speaker's utterances over every wav root, sorted."""
        out = []
        for r in roots:
            folder = r / speaker
            if not folder.is_dir():
                continue
            for video in scan(folder):
                if video.is_dir():
                    out += [(f"{speaker}/{video.name}/{f.name}", f.path) for f in scan(Path(video.path))
                            if f.name.endswith(".wav")]
        return sorted(out)

    def select_split(self, roots: list[Path], held: list[str]) -> tuple[list[AudioClip], list[object]]:
        files: list[tuple[str, str]] = []
        for speaker in held:
            mine = self.utterances(roots, speaker)
            step = max(1, len(mine) // SELECT_UTTERANCES)
            files += mine[::step][:SELECT_UTTERANCES]
        files.sort()
        n = len(files)
        who = [rel.split("/")[0] for rel, _ in files]
        same = [(i, j, 1) for i in range(n) for j in range(i + 1, n) if who[i] == who[j]]
        other = [(i, j, 0) for i in range(n) for j in range(i + 1, n) if who[i] != who[j]]
        drawn = random.Random(SELECT_SEED).sample(other, min(len(same), len(other)))
        opened: list[list[tuple[int, int]]] = [[] for _ in files]
        for i, j, label in sorted(same + drawn):
            opened[i].append((j, label))
        return [clip(at) for _, at in files], [tuple(t) for t in opened]

    @staticmethod
    def trial_split(base: Path, roots: list[Path], path: Path) -> tuple[list[AudioClip], list[object]]:
        rows = read_trials(path)
        names = sorted({p for _, a, b, _ in rows for p in (a, b)})
        index = {name: k for k, name in enumerate(names)}
        where = {name: line for _, a, b, line in reversed(rows) for name in (a, b)}  # first line naming each file
        clips = []
        for name in names:
            for r in roots:
                try:
                    clips.append(clip(os.path.join(r, name)))
                    break
                except FileNotFoundError:
                    continue
            else:
                raise BenchError(f"{path}:{where[name]}: audio file {name} not found under "
                                 f"{', '.join(map(str, roots))}")
        opened: list[list[tuple[int, int]]] = [[] for _ in names]
        for label, a, b, _ in rows:
            opened[index[a]].append((index[b], label))
        return clips, [tuple(t) for t in opened]
