"""Small inline SVG charts for the HTML report: grouped bars with reference lines, a heat map, line charts.

Pure string builders with every label escaped; numbers are formatted with fixed precision so the same data
always gives the same bytes.
"""

from __future__ import annotations

import math
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


# The heat maps' sequential scale: lightest = the map's minimum, darkest = its maximum.
HEAT_LOW, HEAT_HIGH = (247, 251, 255), (8, 48, 107)


def heat_color(w: float, lo: float, hi: float) -> str:
    """The colour of w on a scale from lo (lightest) to hi (darkest): stretched per map, so 0.12 and 0.16 in a
    map whose weights span 0.12..0.16 are its two ends, not two near-identical shades of a 0..1 scale."""
    t = 0.5 if hi <= lo else max(0.0, min(1.0, (w - lo) / (hi - lo)))
    r, g, b = (round(a + (z - a) * t) for a, z in zip(HEAT_LOW, HEAT_HIGH, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def heatmap(rows: Sequence[str], n_cols: int, values: Sequence[Sequence[float] | None], *, title: str,
            col_label: str = "layer") -> str:
    """Rows of weights (e.g. learned layer weights per upstream and task) on one colour scale from the map's
    minimum to its maximum, with a legend stating both; each cell's value on hover (its <title>)."""
    cell, left, top = 22, 230, 58
    width = left + max(cell * max(n_cols, 1) + 20, 250)
    height = top + cell * len(rows) + 10
    seen = [w for ws in values if ws for w in ws]
    lo, hi = (min(seen), max(seen)) if seen else (0.0, 1.0)
    out = [f'<svg class="chart heat" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
           f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    # The legend: ten steps from the minimum to the maximum, the two ends labelled with their values.
    steps = 10
    out.append(f'<g class="scale"><text x="{left}" y="12" class="tick">colour scale (this map)</text>'
               f'<text x="{left - 4}" y="30" class="legend" text-anchor="end">min {lo:.3f}</text>')
    for i in range(steps):
        v = lo + (hi - lo) * i / (steps - 1)
        out.append(f'<rect x="{left + i * 12}" y="20" width="12" height="12" fill="{heat_color(v, lo, hi)}">'
                   f'<title>{v:.3f}</title></rect>')
    out.append(f'<text x="{left + steps * 12 + 4}" y="30" class="legend">max {hi:.3f}</text></g>')
    for c in range(n_cols):
        out.append(f'<text x="{left + c * cell + cell / 2}" y="{top - 6}" class="tick" text-anchor="middle">{c}</text>')
    out.append(f'<text x="{left - 8}" y="{top - 6}" class="tick" text-anchor="end">{escape(col_label)} '
               f'(0 = embeddings) →</text>')
    for r, name in enumerate(rows):
        yy = top + r * cell
        out.append(f'<text x="{left - 8}" y="{yy + cell * 0.68:.1f}" class="label" text-anchor="end">'
                   f'{escape(_short(name, 36))}<title>{escape(name)}</title></text>')
        weights = values[r]
        if weights is None:
            continue
        for c, w in enumerate(weights):
            out.append(f'<rect x="{left + c * cell}" y="{yy}" width="{cell - 2}" height="{cell - 2}" '
                       f'fill="{heat_color(w, lo, hi)}"><title>{escape(name)} · {escape(col_label)} {c}: '
                       f'{w:.3f}</title></rect>')
    out.append("</svg>")
    return "".join(out)


def ticks(lo: float, hi: float, n: int = 5, *, integer: bool = False) -> tuple[list[float], int]:
    """About n evenly spaced round tick values (steps of 1, 2, 2.5 or 5 × 10^k) whose first is <= lo and last
    >= hi, and the decimals their labels need. The axis spans the first to the last tick. `integer`: steps of at
    least 1 (epochs, layers, steps have no fractions)."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(1, n - 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * power >= raw - 1e-12)
    if integer and step < 1:
        step = 1.0
    elif integer and abs(step / 10.0 ** math.floor(math.log10(step)) - 2.5) < 1e-6 and step < 10:
        step *= 2  # 2.5 epochs is not a tick
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    exponent = math.floor(math.log10(step) + 1e-9)
    halves = abs(step / 10.0 ** exponent - 2.5) < 1e-6 and step < 10  # 2.5, 0.25: one more digit
    decimals = max(0, -exponent) + (1 if halves else 0)
    return [round(k * step, 10) for k in range(first, last + 1)], decimals


def lines(series: Sequence[str], points: Sequence[Sequence[tuple[float, float]]], *, title: str,
          x_label: str = "epoch", y_label: str = "score",
          bands: Sequence[Sequence[tuple[float, float, float]]] | None = None,
          band_labels: Sequence[str] = ()) -> str:
    """One polyline per series (e.g. the model-selection score per epoch of each upstream), on axes with round
    tick labels. bands[i], when given, is series i's (x, low, high) envelope, drawn as a shaded area under the
    line; band_labels[i] says what it is (e.g. 'min..max over 3 seeds'), on hover."""
    w, h, left, top = 440, 190, 50, 22
    bands = bands or [[] for _ in series]
    xs = [x for pts in points for x, _ in pts] or [0.0, 1.0]
    ys = [y for pts in points for _, y in pts] + [v for b in bands for _, lo, hi in b for v in (lo, hi)]
    ys = ys or [0.0, 1.0]
    xt, xd = ticks(min(xs), max(xs), 6, integer=all(float(x).is_integer() for x in xs))
    yt, yd = ticks(min(ys), max(ys), 5)
    x0, x1, y0, y1 = xt[0], xt[-1], yt[0], yt[-1]
    px = lambda x: left + (w - left - 12) * (x - x0) / (x1 - x0)  # noqa: E731
    py = lambda y: top + (h - top - 36) * (1 - (y - y0) / (y1 - y0))  # noqa: E731
    total_h = h + 18 * ((len(series) + 1) // 2)
    out = [f'<svg class="chart" role="img" viewBox="0 0 {w} {total_h}" width="{w}" height="{total_h}" '
           f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
           f'<text x="{left}" y="12" class="tick">{escape(title)}</text>']
    for v in yt:
        out.append(f'<line x1="{left}" x2="{w - 12}" y1="{_f(py(v))}" y2="{_f(py(v))}" class="grid"/>'
                   f'<text x="{left - 5}" y="{_f(py(v) + 4)}" class="tick" text-anchor="end">{v:.{yd}f}</text>')
    for v in xt:
        out.append(f'<line x1="{_f(px(v))}" x2="{_f(px(v))}" y1="{_f(py(y0))}" y2="{_f(py(y0) + 4)}" class="axis"/>'
                   f'<text x="{_f(px(v))}" y="{_f(py(y0) + 15)}" class="tick" text-anchor="middle">{v:.{xd}f}</text>')
    out.append(f'<text x="{w - 12}" y="{h - 6}" class="tick" text-anchor="end">{escape(x_label)}</text>'
               f'<text x="4" y="{top - 4}" class="tick">{escape(y_label)}</text>')
    for i, band in enumerate(bands):
        if band:
            edge = [f"{_f(px(x))},{_f(py(hi))}" for x, _, hi in band] + [
                f"{_f(px(x))},{_f(py(lo))}" for x, lo, _ in reversed(band)]
            out.append(f'<polygon class="band" points="{" ".join(edge)}" fill="{color(i)}" fill-opacity="0.18" '
                       f'stroke="none"><title>{escape(series[i])}: {escape(band_labels[i] if i < len(band_labels) else "band")}</title></polygon>')
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
