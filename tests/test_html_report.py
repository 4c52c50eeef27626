"""The HTML report: self-contained, escaped, deterministic; checked in headless Chromium driven by Playwright."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import benchmark
from benchmark.engine import results
from benchmark.report import html as html_report
from benchmark.report import leaderboard as report
from benchmark.report import markdown as markdown_report

HOSTILE = "<img src=x onerror=alert(1)>"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# screenshots CI keeps: $BENCH_ARTIFACTS (.ci/run sets it), else .pytest-artifacts
ARTIFACTS = Path(os.environ.get("BENCH_ARTIFACTS") or Path(__file__).resolve().parent.parent / ".pytest-artifacts")


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory: pytest.TempPathFactory, tiny_bert_dir: Path) -> Path:
    """Real results of two upstreams (tiny BERT and its +rand variant, 2 seeds) plus a hostile-named copy."""
    from conftest import SENTENCES_NEG, SENTENCES_POS, write_tsv

    base = tmp_path_factory.mktemp("report")
    glue = base / "glue"
    sst = [[s, "1"] for s in SENTENCES_POS] + [[s, "0"] for s in SENTENCES_NEG]
    write_tsv(glue / "SST-2" / "train.tsv", ["sentence", "label"], sst * 3)
    write_tsv(glue / "SST-2" / "dev.tsv", ["sentence", "label"], sst)
    out = base / "results"
    benchmark.run([f"bert:{tiny_bert_dir}", f"bert:{tiny_bert_dir}+rand"], "sst2", seeds=[0, 1], output=out,
                  data_dir=glue, epochs=4)
    src = json.loads(sorted(out.glob("*.json"))[0].read_text())
    evil = copy.deepcopy(src)
    evil["upstream"] = HOSTILE
    evil["job_id"] = "evil"
    evil["environment"]["command"] = f"bench run --upstream '{HOSTILE}'"
    (out / "evil.json").write_text(json.dumps(evil))
    ghost = copy.deepcopy(src)
    ghost["task"] = "<script>alert(2)</script>"
    (out / "ghost.json").write_text(json.dumps(ghost))
    return out


@pytest.fixture(scope="module")
def page_file(results_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    html = tmp_path_factory.mktemp("html") / "report.html"
    r = subprocess.run([sys.executable, "-m", "benchmark", "report", "--output", str(results_dir), "--html", str(html),
                        "--format", "json"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return html


def test_page_is_self_contained_escaped_and_deterministic(page_file: Path, results_dir: Path, registry) -> None:
    text = page_file.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    # no external resource: the only URL is the SVG namespace, which is a name, not a request
    assert set(re.findall(r"https?://[^\s\"'<>)]+", text)) <= {"http://www.w3.org/2000/svg"}
    from html.parser import HTMLParser

    class Elements(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.tags: set[str] = set()
            self.attrs: set[str] = set()

        def handle_starttag(self, tag, attrs):
            self.tags.add(tag)
            self.attrs.update(name for name, _ in attrs)

    parsed = Elements()
    parsed.feed(text)
    assert not parsed.tags & {"link", "img", "iframe", "object", "embed", "audio", "video", "source", "base"}
    assert not parsed.attrs & {"src", "href", "srcset", "onerror", "onload", "onclick"}  # nothing loads, no handlers
    assert "&lt;img src=x onerror=alert(1)&gt;" in text and HOSTILE not in text
    assert "<script>alert(2)</script>" not in text and "&lt;script&gt;alert(2)&lt;/script&gt;" in text
    assert "default-src 'none'" in text
    board = report.build(results.load_all(results_dir), registry)
    assert html_report.render(board) == html_report.render(report.build(results.load_all(results_dir), registry))
    assert board.unknown_tasks == ["<script>alert(2)</script>"]


def test_markdown_escapes_and_holds_the_numbers(results_dir: Path, registry) -> None:
    board = report.build(results.load_all(results_dir), registry)
    md = markdown_report.render(board)
    assert "\\<img src=x onerror=alert(1)\\>" in md and HOSTILE not in md
    row = next(r for r in board.rows if r.label.endswith("+rand"))
    cell = row.tasks["sst2"]
    assert f"{cell.score.mean:.1f} ± {cell.score.std:.1f} [{cell.ci[0]:.1f}, {cell.ci[1]:.1f}]" in md
    assert "| human | 97.8 |" in md


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it with apt-get")
        pytest.skip("Debian chromium not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


def test_report_in_a_real_browser(browser, page_file: Path, results_dir: Path, registry) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    requests, dialogs, errors = [], [], []
    page.on("request", lambda req: requests.append(req.url))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(page_file.as_uri())
    page.wait_for_load_state("load")
    assert errors == [] and dialogs == []
    assert [u for u in requests if not u.startswith(("file://", "data:"))] == []
    # the page opens on the benchmarks summary; the glue tab shows glue's view (CSS only)
    suite_view = page.locator("section#suite-glue")
    assert page.locator("#overview").is_visible() and not suite_view.is_visible()
    page.locator('nav.tabs label[data-suite="glue"]').click()
    assert suite_view.is_visible() and not page.locator("#overview").is_visible()
    # the hostile upstream name is text, and no <img> (or injected script) exists
    assert page.locator("img").count() == 0
    assert HOSTILE in suite_view.locator("table tbody").first.inner_text()
    # the tables hold the numbers of the result files
    board = report.build(results.load_all(results_dir), registry)
    suite_table = page.locator("section#suite-glue table").first
    for row in board.rows:
        cell = row.tasks["sst2"]
        text = suite_table.locator(f'tr[data-row="{row.label}"] td').nth(2).inner_text()
        assert text.startswith(f"{cell.score.mean:.1f}"), (row.label, text)
        assert f"[{cell.ci[0]:.1f}, {cell.ci[1]:.1f}]" in text
    # clicking a header re-sorts: ascending then descending by the sst2 column
    header = suite_table.locator("thead th").nth(3)
    order = lambda: suite_table.locator("tbody tr").evaluate_all(  # noqa: E731
        "rows => rows.map(r => parseFloat(r.cells[3].getAttribute('data-sort')))")
    header.click()
    first = order()
    header.click()
    second = order()
    assert first == sorted(first, reverse=True) and second == sorted(second) and first != second
    assert header.get_attribute("aria-sort") == "ascending"
    # charts are present: suite bars, layer weights, training curves
    assert page.locator("svg.chart").count() >= 3
    assert suite_view.locator("svg rect").count() >= len(board.rows)
    # the paired-test picker shows a result for the chosen pair
    assert re.search(r"p = \d\.\d{4}", page.locator("#cmp-out").inner_text())
    # the modality filter keeps this modality's rows
    page.select_option("#filter-modality", "text")
    assert suite_table.locator("tbody tr:not(.hidden)").count() == len(board.rows)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    assert (ARTIFACTS / "report.png").stat().st_size > 20_000
    # printable: the print stylesheet lays it out as a PDF
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF") and len(pdf) > 20_000
    # nothing tried to run the hostile payloads
    assert dialogs == [] and errors == []
    page.close()


def test_a_seed_counts_once_per_row_and_task(results_dir: Path, registry) -> None:
    rows = results.load_all(results_dir)
    rand = [r for r in rows if r["upstream"].endswith("+rand") and r["task"] == "sst2"]
    dup = copy.deepcopy(next(r for r in rand if r["seed"] == 0))
    dup["job_id"], dup["main_score"], dup["finished_at"] = "rerun", 99.0, "2999-01-01T00:00:00+00:00"
    board = report.build([*rows, dup], registry, uncertainty=False)
    cell = next(r for r in board.rows if r.label.endswith("+rand")).tasks["sst2"]
    assert cell.seeds == [0, 1] and cell.score.n == 2
    other = next(r for r in rand if r["seed"] == 1)["main_score"]
    assert cell.score.mean == pytest.approx((99.0 + other) / 2)  # the latest result of seed 0 wins
