"""The HTML report's views (issue 23): one tab per benchmark holding only the upstreams with results there, heat
maps on a stated per-map colour scale with each value on hover, training curves as mean and min..max band over all
seeds with tick labels, a full-width page; and the published leaderboard rendered in headless Chromium, the
screenshot kept for CI (env BENCH_ARTIFACTS, set by .ci/run)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html import unescape
from pathlib import Path

import pytest

from benchmark.engine import results
from benchmark.report import html as html_report
from benchmark.report import html_training, svg
from benchmark.report import leaderboard as report

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "leaderboard" / "results"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def published() -> tuple[list[dict], report.Leaderboard, str]:
    """The results of leaderboard/results, their board (no CIs: they cost 30 s and are not what is tested here)
    and its page with the encoder analyses, as `bench report --html` renders it."""
    from benchmark.analysis import records as analysis
    from benchmark.plugin.manager import load_plugins
    from benchmark.report import analysis_html

    rows = results.load_all(RESULTS)
    board = report.build(rows, load_plugins().registry, uncertainty=False)
    inside = analysis_html.render(analysis.load_all(RESULTS), rows)
    return rows, board, html_report.render(board, title="bench leaderboard", inside=inside)


def _view(page: str, suite: str) -> str:
    return page.split(f'id="suite-{suite}">')[1].split("</section>")[0]


def _view_rows(view: str) -> list[str]:
    body = view.split("<tbody>")[1].split("</tbody>")[0]
    return [unescape(r) for r in re.findall(r'<tr data-modality="[^"]*" data-row="([^"]*)">', body)]


def test_each_benchmark_is_a_view_of_exactly_the_upstreams_with_results_there(published) -> None:
    rows, board, page = published
    assert board.suites == ["cross-discipline", "fortune-qa", "offline-image", "offline-speech", "offline-text",
                            "offline-tokens"]
    for i, suite in enumerate(board.suites, start=1):
        tasks = set(board.suite_info[suite]["tasks"])
        # computed from the result files themselves, not from the board
        expected = sorted({report.row_label(r) for r in rows if r["task"] in tasks})
        view = _view(page, suite)
        assert page.count(f'id="suite-{suite}">') == 1
        assert f'<section class="suite view" data-view="{i}" data-suite="{suite}" id="suite-{suite}">' in page
        assert _view_rows(view) == expected, suite
        # its tab names it with the count of its upstreams; its chart has one legend entry per upstream
        assert f'<label for="tab-{i}" data-suite="{suite}">{suite} <span class="count">{len(expected)}</span></label>' \
               in page
        chart = view.split('<svg class="chart"')[1].split("</svg>")[0]
        assert chart.count('class="legend">') == len(expected) + 1  # + the human line's key
    assert _view_rows(_view(page, "offline-image")) == [
        "byol:byol-digits.pt [layer -1]", "efficientnet-lite0 [layer -1]", "efficientnet-lite0+rand [layer -1]",
        "simclr+rand [layer -1]", "simclr:simclr-digits.pt [layer -1]"]
    assert _view_rows(_view(page, "offline-speech")) == ["fbank", "mfcc", "wav2vec2+rand"]
    # dense: a view whose upstreams all ran every task has no missing cell (and no ×human column without a human)
    assert "—" not in _view(page, "offline-image").split("<tbody>")[1].split("</tbody>")[0]
    # the page opens on the summary (the first radio is the checked one); CSS alone switches views
    assert re.findall(r'<input type="radio" class="tab" name="view" id="tab-(\d+)"( checked)?', page) == [
        ("0", " checked"), *((str(i), "") for i in range(1, 7))]
    assert '#tab-3:checked~[data-view="3"]' in page
    summary = page.split('id="overview">')[1].split("</section>")[0]
    assert summary.count("<tr data-suite=") == 6
    assert ('<td>image</td><td class="num">3</td><td class="num">5</td><td>byol:byol-digits.pt [layer -1] '
            '<b>97.8</b></td>') in summary
    # the sparse upstreams × suites matrix is gone
    assert "not every task of the suite has a result" not in page


def test_heat_map_has_a_per_map_scale_with_its_min_and_max_and_values_on_hover() -> None:
    chart = svg.heatmap(["a", "b"], 2, [[0.12, 0.16], [0.14, 0.13]], title="t")
    assert ">min 0.120</text>" in chart and ">max 0.160</text>" in chart
    fills = {title: fill for fill, title in re.findall(r'fill="(#[0-9a-f]{6})"><title>(\w · layer \d: [\d.]+)</title>',
                                                       chart)}
    # 0.12 and 0.16 are the two ends of this map's scale: lightest and darkest, not two shades of one blue
    assert fills == {"a · layer 0: 0.120": "#f7fbff", "a · layer 1: 0.160": "#08306b",
                     "b · layer 0: 0.140": "#7f95b5", "b · layer 1: 0.130": "#bbc8da"}  # 1/2 and 1/4 of the way
    # the legend's ten steps run from the minimum's colour to the maximum's
    steps = re.findall(r'<rect x="\d+" y="20" width="12" height="12" fill="(#[0-9a-f]{6})"><title>([\d.]+)</title>',
                       chart)
    assert len(steps) == 10 and steps[0] == ("#f7fbff", "0.120") and steps[-1] == ("#08306b", "0.160")


def test_published_heat_map_states_its_range_and_every_cell_value(published) -> None:
    rows, board, page = published
    view = _view(page, "offline-text")
    cells = {(row.label, t): row.tasks[t].layer_weights for t in ("vader-polarity", "vader-score") for row in board.rows
             if t in row.tasks and row.tasks[t].layer_weights}
    every = [w for ws in cells.values() for w in ws]
    assert f">min {min(every):.3f}</text>" in view and f">max {max(every):.3f}</text>" in view
    minilm = cells[("minilm", "vader-polarity")]
    for layer, w in enumerate(minilm):
        assert f"<title>minilm · vader-polarity · layer {layer}: {w:.3f}</title>" in view
    seeds = [r["layer_weights"] for r in rows if report.row_label(r) == "minilm" and r["task"] == "vader-polarity"]
    assert len(seeds) == 3
    mean = sum(w[3] for w in seeds) / 3
    assert f"minilm · vader-polarity · layer 3: {mean:.3f}</title>" in view  # the mean over the 3 seeds


def test_band_is_min_to_max_over_every_seed_at_their_common_epochs() -> None:
    seeds = [[{"epoch": 1, "s": 1.0}, {"epoch": 2, "s": 3.0}, {"epoch": 3, "s": 5.0}],
             [{"epoch": 1, "s": 3.0}, {"epoch": 2, "s": 1.0}],
             [{"epoch": 1, "s": 2.0}, {"epoch": 2, "s": 2.0}]]
    band = html_training.band_curve(seeds, "epoch", "s")
    assert band == [(1.0, 2.0, 1.0, 3.0), (2.0, 2.0, 1.0, 3.0)]  # (epoch, mean, min, max); epoch 3: one seed only
    assert html_training.seeds_with(seeds, "epoch", "s") == 3
    chart = html_training.seed_chart(["up"], [band], [3], title="t")
    assert "<title>up: mean, band min..max over 3 seeds</title>" in chart
    poly = re.search(r'<polygon class="band" points="([^"]+)"', chart).group(1)
    line = re.search(r'<polyline points="([^"]+)"', chart).group(1)
    edge = [tuple(map(float, p.split(","))) for p in poly.split()]
    top, bottom = edge[:2], edge[2:][::-1]  # the maxima left to right, then the minima right to left
    mean = [tuple(map(float, p.split(","))) for p in line.split()]
    for (xt, yt), (xb, yb), (xm, ym) in zip(top, bottom, mean, strict=True):
        assert xt == xb == xm and yt < ym < yb and abs(ym - (yt + yb) / 2) <= 0.1  # mean midway: 2 in 1..3
    # tick labels along both axes, not only the two ends
    labels = re.findall(r'class="tick" text-anchor="(?:end|middle)">([^<]+)</text>', chart)
    assert labels == ["1.0", "1.5", "2.0", "2.5", "3.0", "1", "2", "epoch"]
    assert "<polygon" not in html_training.seed_chart(["up"], [band], [1], title="t")


def test_published_training_curves_are_over_all_seeds(published) -> None:
    rows, _, page = published
    view = _view(page, "offline-text")
    assert "(seed 0)" not in page
    n = len([r for r in rows if report.row_label(r) == "minilm" and r["task"] == "vader-polarity"
             and r["selection"].get("curve")])
    assert n == 3
    chart = view.split("vader-polarity: model-selection score per epoch</title>")[1].split("</svg>")[0]
    assert f"<title>minilm: mean, band min..max over {n} seeds</title>" in chart
    assert len(re.findall(r'class="tick" text-anchor="end">', chart)) >= 4  # y ticks


def test_ticks_are_round_and_cover_the_range() -> None:
    assert svg.ticks(0.12, 0.16) == ([0.12, 0.13, 0.14, 0.15, 0.16], 2)
    assert svg.ticks(1, 4, 6) == ([1.0, 2.0, 3.0, 4.0], 0)
    assert svg.ticks(0, 1) == ([0.0, 0.25, 0.5, 0.75, 1.0], 2)
    assert svg.ticks(35, 95) == ([20.0, 40.0, 60.0, 80.0, 100.0], 0)
    assert svg.ticks(5, 5) == ([5.0, 5.25, 5.5, 5.75, 6.0], 2)  # a flat curve still gets an axis


def test_page_is_full_width() -> None:
    css = (ROOT / "benchmark" / "assets" / "report.css").read_text(encoding="utf-8")
    body = re.search(r"^body \{([^}]*)\}", css, re.M).group(1)
    assert "max-width" not in body


def test_published_report_in_headless_chromium(published, tmp_path: Path) -> None:
    """`chromium --headless --screenshot` of the report built from leaderboard/results: a 1400 × 2000 PNG, not
    blank, with the right half of the window used. The screenshot stays in $BENCH_ARTIFACTS (CI keeps it)."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it with apt-get")
        pytest.skip("Debian chromium not installed (apt-get install chromium)")
    from PIL import Image

    out = Path(os.environ.get("BENCH_ARTIFACTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    page, png = out / "leaderboard.html", out / "leaderboard.png"
    page.write_text(published[2], encoding="utf-8")
    png.unlink(missing_ok=True)
    r = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--no-first-run", "--disable-background-networking", "--disable-component-update",
                        f"--screenshot={png}", "--window-size=1400,2000", page.as_uri()],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and png.exists(), r.stderr[-2000:]
    image = Image.open(png).convert("RGB")
    assert image.size == (1400, 2000)
    assert len(image.getcolors(maxcolors=1 << 20)) > 200  # text, tabs, charts: not a blank page
    right = image.crop((700, 0, 1400, 2000))
    inked = sum(n for n, c in right.getcolors(maxcolors=1 << 20) if c != (255, 255, 255))
    assert inked > 0.02 * 700 * 2000  # the right half of a 1400 px window holds content, not white


def test_views_switch_without_script_and_fit_wide_and_narrow_windows(published, tmp_path: Path) -> None:
    """In Chromium with JavaScript off: the tabs switch views; at 1400 px a view's chart sits beside its table; at
    420 px no view widens the page (wide tables scroll by themselves)."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it with apt-get")
        pytest.skip("Debian chromium not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    _, board, text = published
    page_file = tmp_path / "leaderboard.html"
    page_file.write_text(text, encoding="utf-8")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            for width in (1400, 420):
                context = browser.new_context(viewport={"width": width, "height": 900}, java_script_enabled=False)
                page = context.new_page()
                page.goto(page_file.as_uri())
                assert page.locator("#overview").is_visible()
                for i, suite in enumerate(board.suites, start=1):
                    page.locator(f'nav.tabs label[for="tab-{i}"]').click()
                    view = page.locator(f"section#suite-{suite}")
                    assert view.is_visible() and not page.locator("#overview").is_visible(), suite
                    assert page.locator("section.view:visible").count() == 1
                    assert page.evaluate("document.documentElement.scrollWidth") == width, (suite, width)
                    if width == 1400:
                        table = view.locator(".top > .scroll").bounding_box()
                        chart = view.locator(".top > figure").bounding_box()
                        assert chart["x"] >= table["x"] + table["width"], suite  # side by side, not below
                context.close()
        finally:
            browser.close()
