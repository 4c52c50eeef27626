"""Offline text tasks from real human ratings: the VADER corpus (Hutto & Gilbert, ICWSM 2014).

The vaderSentiment 3.3.2 source distribution on PyPI ships `additional_resources/hutto_ICWSM_2014.tar.gz`:
10,605 sentence-level movie-review snippets (from Pang & Lee 2004), each rated for sentiment on a -4..+4 scale
by 15-29 independent raters, with every individual rating kept. The sdist is fetched once with
`pip download` (PyPI is the only network this needs) into the bench cache; MIT licence.

Splits are fixed by a hash of the snippet id: 0-1 -> test (~20%), 2 -> dev (~10%), 3-9 -> train (~70%).
`vader-polarity` keeps snippets whose mean rating is at least 0.5 from neutral (label: its sign);
`vader-score` regresses the mean rating of every snippet. The human references are computed from the raw
ratings (see `human_agreement`).
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import logging
import os
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.errors import BenchError
from benchmark.hookspecs import hookimpl
from benchmark.types import Examples

log = logging.getLogger(__name__)

SDIST = "vaderSentiment-3.3.2.tar.gz"
SDIST_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
INNER = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
CORPORA = ("movieReviewSnippets", "tweets", "amazonReviewSnippets", "nytEditorialSnippets")
NEUTRAL_MARGIN = 0.5
CITATION = ("C.J. Hutto and E. Gilbert. VADER: A Parsimonious Rule-based Model for Sentiment Analysis of "
            "Social Media Text. ICWSM 2014. Data: vaderSentiment 3.3.2 sdist (MIT licence).")


@dataclass(frozen=True)
class Snippet:
    id: str  # "17" in the movie and tweet files, "1_1" (review_sentence) in the Amazon and NYT files
    text: str
    mean: float
    ratings: tuple[int, ...]


def split_of(snippet_id: str | int) -> str:
    """The fixed split of a snippet: by the first byte of sha256 of its id, mod 10."""
    bucket = hashlib.sha256(str(snippet_id).encode()).digest()[0] % 10
    return "test" if bucket < 2 else "dev" if bucket == 2 else "train"


def sdist_path(cache_dir: Path) -> Path:
    return cache_dir / "sources" / SDIST


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch_sdist(cache_dir: Path) -> Path:
    """The vaderSentiment sdist from the cache, else downloaded from the package registry with pip."""
    target = sdist_path(cache_dir)
    if target.is_file() and _sha256(target) == SDIST_SHA256:
        return target
    from benchmark.plugin.hub import no_network_requested

    if no_network_requested():
        raise BenchError(f"the VADER corpus is not in {target.parent} and BENCH_OFFLINE forbids downloading it: "
                         "fetch it with network access, `bench prefetch --tasks vader-polarity`, or copy "
                         f"{SDIST} (from PyPI) into {target.parent}/")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               "--disable-pip-version-check", "-q", "-d", tmp, "vaderSentiment==3.3.2"]
        got = Path(tmp) / SDIST
        # pip reads the sdist's metadata, which needs a build backend: first in pip's isolated build environment
        # (setuptools and wheel fetched from the index, as a fresh venv needs: its own setuptools lacks
        # bdist_wheel), then with this environment's own backend (an index that serves no setuptools).
        for extra in ([], ["--no-build-isolation"]):
            proc = subprocess.run([*cmd, *extra], capture_output=True, text=True, timeout=600)
            if proc.returncode == 0 and got.is_file():
                break
        if proc.returncode != 0 or not got.is_file():
            why = (proc.stderr.strip().splitlines() or ["pip download failed"])[-1]
            raise BenchError(
                f"cannot obtain the VADER corpus: it is not in {target.parent} and pip could not download "
                f"vaderSentiment==3.3.2 ({why}); copy {SDIST} (from PyPI) into {target.parent}/ and rerun")
        if _sha256(got) != SDIST_SHA256:
            raise BenchError(f"downloaded {SDIST} has an unexpected sha256; refusing to use it")
        os.replace(got, target)
    return target


def _parse_ratings(text: str) -> dict[str, tuple[float, tuple[int, ...]]]:
    out = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        sid, mean, _std, raw = line.split("\t")
        out[sid.strip()] = (float(mean), tuple(int(r) for r in ast.literal_eval(raw)))
    return out


def read_corpus(sdist: Path, corpus: str) -> list[Snippet]:
    """Snippets with their texts and every rater's rating, read from the sdist."""
    if corpus not in CORPORA:
        raise BenchError(f"unknown VADER corpus '{corpus}' (one of {', '.join(CORPORA)})")
    with tarfile.open(sdist) as outer:
        inner_bytes = outer.extractfile(INNER).read()  # type: ignore[union-attr]
    with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
        def member(suffix: str) -> str:
            f = inner.extractfile(f"hutto_ICWSM_2014/{corpus}_{suffix}.txt")
            return f.read().decode("utf-8-sig")  # type: ignore[union-attr]  # the Amazon files start with a BOM

        truth, ratings = member("GroundTruth"), _parse_ratings(member("anonDataRatings"))
    snippets = []
    for line in truth.splitlines():
        if not line.strip():
            continue
        sid, _mean, text = line.split("\t", 2)
        mean, raw = ratings[sid.strip()]
        snippets.append(Snippet(sid.strip(), text.strip(), mean, raw))
    return snippets


def parsed_path(cache_dir: Path, corpus: str) -> Path:
    return cache_dir / "datasets" / f"vader-3.3.2-{corpus}.json"


def load_snippets(cache_dir: Path, corpus: str) -> list[Snippet]:
    """Parsed snippets, cached as JSON next to the sdist (parsing the nested tarball each run is wasteful)."""
    cached = parsed_path(cache_dir, corpus)
    if cached.is_file():
        try:
            rows = json.loads(cached.read_text(encoding="utf-8"))
            return [Snippet(str(r["id"]), r["text"], r["mean"], tuple(r["ratings"])) for r in rows]
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring unreadable cache file %s", cached)
    snippets = read_corpus(fetch_sdist(cache_dir), corpus)
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps([s.__dict__ for s in snippets]), encoding="utf-8")
    os.replace(tmp, cached)
    return snippets


def polarity_items(snippets: list[Snippet]) -> list[Snippet]:
    return [s for s in snippets if abs(s.mean) >= NEUTRAL_MARGIN]


def human_agreement(snippets: list[Snippet], target: str) -> dict[str, float]:
    """How well one rater agrees with the mean of the other raters (leave-one-rater-out), in percent.

    For every snippet and every rater r: the "prediction" is r's rating and the reference is the mean of the
    other raters' ratings. polarity: accuracy of sign(r) against sign(mean of others), over snippets at least
    NEUTRAL_MARGIN from neutral; a rating of 0 counts as half right (a coin flip), pairs whose reference is
    exactly 0 are skipped. score: Pearson and Spearman correlation over all (snippet, rater) pairs.
    """
    from scipy.stats import pearsonr, spearmanr

    preds, refs = [], []
    for s in snippets:
        r = np.asarray(s.ratings, dtype=float)
        others = (r.sum() - r) / (len(r) - 1)
        preds.append(r)
        refs.append(others)
    p, o = np.concatenate(preds), np.concatenate(refs)
    if target == "polarity":
        keep = o != 0
        p, o = p[keep], o[keep]
        right = np.where(p == 0, 0.5, (np.sign(p) == np.sign(o)).astype(float))
        return {"accuracy": round(100.0 * float(right.mean()), 2)}
    return {"pearson": round(100.0 * float(pearsonr(p, o).statistic), 2),
            "spearman": round(100.0 * float(spearmanr(p, o).statistic), 2)}


class VaderLoader:
    """Dataset loader `vader`: options corpus (default movieReviewSnippets) and target (polarity | score)."""

    def needs(self, options: dict[str, Any], cache_dir: Path) -> list[Any]:
        """The corpus: the vaderSentiment sdist from PyPI (or the snippets already parsed from it)."""
        from benchmark.plugin.needs import Need

        corpus = options.get("corpus", "movieReviewSnippets")
        present = parsed_path(cache_dir, corpus).is_file() or sdist_path(cache_dir).is_file()
        return [Need("data", f"VADER corpus {corpus} (vaderSentiment==3.3.2 sdist)", present, "PyPI",
                     fetch=lambda: load_snippets(cache_dir, corpus),
                     how=f"copy {SDIST} (from PyPI) into {sdist_path(cache_dir).parent}/")]

    def revision(self, options: dict[str, Any]) -> str:
        return f"vaderSentiment==3.3.2:{options.get('corpus', 'movieReviewSnippets')}:{options.get('target')}"

    def __call__(self, *, task: Any, options: dict[str, Any], cache_dir: Path) -> dict[str, Examples]:
        corpus = options.get("corpus", "movieReviewSnippets")
        target = options.get("target", "polarity")
        if target not in ("polarity", "score"):
            raise BenchError(f"task '{task.name}': vader target must be 'polarity' or 'score', not {target!r}")
        snippets = load_snippets(cache_dir, corpus)
        if target == "polarity":
            snippets = polarity_items(snippets)
        out: dict[str, tuple[list[str], list[Any]]] = {"train": ([], []), "dev": ([], []), "test": ([], [])}
        for s in snippets:
            texts, targets = out[split_of(s.id)]
            texts.append(s.text)
            targets.append(int(s.mean > 0) if target == "polarity" else s.mean)
        return {k: Examples(tuple(t), tuple(y)) for k, (t, y) in out.items()}


@hookimpl
def register_datasets(register: Any) -> None:
    register("vader", VaderLoader(), description="VADER human-rated sentiment snippets (Hutto & Gilbert 2014)")
