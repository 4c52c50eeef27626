"""The offline VADER tasks: real human ratings from the vaderSentiment 3.3.2 sdist (Hutto & Gilbert 2014)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from benchmark.engine.runner import default_cache_dir
from benchmark.errors import BenchError
from downstreams.recipes import vader


@pytest.fixture(scope="module")
def snippets() -> list[vader.Snippet]:
    return vader.load_snippets(default_cache_dir(), "movieReviewSnippets")


def test_corpus_and_fixed_splits(snippets) -> None:
    assert len(snippets) == 10_605
    assert all(15 <= len(s.ratings) <= 29 for s in snippets)
    assert all(abs(sum(s.ratings) / len(s.ratings) - s.mean) < 1e-6 for s in snippets)
    assert Counter(vader.split_of(s.id) for s in snippets) == {"train": 7363, "test": 2145, "dev": 1097}
    polar = vader.polarity_items(snippets)
    assert Counter(vader.split_of(s.id) for s in polar) == {"train": 6985, "test": 2040, "dev": 1047}
    assert all(abs(s.mean) >= 0.5 for s in polar)


def test_human_references_in_tasks_yaml_are_recomputed_from_the_raw_ratings(snippets, registry) -> None:
    test = [s for s in snippets if vader.split_of(s.id) == "test"]
    polarity = vader.human_agreement(vader.polarity_items(test), "polarity")
    score = vader.human_agreement(test, "score")
    assert registry.tasks.get("vader-polarity").obj.references["human"].scores == polarity
    assert registry.tasks.get("vader-score").obj.references["human"].scores == score
    assert 90 < polarity["accuracy"] < 97 and 80 < score["pearson"] < 95


@pytest.mark.parametrize(("corpus", "n"), [("tweets", 4200), ("amazonReviewSnippets", 3708),
                                           ("nytEditorialSnippets", 5190)])
def test_every_corpus_in_the_sdist_reads(corpus: str, n: int) -> None:
    rows = vader.read_corpus(vader.fetch_sdist(default_cache_dir()), corpus)
    assert len(rows) == n and all(len(s.ratings) >= 20 for s in rows)
    assert len({s.id for s in rows}) == n


def test_leave_one_rater_out_by_hand() -> None:
    s = [vader.Snippet("1", "x", 1.0, (2, 2, -1)), vader.Snippet("2", "y", -1.0, (0, -2, -1))]
    # snippet 1: rater 2 vs mean(2,-1)=0.5 right, again right, rater -1 vs mean(2,2)=2 wrong;
    # snippet 2: rater 0 vs -1.5 -> half, -2 vs -0.5 right, -1 vs -1 right  => (1+1+0+0.5+1+1)/6
    assert vader.human_agreement(s, "polarity") == {"accuracy": round(100 * 4.5 / 6, 2)}


def test_loader_gives_the_task_splits(registry, tmp_path: Path) -> None:
    loader = registry.datasets.get("vader").obj
    task = registry.tasks.get("vader-score").obj
    splits = loader(task=task, options={"target": "score"}, cache_dir=default_cache_dir())
    assert {k: len(v) for k, v in splits.items()} == {"train": 7363, "dev": 1097, "test": 2145}
    assert all(-4 <= y <= 4 for y in splits["test"].targets)
    pol = loader(task=task, options={"target": "polarity"}, cache_dir=default_cache_dir())
    assert set(pol["train"].targets) == {0, 1} and len(pol["test"]) == 2040
    with pytest.raises(BenchError, match="vader target must be 'polarity' or 'score'"):
        loader(task=task, options={"target": "stars"}, cache_dir=default_cache_dir())


def test_sdist_is_fetched_from_the_registry_and_cached(tmp_path: Path) -> None:
    path = vader.fetch_sdist(tmp_path)
    assert path == tmp_path / "sources" / vader.SDIST and vader._sha256(path) == vader.SDIST_SHA256
    mtime = path.stat().st_mtime_ns
    assert vader.fetch_sdist(tmp_path).stat().st_mtime_ns == mtime  # second call: from the cache


def test_clear_error_when_neither_cache_nor_registry_has_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "")
    with pytest.raises(BenchError) as err:
        vader.fetch_sdist(tmp_path)
    msg = str(err.value)
    assert msg.startswith("cannot obtain the VADER corpus: it is not in ") and "\n" not in msg
    assert f"copy {vader.SDIST} (from PyPI) into {tmp_path / 'sources'}/ and rerun" in msg


@pytest.mark.slow
def test_minilm_beats_random_init_on_vader_polarity(tmp_path: Path) -> None:
    """Must-show: MiniLM frozen probe accuracy >= 70 and at least 5 points above minilm+rand."""
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "benchmark", "run", "--upstream", "minilm,minilm+rand", "--tasks",
                        "vader-polarity", "--output", str(out)], capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stderr
    acc = {json.loads(p.read_text())["upstream"]: json.loads(p.read_text())["scores"]["accuracy"]
           for p in out.glob("*.json")}
    assert acc["minilm"] >= 70.0
    assert acc["minilm"] - acc["minilm+rand"] >= 5.0, acc


@pytest.mark.slow
def test_default_bench_run_prints_a_leaderboard_offline(tmp_path: Path) -> None:
    """Must-show: `bench run` with no options finishes offline and prints real scores for minilm."""
    r = subprocess.run([sys.executable, "-m", "benchmark", "run"], capture_output=True, text=True, timeout=1800,
                       cwd=tmp_path, env={**__import__("os").environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "160"})
    assert r.returncode == 0, r.stderr
    files = list((tmp_path / "bench-results").glob("*.json"))
    assert len(files) == 2
    scores = {json.loads(p.read_text())["task"]: json.loads(p.read_text()) for p in files}
    assert scores["vader-polarity"]["scores"]["accuracy"] > 70
    assert scores["vader-score"]["scores"]["pearson"] > 50
    assert "offline-text" in r.stdout and "minilm" in r.stdout and "human" in r.stdout
