"""The HTML report's views: one per benchmark (suite), grouped by modality, switched by tabs made of radio inputs
and CSS alone (the page stays one self-contained file and works with scripts off), plus a summary view the page
opens on. Each suite view holds only the upstreams that have a result in that suite, so no view is a sparse
matrix of missing cells.
"""

from __future__ import annotations

from html import escape

from benchmark.report import svg
from benchmark.report.leaderboard import Leaderboard, Row


def suite_rows(board: Leaderboard, suite: str) -> list[Row]:
    """The rows (upstreams under one protocol) with a result on at least one task of the suite."""
    tasks = set(board.suite_info[suite]["tasks"])
    return [row for row in board.rows if tasks & set(row.tasks)]


def suite_modality(board: Leaderboard, suite: str) -> str:
    """The modality of the suite's tasks that have results ('text', or 'image/text' for a mixed suite)."""
    found = {board.task_info[t]["modality"] for t in board.suite_info[suite]["tasks"] if t in board.task_info}
    return "/".join(sorted(found)) or "?"


def suite_chart(board: Leaderboard, suite: str) -> str:
    """Grouped bars: one group per task of the suite, one bar per upstream of the view, the human line."""
    tasks = [t for t in board.suite_info[suite]["tasks"] if t in board.tasks]
    rows = suite_rows(board, suite)
    values = [[c.score.mean if (c := row.cell(suite, t)) is not None else None for row in rows] for t in tasks]
    top = max([v for vs in values for v in vs if v is not None] + [100.0])
    vmax = 25.0 * -(-top // 25)  # a score above 100 (an error rate, a SUPERB score) still fits
    return svg.bars(tasks, [row.label for row in rows], values, [board.human.get(t) for t in tasks],
                    title=f"{suite}: task scores", vmax=vmax)


def _leader(board: Leaderboard, suite: str) -> str:
    """The best suite score (or SUPERB score where raw scores do not average), else why there is none."""
    scored = [(row.suites[suite][0], row.label) for row in suite_rows(board, suite)
              if row.suites.get(suite, (None, None))[0] is not None]
    if scored:
        value, label = max(scored)
        return f"{escape(label)} <b>{value:.1f}</b>"
    superb = [(row.superb[suite], row.label) for row in suite_rows(board, suite) if row.superb.get(suite) is not None]
    if superb:
        value, label = max(superb)
        text = f"{value:.0f}"
        return f"{escape(label)} <b>SUPERB {text.lstrip('-') if float(text) == 0 else text}</b>"  # never "-0"
    return '<span class="muted">no upstream has every task</span>'


def _summary(board: Leaderboard, ids: dict[str, int]) -> str:
    rows = []
    for s in board.suites:
        tasks = [t for t in board.suite_info[s]["tasks"] if t in board.tasks]
        human = board.human.get(s)
        rows.append(f'<tr data-suite="{escape(s)}"><th scope="row"><label for="tab-{ids[s]}">{escape(s)}</label></th>'
                    f'<td>{escape(suite_modality(board, s))}</td><td class="num">{len(tasks)}</td>'
                    f'<td class="num">{len(suite_rows(board, s))}</td><td>{_leader(board, s)}</td>'
                    f'<td class="num">{"—" if human is None else f"{human:.1f}"}</td></tr>')
    return (f'<section class="view" data-view="0" id="overview"><h2>Benchmarks</h2><p class="note">One tab per '
            f'benchmark (suite), grouped by modality; each shows only the upstreams with results in it. Suite score = '
            f'macro average of its tasks (GLUE rule: a task with two metrics scores their mean; MNLI-m/mm count '
            f'once); a suite with a missing task has none: a subset is never averaged.</p><div class="scroll">'
            f'<table class="sortable" id="overview-table"><thead><tr><th>benchmark</th><th>modality</th>'
            f'<th class="num">tasks</th><th class="num">upstreams</th><th>best suite score</th>'
            f'<th class="num">human</th></tr></thead><tbody>{"".join(rows)}</tbody></table></div></section>')


def render(board: Leaderboard, sections: dict[str, str]) -> str:
    """The tabs and the views: `sections[suite]` is the suite's rendered <section class="suite view" ...> whose
    data-view is `view_ids(board)[suite]`."""
    ids = view_ids(board)
    radios = ['<input type="radio" class="tab" name="view" id="tab-0" checked aria-label="all benchmarks">']
    radios += [f'<input type="radio" class="tab" name="view" id="tab-{ids[s]}" aria-label="{escape(s)}">'
               for s in board.suites]
    groups: dict[str, list[str]] = {}
    for s in board.suites:
        groups.setdefault(suite_modality(board, s), []).append(
            f'<label for="tab-{ids[s]}" data-suite="{escape(s)}">{escape(s)} '
            f'<span class="count">{len(suite_rows(board, s))}</span></label>')
    nav = ('<nav class="tabs" aria-label="benchmarks"><span class="group"><label for="tab-0">all benchmarks</label>'
           '</span>' + "".join(f'<span class="group"><span class="modality">{escape(m)}</span>{"".join(labels)}</span>'
                               for m, labels in sorted(groups.items())) + "</nav>")
    return (f'<div class="views">{"".join(radios)}{nav}{_summary(board, ids)}'
            + "".join(sections[s] for s in board.suites) + "</div>")


def tab_css(board: Leaderboard) -> str:
    """Which view shows is pure CSS on the checked radio; the selectors use numbers only, never a suite's name."""
    n = len(board.suites) + 1
    shown = ",".join(f'#tab-{i}:checked~[data-view="{i}"]' for i in range(n))
    active = ",".join(f'#tab-{i}:checked~nav label[for="tab-{i}"]' for i in range(n))
    return f"{shown}{{display:block}}{active}{{background:var(--accent);color:#fff}}"


def view_ids(board: Leaderboard) -> dict[str, int]:
    """Each suite's view number (0 is the summary)."""
    return {s: i + 1 for i, s in enumerate(board.suites)}
