"""Readers for the official download layouts of SUPERB's tasks (KS, IC, SID, ER, ASR, PR; SV in sv_layout.py), after
s3prl's recipes.

A reader turns a split string from tasks.yaml, "SUBDIR" or "SUBDIR#SELECTOR" under --data-dir, into AudioClips
(files on disk, never decoded here: SUPERB corpora do not fit in memory) and raw labels (class names or
transcripts). Readers are deterministic (sorted file order) and fast (no audio is opened, except the six Speech
Commands background-noise files, whose length sets the silence crops). Malformed input is a one-line BenchError
naming the file and line. The protocol of each task, and what bench does differently from s3prl, is in
docs/superb.md.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
from functools import lru_cache
from pathlib import Path

from benchmark.errors import BenchError
from benchmark.media.audio import AudioClip, clip
from benchmark.tasks.librimix_layout import LAYOUT as LIBRIMIX
from benchmark.tasks.librimix_layout import LibriMix
from benchmark.tasks.quesst_layout import Quesst14
from benchmark.tasks.snips_layout import AudioSnips
from benchmark.tasks.speech_files import Layout, clip_at, missing_path, parse_split, read_lines, scan
from benchmark.tasks.sv_layout import VoxCeleb1Verification

log = logging.getLogger(__name__)

KS_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
KS_LABELS = [*KS_WORDS, "_unknown_", "_silence_"]
"""SUPERB KS: the 10 command words, every other word of Speech Commands v0.01, and background noise."""
IC_LABELS = [
    "activate|lamp|none", "activate|lights|bedroom", "activate|lights|kitchen", "activate|lights|none",
    "activate|lights|washroom", "activate|music|none", "bring|juice|none", "bring|newspaper|none",
    "bring|shoes|none", "bring|socks|none", "change language|Chinese|none", "change language|English|none",
    "change language|German|none", "change language|Korean|none", "change language|none|none",
    "deactivate|lamp|none", "deactivate|lights|bedroom", "deactivate|lights|kitchen", "deactivate|lights|none",
    "deactivate|lights|washroom", "deactivate|music|none", "decrease|heat|bedroom", "decrease|heat|kitchen",
    "decrease|heat|none", "decrease|heat|washroom", "decrease|volume|none", "increase|heat|bedroom",
    "increase|heat|kitchen", "increase|heat|none", "increase|heat|washroom", "increase|volume|none",
]
"""The 31 intents of Fluent Speech Commands as "action|object|location" (the CSV columns' values), sorted."""
SID_LABELS = [f"id{n}" for n in range(10001, 11252)]
"""The 1,251 VoxCeleb1 speakers (s3prl: class = int(id[2:]) - 10001)."""
_SID = frozenset(SID_LABELS)
ER_LABELS = ["neu", "hap", "ang", "sad"]
"""SUPERB ER's four IEMOCAP classes, in s3prl's order; "exc" (excited) is merged into "hap"."""
IEMOCAP_CODES = frozenset({"neu", "hap", "exc", "ang", "sad", "fru", "sur", "fea", "dis", "oth", "xxx"})
"""Every categorical label an IEMOCAP EmoEvaluation file uses; the six outside SUPERB's classes are dropped."""
_VOWELS = ("AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW")
_CONSONANTS = ("B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P", "R", "S", "SH", "T", "TH",
               "V", "W", "Y", "Z", "ZH")
PHONEMES = sorted([f"{v}{s}" for v in _VOWELS for s in "012"] + list(_CONSONANTS))
"""SUPERB PR's 69 ARPAbet phonemes: vowels keep their stress digit (s3prl's phoneme vocabulary, less SIL / SPN,
which no lexicon entry produces)."""
PHONEMES_NO_STRESS = sorted(_VOWELS + _CONSONANTS)
"""The 39 ARPAbet phonemes of CMUdict without stress digits."""
LEXICON_FILES = ("librispeech-lexicon-200k-g2p.txt", "librispeech-lexicon-allothers-g2p.txt", "librispeech-lexicon.txt")
"""Pronunciation lexicons looked for in --data-dir, in this order (a word's first pronunciation wins): s3prl's two
g2p lexicons, which SUPERB PR used and which cover every LibriSpeech word, then OpenSLR resource 11's."""

KS_GAIN_DB = -3.0  # s3prl's Speech Commands recipe applies sox "gain -3.0" to every clip
_MAX_PER_CLASS = 2**27 - 1  # Speech Commands' MAX_NUM_WAVS_PER_CLASS, which its hash split is defined with
ER_DEV_FRACTION = 0.2  # s3prl ER: valid_ratio 0.2 of the four training sessions, torch.manual_seed(0)
ER_DEV_SEED = 0


# -- KS: Speech Commands v0.01 ------------------------------------------------------------------------------------


def ks_hash_split(file_name: str) -> str:
    """'dev', 'test' or 'train': the dataset's own rule, on the speaker part of the name (before '_nohash_')."""
    speaker = file_name.split("_nohash_", 1)[0]  # the dataset's re.sub(r"_nohash_.*$", "", name)
    value = int(hashlib.sha1(speaker.encode("utf-8")).hexdigest(), 16)
    percent = (value % (_MAX_PER_CLASS + 1)) * (100.0 / _MAX_PER_CLASS)
    return "dev" if percent < 10 else "test" if percent < 20 else "train"


class SpeechCommands:
    description = ("Speech Commands v0.01 (SUPERB KS): SUBDIR#train / SUBDIR#dev split the training download by "
                   "its speaker hash; SUBDIR#test reads the separate test-set download (12 class folders)")

    def missing(self, root: Path, split: str) -> str | None:
        sub, sel = parse_split(split, "speech-commands", ("train", "dev", "test"))
        if sel == "test":
            return missing_path(root / sub, root)
        return missing_path(root / sub, root) or missing_path(root / sub / "_background_noise_", root)

    def read(self, root: Path, split: str) -> tuple[list[AudioClip], list[str]]:
        sub, sel = parse_split(split, "speech-commands", ("train", "dev", "test"))
        base = root / sub
        clips: list[AudioClip] = []
        labels: list[str] = []
        for folder in scan(base):
            if not folder.is_dir() or folder.name == "_background_noise_":
                continue
            if sel == "test" and folder.name not in KS_LABELS:
                raise BenchError(f"{base}: folder '{folder.name}' is not one of the 12 test classes {KS_LABELS} "
                                 "(is this the test-set download, speech_commands_test_set_v0.01?)")
            label = folder.name if sel == "test" or folder.name in KS_WORDS else "_unknown_"
            for f in scan(Path(folder.path)):
                if f.name.endswith(".wav") and (sel == "test" or ks_hash_split(f.name) == sel):
                    clips.append(clip_at(f.path, base, gain_db=KS_GAIN_DB))
                    labels.append(label)
        if sel != "test":
            per_word = [labels.count(w) for w in KS_WORDS]
            crops = self.silence(base / "_background_noise_", sel, round(sum(per_word) / len(per_word)))
            clips += crops
            labels += ["_silence_"] * len(crops)
        return clips, labels

    @staticmethod
    def silence(noise_dir: Path, selector: str, total: int) -> list[AudioClip]:
        """`total` 1-second crops of the background-noise files, spread evenly over the files, at offsets drawn
        from a generator seeded by the selector and file name (so train and dev crops differ, reproducibly)."""
        import soundfile as sf

        files = [Path(e.path) for e in scan(noise_dir) if e.name.endswith(".wav")]
        if not total:
            return []
        if not files:
            raise BenchError(f"{noise_dir}: no .wav files, so no '_silence_' examples (is the download complete?)")
        crops = []
        for i, path in enumerate(files):
            try:
                info = sf.info(str(path))
            except (RuntimeError, sf.LibsndfileError) as err:
                raise BenchError(f"{path}: not a readable audio file ({str(err).strip().splitlines()[0]})") from None
            if info.frames < info.samplerate:
                raise BenchError(f"{path}: background noise shorter than 1 second ({info.frames} samples)")
            rng = random.Random(f"speech-commands/{selector}/{path.name}")
            for _ in range(total // len(files) + (i < total % len(files))):
                first = rng.randrange(info.frames - info.samplerate + 1)
                crops.append(clip_at(path, noise_dir, start=first / info.samplerate,
                                   stop=(first + info.samplerate) / info.samplerate, gain_db=KS_GAIN_DB, seconds=1.0))
        return crops


# -- IC: Fluent Speech Commands -----------------------------------------------------------------------------------


class FluentSpeechCommands:
    description = ("Fluent Speech Commands (SUPERB IC): SUBDIR#train|valid|test reads SUBDIR/data/<sel>_data.csv; "
                   "label 'action|object|location'")

    def missing(self, root: Path, split: str) -> str | None:
        sub, sel = parse_split(split, "fluent-speech-commands", ("train", "valid", "test"))
        return missing_path(root / sub / "data" / f"{sel}_data.csv", root, folder=False)

    def read(self, root: Path, split: str) -> tuple[list[AudioClip], list[str]]:
        import csv

        sub, sel = parse_split(split, "fluent-speech-commands", ("train", "valid", "test"))
        path = root / sub / "data" / f"{sel}_data.csv"
        rows = list(csv.reader(read_lines(path)))
        header = rows[0] if rows else []
        need = ("path", "action", "object", "location")
        if any(c not in header for c in need):
            raise BenchError(f"{path}:1: header must name the columns {', '.join(need)} (got {', '.join(header)})")
        at = [header.index(c) for c in need]
        clips, labels = [], []
        for lineno, row in enumerate(rows[1:], start=2):
            if not row:
                continue
            if len(row) != len(header):
                raise BenchError(f"{path}:{lineno}: expected {len(header)} comma-separated columns, got {len(row)}")
            wav, *slots = (row[i] for i in at)
            label = "|".join(slots)
            if label not in IC_LABELS:
                raise BenchError(f"{path}:{lineno}: intent '{label}' is not one of the 31 Fluent Speech Commands "
                                 "intents (benchmark.tasks.speech_layouts.IC_LABELS)")
            clips.append(clip_at(root / sub / wav, path, lineno))
            labels.append(label)
        return clips, labels


# -- SID: VoxCeleb1 identification ---------------------------------------------------------------------------------


class VoxCeleb1:
    description = ("VoxCeleb1 identification (SUPERB SID): SUBDIR#train|dev|test are sets 1|2|3 of "
                   "SUBDIR/iden_split.txt; audio under SUBDIR/wav/ or SUBDIR/*/wav/ (dev/, test/ as s3prl has it)")
    _SETS = {"train": "1", "dev": "2", "test": "3"}

    def missing(self, root: Path, split: str) -> str | None:
        sub, _ = parse_split(split, "voxceleb1", tuple(self._SETS))
        if not self.wav_roots(root / sub):
            return f"{sub}/wav/"
        return missing_path(root / sub / "iden_split.txt", root, folder=False)

    @staticmethod
    def wav_roots(base: Path) -> list[Path]:
        """SUBDIR/wav (both zips unpacked in one place), then SUBDIR/<name>/wav in name order."""
        found = [base / "wav"] if (base / "wav").is_dir() else []
        return found + sorted(p for p in base.glob("*/wav") if p.is_dir() and not p.parent.name.startswith("."))

    def read(self, root: Path, split: str) -> tuple[list[AudioClip], list[str]]:
        sub, sel = parse_split(split, "voxceleb1", tuple(self._SETS))
        base = root / sub
        roots = self.wav_roots(base)
        speakers: dict[str, list[str]] = {}  # speaker -> the wav roots that hold a folder for it
        for r in roots:
            for entry in scan(r):
                speakers.setdefault(entry.name, []).append(str(r))
        path = base / "iden_split.txt"
        shown = str(path)
        items = []
        for lineno, line in enumerate(read_lines(path), start=1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 2 or parts[0] not in ("1", "2", "3") or parts[1].count("/") != 2:
                raise BenchError(f"{path}:{lineno}: expected '<1|2|3> <speaker>/<video>/<file>.wav', got {line!r}")
            speaker = parts[1].split("/")[0]
            if speaker not in _SID:
                raise BenchError(f"{path}:{lineno}: speaker '{speaker}' is not a VoxCeleb1 id (id10001..id11251)")
            if parts[0] == self._SETS[sel]:
                items.append((parts[1], speaker, f"{shown}:{lineno}"))
        clips, labels = [], []
        for rel, speaker, where in sorted(items):
            for r in speakers.get(speaker, ()):
                try:
                    clips.append(clip(os.path.join(r, rel)))
                    break
                except FileNotFoundError:
                    continue
            else:
                raise BenchError(f"{where}: audio file {rel} not found under {', '.join(map(str, roots))}")
            labels.append(speaker)
        return clips, labels


# -- ER: IEMOCAP -----------------------------------------------------------------------------------------------------


class Iemocap:
    description = ("IEMOCAP (SUPERB ER), leave-one-session-out: SUBDIR#test-foldN is SessionN; SUBDIR#train-foldN "
                   "and SUBDIR#dev-foldN split the other four sessions 80/20 (seeded, as s3prl does)")
    _SELECTORS = tuple(f"{kind}-fold{n}" for kind in ("train", "dev", "test") for n in range(1, 6))

    def missing(self, root: Path, split: str) -> str | None:
        sub, _ = parse_split(split, "iemocap", self._SELECTORS)
        for n in range(1, 6):
            gap = missing_path(root / sub / f"Session{n}" / "dialog" / "EmoEvaluation", root)
            if gap:
                return gap
        return None

    def read(self, root: Path, split: str) -> tuple[list[AudioClip], list[str]]:
        sub, sel = parse_split(split, "iemocap", self._SELECTORS)
        kind, fold = sel.split("-fold")
        if kind == "test":
            items = self.session(root / sub, int(fold))
        else:
            items = [x for n in range(1, 6) if n != int(fold) for x in self.session(root / sub, n)]
            items.sort(key=lambda x: x[0].path)
            order = list(range(len(items)))
            random.Random(ER_DEV_SEED).shuffle(order)
            keep = int((1 - ER_DEV_FRACTION) * len(items))  # s3prl: trainlen = int((1 - valid_ratio) * len)
            items = [items[i] for i in sorted(order[:keep] if kind == "train" else order[keep:])]
        return [c for c, _ in items], [label for _, label in items]

    @staticmethod
    def session(base: Path, n: int) -> list[tuple[AudioClip, str]]:
        """SessionN's utterances of the four classes, sorted by path; 'exc' becomes 'hap', others are dropped."""
        session = base / f"Session{n}"
        out = []
        for entry in scan(session / "dialog" / "EmoEvaluation"):
            if not entry.name.endswith(".txt") or not entry.is_file():
                continue
            path = Path(entry.path)
            for lineno, line in enumerate(read_lines(path), start=1):
                if not line.startswith("["):
                    continue
                fields = [f.strip() for f in line.split("\t") if f.strip()]
                if len(fields) < 3 or fields[2] not in IEMOCAP_CODES:
                    raise BenchError(f"{path}:{lineno}: expected '[start - end]<TAB>utterance<TAB>label<TAB>[v, a, d]'"
                                     f" with label one of {sorted(IEMOCAP_CODES)}, got {line!r}")
                label = "hap" if fields[2] == "exc" else fields[2]
                if label in ER_LABELS:
                    wav = session / "sentences" / "wav" / path.stem / f"{fields[1]}.wav"
                    out.append((clip_at(wav, path, lineno), label))
        return sorted(out, key=lambda x: x[0].path)


# -- ASR / PR: LibriSpeech -----------------------------------------------------------------------------------------


class LibriSpeech:
    """Transcripts (ASR), or phonemes through a pronunciation lexicon (PR) with or without stress digits."""

    def __init__(self, phonemes: str | None = None) -> None:
        self.phonemes = phonemes  # None: transcripts; "stress": SUPERB PR's 69 phonemes; "nostress": 39
        what = {None: "the transcript (upper case, as in the .trans.txt files)",
                "stress": "space-separated phonemes with stress digits (SUPERB PR's 69)",
                "nostress": "space-separated phonemes without stress digits (39)"}[phonemes]
        lexicon = f"; lexicon: {' / '.join(LEXICON_FILES)} in --data-dir" if phonemes else ""
        self.description = f"LibriSpeech: SUBDIR#<subset> (train-clean-100, dev-clean, test-clean); label {what}{lexicon}"
        self.name = "librispeech" + {None: "", "stress": "-phonemes", "nostress": "-phonemes-nostress"}[phonemes]

    def missing(self, root: Path, split: str) -> str | None:
        sub, sel = parse_split(split, self.name, None)
        gap = missing_path(root / sub / sel, root)
        if gap is None and self.phonemes and not any((root / f).is_file() for f in LEXICON_FILES):
            return LEXICON_FILES[-1]
        return gap

    def read(self, root: Path, split: str) -> tuple[list[AudioClip], list[str]]:
        sub, sel = parse_split(split, self.name, None)
        subset = root / sub / sel
        clips, labels = [], []
        for path in sorted(subset.glob("*/*/*.trans.txt")):
            for lineno, line in enumerate(read_lines(path), start=1):
                if not line.strip():
                    continue
                utt, _, text = line.strip().partition(" ")
                if not text.strip() or not utt.startswith(path.name[: -len(".trans.txt")] + "-"):
                    raise BenchError(f"{path}:{lineno}: expected '<speaker>-<chapter>-<n> TRANSCRIPT', got {line!r}")
                clips.append(clip_at(path.parent / f"{utt}.flac", path, lineno))
                labels.append(" ".join(text.split()))
        if not clips:
            raise BenchError(f"{subset}: no <speaker>/<chapter>/*.trans.txt transcripts (is this a LibriSpeech subset?)")
        if not self.phonemes:
            return clips, labels
        files = [root / f for f in LEXICON_FILES if (root / f).is_file()]
        if not files:
            raise BenchError(f"{root}: no pronunciation lexicon; add {' or '.join(LEXICON_FILES)} (docs/superb.md, PR)")
        stamps = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
        lexicon = _lexicon(stamps, self.phonemes == "stress")
        kept_clips, kept, oov = [], [], []
        for c, text in zip(clips, labels):
            missing = [w for w in text.split() if w not in lexicon]
            if missing:
                oov.append(missing[0])
                continue
            kept_clips.append(c)
            kept.append(" ".join(lexicon[w] for w in text.split()))
        if oov:
            log.warning("%s: dropped %d of %d utterances with a word missing from the lexicon (first: %s); add "
                        "s3prl's %s to --data-dir for SUPERB's full coverage", subset, len(oov), len(clips), oov[0],
                        " and ".join(LEXICON_FILES[:2]))
        return kept_clips, kept


@lru_cache(maxsize=4)
def _lexicon(files: tuple[tuple[str, int, int], ...], stress: bool) -> dict[str, str]:
    """word -> its first pronunciation over `files` ((path, size, mtime): a changed file is read again), as
    space-separated phonemes, stress digits kept or not."""
    allowed = set(PHONEMES if stress else PHONEMES_NO_STRESS)
    out: dict[str, str] = {}
    for name, _, _ in files:
        path = Path(name)
        for lineno, line in enumerate(read_lines(path), start=1):
            if not line.strip():
                continue
            word, *phones = line.split()
            if not stress:
                phones = [p.rstrip("012") for p in phones]
            bad = [p for p in phones if p not in allowed]
            if not phones or bad:
                raise BenchError(f"{path}:{lineno}: expected 'WORD PHONEME...' with ARPAbet phonemes"
                                 f"{' (stress digits on vowels)' if stress else ''}, got {line!r}")
            out.setdefault(word, " ".join(phones))
    return out


LAYOUTS: dict[str, Layout] = {
    "speech-commands": SpeechCommands(),
    "fluent-speech-commands": FluentSpeechCommands(),
    "voxceleb1": VoxCeleb1(),
    "iemocap": Iemocap(),
    "librispeech": LibriSpeech(),
    "librispeech-phonemes": LibriSpeech("stress"),
    "librispeech-phonemes-nostress": LibriSpeech("nostress"),
    "quesst14": Quesst14(),
    LIBRIMIX: LibriMix(),
    "voxceleb1-verification": VoxCeleb1Verification(),
    "audio-snips": AudioSnips(),
}
