"""The Audio SNIPS layout as s3prl's SUPERB SF recipe reads it (s3prl/preprocess/snips_prepare_data.sh, then
s3prl/dataio/corpus/snips.py and the "character-slot" text encoder of s3prl/downstream/ctc/text.py):

    SNIPS/all.iob.snips.txt   one line per utterance: "<Speaker>-snips-<split>-<n> BOS W1 .. Wn EOS<TAB>O T1 .. Tn <intent>"
                              (upper-case words; a tag per word: O or a slot type such as timeRange)
    SNIPS/slots.txt           the slot types, one a line ("O" first)
    SNIPS/train/*.wav         <Speaker>-snips-train-<n>.wav, 16 kHz
    SNIPS/valid/*.wav
    SNIPS/test/*.wav

A split is "SNIPS#train", "SNIPS#valid" or "SNIPS#test": the wavs under that folder whose utterance has a line in
all.iob.snips.txt and whose speaker is one of SUPERB's for the split (the unseen-speaker protocol: 8 training
voices, 4 others for validation, 4 others for test). The label is the transcript in s3prl's character-slot form:
punctuation words dropped, "&" read as AND, accented capitals folded as s3prl does, and each run of words with
the same slot type wrapped in B-<type> / E-<type> tags: "WAKE ME UP AT B-timeRange SEVEN AM E-timeRange".
"""

from __future__ import annotations

import logging
from pathlib import Path

from benchmark.errors import BenchError
from benchmark.media.audio import AudioClip
from benchmark.tasks.speech_files import clip_at, missing_path, parse_split, read_lines

log = logging.getLogger(__name__)

SPEAKERS = {
    "train": ("Ivy", "Joanna", "Joey", "Justin", "Kendra", "Kimberly", "Matthew", "Salli"),
    "valid": ("Aditi", "Amy", "Geraint", "Nicole"),
    "test": ("Brian", "Emma", "Raveena", "Russell"),
}
"""SUPERB SF's speakers per split (s3prl's snips.yaml / SuperbSF defaults): no voice is shared between splits."""
SNIPS_SLOTS = (
    "album", "artist", "best_rating", "city", "condition_description", "condition_temperature", "country", "cuisine",
    "current_location", "entity_name", "facility", "genre", "geographic_poi", "location_name", "movie_name",
    "movie_type", "music_item", "object_location_type", "object_name", "object_part_of_series_type", "object_select",
    "object_type", "party_size_description", "party_size_number", "playlist", "playlist_owner", "poi", "rating_unit",
    "rating_value", "restaurant_name", "restaurant_type", "served_dish", "service", "sort", "spatial_relation",
    "state", "timeRange", "track", "year")
"""The 39 slot types of SNIPS (slots.txt less "O"), sorted: superb-sf's vocabulary has a B- and an E- tag for each."""
TRANSCRIPTS, SLOTS_FILE = "all.iob.snips.txt", "slots.txt"
_PUNCTUATION = frozenset("?!.,;-–…")  # a word that is one of these is dropped (s3prl: `if word in "?!.,;-–…"`)
_FOLD = str.maketrans('ÁÃÄÅÆÇÈÉÊËÍÏÐÒÓÔÖØÚÛĘŃŌŞŪ"', "AAAAACEEEEIIDOOOOOUUENOSU ")  # s3prl's `translator`


def tagged(words: list[str], tags: list[str]) -> str:
    """Words and their per-word slot types (O: none) as a transcript with B-/E- tags around each run of a type."""
    kept = [(w, t) for w, t in zip(words, tags, strict=True) if w not in _PUNCTUATION]
    out: list[str] = []
    for i, (word, tag) in enumerate(kept):
        if tag != "O" and (i == 0 or kept[i - 1][1] != tag):
            out.append(f"B-{tag}")
        out.append(word)
        if tag != "O" and (i == len(kept) - 1 or kept[i + 1][1] != tag):
            out.append(f"E-{tag}")
    return " ".join(out)


def _normalise(word: str) -> list[str]:
    """A word as s3prl's SF recipe spells it: '&' is AND, accented capitals folded, odd quotes as spaces."""
    text = word.replace("楽園追放", "EXPELLED").replace("官方杂志", "").replace("–", "-").replace("&", " AND ")
    return text.translate(_FOLD).split()


class AudioSnips:
    description = ("Audio SNIPS (SUPERB SF): SUBDIR#train / #valid / #test, the wavs of SUPERB's speakers for the "
                   "split; label: the transcript with slots tagged B-<type> ... E-<type> (all.iob.snips.txt, "
                   "slots.txt)")

    def missing(self, root: Path, split: str) -> str | None:
        sub, sel = parse_split(split, "audio-snips", tuple(SPEAKERS))
        base = root / sub
        return (missing_path(base / TRANSCRIPTS, root, folder=False) or missing_path(base / SLOTS_FILE, root, False)
                or missing_path(base / sel, root))

    def read(self, root: Path, split: str) -> tuple[list[AudioClip], list[str]]:
        sub, sel = parse_split(split, "audio-snips", tuple(SPEAKERS))
        base = root / sub
        known = {line.strip() for line in read_lines(base / SLOTS_FILE) if line.strip()} - {"O"}
        labels = self.transcripts(base / TRANSCRIPTS, known)
        folder = base / sel
        if not folder.is_dir():
            raise BenchError(f"{folder}: folder not found (see docs/superb.md for the expected layout)")
        clips, out, unlabeled = [], [], 0
        for path in sorted(folder.rglob("*.wav")):
            uid = path.stem
            if uid not in labels:
                unlabeled += 1
                continue
            if uid.split("-")[0] in SPEAKERS[sel]:
                where, lineno, text = labels[uid]
                clips.append(clip_at(path, where, lineno))
                out.append(text)
        if unlabeled:
            log.info("%s: %d wav files have no line in %s and were skipped (as s3prl does)", folder, unlabeled,
                        TRANSCRIPTS)
        if not clips:
            raise BenchError(f"{folder}: no wav of SUPERB's {sel} speakers ({', '.join(SPEAKERS[sel])}) with a line "
                             f"in {TRANSCRIPTS}")
        return clips, out

    @staticmethod
    def transcripts(path: Path, known: set[str]) -> dict[str, tuple[Path, int, str]]:
        """utterance id -> (file, line, tagged transcript)."""
        out: dict[str, tuple[Path, int, str]] = {}
        for lineno, line in enumerate(read_lines(path), start=1):
            if not line.strip():
                continue
            head, tab, tail = line.strip().partition("\t")
            uid, *sent = head.split()
            tags = tail.split()
            if not tab or len(sent) < 2 or sent[0] != "BOS" or sent[-1] != "EOS" or len(tags) != len(sent):
                raise BenchError(f"{path}:{lineno}: expected '<id> BOS WORDS EOS<TAB>O TAGS <intent>' with one tag "
                                 f"per word, got {line.strip()[:120]!r}")
            words, word_tags = [], []
            for word, tag in zip(sent[1:-1], tags[1:-1], strict=True):
                if tag != "O" and tag not in known:
                    raise BenchError(f"{path}:{lineno}: slot type {tag!r} is not in {SLOTS_FILE}")
                for part in _normalise(word):
                    words.append(part)
                    word_tags.append(tag)
            text = tagged(words, word_tags)
            if not text.strip():
                raise BenchError(f"{path}:{lineno}: utterance {uid} has no words")
            out[uid] = (path, lineno, text)
        return out
