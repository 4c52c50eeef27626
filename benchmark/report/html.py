"""Render the leaderboard model as ONE self-contained HTML file: inline CSS, JS and SVG, no network at view time.

Everything user-provided (upstream, task and plugin names, commands, citations) is escaped; data for the
scripts travels as JSON in a `<script type="application/json">` block with `<`, `>` and `&` escaped, and is
read with JSON.parse and written with textContent only. A Content-Security-Policy allows no network access and
only this page's own script (by hash), so even an injected event handler would not run. The output is
deterministic: the same result files give the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.resources
import json
from html import escape
from typing import Any

from benchmark.report import html_views as views
from benchmark.report import svg
from benchmark.report.html_training import band_curve, loss_curves, pretraining, seed_chart, seeds_with
from benchmark.report.leaderboard import Leaderboard, Row, TaskCell, to_json


def _asset(name: str) -> str:
    return importlib.resources.files("benchmark").joinpath("assets", name).read_text(encoding="utf-8")


def _num(x: float | None, digits: int = 1) -> str:
    """x with `digits` decimals, "—" for None; never "-0" (a SUPERB score of -0.0001 is 0)."""
    if x is None:
        return "—"
    text = f"{x:.{digits}f}"
    return text.lstrip("-") if float(text) == 0 else text


def _sort_attr(x: float | None) -> str:
    return "" if x is None else f' data-sort="{x:.6f}"'


def _safe_json(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _cell(c: TaskCell | None, with_ci: bool = True) -> str:
    if c is None:
        return '<td class="num missing" data-sort="">—</td>'
    std = f'<span class="std">±{c.score.std:.1f}</span>' if c.score.n > 1 else ""
    ci = (f'<div class="ci" title="95% bootstrap CI over the evaluation examples">[{c.ci[0]:.1f}, {c.ci[1]:.1f}]</div>'
          if with_ci and c.ci else "")
    rel = f'<div class="rel">{c.relative_to_human:.2f}× human</div>' if c.relative_to_human is not None else ""
    superb = (f'<div class="rel" title="SUPERB score: FBANK 0, state of the art 1000">SUPERB {_num(c.superb, 0)}</div>'
              if c.superb is not None else "")
    # Only a flagged cell gets the mark: pages of unflagged results stay byte for byte what they were.
    flag = (f'<span class="flag" title="{escape(c.flag)}">&#9888; not as bench wrote it</span>' if c.flag else "")
    note = f'<div class="rel">{escape(c.note)}</div>' if c.note else ""
    return f'<td class="num"{_sort_attr(c.score.mean)}>{c.score.mean:.1f}{std}{ci}{rel}{superb}{note}{flag}</td>'


def _row_attrs(row: Row) -> str:
    return f' data-modality="{escape(row.modality)}" data-row="{escape(row.label)}"'


def _params(n: int | None) -> str:
    if n is None:
        return "—"
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.1f}M"


def _suite_section(board: Leaderboard, suite: str, view: int) -> str:
    """One benchmark's view: a dense table and bar chart of the upstreams with results in it, then the details."""
    info = board.suite_info[suite]
    columns = info["columns"]
    tasks = [t for t in columns if t in board.tasks]
    head = "".join(f'<th class="num" title="an error rate: lower is better">{escape(t)} ↓</th>'
                   if board.task_info.get(t, {}).get("lower_is_better") else f'<th class="num">{escape(t)}</th>'
                   for t in columns)
    rows = views.suite_rows(board, suite)
    superb = any(row.superb.get(suite) is not None for row in rows)
    superb_head = '<th class="num" title="FBANK 0, state of the art 1000">SUPERB</th>' if superb else ""
    human = board.human.get(suite) is not None  # without a human score, ×human would be a column of —
    body = []
    for row in rows:
        value, rel = row.suites.get(suite, (None, None))
        score = row.superb.get(suite)
        superb_cell = f'<td class="num"{_sort_attr(score)}>{_num(score, 0)}</td>' if superb else ""
        body.append(f'<tr{_row_attrs(row)}><th scope="row">{escape(row.label)}</th>'
                    f'<td class="num"{_sort_attr(value)}>{_num(value)}</td>'
                    + (f'<td class="num"{_sort_attr(rel)}>{_num(rel, 3)}</td>' if human else "")
                    + f'{superb_cell}{"".join(_cell(row.cell(suite, t)) for t in columns)}</tr>')
    refs = "".join(_reference_row(board, suite, name, columns, superb, human)
                   for name in sorted({n for t in columns for n in board.references.get(t, {})}))
    citation = f'<p class="cite">{escape(info["citation"])}</p>' if info.get("citation") else ""
    return (f'<section class="suite view" data-view="{view}" data-suite="{escape(suite)}" id="suite-{escape(suite)}">'
            f'<h2>{escape(suite)} <span class="modality">{escape(views.suite_modality(board, suite))}</span></h2>'
            f'<p class="note">{escape(info["description"])}</p>{citation}<div class="top"><div class="scroll">'
            f'<table class="sortable"><thead><tr><th>upstream</th><th class="num">{escape(suite)}</th>'
            f'{"<th class=num>×human</th>" if human else ""}{superb_head}{head}</tr></thead><tbody>{"".join(body)}</tbody>'
            f'<tfoot>{refs}</tfoot></table></div>'
            f'<figure>{views.suite_chart(board, suite)}<figcaption>Bars: task scores (mean over seeds) per upstream; '
            f'dashed line: human.</figcaption></figure></div>'
            f'<p class="note">Cells: mean ±std over seeds, [95% bootstrap CI over the evaluation examples], '
            f'score / human. Suite score: macro average of its tasks, only when every task has a result.</p>'
            f'{_metric_tables(board, tasks)}'
            f'{_reference_notes(board, tasks)}{_layer_chart(board, suite, tasks)}{_curves(board, tasks)}'
            f'{loss_curves(board, tasks)}</section>')


def _reference_row(board: Leaderboard, suite: str, name: str, tasks: list[str], superb: bool, human: bool) -> str:
    vals = "".join(f'<td class="num">{_num(board.references.get(t, {}).get(name, {}).get("score"))}</td>'
                   for t in tasks)
    suite_ref = board.human.get(suite) if name == "human" else None
    return (f'<tr class="reference"><th scope="row">{escape(name)}</th><td class="num">{_num(suite_ref)}</td>'
            + (f'<td class="num">{"1.000" if suite_ref else ""}</td>' if human else "")
            + f'{"<td></td>" if superb else ""}{vals}</tr>')


def _metric_tables(board: Leaderboard, tasks: list[str]) -> str:
    parts = []
    for t in tasks:
        keys = board.task_info[t]["metrics"]
        rows = []
        for row in board.rows:
            c = row.tasks.get(t)
            if c is None:
                continue
            vals = "".join(
                f'<td class="num"{_sort_attr(c.metrics[k].mean)}>{c.metrics[k].mean:.2f}'
                f'{f"<span class=std>±{c.metrics[k].std:.2f}</span>" if c.metrics[k].n > 1 else ""}</td>'
                if k in c.metrics else '<td class="num">—</td>' for k in keys)
            rows.append(f'<tr{_row_attrs(row)}><th scope="row">{escape(row.label)}</th>{vals}'
                        f'<td class="num">{len(c.seeds)}</td></tr>')
        human = board.references.get(t, {}).get("human", {}).get("scores", {})
        foot = "".join(f'<td class="num">{_num(human.get(k), 2)}</td>' for k in keys)
        parts.append(f'<details class="metrics"><summary>{escape(t)}: every metric</summary>'
                     f'<table class="sortable"><thead><tr><th>upstream</th>'
                     f'{"".join(f"<th class=num>{escape(k)}</th>" for k in keys)}<th class="num">seeds</th></tr>'
                     f'</thead><tbody>{"".join(rows)}</tbody><tfoot><tr class="reference"><th scope="row">human</th>'
                     f'{foot}<td></td></tr></tfoot></table></details>')
    return "".join(parts)


def _reference_notes(board: Leaderboard, tasks: list[str]) -> str:
    items = []
    for t in tasks:
        for name, ref in sorted(board.references.get(t, {}).items()):
            method = f" Method: {escape(ref['method'])}." if ref.get("method") else ""
            items.append(f"<li><b>{escape(t)}</b> · {escape(name)} {_num(ref['score'])}: "
                         f"{escape(ref['citation'])}.{method}</li>")
    return f'<details class="refs"><summary>References and their sources</summary><ul>{"".join(items)}</ul></details>' if items else ""


def _layer_chart(board: Leaderboard, suite: str, tasks: list[str]) -> str:
    names, values = [], []
    for t in tasks:
        for row in board.rows:
            c = row.tasks.get(t)
            if c is not None and c.layer_weights:
                names.append(f"{row.label} · {t}")
                values.append(c.layer_weights)
    if not values:
        return ""
    n = max(len(v) for v in values)
    chart = svg.heatmap(names, n, values, title=f"Learned layer weights, {suite}")
    return (f'<figure class="layers">{chart}<figcaption>Learned softmax layer weights (mean over seeds): which '
            f'layer each task uses. A single chosen layer shows as one dark cell.</figcaption></figure>')


def _curves(board: Leaderboard, tasks: list[str]) -> str:
    figs = []
    for t in tasks:
        names, curves, seeds = [], [], []
        for row in board.rows:
            c = row.tasks.get(t)
            if c is None or not (curve := band_curve(c.curves, "epoch", "select_score")):
                continue
            names.append(row.label)
            curves.append(curve)
            seeds.append(seeds_with(c.curves, "epoch", "select_score"))
        if names:
            figs.append(seed_chart(names, curves, seeds, title=f"{t}: model-selection score per epoch"))
    if not figs:
        return ""
    return (f'<figure class="curves">{"".join(figs)}<figcaption>Training curves: the model-selection score per '
            f'epoch, line = mean over the seeds, shaded band = min..max over the seeds (hover a band for how many).'
            f'</figcaption></figure>')


def _facts(board: Leaderboard) -> str:
    rows = "".join(
        f'<tr{_row_attrs(r)}><th scope="row">{escape(r.label)}</th><td>{escape(r.modality)}</td>'
        f'<td>{escape(r.mode)}</td><td class="num"{_sort_attr(r.n_parameters)}>{_params(r.n_parameters)}</td>'
        f'<td class="num"{_sort_attr(r.layers)}>{"—" if r.layers is None else r.layers}</td>'
        f'<td class="mono">{"<br>".join(escape(f) for f in r.fingerprints)}</td></tr>' for r in board.rows)
    return (f'<section id="upstreams"><h2>Upstreams</h2><table class="sortable"><thead><tr><th>upstream</th>'
            f'<th>modality</th><th>mode</th><th class="num">params</th><th class="num">layers</th>'
            f'<th>fingerprint</th></tr></thead><tbody>{rows}</tbody></table></section>')


def _task_head(name: str, language: str | None) -> str:
    return escape(name) + (f' <span class="lang">({escape(language)})</span>' if language else "")


def _transfer(board: Leaderboard) -> str:
    """Train-task x evaluation-task matrices (cross-lingual / cross-domain zero-shot transfer), one per row."""
    if not board.transfers:
        return ""
    tables = []
    for m in board.transfers:
        head = "".join(f'<th class="num">{_task_head(e, m.languages.get(e))}</th>' for e in m.evals)
        body = ""
        for t in m.train:
            cells = ""
            for e in m.evals:
                a = m.cells.get((t, e))
                text = "—" if a is None else f"{a.mean:.1f}" + (f' <span class="sd">± {a.std:.1f}</span>' if a.n > 1 else "")
                cls = "num diag" if t == e else "num"
                cells += f'<td class="{cls}"{_sort_attr(None if a is None else a.mean)}>{text}</td>'
            body += f'<tr><th scope="row">{_task_head(t, m.languages.get(t))}</th>{cells}</tr>'
        tables.append(f'<table class="transfer" data-row="{escape(m.row)}"><caption>{escape(m.row)}</caption><thead>'
                      f'<tr><th>trained on ↓ · evaluated on →</th>{head}</tr></thead><tbody>{body}</tbody></table>')
    return (f'<section id="transfer"><h2>Transfer</h2><p class="note">Each row is a model trained on one task and '
            f'evaluated, with no further training, on the others (bench run --train-on … --eval-on …); the '
            f'diagonal is the task\'s own score. Task scores (mean ± std over seeds); languages in parentheses.</p>'
            f'{"".join(tables)}</section>')


def _significance(board: Leaderboard) -> str:
    if not board.comparisons:
        return ('<section id="significance"><h2>Paired significance</h2><p class="note">No two upstreams share a '
                'task with per-example predictions.</p></section>')
    rows = "".join(
        f'<tr data-task="{escape(c.task)}"><td>{escape(c.task)}</td><td>{escape(c.a)}</td><td>{escape(c.b)}</td>'
        f'<td class="num"{_sort_attr(c.test.difference)}>{c.test.difference:+.2f}</td>'
        f'<td class="num"{_sort_attr(c.test.p_value)}>{c.test.p_value:.4f}</td>'
        f'<td class="num">{len(c.test.seeds)}</td><td class="num">{c.test.n_examples}</td></tr>'
        for c in board.comparisons)
    return (f'<section id="significance"><h2>Paired significance</h2><p class="note">Two-sided paired permutation '
            f'test: each example\'s predictions are swapped between A and B at random (1,000 permutations, paired '
            f'by seed); difference = A − B in task score, averaged over shared seeds.</p>'
            f'<div class="compare"><label>task <select id="cmp-task"></select></label> <label>A <select id="cmp-a">'
            f'</select></label> <label>B <select id="cmp-b"></select></label> <output id="cmp-out"></output></div>'
            f'<table class="sortable"><thead><tr><th>task</th><th>A</th><th>B</th><th class="num">A − B</th>'
            f'<th class="num">p</th><th class="num">seeds</th><th class="num">examples</th></tr></thead>'
            f'<tbody>{rows}</tbody></table></section>')


def _provenance(board: Leaderboard) -> str:
    p = board.provenance
    versions = "".join(f"<li>{escape(k)} {escape(', '.join(v))}</li>" for k, v in p.get("versions", {}).items())
    commands = "".join(f"<li><code>{escape(c)}</code></li>" for c in p.get("commands", []))
    git = ", ".join(escape(g[:12]) for g in p.get("git", [])) or "—"
    return (f'<footer id="provenance"><h2>Provenance</h2><p>{p.get("n_results", 0)} result files, finished '
            f'{escape(str(p.get("first") or "—"))} to {escape(str(p.get("last") or "—"))}; devices '
            f'{escape(", ".join(p.get("devices", [])) or "—")}; git {git}.</p><h3>Commands</h3>'
            f'<ul>{commands or "<li>—</li>"}</ul><h3>Versions</h3><ul class="versions">{versions}</ul>'
            f'<p class="note">Generated by bench from the result files alone; rerunning the commands above '
            f'reproduces them.</p></footer>')


def render(board: Leaderboard, title: str = "bench leaderboard", *, inside: str = "") -> str:
    """The whole page as a string; `inside` is the encoder-analysis sections (benchmark.report.analysis_html)."""
    script = _asset("report.js")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    csp = (f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
           f"script-src 'sha256-{digest}'; connect-src 'none'; form-action 'none'; base-uri 'none'")
    modalities = sorted({r.modality for r in board.rows})
    filters = ('<nav class="controls"><label>modality <select id="filter-modality"><option value="">all</option>'
               + "".join(f'<option value="{escape(m)}">{escape(m)}</option>' for m in modalities)
               + "</select></label></nav>")
    unknown = (f'<p class="warn">Results for tasks no installed plugin knows were left out: '
               f'{escape(", ".join(board.unknown_tasks))}.</p>' if board.unknown_tasks else "")
    if board.flagged:
        unknown += ('<div class="warn" id="flagged"><p>Results marked &#9888; are not as bench wrote them; do not '
                    'trust their scores:</p><ul>' + "".join(f"<li>{escape(f)}</li>" for f in board.flagged)
                    + "</ul></div>")
    data = {"comparisons": to_json(board)["comparisons"]}
    body = (f"<header><h1>{escape(title)}</h1><p class=\"note\">{len(board.rows)} upstream rows · "
            f"{len(board.tasks)} tasks · {len(board.suites)} suites. Click a column header to sort.</p>{filters}"
            f"{unknown}</header><main>"
            + views.render(board, {s: _suite_section(board, s, i) for s, i in views.view_ids(board).items()})
            + f"{_transfer(board)}{inside}{_facts(board)}{pretraining(board)}{_significance(board)}</main>"
            f"{_provenance(board)}")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{escape(title)}</title><style>{_asset("report.css")}{views.tab_css(board)}</style></head>'
            f'<body>{body}<script type="application/json" id="bench-data">{_safe_json(data)}</script>'
            f"<script>{script}</script></body></html>\n")
