"""The leaderboard: a pure function of result files (mean ± std over seeds, suite scores, human-relative)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmark.registry import Registry
from benchmark.scoring import Aggregate, mean_by_key, relative, reference_score, suite_reference, suite_score


def row_label(result: dict[str, Any]) -> str:
    """Results of one upstream under different protocols are different rows."""
    hp = result.get("hyperparameters", {})
    extra = []
    if result.get("mode", "frozen") != "frozen":
        extra.append(result["mode"])
    if hp.get("layer") is not None:
        extra.append(f"layer {hp['layer']}")
    return result["upstream"] + (f" [{', '.join(extra)}]" if extra else "")


@dataclass
class TaskCell:
    score: Aggregate
    relative_to_human: float | None
    metrics: dict[str, Aggregate]


@dataclass
class Row:
    label: str
    tasks: dict[str, TaskCell] = field(default_factory=dict)
    suites: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    n_parameters: int | None = None


@dataclass
class Leaderboard:
    rows: list[Row]
    suites: list[str]
    tasks: list[str]
    human: dict[str, float | None]
    unknown_tasks: list[str]


def build(results: Sequence[dict[str, Any]], registry: Registry) -> Leaderboard:
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    unknown: set[str] = set()
    for r in results:
        if r["task"] not in registry.tasks:
            unknown.add(r["task"])
            continue
        grouped.setdefault((row_label(r), r["task"]), []).append(r)
    rows: dict[str, Row] = {}
    for (label, task_name), rs in grouped.items():
        task = registry.tasks.get(task_name).obj
        score = Aggregate.of([float(r["main_score"]) for r in rs])
        row = rows.setdefault(label, Row(label))
        row.n_parameters = rs[0].get("upstream_info", {}).get("n_parameters")
        row.tasks[task_name] = TaskCell(score, relative(score.mean, reference_score(task)),
                                        mean_by_key(r["scores"] for r in rs))
    present = {t for (_, t) in grouped}
    suites = [s.name for s in registry.suites if present & set(s.obj.tasks)]
    tasks_by_name = {r.name: r.obj for r in registry.tasks}
    human: dict[str, float | None] = {}
    for name in suites:
        suite = registry.suites.get(name).obj
        human[name] = suite_reference(suite, tasks_by_name)
        for row in rows.values():
            value = suite_score(suite, {t: c.score.mean for t, c in row.tasks.items()})
            row.suites[name] = (value, relative(value, human[name]))
    ordered_tasks = [t for s in suites for t in registry.suites.get(s).obj.tasks if t in present]
    ordered_tasks += sorted(present - set(ordered_tasks))
    for t in ordered_tasks:
        human[t] = reference_score(tasks_by_name[t])
    return Leaderboard(sorted(rows.values(), key=lambda r: r.label), suites, list(dict.fromkeys(ordered_tasks)),
                       human, sorted(unknown))


def to_json(board: Leaderboard) -> dict[str, Any]:
    def agg(a: Aggregate) -> dict[str, Any]:
        return {"mean": round(a.mean, 4), "std": round(a.std, 4), "n": a.n}

    return {
        "suites": board.suites,
        "tasks": board.tasks,
        "human": {k: None if v is None else round(v, 4) for k, v in board.human.items()},
        "rows": [
            {
                "upstream": row.label,
                "n_parameters": row.n_parameters,
                "suites": {s: {"score": None if v is None else round(v, 4),
                               "relative_to_human": None if rel is None else round(rel, 4)}
                           for s, (v, rel) in row.suites.items()},
                "tasks": {t: {"score": agg(c.score),
                              "relative_to_human": None if c.relative_to_human is None else round(c.relative_to_human, 4),
                              "metrics": {m: agg(a) for m, a in c.metrics.items()}}
                          for t, c in row.tasks.items()},
            }
            for row in board.rows
        ],
        "unknown_tasks": board.unknown_tasks,
    }
