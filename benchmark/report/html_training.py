"""The training sections of the HTML report: fine-tuning loss curves beside the re-initialised variants, and the
pretraining curves bench's own checkpoints carry. Deterministic SVG, every name escaped (as benchmark.report.html)."""

from __future__ import annotations

from html import escape

from benchmark.errors import BenchError
from benchmark.report import svg
from benchmark.report.leaderboard import Leaderboard, Row

Band = tuple[float, float, float, float]
"""(x, mean, min, max) over the seeds at one point of a curve."""


def band_curve(curves: list[list[dict[str, float]]], x: str, y: str) -> list[tuple[float, float, float, float]]:
    """(x, mean, min, max) over seeds of a curve, at the x values every seed has (seeds stopped at different
    epochs share their common prefix). The band the report draws is min..max over the seeds: with 3 seeds a
    ±std band would claim a spread the data cannot estimate."""
    have = [{float(p[x]): float(p[y]) for p in c if x in p and y in p} for c in curves]
    have = [h for h in have if h]
    if not have:
        return []
    common = sorted(set.intersection(*(set(h) for h in have)))
    return [(v, sum(h[v] for h in have) / len(have), min(h[v] for h in have), max(h[v] for h in have))
            for v in common]


def mean_curve(curves: list[list[dict[str, float]]], x: str, y: str) -> list[tuple[float, float]]:
    """The mean over seeds of a curve (see band_curve)."""
    return [(v, m) for v, m, _, _ in band_curve(curves, x, y)]


def seeds_with(curves: list[list[dict[str, float]]], x: str, y: str) -> int:
    """How many seeds' curves have points of y along x (the seeds a band spans)."""
    return sum(1 for c in curves if any(x in p and y in p for p in c))


def band_text(n_seeds: int) -> str:
    return f"mean, band min..max over {n_seeds} seeds" if n_seeds > 1 else "1 seed: no band"


def seed_chart(names: list[str], curves: list[list[Band]], seeds: list[int], *, title: str, x_label: str = "epoch",
               y_label: str = "score") -> str:
    """A line chart of each series' mean over its seeds with the min..max band (none for a single seed)."""
    return svg.lines(names, [[(v, m) for v, m, _, _ in c] for c in curves], title=title, x_label=x_label,
                     y_label=y_label, bands=[[(v, lo, hi) for v, _, lo, hi in c] if k > 1 else []
                                             for c, k in zip(curves, seeds, strict=True)],
                     band_labels=[band_text(k) for k in seeds])


def base_upstream(row: Row) -> str:
    """The upstream a row varies: `minilm` for minilm, minilm+re-emb and minilm+rand."""
    from benchmark.plugin.specs import parse_upstream

    try:
        spec = parse_upstream(row.upstream)
    except BenchError:
        return row.upstream
    return spec.name + (f":{spec.arg}" if spec.arg else "")


def loss_curves(board: Leaderboard, tasks: list[str]) -> str:
    """Fine-tuning loss, pre-trained vs from scratch (the seeds' figure): per task and upstream, the training loss
    along the steps and the model-selection loss per epoch of the upstream and its +re-emb / +rand variants side
    by side, each line the mean over seeds."""
    figs = []
    for t in tasks:
        groups: dict[str, list[tuple[str, int, list[Band], int, list[Band]]]] = {}
        for row in board.rows:
            c = row.tasks.get(t)
            if c is None or row.mode != "finetune":
                continue
            train = band_curve(c.step_curves, "step", "train_loss")
            dev = band_curve(c.curves, "epoch", "dev_loss")
            if train or dev:
                groups.setdefault(base_upstream(row), []).append(
                    (row.label, seeds_with(c.step_curves, "step", "train_loss"), train,
                     seeds_with(c.curves, "epoch", "dev_loss"), dev))
        for base, lines in groups.items():
            names = [g[0] for g in lines]
            training = seed_chart(names, [g[2] for g in lines], [g[1] for g in lines],
                                  title=f"{t} · {base}: training loss", x_label="step", y_label="loss")
            selection = seed_chart(names, [g[4] for g in lines], [g[3] for g in lines],
                                   title=f"{t} · {base}: model-selection loss", y_label="loss")
            figs.append(f'<div class="pair">{training}{selection}</div>')
    if not figs:
        return ""
    return (f'<figure class="curves loss">{"".join(figs)}<figcaption>Fine-tuning loss (line: mean over seeds; '
            f'shaded band: min..max over the seeds) of each upstream beside its re-initialised variants (+re-emb, '
            f'+rand): training loss along the optimizer steps (window means) and loss on the model-selection split '
            f'after each epoch.</figcaption></figure>')


def pretraining(board: Leaderboard) -> str:
    """The loss curves bench's own pretrained checkpoints carry (one chart per loss: their scales differ)."""
    entries: list[tuple[str, str, list[tuple[float, float]], str]] = []  # (loss, row, curve, note)
    units: dict[str, str] = {}
    for r in board.rows:
        p = r.pretraining
        if not p or not p.get("loss_curve"):
            continue
        loss = str(p.get("loss", p.get("method", "loss")))
        if p.get("curve_unit") == "step" and p.get("step_losses"):  # a point every --save-every steps
            points = [(float(s["step"]), float(s["loss"])) for s in p["step_losses"]]
        else:
            points = [(float(i + 1), float(v)) for i, v in enumerate(p["loss_curve"])]
        units[loss] = "step" if p.get("curve_unit") == "step" else "epoch"
        data = p.get("data", {})
        size = f"{data['sentences']} sentences" if "sentences" in data else f"{data.get('images', '?')} images"
        length = f"{p['step']} steps" if units[loss] == "step" and "step" in p else f"{p.get('epochs', '?')} epochs"
        entries.append((loss, r.label, points,
                        f"<li><b>{escape(r.label)}</b>: {escape(str(p.get('method', '?')))} on "
                        f"{escape(str(data.get('name', '?')))} ({escape(size)}), {escape(length)}, batch "
                        f"{escape(str(p.get('batch_size', '?')))}, seed {escape(str(p.get('seed', '?')))}, "
                        f"{escape(str(p.get('seconds', '?')))} s; loss {p['loss_curve'][0]:.4f} → "
                        f"{p['loss_curve'][-1]:.4f}</li>"))
    # The earlier checkpoints of a run (bert@DIR rows) carry a prefix of the final curve: draw the run once.
    entries = [e for e in entries if not any(o[0] == e[0] and len(o[2]) > len(e[2]) and o[2][:len(e[2])] == e[2]
                                             for o in entries)]
    by_loss: dict[str, list[tuple[str, list[tuple[float, float]]]]] = {}
    for loss, label, points, _ in entries:
        by_loss.setdefault(loss, []).append((label, points))
    notes = [note for *_, note in entries]
    if not by_loss:
        return ""
    charts = "".join(svg.lines([name for name, _ in curves],
                               [c for _, c in curves],
                               title=f"pretraining loss ({loss}) per {units[loss]}", x_label=units[loss],
                               y_label="loss")
                     for loss, curves in sorted(by_loss.items()))
    return (f'<section id="pretraining"><h2>Pretraining</h2><figure class="curves">{charts}<figcaption>Mean '
            f'training loss per epoch (or per saved step), from each checkpoint\'s own metadata (bench pretrain).'
            f'</figcaption></figure>'
            f'<ul class="refs">{"".join(notes)}</ul></section>')
