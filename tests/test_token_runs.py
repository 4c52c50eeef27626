"""End to end on the packaged MiniLM: the offline tagging and QA tasks learn far beyond their trivial baselines in
frozen and fine-tune mode, and a QA model trained in English answers the German questions (transfer)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from downstreams.recipes import fortunes_qa

pytestmark = pytest.mark.slow


def _run(ws, out: Path, *args: str) -> dict[str, dict]:
    r = ws.bench("run", "--upstream", "minilm", "--output", str(out), "-q", *args, timeout=1800)
    assert r.returncode == 0, r.stderr
    return {json.loads(p.read_text())["task"]: json.loads(p.read_text()) for p in out.glob("*.json")}


@pytest.fixture()
def ws(tmp_path: Path):
    from reliability_workspace import make_workspace

    return make_workspace(tmp_path)


def test_tagging_learns_far_beyond_the_majority_tag_frozen_and_fine_tuned(ws) -> None:
    tasks = ("--tasks", "upos-movie-reviews,ner-nyt-editorials")
    frozen = _run(ws, ws.root / "frozen", *tasks)
    tuned = _run(ws, ws.root / "tuned", *tasks, "--mode", "finetune")
    for res in (frozen, tuned):
        upos, ner = res["upos-movie-reviews"], res["ner-nyt-editorials"]
        # trivial baselines: every word NOUN (the most frequent tag) 16.8 % of test words, every word O span F1 0;
        # a context-free per-word lexicon (each word's most frequent training tag) 72.5 and 40.9 (docs/tokens.md)
        assert upos["scores"]["token_accuracy"] > 85.0, upos["scores"]
        assert ner["scores"]["span_f1"] > 52.0, ner["scores"]
        preds, gold = ner["predictions"]["test"], ner["targets"]["test"]
        assert [len(p) for p in preds] == [len(g) for g in gold]
        assert all(t in ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
                   for p in preds for t in p)
    assert frozen["ner-nyt-editorials"]["hyperparameters"]["hidden"] == 256  # the task's frozen default
    assert tuned["upos-movie-reviews"]["hyperparameters"]["lr"] == 1e-4
    # --align mean is another job (its id differs) and a valid alternative
    mean = _run(ws, ws.root / "mean", "--tasks", "upos-movie-reviews", "--align", "mean")["upos-movie-reviews"]
    assert mean["hyperparameters"]["align"] == "mean" and mean["job_id"] != frozen["upos-movie-reviews"]["job_id"]
    assert mean["scores"]["token_accuracy"] > 85.0


@pytest.mark.skipif(not fortunes_qa._files("de"), reason="apt-get install fortunes fortunes-de")
def test_fortune_qa_learns_and_transfers_to_german(ws) -> None:
    # --fused-lstm: the span head's BiLSTM unpacked (tests/test_bilstm.py): this test 705 s -> 480 s on one CPU thread
    frozen = _run(ws, ws.root / "frozen", "--train-on", "fortune-qa-en", "--eval-on", "fortune-qa-de", "--fused-lstm")
    res = frozen["fortune-qa-en"]
    # picking one of the four authors scores 25 % exact match
    assert res["scores"]["squad_em"] > 45.0, res["scores"]
    de = res["transfer"]["fortune-qa-de"]
    assert de["language"] == "de" and de["n_examples"] == {"test": 400}
    assert de["scores"]["squad_em"] > 30.0, de["scores"]
    answers = de["predictions"]["test"]
    assert all(isinstance(a, str) for a in answers) and sum(a in ("", None) for a in answers) == 0
    r = ws.bench("report", "--output", str(ws.root / "frozen"), "--html", str(ws.root / "r.html"))
    assert r.returncode == 0, r.stderr
    section = (ws.root / "r.html").read_text().split('<section id="transfer">')[1].split("</section>")[0]
    assert f"{de['main_score']:.1f}" in section and f"{res['main_score']:.1f}" in section
