"""Offline symbolic-music data for the `cross-discipline` suite: which composer wrote an excerpt.

Source: the corpus that ships inside the music21 package (Cuthbert & Ariza 2010, "music21: A toolkit for
computer-aided musicology and symbolic music data", ISMIR; music21 10.5.1 from PyPI, BSD-3-Clause): Bach's chorale
harmonisations (MusicXML), Palestrina's mass movements (Humdrum **kern) and Monteverdi's madrigals (MusicXML).
The music is in the public domain, but music21's corpus/license.txt leaves each encoding under its own terms: the
Palestrina files say "Copyright 2000, John Miller" and refer to the Humdrum Palestrina database licence. The recipe
reads the installed copy and keeps what it derives in the local cache; it redistributes nothing.
Only note-bearing formats are read (.mxl, .xml, .musicxml, .krn); the corpus' RomanText analyses (.rntxt) hold
no notes. Pieces are taken in sorted path order, spread evenly over each composer's list when capped (Bach 240,
Palestrina 80, every Monteverdi madrigal by default; option `pieces_per_composer` caps all three alike).

Each part of a piece becomes one sequence of events, one token per onset: the sounding pitch with its octave as
music21 spells it ("E4", "F#5", "B-3" for B flat) or "r" for a rest, then "_" and the duration in quarter notes
("E4_1", "F#5_0.5", "r_2", "1/3" for triplets). Tied notes are merged into one event (a tie is one sounded note),
and so are consecutive rests (several bars' rest is one silence, "r_24", not a run of identical tokens);
at an onset with several notes (a chord, or two voices in one part) the highest one is kept; zero-length grace
notes are dropped. Inputs are excerpts of 62 consecutive events, as space-separated tokens, cut without overlap
from the start of every part (the remainder of a part shorter than 62 events is dropped).

Pieces, not excerpts, are assigned to train, select and test (seeded, each composer's pieces dealt in proportion
to the split counts), so no piece is in two splits; then each split draws equal numbers of excerpts per composer
(differing by at most one when a count does not divide by three). Pitches stay as written, not transposed: the
absolute pitch and the note values are real cues (Palestrina's half-note motion in alla breve against Bach's
quarter-note chorales, the chorales' keys and ranges), which a model may and will use.

The parsed event sequences are cached apart from the split (parsing takes minutes, splitting milliseconds), both
as JSON under cache_dir/cross-discipline/, and the default build is checked against a recorded digest.
"""

from __future__ import annotations

import importlib.metadata
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.errors import BenchError
from benchmark.hookspecs import hookimpl
from benchmark.types import Examples
from downstreams.recipes.biosequences import (
    SPLITS,
    built_need,
    cache_file,
    check_digest,
    check_options,
    describe,
    digest,
    json_cache,
    per_class,
    shuffled,
    to_examples,
)

RECIPE = "music21-composers"
RECIPE_VERSION = 1
MUSIC_LABELS = ["Bach", "Palestrina", "Monteverdi"]
CORPUS_DIRS = {"Bach": "bach", "Palestrina": "palestrina", "Monteverdi": "monteverdi"}
DEFAULT_PIECES = {"Bach": 240, "Palestrina": 80, "Monteverdi": 1000}
NOTE_FORMATS = (".mxl", ".xml", ".musicxml", ".krn")
EVENTS = 62
INSTALL = "the music21 package (pip install 'encoder-bench[cross-discipline]', or pip install music21==10.5.1)"
DEFAULTS: dict[str, Any] = {"train": 400, "select": 200, "test": 400, "seed": 0, "pieces_per_composer": None}
DIGEST = "29c1f48761ed6e4f"
"""sha256 (first 16 hex digits) of the splits at the default options, as music21 10.5.1 parses its corpus."""


def music21_version() -> str:
    try:
        return importlib.metadata.version("music21")
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def _music21() -> Any:
    try:
        import music21
    except ImportError:
        raise BenchError(f"{RECIPE} needs {INSTALL}") from None
    return music21


def corpus_pieces(cap: int | None) -> dict[str, list[str]]:
    """Per composer, the corpus paths (relative to music21's corpus folder) of the note-bearing pieces read."""
    corpus = _music21().corpus
    root = Path(corpus.__file__).parent
    out = {}
    for label, folder in CORPUS_DIRS.items():
        paths = sorted(Path(p).relative_to(root).as_posix() for p in corpus.getComposer(folder)
                       if str(p).endswith(NOTE_FORMATS))
        n = min(len(paths), DEFAULT_PIECES[label] if cap is None else cap)
        # evenly spread, not the first n: Palestrina's sorted list starts with dozens of Agnus Dei movements
        out[label] = [paths[i * len(paths) // n] for i in range(n)]
    return out


def duration_text(quarters: Any) -> str:
    """1 -> "1", 0.5 -> "0.5", 1/3 -> "1/3": decimals where they are exact, fractions for tuplets."""
    q = Fraction(quarters).limit_denominator(96)
    if q.denominator == 1:
        return str(q.numerator)
    if q.denominator & (q.denominator - 1) == 0:  # a power of two: the decimal is short and exact
        return format(float(q), "g")
    return f"{q.numerator}/{q.denominator}"


def part_events(part: Any) -> list[str]:
    """One part's tokens: ties merged, consecutive rests merged, the highest note at each onset, grace notes
    dropped."""
    onsets: dict[Any, list[Any]] = {}
    for e in part.stripTies().flatten().notesAndRests:
        if e.duration.quarterLength > 0:
            onsets.setdefault(e.offset, []).append(e)
    tokens: list[str] = []
    rests = Fraction(0)  # the length of the rest token at the end of `tokens`
    for onset in sorted(onsets):
        sounding = [(max(p.ps for p in e.pitches), e) for e in onsets[onset] if not e.isRest and e.pitches]
        if sounding:
            top, e = max(sounding, key=lambda pe: pe[0])
            name = next(p for p in e.pitches if p.ps == top).nameWithOctave
        else:
            e, name = onsets[onset][0], "r"
        length = Fraction(e.duration.quarterLength)
        if name == "r" and tokens and tokens[-1][0] == "r":  # one silence, however many bars it spans
            length += rests
            tokens.pop()
        rests = length if name == "r" else Fraction(0)
        tokens.append(f"{name}_{duration_text(length)}")
    return tokens


def piece_events(piece: str) -> list[list[str]]:
    """The event tokens of every part of one corpus piece."""
    music21 = _music21()
    path = Path(music21.corpus.__file__).parent / piece
    # forceSource: parse the file itself, neither reading nor writing music21's pickle cache
    score = music21.converter.parse(path, forceSource=True)
    scores = list(score.scores) if hasattr(score, "scores") else [score]
    return [part_events(part) for s in scores for part in s.parts]


def parsed_corpus(o: dict[str, Any], cache_dir: Path) -> dict[str, dict[str, list[list[str]]]]:
    """{composer: {piece: parts' tokens}}, parsed once per (music21 version, pieces) and cached."""
    pieces = corpus_pieces(o["pieces_per_composer"])
    key = digest({"music21": music21_version(), "pieces": pieces})
    path = Path(cache_dir) / "cross-discipline" / f"music21-corpus-v{RECIPE_VERSION}-{key}.json"
    return json_cache(path, lambda: {label: {p: piece_events(p) for p in ps} for label, ps in pieces.items()})


def build_splits(o: dict[str, Any], parsed: dict[str, dict[str, list[list[str]]]]) -> dict[str, list[dict[str, Any]]]:
    need = {s: per_class(o[s], len(MUSIC_LABELS)) for s in SPLITS}
    splits: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    for c, label in enumerate(MUSIC_LABELS):
        rng = np.random.default_rng([o["seed"], 5, c])
        pieces = sorted(parsed[label])
        pool: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
        for i in rng.permutation(len(pieces)).tolist():
            excerpts = [{"input": " ".join(tokens[at:at + EVENTS]), "label": c, "piece": pieces[i], "part": p,
                         "event": at}
                        for p, tokens in enumerate(parsed[label][pieces[i]])
                        for at in range(0, len(tokens) - EVENTS + 1, EVENTS)]
            if excerpts:  # deal the piece to the split least filled relative to what it needs
                split = min(SPLITS, key=lambda s: (len(pool[s]) / need[s][c], SPLITS.index(s)))
                pool[split].extend(excerpts)
        for s in SPLITS:
            if len(pool[s]) < need[s][c]:
                raise BenchError(f"{RECIPE}: the {label} pieces read give {len(pool[s])} excerpts for the {s} split, "
                                 f"fewer than the {need[s][c]} needed: lower train/select/test or raise "
                                 "pieces_per_composer")
            keep = sorted(rng.choice(len(pool[s]), need[s][c], replace=False).tolist())
            splits[s].extend(pool[s][i] for i in keep)
    order = np.random.default_rng([o["seed"], 6])
    return {s: shuffled(rows, order) for s, rows in splits.items()}


class MusicComposers:
    """The `music21-composers` recipe: options train, select, test, seed, pieces_per_composer."""

    def options(self, options: dict[str, Any]) -> dict[str, Any]:
        o = check_options(RECIPE, options, DEFAULTS, len(MUSIC_LABELS))
        cap = o["pieces_per_composer"]
        if cap is not None and (not isinstance(cap, int) or isinstance(cap, bool) or cap < 1):
            raise BenchError(f"{RECIPE}: option pieces_per_composer must be a whole number >= 1, not {cap!r}")
        return o

    def cache_path(self, o: dict[str, Any], cache_dir: Path) -> Path:
        return cache_file(RECIPE, RECIPE_VERSION, o, cache_dir)

    def missing(self, options: dict[str, Any], cache_dir: Path) -> str | None:
        if self.cache_path(self.options(options), cache_dir).is_file():
            return None
        try:
            import music21.corpus  # noqa: F401
        except ImportError:
            return INSTALL
        return None

    def needs(self, options: dict[str, Any], cache_dir: Path) -> list[Any]:
        return built_need(self, "music21 corpus excerpts", options, cache_dir)

    def revision(self, options: dict[str, Any]) -> str:
        return describe(RECIPE, self.options(options))

    def splits(self, options: dict[str, Any], cache_dir: Path) -> dict[str, list[dict[str, Any]]]:
        """The built rows of each split: input, label, and the piece, part and event it starts at."""
        o = self.options(options)

        def build() -> dict[str, Any]:
            splits = build_splits(o, parsed_corpus(o, cache_dir))
            check_digest(RECIPE, o, DEFAULTS, splits, DIGEST, "install music21 10.5.1 to reproduce published scores")
            return {"recipe": RECIPE, "options": o, "music21": music21_version(), "splits": splits}

        return json_cache(self.cache_path(o, cache_dir), build)["splits"]

    def __call__(self, *, task: Any, options: dict[str, Any], cache_dir: Path) -> dict[str, Examples]:
        return to_examples(self.splits(options, cache_dir))


@hookimpl
def register_datasets(register: Any) -> None:
    register(RECIPE, MusicComposers(),
             description="62-event excerpts of Bach, Palestrina and Monteverdi parts from the music21 corpus, "
                         "which composer (Cuthbert & Ariza 2010)")
