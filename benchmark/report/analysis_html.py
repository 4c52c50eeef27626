"""The HTML report's "inside the encoders" sections: the analysis records (bench analyze ...) and the checkpoint
curves of `--upstream NAME@DIR` runs, drawn as inline SVG."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from benchmark.analysis.records import Analysis
from benchmark.report import svg


def png(pixels: Sequence[Sequence[tuple[int, int, int]]]) -> bytes:
    """A minimal RGB PNG (8-bit, no interlace) from rows of (r, g, b): small heat maps without an image library."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    height, width = len(pixels), len(pixels[0]) if pixels else 0
    raw = b"".join(b"\x00" + bytes(v for px in row for v in px) for row in pixels)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def matrix(values: Sequence[Sequence[float]], groups: Sequence[str], *, title: str, cell: int = 5) -> str:
    """A square similarity matrix as a heat map (an embedded PNG, one pixel per pair, scaled up), rows and
    columns ordered by group (sense) with the group boundaries drawn; darker = more similar, scaled between the
    matrix's off-diagonal min and max (printed under it)."""
    import base64

    n = len(values)
    order = sorted(range(n), key=lambda i: (groups[i], i))
    off = [values[i][j] for i in range(n) for j in range(n) if i != j] or [0.0, 1.0]
    lo, hi = min(off), max(off)
    span = (hi - lo) or 1.0
    ink = (0x3B, 0x6E, 0xA8)

    def rgb(shade: float) -> tuple[int, int, int]:
        return tuple(round(255 + (c - 255) * shade) for c in ink)  # type: ignore[return-value]

    pixels = [[rgb(1.0 if i == j else min(1.0, max(0.0, (values[i][j] - lo) / span))) for j in order] for i in order]
    data = base64.b64encode(png(pixels)).decode()
    side = cell * n
    lines, at = [], 0
    for g in sorted(set(groups))[:-1]:
        at += sum(1 for x in groups if x == g)
        p = at * cell
        lines.append(f'<line x1="0" x2="{side}" y1="{p}" y2="{p}" stroke="#e07b39"/>'
                     f'<line x1="{p}" x2="{p}" y1="0" y2="{side}" stroke="#e07b39"/>')
    return (f'<svg class="chart matrix" role="img" viewBox="0 0 {side} {side + 24}" width="{side}" '
            f'height="{side + 24}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
            f'<image href="data:image/png;base64,{data}" width="{side}" height="{side}" '
            f'style="image-rendering:pixelated"/>{"".join(lines)}'
            f'<text x="0" y="{side + 10}" class="tick">{escape(title)}</text>'
            f'<text x="0" y="{side + 21}" class="tick">{lo:.2f} … {hi:.2f}</text></svg>')


def _similarity(records: list[Analysis]) -> str:
    parts = []
    for rec in records:
        for word, res in rec.data.get("words", {}).items():
            layers = res["layers"]
            chart = svg.lines(["within sense", "across senses", "separation"],
                              [[(float(r["layer"]), r["within"]) for r in layers],
                               [(float(r["layer"]), r["across"]) for r in layers],
                               [(float(r["layer"]), r["separation"]) for r in layers]],
                              title=f"{word}: mean cosine similarity per layer", x_label="layer", y_label="cosine")
            mats = "".join(matrix(r["matrix"], res["senses"], title=f"layer {r['layer']}") for r in layers)
            rows = "".join(f'<tr><td class="num">{r["layer"]}</td><td class="num">{r["within"]:.3f}</td>'
                           f'<td class="num">{r["across"]:.3f}</td><td class="num">{r["separation"]:+.3f}</td>'
                           f'<td class="num">{r["p_value"]:.4f}</td><td class="num">{r["nn_accuracy"]:.0%}</td></tr>'
                           for r in layers)
            senses = ", ".join(f"{s} ({res['senses'].count(s)})" for s in sorted(set(res["senses"])))
            parts.append(
                f'<h3>{escape(rec.upstream)} · “{escape(word)}”</h3><p class="note">{len(res["senses"])} sentences: '
                f'{escape(senses)}. Nearest-neighbour chance {res["nn_chance"]:.0%}; p-values from '
                f'{res["permutations"]} label permutations.</p><figure class="curves">{chart}</figure>'
                f'<figure class="matrices">{mats}<figcaption>Cosine similarity of the word\'s vectors, one matrix '
                f'per layer, sentences grouped by sense (orange lines).</figcaption></figure>'
                f'<table><thead><tr><th>layer</th><th>within</th><th>across</th><th>separation</th><th>p</th>'
                f'<th>1-NN</th></tr></thead><tbody>{rows}</tbody></table>')
    source = escape(str(records[0].data.get("source", ""))) if records else ""
    return (f'<section id="similarity"><h2>Contextual similarity</h2><p class="note">The same word in different '
            f'contexts: does the encoder give its senses different vectors? Layer 0 is the input embedding (the same '
            f'token everywhere: only position differs). Sentences: {source}.</p>{"".join(parts)}</section>')


def corpus_size_curve(records: Sequence[Analysis]) -> dict[str, list[tuple[float, float]]]:
    """Per language pair, (pre-training sentences, best-layer MRR) of each bench-pretrained model, in size order;
    of several checkpoints of one corpus size, the latest stands for it (step 0 never: it has read nothing)."""
    latest: dict[tuple[str, float], tuple[int, float]] = {}
    for rec in records:
        n, step = rec.data.get("pretraining_sentences"), rec.data.get("pretraining_step") or 0
        for pair, res in rec.data.get("pairs", {}).items():
            if n and step and step >= latest.get((pair, float(n)), (0, 0.0))[0]:
                latest[(pair, float(n))] = (step, max(res["mrr"]))
    out: dict[str, list[tuple[float, float]]] = {}
    for (pair, n), (_, mrr) in sorted(latest.items()):
        out.setdefault(pair, []).append((n, mrr))
    return out


def _alignment(records: list[Analysis]) -> str:
    by_pair: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for rec in records:
        for pair, res in rec.data.get("pairs", {}).items():
            by_pair.setdefault(pair, []).append((rec.upstream, res))
    sizes = corpus_size_curve(records)
    charts, notes = [], []
    for pair, rows in sorted(by_pair.items()):
        names = [u for u, _ in rows] + ["chance"]
        pts = ([[(float(i), v) for i, v in enumerate(r["mrr"])] for _, r in rows]
               + [[(0.0, rows[0][1]["chance"]), (float(len(rows[0][1]["mrr"]) - 1), rows[0][1]["chance"])]])
        charts.append(svg.lines(names, pts, title=f"{pair}: MRR per layer", x_label="layer", y_label="MRR"))
        for u, r in rows:
            c = r["counts"]
            notes.append(f"<li><b>{escape(u)}</b> · {escape(pair)}: {c['source_words']} words, {c['candidates']} "
                         f"candidates ({c['identical_dropped']} identically spelled pairs left out); best MRR "
                         f"{max(r['mrr']):.3f} at layer {r['mrr'].index(max(r['mrr']))} (centred "
                         f"{max(r['mrr_centred']):.3f}), chance {r['chance']:.3f}; "
                         f"dictionary {escape(str(r['dictionary']))}</li>")
    curve = ""
    if any(len({n for n, _ in pts}) > 1 for pts in sizes.values()):
        pairs = sorted(sizes)
        curve = svg.lines(pairs, [sorted(sizes[p]) for p in pairs], title="best-layer MRR against pre-training "
                          "corpus size", x_label="sentences", y_label="MRR")
    return (f'<section id="alignment"><h2>Cross-lingual alignment</h2><p class="note">Each dictionary word\'s '
            f'contextual vector averaged over a corpus in its language; translations retrieved by cosine '
            f'similarity; Mean Reciprocal Rank per layer (arXiv 2010.10938). "Centred" (in the notes): each '
            f'language\'s mean vector subtracted first.</p><figure class="curves">{"".join(charts)}{curve}</figure>'
            f'<ul class="refs">{"".join(notes)}</ul></section>')


def _language_shift(records: list[Analysis]) -> str:
    parts = []
    for rec in records:
        for pair, res in rec.data.get("pairs", {}).items():
            rows = res["alphas"]
            tgt = pair.split("-")[-1]
            series = ["tokens kept", f"decoded as {tgt}", "dictionary translation"]
            pts = [[(r["alpha"], r["kept"]) for r in rows], [(r["alpha"], r["in_target"]) for r in rows],
                   [(r["alpha"], r["dictionary_accuracy"]) for r in rows if r["dictionary_accuracy"] is not None]]
            chart = svg.lines(series, pts, title=f"{rec.upstream} · {pair}: α sweep (layer {res['layer']})",
                              x_label="α", y_label="rate")
            examples = "".join(f'<tr><td class="num">{r["alpha"]:g}</td><td>{escape(e["input"])}</td>'
                               f'<td>{escape(e["output"])}</td></tr>' for r in rows for e in r["examples"][:2])
            parts.append(f'<figure class="curves">{chart}</figure><details><summary>decoded examples '
                         f'({escape(pair)})</summary><table><thead><tr><th>α</th><th>input</th><th>decoded</th></tr>'
                         f'</thead><tbody>{examples}</tbody></table></details>')
    return (f'<section id="language-shift"><h2>Language vectors</h2><p class="note">α × (mean(target) − mean(source)) '
            f'added to every source token\'s hidden state, decoded through the masked-LM head: unsupervised '
            f'token-level translation (arXiv 2010.10041).</p>{"".join(parts)}</section>')


def _in_context(records: list[Analysis]) -> str:
    parts = []
    for rec in records:
        for task, res in rec.data.get("tasks", {}).items():
            shots = sorted(res["shots"].values(), key=lambda s: s["k"])
            acc = [(float(s["k"]), s["accuracy"]["mean"]) for s in shots]
            chance = res["chance"]["majority"]
            chart = svg.lines(["accuracy (mean over draws)", "majority class"],
                              [acc, [(acc[0][0], chance), (acc[-1][0], chance)]],
                              title=f"{rec.upstream} · {task}: in-context accuracy", x_label="shots k",
                              y_label="accuracy")
            rows = "".join(f'<tr><td class="num">{s["k"]}</td><td class="num">{s["draws"]}</td><td class="num">'
                           f'{s["accuracy"]["mean"]:.3f} ± {s["accuracy"]["std"]:.3f}</td><td class="num">'
                           f'{s["macro_f1"]["mean"]:.3f}</td></tr>' for s in shots)
            parts.append(f'<figure class="curves">{chart}</figure><table><thead><tr><th>k</th><th>draws</th>'
                         f'<th>accuracy</th><th>macro-F1</th></tr></thead><tbody>{rows}</tbody></table>')
    return (f'<section id="in-context"><h2>In-context learning</h2><p class="note">Each label\'s continuation '
            f'scored by the causal LM after k demonstrations; no gradient descent.</p>{"".join(parts)}</section>')


def checkpoint_curves(results: Sequence[dict[str, Any]]) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """series (NAME@DIR) -> task -> [(step, main score averaged over seeds)], from results of checkpoint runs."""
    acc: dict[tuple[str, str, str], dict[int, list[float]]] = {}
    for r in results:
        ck = (r.get("upstream_info") or {}).get("checkpoint")
        if not ck or ck.get("step") is None:
            continue
        key = (ck["series"], f"{r['task']} ({r.get('mode', 'frozen')})", "")
        acc.setdefault(key, {}).setdefault(int(ck["step"]), []).append(float(r["main_score"]))
    out: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for (series, task, _), steps in acc.items():
        out.setdefault(series, {})[task] = [(float(s), sum(v) / len(v)) for s, v in sorted(steps.items())]
    return out


def _checkpoints(results: Sequence[dict[str, Any]]) -> str:
    curves = checkpoint_curves(results)
    if not curves:
        return ""
    charts = "".join(svg.lines(sorted(tasks), [tasks[t] for t in sorted(tasks)], title=f"{series}: score per "
                               "checkpoint", x_label="pre-training step", y_label="score")
                     for series, tasks in sorted(curves.items()))
    return (f'<section id="checkpoints"><h2>Checkpoint curves</h2><p class="note">Every checkpoint of a pre-training '
            f'run evaluated on the same tasks (--upstream NAME@DIR): when does the encoder learn what each task '
            f'needs ("BERT embryology", arXiv 2010.02480)?</p><figure class="curves">{charts}</figure></section>')


def render(analyses: Sequence[Analysis], results: Sequence[dict[str, Any]] = ()) -> str:
    """Every section that has something to show, in a fixed order."""
    by_kind: dict[str, list[Analysis]] = {}
    for a in analyses:
        by_kind.setdefault(a.kind, []).append(a)
    sections = {"similarity": _similarity, "alignment": _alignment, "language-shift": _language_shift,
                "in-context": _in_context}
    return _checkpoints(results) + "".join(fn(by_kind[k]) for k, fn in sections.items() if by_kind.get(k))
