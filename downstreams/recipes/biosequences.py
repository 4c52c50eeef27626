"""Offline DNA and protein data for the `cross-discipline` suite, built from the HMMER tutorial and test files.

Sources: HMMER 3.3.2 (Eddy 2011, "Accelerated profile HMM searches", PLoS Comp Biol 7:e1002195; http://hmmer.org,
BSD licence) and its example files, as Debian packages `hmmer` and `hmmer-examples` 3.3.2 ship them under
/usr/share/doc/hmmer/examples. Pfam families: Mistry et al. 2021, "Pfam: The protein families database in 2021",
NAR 49:D412. MADE1 is Dfam family DF0000629 (Storer et al. 2021, "The Dfam community resource of transposable
element families, sequence models, and genome annotations", Mobile DNA 12:2). The genome is the HMMER tutorial's
nhmmer target `dna_target.fa`: 330 kb of human chromosome 1, no N, no soft-masking. Pfam and Dfam release their
data under CC0; the example files ship in HMMER's BSD-licensed distribution.

Every input is an uppercase string of at most 62 residues (the suite fine-tunes BERT-sized models on CPUs).

- `pfam-families` (PFAM_LABELS): which of six protein families a fragment comes from: the Pfam HMMs of Pkinase
  (PF00069), fn3 (PF00041), RRM_1 (PF00076), 2OG-FeII_Oxy_3 (PF13640) and Caudal_act (PF04731), and "globin", the
  HMMER tutorial's globins4 model (built from four globins, not Pfam's PF00042). Members are sampled
  with `hmmemit` (full-length emissions of the core model) from each family's profile HMM, then one contiguous
  window of 40-62 residues (seeded length and start) is cut from each member. The windows are not mixed with
  background residues: a logistic regression on 1-2-mer counts reaches ~50 % on test (chance 17 %) while scoring
  each window with the six generating HMMs (hmmsearch, the near-optimal classifier) reaches ~94 %, so the task
  rewards position-specific knowledge of protein families, not composition. Options min_length, max_length.
- `dna-made1` (MADE1_LABELS): does a 62-bp genomic window carry a MADE1 fragment? Positives get a 30-50 bp piece of
  a MADE1 member emitted by `hmmemit` (80-bp model), on a random strand, pasted over a random position; negatives
  are unmodified windows. Windows overlapping any nhmmer MADE1 hit in the genome (E <= 10) are never used.
  Logistic regression on 1-4-mer counts: ~80 % (chance 50 %).
- `dna-motifs` (MOTIF_LABELS): which transcription-factor motif was planted in a 62-bp genomic window, if any:
  E-box CACGTG (Murre et al. 1989, Cell 56:777), TATA box TATAWAWR (Bucher 1990, J Mol Biol 212:563), CTCF core
  CCGCGNGGNGGCAG (Kim et al. 2007, Cell 128:1231). Each instance draws every IUPAC position uniformly among the
  bases it allows, mutates each base to another with probability `mutation`, and lands at a random position on a
  random strand. Background windows may hold chance matches to the motifs: real label noise, left in. Logistic
  regression on 1-4-mer counts: ~63 %; on each motif's best IUPAC match score: ~77 % (chance 25 %).

The genome is cut into three contiguous blocks, sized by the split counts, for train, select and test; windows
are non-overlapping 62-bp tiles of their block, so no base is shared across splits. Classes are balanced in every
split (counts differ by at most one when a count does not divide evenly). Every recipe takes the options train,
select and test (default 400 / 200 / 400 examples) and seed (default 0). Everything is seeded (hmmemit
--seed, NumPy generators), cached as JSON under cache_dir/cross-discipline/, and checked against a recorded
digest for the default options, so a different HMMER or NumPy that changes the data stops with an error.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.errors import BenchError
from benchmark.hookspecs import hookimpl
from benchmark.types import Examples
from downstreams.recipes.options import recipe_options

RECIPE_VERSION = 1
SPLITS = ("train", "select", "test")
WINDOW = 62
EXAMPLES_DIR = Path("/usr/share/doc/hmmer/examples")
INSTALL = "Debian packages hmmer and hmmer-examples (apt-get install hmmer hmmer-examples)"
PFAM_FILES = {"Pkinase": "tutorial/Pkinase.hmm", "fn3": "tutorial/fn3.hmm", "globin": "tutorial/globins4.hmm",
              "RRM_1": "testsuite/RRM_1.hmm.gz", "2OG-FeII_Oxy_3": "testsuite/2OG-FeII_Oxy_3.hmm.gz",
              "Caudal_act": "testsuite/Caudal_act.hmm.gz"}
PFAM_LABELS = list(PFAM_FILES)
MADE1_HMM = "tutorial/MADE1.hmm"
GENOME = "tutorial/dna_target.fa"
MADE1_LABELS = ["background", "MADE1"]
MOTIFS = {"E-box": "CACGTG", "TATA-box": "TATAWAWR", "CTCF": "CCGCGNGGNGGCAG"}
MOTIF_LABELS = ["none", *MOTIFS]
IUPAC = {"A": "A", "C": "C", "G": "G", "T": "T", "W": "AT", "R": "AG", "N": "ACGT"}
AMINO = "ACDEFGHIKLMNPQRSTVWY"
COMPLEMENT = str.maketrans("ACGT", "TGCA")
COUNTS = {"train": 400, "select": 200, "test": 400}
DEFAULTS: dict[str, dict[str, Any]] = {
    "pfam-families": {**COUNTS, "seed": 0, "min_length": 40, "max_length": WINDOW},
    "dna-made1": {**COUNTS, "seed": 0},
    "dna-motifs": {**COUNTS, "seed": 0, "mutation": 0.1},
}
DIGESTS = {"pfam-families": "175854039c8964dd", "dna-made1": "f216fbac7da31826", "dna-motifs": "5238b5ccea670c49"}
"""sha256 (first 16 hex digits) of each recipe's splits at the default options, as HMMER 3.3.2 and NumPy build
them here; another value means other data, and the recorded scores would no longer apply."""


# -- shared with downstreams.recipes.music -----------------------------------------------------------------------------


def per_class(n: int, k: int) -> list[int]:
    """n examples over k classes as evenly as possible: the first n % k classes get one more."""
    return [n // k + (c < n % k) for c in range(k)]


def check_options(recipe: str, options: dict[str, Any], defaults: dict[str, Any], n_classes: int) -> dict[str, Any]:
    """The options with defaults filled in; unknown names and bad split counts or seeds are a BenchError."""
    return recipe_options(recipe, options, defaults, {**{name: n_classes for name in SPLITS}, "seed": 0},
                          most=1_000_000)


def describe(recipe: str, o: dict[str, Any]) -> str:
    return f"{recipe}-v{RECIPE_VERSION}:" + ",".join(f"{k}={o[k]}" for k in sorted(o))


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def json_cache(path: Path, build: Callable[[], Any]) -> Any:
    """The JSON value stored at `path`, else build() written there atomically (temp file + rename)."""
    if path.is_file():
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            pass  # a damaged file (e.g. from a full disk) is rebuilt rather than trusted
    value = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(value), encoding="utf-8")
    os.replace(tmp, path)
    return value


def cache_file(recipe: str, version: int, o: dict[str, Any], cache_dir: Path) -> Path:
    """Where a recipe's build at options `o` is cached (shared with downstreams.recipes.music)."""
    return Path(cache_dir) / "cross-discipline" / f"{recipe}-v{version}-{digest(o)}.json"


def built_need(recipe: Any, what: str, options: dict[str, Any], cache_dir: Path) -> list[Any]:
    """A recipe's `needs`: its built splits, made here (no network) from installed files and kept in the cache;
    when they are absent, what to install comes from its `missing` (shared with downstreams.recipes.music)."""
    from benchmark.plugin.needs import Need

    path = recipe.cache_path(recipe.options(options), cache_dir)
    return [Need("data", f"{what}: {path.stem}", path.is_file(), fetch=lambda: recipe.splits(options, cache_dir),
                 how="" if path.is_file() else recipe.missing(options, cache_dir) or "")]


def check_digest(recipe: str, o: dict[str, Any], defaults: dict[str, Any], splits: Any, expected: str,
                 fix: str) -> None:
    """Stop when the default build differs from the recorded one (scores would silently stop being comparable)."""
    found = digest(splits)
    if o == defaults and expected and found != expected:
        raise BenchError(f"{recipe}: this machine builds different data than the recorded one (digest {found}, "
                         f"expected {expected}); {fix}, and report this to bench")


def to_examples(splits: dict[str, list[dict[str, Any]]]) -> dict[str, Examples]:
    return {s: Examples(tuple(r["input"] for r in rows), tuple(r["label"] for r in rows)) for s, rows in splits.items()}


def shuffled(rows: list[dict[str, Any]], rng: np.random.Generator) -> list[dict[str, Any]]:
    """The rows in a seeded random order, so classes interleave within a split."""
    return [rows[i] for i in rng.permutation(len(rows))]


# -- HMMER -----------------------------------------------------------------------------------------------------


def example_file(rel: str) -> Path:
    return EXAMPLES_DIR / rel


def run_hmmer(args: list[str], timeout: float = 300) -> str:
    """Run one HMMER program and return its standard output; a failure is a one-line BenchError."""
    exe = shutil.which(args[0])
    if exe is None:
        raise BenchError(f"{args[0]} not found: install the {INSTALL}")
    proc = subprocess.run([exe, *args[1:]], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        why = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        raise BenchError(f"{args[0]} failed ({why}); check the {INSTALL}")
    return proc.stdout


@lru_cache(maxsize=1)
def hmmer_version() -> str:
    """"3.3.2", from hmmemit's banner ("# HMMER 3.3.2 (Nov 2020); ..."); "absent" without HMMER."""
    if shutil.which("hmmemit") is None:
        return "absent"
    for line in run_hmmer(["hmmemit", "-h"]).splitlines():
        if line.startswith("# HMMER "):
            return line.split()[2]
    return "unknown"


def parse_fasta(text: str) -> list[tuple[str, str]]:
    records: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith(">"):
            records.append((line[1:].split()[0] if line[1:].strip() else "", []))
        elif line.strip() and records:
            records[-1][1].append(line.strip())
    return [(name, "".join(parts).upper()) for name, parts in records]


def emit(hmm: Path, n: int, seed: int) -> list[str]:
    """n sequences sampled from the core model of a profile HMM (gzipped files are decompressed first)."""
    with tempfile.TemporaryDirectory() as tmp:
        if hmm.suffix == ".gz":
            plain = Path(tmp) / hmm.stem
            plain.write_bytes(gzip.decompress(hmm.read_bytes()))
            hmm = plain
        # --seed 0 would mean "seed from the clock": our seeds start at 1
        return [s for _, s in parse_fasta(run_hmmer(["hmmemit", "--seed", str(seed + 1), "-N", str(n), str(hmm)]))]


@lru_cache(maxsize=1)
def genome() -> str:
    ((_, seq),) = parse_fasta(example_file(GENOME).read_text())
    return seq


def made1_hits() -> list[tuple[int, int]]:
    """0-based half-open spans of every MADE1 hit nhmmer reports in the genome (both strands, E <= 10)."""
    with tempfile.TemporaryDirectory() as tmp:
        table = Path(tmp) / "hits.tbl"
        run_hmmer(["nhmmer", "--tblout", str(table), "--noali", "--cpu", "1", "-o", os.devnull,
                   str(example_file(MADE1_HMM)), str(example_file(GENOME))])
        rows = [line.split() for line in table.read_text().splitlines() if line and not line.startswith("#")]
    return sorted((min(int(r[8]), int(r[9])) - 1, max(int(r[8]), int(r[9]))) for r in rows)


def genome_windows(counts: dict[str, int], rng: np.random.Generator,
                   avoid: Sequence[tuple[int, int]] = ()) -> dict[str, list[int]]:
    """Start positions of counts[split] non-overlapping 62-bp windows per split, each split from its own
    contiguous block of the genome (sized by its count), clear of the `avoid` spans and of non-ACGT bases."""
    seq, total = genome(), sum(counts.values())
    out, begin = {}, 0
    for split in SPLITS:
        end = begin + len(seq) * counts[split] // total
        tiles = [s for s in range(begin, end - WINDOW + 1, WINDOW)
                 if set(seq[s:s + WINDOW]) <= set("ACGT") and not any(a < s + WINDOW and s < b for a, b in avoid)]
        if len(tiles) < counts[split]:
            raise BenchError(f"the genome's {split} block holds {len(tiles)} usable windows, fewer than the "
                             f"{counts[split]} asked for: lower the split counts")
        out[split] = sorted(int(t) for t in rng.choice(tiles, counts[split], replace=False))
        begin = end
    return out


def reverse_complement(dna: str) -> str:
    return dna.translate(COMPLEMENT)[::-1]


def plant(window: str, piece: str, rng: np.random.Generator) -> tuple[str, int, str]:
    """`piece` pasted over `window` at a random position, on a random strand: (window, position, strand)."""
    strand = "-" if rng.random() < 0.5 else "+"
    if strand == "-":
        piece = reverse_complement(piece)
    at = int(rng.integers(0, len(window) - len(piece) + 1))
    return window[:at] + piece + window[at + len(piece):], at, strand


# -- the recipes -----------------------------------------------------------------------------------------------


def build_pfam(o: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    k = len(PFAM_LABELS)
    need = {s: per_class(o[s], k) for s in SPLITS}
    splits: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    for c, label in enumerate(PFAM_LABELS):
        rng = np.random.default_rng([o["seed"], 1, c])
        n = sum(need[s][c] for s in SPLITS)
        members = [m for m in emit(example_file(PFAM_FILES[label]), n + n // 4 + 8, o["seed"] * 100 + c)
                   if len(m) >= o["min_length"]][:n]
        if len(members) < n:
            raise BenchError(f"pfam-families: hmmemit gave too few {label} members of {o['min_length']}+ residues; "
                             "lower min_length")
        i = 0
        for s in SPLITS:
            for _ in range(need[s][c]):
                member = members[i]
                length = min(int(rng.integers(o["min_length"], o["max_length"] + 1)), len(member))
                at = int(rng.integers(0, len(member) - length + 1))
                splits[s].append({"input": member[at:at + length], "label": c, "member": i, "start": at})
                i += 1
    order = np.random.default_rng([o["seed"], 2])
    return {s: shuffled(rows, order) for s, rows in splits.items()}


def build_made1(o: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    rng = np.random.default_rng([o["seed"], 3])
    starts = genome_windows({s: o[s] for s in SPLITS}, rng, made1_hits())
    positives = sum(per_class(o[s], 2)[1] for s in SPLITS)
    members = iter(emit(example_file(MADE1_HMM), positives, o["seed"] * 100 + 50))
    seq, splits = genome(), {}
    for s in SPLITS:
        rows = []
        for j, start in enumerate(rng.permutation(starts[s]).tolist()):
            window, row = seq[start:start + WINDOW], {"label": j % 2, "start": start}
            if row["label"]:
                member = next(members)
                length = min(int(rng.integers(30, 51)), len(member))
                cut = int(rng.integers(0, len(member) - length + 1))
                window, row["at"], row["strand"] = plant(window, member[cut:cut + length], rng)
                row["fragment"] = member[cut:cut + length]
            rows.append({"input": window, **row})
        splits[s] = shuffled(rows, rng)
    return splits


def build_motifs(o: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    rng = np.random.default_rng([o["seed"], 4])
    starts = genome_windows({s: o[s] for s in SPLITS}, rng)
    seq, splits = genome(), {}
    for s in SPLITS:
        rows = []
        for j, start in enumerate(rng.permutation(starts[s]).tolist()):
            label = j % len(MOTIF_LABELS)
            row: dict[str, Any] = {"input": seq[start:start + WINDOW], "label": label, "start": start}
            if label:
                site = [IUPAC[b][int(rng.integers(len(IUPAC[b])))] for b in MOTIFS[MOTIF_LABELS[label]]]
                for i, base in enumerate(site):
                    if rng.random() < o["mutation"]:
                        site[i] = "ACGT".replace(base, "")[int(rng.integers(3))]
                row["input"], row["at"], row["strand"] = plant(row["input"], "".join(site), rng)
            rows.append(row)
        splits[s] = shuffled(rows, rng)
    return splits


class BioRecipe:
    """One of the recipes `pfam-families`, `dna-made1`, `dna-motifs` (see the module docstring)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.labels = {"pfam-families": PFAM_LABELS, "dna-made1": MADE1_LABELS, "dna-motifs": MOTIF_LABELS}[name]
        self.build = {"pfam-families": build_pfam, "dna-made1": build_made1, "dna-motifs": build_motifs}[name]

    def options(self, options: dict[str, Any]) -> dict[str, Any]:
        o = check_options(self.name, options, DEFAULTS[self.name], len(self.labels))
        if self.name == "pfam-families" and not (isinstance(o["min_length"], int) and isinstance(o["max_length"], int)
                                                 and 10 <= o["min_length"] <= o["max_length"] <= WINDOW):
            raise BenchError(f"pfam-families: need whole numbers 10 <= min_length <= max_length <= {WINDOW}, "
                             f"not {o['min_length']!r} and {o['max_length']!r}")
        if self.name == "dna-motifs" and (isinstance(o["mutation"], bool) or not isinstance(o["mutation"], int | float)
                                          or not 0 <= o["mutation"] <= 1):
            raise BenchError(f"dna-motifs: option mutation must be a probability from 0 to 1, not {o['mutation']!r}")
        return o

    def cache_path(self, o: dict[str, Any], cache_dir: Path) -> Path:
        return cache_file(self.name, RECIPE_VERSION, o, cache_dir)

    def missing(self, options: dict[str, Any], cache_dir: Path) -> str | None:
        if self.cache_path(self.options(options), cache_dir).is_file():
            return None
        tools = {"pfam-families": ["hmmemit"], "dna-made1": ["hmmemit", "nhmmer"], "dna-motifs": []}[self.name]
        files = {"pfam-families": list(PFAM_FILES.values()), "dna-made1": [MADE1_HMM, GENOME],
                 "dna-motifs": [GENOME]}[self.name]
        if any(shutil.which(t) is None for t in tools) or not all(example_file(f).is_file() for f in files):
            return INSTALL
        return None

    def needs(self, options: dict[str, Any], cache_dir: Path) -> list[Any]:
        return built_need(self, "HMMER samples", options, cache_dir)

    def revision(self, options: dict[str, Any]) -> str:
        return describe(self.name, self.options(options))

    def splits(self, options: dict[str, Any], cache_dir: Path) -> dict[str, list[dict[str, Any]]]:
        """The built rows of each split: input, label, and where it came from (for tests and audits)."""
        o = self.options(options)

        def build() -> dict[str, Any]:
            splits = self.build(o)
            check_digest(self.name, o, DEFAULTS[self.name], splits, DIGESTS[self.name],
                         "install HMMER 3.3.2 (Debian hmmer 3.3.2) to reproduce published scores")
            return {"recipe": self.name, "options": o, "hmmer": hmmer_version(), "splits": splits}

        return json_cache(self.cache_path(o, cache_dir), build)["splits"]

    def __call__(self, *, task: Any, options: dict[str, Any], cache_dir: Path) -> dict[str, Examples]:
        return to_examples(self.splits(options, cache_dir))


@hookimpl
def register_datasets(register: Any) -> None:
    register("pfam-families", BioRecipe("pfam-families"),
             description="40-62-residue fragments of proteins sampled (hmmemit) from six Pfam family HMMs, "
                         "which family (HMMER 3.3.2 examples; Mistry et al. 2021)")
    register("dna-made1", BioRecipe("dna-made1"),
             description="62-bp human genomic windows with or without a planted MADE1 transposon fragment "
                         "(Dfam DF0000629; HMMER tutorial data)")
    register("dna-motifs", BioRecipe("dna-motifs"),
             description="62-bp human genomic windows with a planted E-box, TATA box or CTCF site, or none")
