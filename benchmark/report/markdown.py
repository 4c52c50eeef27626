"""The leaderboard as GitHub-flavoured Markdown, for READMEs and papers."""

from __future__ import annotations

from benchmark.engine.result_schema import printable
from benchmark.report.leaderboard import Leaderboard, TaskCell


def _md(text: str) -> str:
    """Escape the characters that would break a Markdown table cell or start markup; control characters (an
    escape sequence in a name read from a file) show escaped, as they would otherwise act on a terminal."""
    text = printable(text)
    for ch in ("\\", "|", "*", "_", "`", "<", ">", "[", "]"):
        text = text.replace(ch, "\\" + ch)
    return text


def _num(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _cell(c: TaskCell | None) -> str:
    if c is None:
        return "—"
    text = f"{c.score.mean:.1f}"
    if c.score.n > 1:
        text += f" ± {c.score.std:.1f}"
    if c.ci:
        text += f" [{c.ci[0]:.1f}, {c.ci[1]:.1f}]"
    if c.note:
        text += f" ({_md(c.note)})"
    if c.flag:
        text += " ⚠"
    return text


def render(board: Leaderboard) -> str:
    out = ["## Overview", "", "| upstream | params | " + " | ".join(f"{_md(s)} | ×human" for s in board.suites) + " |",
           "|---|---:|" + "---:|---:|" * len(board.suites)]
    for row in board.rows:
        params = "—" if row.n_parameters is None else f"{row.n_parameters / 1e6:.1f}M"
        cells = " | ".join(f"{_num(v)} | {_num(r, 3)}" for v, r in (row.suites.get(s, (None, None)) for s in board.suites))
        out.append(f"| {_md(row.label)} | {params} | {cells} |")
    out.append("| human | | " + " | ".join(f"{_num(board.human.get(s))} | 1.000" for s in board.suites) + " |")
    for suite in board.suites:
        tasks = board.suite_info[suite]["columns"]
        out += ["", f"## {_md(suite)}", "", "| upstream | " + " | ".join(_md(t) for t in tasks) + " |",
                "|---|" + "---:|" * len(tasks)]
        for row in board.rows:
            if any(t in row.tasks for t in tasks):
                out.append(f"| {_md(row.label)} | " + " | ".join(_cell(row.cell(suite, t)) for t in tasks) + " |")
        out.append("| human | " + " | ".join(_num(board.human.get(t)) for t in tasks) + " |")
    out += ["", "Scores in percent points: mean ± std over seeds [95% bootstrap CI over the evaluation examples]. "
            "A suite with a missing task shows —.", ""]
    if board.flagged:
        out += ["⚠ Not as bench wrote them; do not trust their scores:", ""]
        out += [f"- {_md(f)}" for f in board.flagged] + [""]
    for m in board.transfers:
        out += ["", f"## Transfer: {_md(m.row)}", "", "| trained on ↓ · evaluated on → | "
                + " | ".join(_md(e) + (f" ({m.languages[e]})" if m.languages.get(e) else "") for e in m.evals) + " |",
                "|---|" + "---:|" * len(m.evals)]
        for t in m.train:
            cells = [m.cells.get((t, e)) for e in m.evals]
            out.append(f"| {_md(t)} | " + " | ".join("—" if a is None else f"{a.mean:.1f}" for a in cells) + " |")
    refs = sorted({(t, ref["citation"]) for t in board.tasks for ref in board.references.get(t, {}).values()})
    if refs:
        out += ["References:", ""] + [f"- {_md(t)}: {_md(c)}" for t, c in refs] + [""]
    return "\n".join(out)
