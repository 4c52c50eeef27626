"""The project's published leaderboard: real result files, and HTML that regenerates byte for byte from them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LEADERBOARD = ROOT / "leaderboard"
# The documented command (leaderboard/README.md), with the output redirected to a temporary file.
COMMAND = ["report", "--output", "leaderboard/results", "--html", "{html}", "--title", "bench leaderboard"]


def test_published_results_are_complete_real_runs() -> None:
    files = sorted((LEADERBOARD / "results").glob("*.json"))
    assert len(files) >= 18
    seen = set()
    for path in files:
        r = json.loads(path.read_text(encoding="utf-8"))
        seen.add((r["upstream"], r["task"], r["seed"]))
        assert r["environment"]["command"].startswith("bench run ")
        for split, preds in r["predictions"].items():
            assert len(preds) == len(r["targets"][split]) == r["n_examples"][split]
    assert {(u, t) for u, t, _ in seen} >= {(u, t) for u in ("minilm", "minilm+rand", "minilm+re-emb")
                                            for t in ("vader-polarity", "vader-score")}


def test_committed_html_is_exactly_what_the_documented_command_produces(tmp_path: Path) -> None:
    html = tmp_path / "index.html"
    documented = (LEADERBOARD / "README.md").read_text(encoding="utf-8")
    assert "bench report --output leaderboard/results --html leaderboard/index.html" in documented
    args = [a.format(html=html) for a in COMMAND]
    r = subprocess.run([sys.executable, "-m", "benchmark", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert html.read_bytes() == (LEADERBOARD / "index.html").read_bytes(), (
        "leaderboard/index.html is stale: regenerate it with the command in leaderboard/README.md")


def test_published_jobs_are_found_on_resume(registry) -> None:
    """Options added since the results were written keep their job ids: rerunning the command does nothing."""
    from benchmark.engine import runner

    plan = runner.plan(registry, ["minilm", "minilm+rand", "minilm+re-emb"], ["offline-text"], [0, 1, 2],
                       runner.resolve_hparams("frozen", {}), LEADERBOARD / "results")
    assert len(plan.jobs) == 18 and plan.todo == []


def test_cross_discipline_rows_are_the_documented_command_with_mappings_and_curves(registry) -> None:
    """The four rows of Kao & Lee's table: every job of the documented command is published (a rerun does
    nothing), each records its symbol mapping and its loss curves, and the report draws them."""
    from benchmark.engine import runner

    ups = ["minilm", "minilm+re-emb", "minilm+rand", "specific"]
    plan = runner.plan(registry, ups, ["cross-discipline"], [0, 1, 2], runner.resolve_hparams("finetune", {}),
                       LEADERBOARD / "results")
    assert len(plan.jobs) == 48 and plan.todo == []
    for job in plan.jobs:
        r = json.loads(job.path.read_text(encoding="utf-8"))
        symbols = r["task_info"]["symbols"]
        assert r["mode"] == "finetune" and symbols["alphabet"] == len(symbols["mapping"]) >= 4
        words = set(symbols["mapping"].values())
        assert len(words) == symbols["alphabet"]  # one to one
        assert all(w.startswith("s") for w in words) == (r["upstream"] == "specific")
        curve = r["selection"]["curve"]
        assert len(curve) == r["hyperparameters"]["epochs"] and all(c["dev_loss"] > 0 for c in curve)
        assert r["selection"]["step_curve"][-1]["step"] == r["hyperparameters"]["epochs"] * 25  # 400 / batch 16
    # minilm and its variants draw the same mapping (same vocabulary, same task seed)
    maps = {json.loads(j.path.read_text())["task_info"]["symbols"]["digest"] for j in plan.jobs
            if j.task.name == "dna-made1" and j.upstream.name == "minilm"}
    assert len(maps) == 1
    html = (LEADERBOARD / "index.html").read_text(encoding="utf-8")
    for task in ("pfam-families", "dna-made1", "dna-motifs", "music-composers"):
        assert f"{task} · minilm: training loss" in html and f"{task} · minilm: model-selection loss" in html


def test_token_rows_are_the_documented_commands_and_learn_far_beyond_chance(registry) -> None:
    """Tagging and QA, frozen and fine-tuned (leaderboard/README.md): every job of the documented commands is
    published, scores clear the trivial baselines (majority tag 18.6 % of words; span F1 0; one of four authors
    25 % EM), the transfer results carry the other languages, and the report draws the matrix."""
    from benchmark.engine import runner

    tagging = ["upos-movie-reviews", "ner-nyt-editorials"]
    plans = [
        runner.plan(registry, ["minilm"], tagging, [0, 1, 2], runner.resolve_hparams(mode, {}),
                    LEADERBOARD / "results") for mode in ("frozen", "finetune")] + [
        runner.plan(registry, ["minilm"], ["fortune-qa-en"], seeds, runner.resolve_hparams(mode, {}),
                    LEADERBOARD / "results", eval_on=["fortune-qa"])
        for mode, seeds in (("frozen", [0, 1, 2]), ("finetune", [0]))]
    jobs = [j for p in plans for j in p.jobs]
    assert len(jobs) == 16 and all(p.todo == [] for p in plans)
    for job in jobs:
        r = json.loads(job.path.read_text(encoding="utf-8"))
        score = r["main_score"]
        if r["task"] == "upos-movie-reviews":
            assert score > 85.0, r["scores"]
        elif r["task"] == "ner-nyt-editorials":
            assert score > 50.0, r["scores"]
        else:
            assert score > 50.0, r["scores"]  # chance: 25
            assert set(r["transfer"]) == {"fortune-qa-de", "fortune-qa-es", "fortune-qa-it"}
            assert all(len(t["predictions"]["test"]) == 400 for t in r["transfer"].values())
    html = (LEADERBOARD / "index.html").read_text(encoding="utf-8")
    section = html.split('<section id="transfer">')[1].split("</section>")[0]
    assert section.count("<table") == 2  # frozen and fine-tuned minilm
    assert "fortune-qa-it <span class=\"lang\">(it)</span>" in section


def test_spoken_qa_rows_are_the_documented_command_and_their_scores_their_spans(registry) -> None:
    """Issue 25's seed-figure rows (docs/spoken-qa.md): every job of the documented command is published (a rerun
    does nothing) and each recorded FF1 / AOS is the metric of its recorded time spans."""
    from benchmark.engine import runner
    from downstreams.spoken_qa_metrics import aos, ff1

    plan = runner.plan(registry, ["minilm", "minilm+rand", "minilm+re-emb"], ["spoken-fortune-qa"], [0, 1, 2],
                       runner.resolve_hparams("frozen", {}), LEADERBOARD / "results")
    assert len(plan.jobs) == 9 and plan.todo == []
    for job in plan.jobs:
        r = json.loads(job.path.read_text(encoding="utf-8"))
        gold, spans = r["targets"]["test"], r["predictions"]["test"]
        assert len(gold) == 60
        assert r["scores"]["ff1"] == pytest.approx(ff1(gold, spans), abs=1e-3)
        assert r["scores"]["aos"] == pytest.approx(aos(gold, spans), abs=1e-3)


ARTIFICIAL = {  # docs/analysis.md's rows (issue 25 item 2) -> the upstream each row was evaluated as
    "scratch (no pre-training)": "bert:runs/art-uniform/step-000000",
    "English (fortunes)": "bert:runs/art-english/step-001500",
    "uniform": "bert:runs/art-uniform/step-001500",
    "zipf": "bert:runs/art-zipf/step-001500",
    "paired": "bert:runs/art-paired/step-001500",
    "consecutive": "bert:runs/art-consecutive/step-001500",
}
ARTIFICIAL_TASKS = ["vader-polarity", "upos-movie-reviews", "ner-nyt-editorials", "fortune-qa-en"]


def artificial_table(registry) -> list[str]:
    """The Markdown rows docs/analysis.md shows: per kind and task the mean ± standard deviation over seeds 0-2
    and, against scratch, the paired difference and the permutation p-value (bench report's test)."""
    from benchmark.scoring import stats
    from benchmark.scoring.scores import Aggregate

    found: dict[tuple[str, str], list[dict]] = {}
    for path in (LEADERBOARD / "results").glob("*__bert_runs_art-*.json"):
        r = json.loads(path.read_text(encoding="utf-8"))
        found.setdefault((r["upstream"], r["task"]), []).append(r)
    scratch = ARTIFICIAL["scratch (no pre-training)"]
    lines = []
    for name, upstream in ARTIFICIAL.items():
        cells, means = [], []
        for t in ARTIFICIAL_TASKS:
            rs = sorted(found[(upstream, t)], key=lambda r: r["seed"])
            assert [r["seed"] for r in rs] == [0, 1, 2]
            agg = Aggregate.of([r["main_score"] for r in rs])
            means.append(agg.mean)
            cell = f"{agg.mean:.1f} ± {agg.std:.1f}"
            if upstream != scratch:
                test = stats.paired_permutation(registry.tasks.get(t).obj, registry, rs, found[(scratch, t)])
                cell += f" ({test.difference:+.1f}, p {test.p_value:.3f})"
            cells.append(cell)
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {sum(means) / len(means):.1f} |")
    return lines


def test_artificial_pretraining_rows_are_the_documented_commands_and_the_docs_table_their_scores(registry) -> None:
    """Issue 25's artificial-data experiment (docs/analysis.md): every kind fine-tuned on the four offline text tasks
    with seeds 0-2, each result from its documented command, and the docs' table is exactly what the published
    files give (means, standard deviations, paired tests against scratch)."""
    doc = (ROOT / "docs" / "analysis.md").read_text(encoding="utf-8")
    for upstream in ARTIFICIAL.values():
        paths = list((LEADERBOARD / "results").glob(f"*__{upstream.replace(':', '_').replace('/', '_')}__*.json"))
        assert len(paths) == 12
        for path in paths:
            r = json.loads(path.read_text(encoding="utf-8"))
            assert r["mode"] == "finetune" and r["environment"]["command"] == (
                f"bench run --upstream {upstream} --tasks {','.join(ARTIFICIAL_TASKS)} --mode finetune --lr 1e-4 "
                "--seeds 0,1,2 -o runs/art-results")
    for line in artificial_table(registry):
        assert line in doc, f"docs/analysis.md lacks the row {line}"
