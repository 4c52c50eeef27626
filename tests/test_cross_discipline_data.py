"""The cross-discipline recipes: protein fragments of Pfam families, human DNA windows with a planted MADE1
fragment or transcription-factor motif (HMMER 3.3.2 and its example files), and composer excerpts from the
music21 corpus. Real builds, small where building is slow (music21 parsing)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmark.errors import BenchError
from benchmark.plugin.manager import DEFAULT_PLUGINS
from downstreams.recipes import biosequences as bio
from downstreams.recipes import music

BIO = ["pfam-families", "dna-made1", "dna-motifs"]
LABELS = {"pfam-families": bio.PFAM_LABELS, "dna-made1": bio.MADE1_LABELS, "dna-motifs": bio.MOTIF_LABELS}
ALPHABET = {"pfam-families": set(bio.AMINO), "dna-made1": set("ACGT"), "dna-motifs": set("ACGT")}
needs_hmmer = pytest.mark.skipif(shutil.which("hmmemit") is None or not bio.example_file(bio.GENOME).is_file(),
                                 reason=f"needs the {bio.INSTALL}")
# a small music build: four pieces per composer parse in seconds and give one excerpt per class and split
SMALL_MUSIC = {"pieces_per_composer": 4, "train": 3, "select": 3, "test": 3}


def _check_balanced(splits: dict[str, Any], n_classes: int, sizes: dict[str, int]) -> None:
    for name, size in sizes.items():
        counts = Counter(splits[name].targets)
        assert len(splits[name]) == size and set(counts) <= set(range(n_classes))
        assert sorted(counts[c] for c in range(n_classes)) == sorted(bio.per_class(size, n_classes)), (name, counts)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Each DNA / protein recipe at its default options (a fraction of a second each)."""
    cache = tmp_path_factory.mktemp("bio-cache")
    return {name: bio.BioRecipe(name).splits({}, cache) for name in BIO}


@needs_hmmer
@pytest.mark.parametrize("name", BIO)
def test_bio_splits_are_sized_balanced_short_and_in_the_alphabet(tmp_path: Path, name: str) -> None:
    recipe = bio.BioRecipe(name)
    splits = recipe(task=None, options={}, cache_dir=tmp_path)
    _check_balanced(splits, len(LABELS[name]), {"train": 400, "select": 200, "test": 400})
    for ex in splits.values():
        assert all(0 < len(s) <= bio.WINDOW and set(s) <= ALPHABET[name] for s in ex.inputs)
    if name != "pfam-families":
        assert {len(s) for ex in splits.values() for s in ex.inputs} == {bio.WINDOW}
    else:
        assert min(len(s) for s in splits["train"].inputs) == 40
    small = recipe(task=None, options={"train": 30, "select": 12, "test": 7, "seed": 3}, cache_dir=tmp_path)
    _check_balanced(small, len(LABELS[name]), {"train": 30, "select": 12, "test": 7})
    assert recipe.revision({}).startswith(f"{name}-v{bio.RECIPE_VERSION}:")
    assert "seed=3" in recipe.revision({"seed": 3}) and recipe.revision({"seed": 3}) != recipe.revision({})


@needs_hmmer
@pytest.mark.parametrize("name", BIO)
def test_bio_builds_are_deterministic_and_cached(tmp_path: Path, name: str, built, monkeypatch) -> None:
    recipe = bio.BioRecipe(name)
    again = recipe.splits({}, tmp_path)
    assert again == built[name]  # a fresh cache dir rebuilds the very same strings in the same order
    assert bio.digest(again) == bio.DIGESTS[name]  # ... and the data the recorded scores were made on
    files = list((tmp_path / "cross-discipline").iterdir())
    assert [f.name for f in files] == [f"{name}-v{bio.RECIPE_VERSION}-{bio.digest(recipe.options({}))}.json"]

    def no_tools(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a cached build ran a program")

    monkeypatch.setattr(bio, "run_hmmer", no_tools)
    monkeypatch.setattr(subprocess, "run", no_tools)
    monkeypatch.setattr(bio, "genome", no_tools)
    assert recipe(task=None, options={}, cache_dir=tmp_path) == bio.to_examples(built[name])


@needs_hmmer
def test_baselines_are_neither_trivial_nor_at_chance(built) -> None:
    """A k-mer baseline (logistic regression on counts) lands well between chance and perfect, so the tasks can
    tell encoders apart. For Pfam it stays far below the generating HMMs (~94 % with hmmsearch): the task needs
    more than amino-acid composition, yet is learnable."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import normalize

    accuracy = {}
    for name in BIO:
        rows = built[name]
        vec = CountVectorizer(analyzer="char", ngram_range=(1, 4 if name != "pfam-families" else 2), lowercase=False)
        x = normalize(vec.fit_transform([r["input"] for r in rows["train"]]).astype(float))
        model = LogisticRegression(C=10, max_iter=5000).fit(x, [r["label"] for r in rows["train"]])
        test = normalize(vec.transform([r["input"] for r in rows["test"]]).astype(float))
        accuracy[name] = model.score(test, [r["label"] for r in rows["test"]])
    assert 0.35 < accuracy["pfam-families"] < 0.75, accuracy  # chance 1/6
    assert 0.65 < accuracy["dna-made1"] < 0.95, accuracy  # chance 1/2
    assert 0.45 < accuracy["dna-motifs"] < 0.85, accuracy  # chance 1/4


def _kmers(s: str, k: int = 8) -> set[str]:
    return {s[i:i + k] for i in range(len(s) - k + 1)}


@needs_hmmer
def test_made1_positives_carry_made1_and_splits_come_from_disjoint_clean_regions(built) -> None:
    splits = built["dna-made1"]
    consensus = bio.parse_fasta(subprocess.run(["hmmemit", "-c", str(bio.example_file(bio.MADE1_HMM))],
                                               capture_output=True, text=True, check=True).stdout)[0][1]
    made1 = _kmers(consensus) | _kmers(bio.reverse_complement(consensus))
    shared = {0: [], 1: []}
    for rows in splits.values():
        for r in rows:
            shared[r["label"]].append(len(_kmers(r["input"]) & made1))
            if r["label"]:
                planted = r["fragment"] if r["strand"] == "+" else bio.reverse_complement(r["fragment"])
                assert 30 <= len(planted) <= 50 and r["input"][r["at"]:r["at"] + len(planted)] == planted
            else:
                assert r["input"] == bio.genome()[r["start"]:r["start"] + bio.WINDOW]  # negatives are untouched
    assert np.mean(shared[1]) > 5 * max(np.mean(shared[0]), 0.1), {k: np.mean(v) for k, v in shared.items()}
    hits = bio.made1_hits()
    assert hits and all(not (a < r["start"] + bio.WINDOW and r["start"] < b)
                        for rows in splits.values() for r in rows for a, b in hits)
    spans = {s: (min(r["start"] for r in rows), max(r["start"] for r in rows) + bio.WINDOW)
             for s, rows in splits.items()}
    assert spans["train"][1] <= spans["select"][0] and spans["select"][1] <= spans["test"][0], spans
    starts = sorted(r["start"] for rows in splits.values() for r in rows)
    assert min(np.diff(starts)) >= bio.WINDOW  # no two windows share a base


def _mismatches(site: str, consensus: str) -> int:
    return sum(base not in bio.IUPAC[c] for base, c in zip(site, consensus, strict=True))


@needs_hmmer
def test_motif_windows_hold_the_planted_consensus(built, tmp_path: Path) -> None:
    exact = bio.BioRecipe("dna-motifs").splits({"mutation": 0.0, "train": 40, "select": 8, "test": 8}, tmp_path)
    mutated, planted = 0, 0
    for splits, allowed in ((exact, 0), (built["dna-motifs"], None)):
        for rows in splits.values():
            for r in rows:
                if not r["label"]:
                    assert "at" not in r and r["input"] == bio.genome()[r["start"]:r["start"] + bio.WINDOW]
                    continue
                consensus = bio.MOTIFS[bio.MOTIF_LABELS[r["label"]]]
                site = r["input"][r["at"]:r["at"] + len(consensus)]
                miss = _mismatches(site if r["strand"] == "+" else bio.reverse_complement(site), consensus)
                if allowed is not None:
                    assert miss == allowed, (r, site)
                else:
                    mutated, planted = mutated + miss, planted + len(consensus)
    # each base mutates with probability 0.1, and some mutations still fit a degenerate (W, R, N) position
    assert 0.04 < mutated / planted < 0.11, mutated / planted
    assert {r["strand"] for r in built["dna-motifs"]["train"] if r["label"]} == {"+", "-"}


def test_bad_options_are_one_line_errors(tmp_path: Path) -> None:
    cases = [("pfam-families", {"windows": 3}, "unknown option 'windows'"),
             ("pfam-families", {"min_length": 50, "max_length": 70}, "max_length"),
             ("dna-motifs", {"mutation": 1.5}, "mutation must be a probability"),
             ("dna-made1", {"train": 1}, "train must be a whole number from 2"),
             ("dna-made1", {"seed": -1}, "seed must be"),
             ("dna-made1", {"test": 999_999}, "usable windows, fewer than the 400 asked for: lower the split")]
    for name, options, message in cases:
        with pytest.raises(BenchError, match=re.escape(message)) as err:
            bio.BioRecipe(name).splits(options, tmp_path)
        assert "\n" not in str(err.value)
    with pytest.raises(BenchError, match="pieces_per_composer must be"):
        music.MusicComposers().splits({"pieces_per_composer": 0}, tmp_path)


def test_missing_names_the_packages_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    for name in ("pfam-families", "dna-made1"):
        assert bio.BioRecipe(name).missing({}, tmp_path) == bio.INSTALL
    assert "apt-get install hmmer hmmer-examples" in bio.INSTALL
    monkeypatch.setattr(bio, "EXAMPLES_DIR", tmp_path / "nowhere")
    assert bio.BioRecipe("dna-motifs").missing({}, tmp_path) == bio.INSTALL
    monkeypatch.setitem(sys.modules, "music21", None)  # `import music21` now raises ImportError
    assert music.MusicComposers().missing({}, tmp_path) == music.INSTALL
    assert "pip install music21==10.5.1" in music.INSTALL
    with pytest.raises(BenchError, match=re.escape("pip install music21==10.5.1")):
        music.MusicComposers().splits({}, tmp_path)


@needs_hmmer
def test_missing_is_none_when_the_tools_or_a_cached_build_are_there(tmp_path: Path, monkeypatch) -> None:
    for name in BIO:
        assert bio.BioRecipe(name).missing({}, tmp_path) is None
    bio.BioRecipe("pfam-families").splits({"train": 6, "select": 6, "test": 6}, tmp_path)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert bio.BioRecipe("pfam-families").missing({"train": 6, "select": 6, "test": 6}, tmp_path) is None


TOKEN = re.compile(r"(r|[A-G](#{1,2}|-{1,2})?\d)_(\d+(\.\d+)?|\d+/\d+)")


def test_music_excerpts_keep_pieces_apart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = music.MusicComposers()
    rows = recipe.splits(SMALL_MUSIC, tmp_path / "a")
    examples = music.to_examples(rows)
    _check_balanced(examples, 3, {"train": 3, "select": 3, "test": 3})
    seen: dict[str, str] = {}
    for split, split_rows in rows.items():
        for r in split_rows:
            tokens = r["input"].split(" ")
            assert len(tokens) == music.EVENTS and all(TOKEN.fullmatch(t) for t in tokens), r["input"]
            assert r["piece"].startswith(music.CORPUS_DIRS[music.MUSIC_LABELS[r["label"]]] + "/")
            assert seen.setdefault(r["piece"], split) == split, f"{r['piece']} is in {seen[r['piece']]} and {split}"
    assert recipe.revision(SMALL_MUSIC).startswith(f"music21-composers-v{music.RECIPE_VERSION}:")

    # deterministic: parsing again gives the same events, and a fresh cache dir the same splits
    (corpus_file,) = (tmp_path / "a" / "cross-discipline").glob("music21-corpus-*.json")
    parsed = json.loads(corpus_file.read_text())
    assert music.piece_events("bach/bwv304.mxl") == parsed["Bach"]["bach/bwv304.mxl"]
    (tmp_path / "b" / "cross-discipline").mkdir(parents=True)
    shutil.copy(corpus_file, tmp_path / "b" / "cross-discipline" / corpus_file.name)
    assert recipe.splits(SMALL_MUSIC, tmp_path / "b") == rows

    # the parse is cached apart from the split: other counts and seeds reuse it without parsing again
    def no_parse(piece: str) -> Any:
        raise AssertionError(f"parsed {piece} again")

    monkeypatch.setattr(music, "piece_events", no_parse)
    assert recipe.splits(SMALL_MUSIC, tmp_path / "a") == rows
    other = recipe.splits({**SMALL_MUSIC, "seed": 1}, tmp_path / "a")
    assert sorted(f.name.split("-v")[0] for f in (tmp_path / "a" / "cross-discipline").iterdir()) == [
        "music21-composers", "music21-composers", "music21-corpus"]
    assert Counter(r["label"] for r in other["test"]) == Counter(r["label"] for r in rows["test"])
    with pytest.raises(BenchError, match="fewer than the .* needed: lower train/select/test or raise"):
        recipe.splits({**SMALL_MUSIC, "train": 3000}, tmp_path / "a")


def test_music_tokens_merge_ties_and_rests_and_keep_the_top_note() -> None:
    from music21 import chord, note, stream, tie

    part = stream.Part()
    tied = [note.Note("C4", quarterLength=1), note.Note("C4", quarterLength=0.5)]
    tied[0].tie, tied[1].tie = tie.Tie("start"), tie.Tie("stop")
    for e in (*tied, note.Rest(quarterLength=2), note.Rest(quarterLength=4), chord.Chord(["E4", "G4", "B-4"]),
              note.Note("F#5", quarterLength=1 / 3)):
        part.append(e)
    assert music.part_events(part) == ["C4_1.5", "r_6", "B-4_1", "F#5_1/3"]
    assert [music.duration_text(q) for q in (2, 0.25, 1.5, 2 / 3)] == ["2", "0.25", "1.5", "2/3"]


def test_modules_register_their_recipes_and_import_cheaply() -> None:
    registered: dict[str, Any] = {}
    for module in (bio, music):
        module.register_datasets(lambda name, loader, description="": registered.setdefault(name, loader))
    assert sorted(registered) == ["dna-made1", "dna-motifs", "music21-composers", "pfam-families"]
    assert all(callable(loader) and hasattr(loader, "missing") for loader in registered.values())
    order = list(DEFAULT_PLUGINS)
    assert order.index("downstreams.recipes.biosequences") == order.index("downstreams.recipes.images") + 1
    assert "downstreams.recipes.music" in order
    code = ("import sys, downstreams.recipes.biosequences, downstreams.recipes.music; "
            "print(sorted(m for m in ('music21', 'sklearn', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == "[]"
