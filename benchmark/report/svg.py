"""Small inline SVG charts for the HTML report: grouped bars with reference lines, a heat map, line charts.

Pure string builders with every label escaped; numbers are formatted with fixed precision so the same data
always gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

PALETTE = ("#3b6ea8", "#e07b39", "#4f9a5b", "#b5485d", "#7a5ca8", "#8c6d3f", "#c4609f", "#6f7f8f", "#b8a23a",
           "#2f9aa0")


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _f(x: float) -> str:
    return f"{x:.1f}"


def _short(text: str, n: int) -> str:
    """Labels longer than n characters keep their end (the distinguishing part of a path) after an ellipsis."""
    return text if len(text) <= n else "…" + text[-(n - 1):]


def bars(groups: Sequence[str], series: Sequence[str], values: Sequence[Sequence[float | None]],
         references: Sequence[float | None], *, title: str, ref_label: str = "human", vmax: float = 100.0) -> str:
    """Grouped bars: one group per `groups` item (e.g. suites), one bar per series (upstreams).

    values[g][s] is the bar height (None = missing: drawn as an empty outline marked 'missing');
    references[g] draws a dashed line across the group (the human score).
    """
    bar_w, gap, left, top, height = 18, 26, 44, 28, 200
    group_w = max(1, len(series)) * bar_w + gap
    # wide enough for the legend (4 entries a line) even when there is a single group
    width = max(left + group_w * len(groups) + 10, left + 170 * min(4, len(series)) + 10, 320)
    legend_h = 18 * ((len(series) + 3) // 4)
    total_h = top + height + 42 + legend_h
    out = [f'<svg class="chart" role="img" viewBox="0 0 {width} {total_h}" width="{width}" height="{total_h}" '
           f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    y = lambda v: top + height - height * max(0.0, min(v, vmax)) / vmax  # noqa: E731
    for tick in range(0, int(vmax) + 1, 25):
        out.append(f'<line x1="{left}" x2="{width - 10}" y1="{_f(y(tick))}" y2="{_f(y(tick))}" class="grid"/>'
                   f'<text x="{left - 6}" y="{_f(y(tick) + 4)}" class="tick" text-anchor="end">{tick}</text>')
    for g, group in enumerate(groups):
        x0 = left + g * group_w + gap / 2
        for s, _name in enumerate(series):
            v = values[g][s]
            x = x0 + s * bar_w
            if v is None:
                out.append(f'<rect x="{_f(x + 2)}" y="{_f(y(vmax))}" width="{bar_w - 4}" height="{height}" '
                           f'class="missing"><title>{escape(series[s])} · {escape(group)}: missing</title></rect>')
            else:
                out.append(f'<rect x="{_f(x + 2)}" y="{_f(y(v))}" width="{bar_w - 4}" height="{_f(y(0) - y(v))}" '
                           f'fill="{color(s)}"><title>{escape(series[s])} · {escape(group)}: {v:.1f}</title></rect>')
        ref = references[g]
        if ref is not None:
            out.append(f'<line x1="{_f(x0 - 4)}" x2="{_f(x0 + len(series) * bar_w + 4)}" y1="{_f(y(ref))}" '
                       f'y2="{_f(y(ref))}" class="ref"><title>{escape(ref_label)} {ref:.1f}</title></line>')
        out.append(f'<text x="{_f(x0 + len(series) * bar_w / 2)}" y="{top + height + 16}" class="label" '
                   f'text-anchor="middle">{escape(group)}</text>')
    ly = top + height + 34
    for s, name in enumerate(series):
        lx = left + (s % 4) * 170
        yy = ly + 18 * (s // 4)
        out.append(f'<rect x="{lx}" y="{yy - 9}" width="10" height="10" fill="{color(s)}"/>'
                   f'<text x="{lx + 14}" y="{yy}" class="legend">{escape(_short(name, 26))}'
                   f'<title>{escape(name)}</title></text>')
    out.append(f'<line x1="{width - 150}" x2="{width - 130}" y1="14" y2="14" class="ref"/>'
               f'<text x="{width - 126}" y="18" class="legend">{escape(ref_label)}</text></svg>')
    return "".join(out)


def heatmap(rows: Sequence[str], n_cols: int, values: Sequence[Sequence[float] | None], *, title: str,
            col_label: str = "layer") -> str:
    """Rows of weights in [0, 1] (e.g. learned layer weights per upstream and task), darker = heavier."""
    cell, left, top = 22, 230, 34
    width = left + max(cell * max(n_cols, 1) + 20, 190)
    height = top + cell * len(rows) + 10
    out = [f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
           f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for c in range(n_cols):
        out.append(f'<text x="{left + c * cell + cell / 2}" y="{top - 6}" class="tick" text-anchor="middle">{c}</text>')
    out.append(f'<text x="{left}" y="12" class="tick">{escape(col_label)} (0 = embeddings) →</text>')
    for r, name in enumerate(rows):
        yy = top + r * cell
        out.append(f'<text x="{left - 8}" y="{yy + cell * 0.68:.1f}" class="label" text-anchor="end">'
                   f'{escape(_short(name, 36))}<title>{escape(name)}</title></text>')
        weights = values[r]
        if weights is None:
            continue
        peak = max(weights) or 1.0
        for c, w in enumerate(weights):
            shade = 0.08 + 0.92 * (w / peak)
            out.append(f'<rect x="{left + c * cell}" y="{yy}" width="{cell - 2}" height="{cell - 2}" fill="#3b6ea8" '
                       f'fill-opacity="{shade:.3f}"><title>{escape(name)} · {escape(col_label)} {c}: '
                       f'{w:.3f}</title></rect>')
    out.append("</svg>")
    return "".join(out)


def _tick(v: float, span: float) -> str:
    """An axis end label with the digits its range needs (losses span tenths; scores span tens)."""
    return f"{v:.1f}" if span >= 5 else f"{v:.2f}" if span >= 0.5 else f"{v:.3f}"


def lines(series: Sequence[str], points: Sequence[Sequence[tuple[float, float]]], *, title: str,
          x_label: str = "epoch", y_label: str = "score") -> str:
    """One polyline per series (e.g. the model-selection score per epoch of each upstream)."""
    w, h, left, top = 420, 170, 44, 22
    xs = [x for pts in points for x, _ in pts] or [0.0, 1.0]
    ys = [y for pts in points for _, y in pts] or [0.0, 1.0]
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y0, y1 = min(ys), max(ys) if max(ys) > min(ys) else min(ys) + 1
    px = lambda x: left + (w - left - 10) * (x - x0) / (x1 - x0)  # noqa: E731
    py = lambda y: top + (h - top - 28) * (1 - (y - y0) / (y1 - y0))  # noqa: E731
    total_h = h + 18 * ((len(series) + 1) // 2)
    out = [f'<svg class="chart" role="img" viewBox="0 0 {w} {total_h}" width="{w}" height="{total_h}" '
           f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
           f'<text x="{left}" y="12" class="tick">{escape(title)}</text>',
           f'<text x="{left - 6}" y="{_f(py(y1) + 4)}" class="tick" text-anchor="end">{_tick(y1, y1 - y0)}</text>',
           f'<text x="{left - 6}" y="{_f(py(y0) + 4)}" class="tick" text-anchor="end">{_tick(y0, y1 - y0)}</text>',
           f'<text x="{w - 10}" y="{h - 10}" class="tick" text-anchor="end">{escape(x_label)} {x1:g}</text>',
           f'<line x1="{left}" x2="{w - 10}" y1="{_f(py(y0))}" y2="{_f(py(y0))}" class="grid"/>']
    for i, pts in enumerate(points):
        if pts:
            path = " ".join(f"{_f(px(x))},{_f(py(y))}" for x, y in pts)
            out.append(f'<polyline points="{path}" fill="none" stroke="{color(i)}" stroke-width="1.6">'
                       f'<title>{escape(series[i])}</title></polyline>')
    for i, name in enumerate(series):
        lx, ly = left + (i % 2) * 190, h + 4 + 18 * (i // 2)
        out.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{color(i)}"/>'
                   f'<text x="{lx + 14}" y="{ly}" class="legend">{escape(_short(name, 28))}'
                   f'<title>{escape(name)}</title></text>')
    out.append("</svg>")
    return "".join(out)
