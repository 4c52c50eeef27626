"""The training sections of the HTML report: fine-tuning loss curves beside the re-initialised variants, and the
pretraining curves bench's own checkpoints carry. Deterministic SVG, every name escaped (as benchmark.report.html)."""

from __future__ import annotations

from html import escape

from benchmark.errors import BenchError
from benchmark.report import svg
from benchmark.report.leaderboard import Leaderboard, Row


def mean_curve(curves: list[list[dict[str, float]]], x: str, y: str) -> list[tuple[float, float]]:
    """The mean over seeds of a curve, at the x values every seed has (seeds stopped at different epochs share
    their common prefix)."""
    have = [{float(p[x]): float(p[y]) for p in c if x in p and y in p} for c in curves]
    have = [h for h in have if h]
    if not have:
        return []
    common = sorted(set.intersection(*(set(h) for h in have)))
    return [(v, sum(h[v] for h in have) / len(have)) for v in common]


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
        groups: dict[str, list[tuple[str, list[tuple[float, float]], list[tuple[float, float]]]]] = {}
        for row in board.rows:
            c = row.tasks.get(t)
            if c is None or row.mode != "finetune":
                continue
            train = mean_curve(c.step_curves, "step", "train_loss")
            dev = mean_curve(c.curves, "epoch", "dev_loss")
            if train or dev:
                groups.setdefault(base_upstream(row), []).append((row.label, train, dev))
        for base, lines in groups.items():
            names = [name for name, _, _ in lines]
            figs.append(f'<div class="pair">'
                        f'{svg.lines(names, [tr for _, tr, _ in lines], title=f"{t} · {base}: training loss", x_label="step", y_label="loss")}'
                        f'{svg.lines(names, [dv for _, _, dv in lines], title=f"{t} · {base}: model-selection loss", y_label="loss")}'
                        f'</div>')
    if not figs:
        return ""
    return (f'<figure class="curves loss">{"".join(figs)}<figcaption>Fine-tuning loss (mean over seeds) of each '
            f'upstream beside its re-initialised variants (+re-emb, +rand): training loss along the optimizer steps '
            f'(window means) and loss on the model-selection split after each epoch.</figcaption></figure>')


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
