"""The leaderboard: a pure function of result files.

Rows are upstreams under one protocol (mode, layer); cells are tasks with the mean ± std over seeds, a 95%
bootstrap CI over the evaluation examples, the human-relative score, the mean learned layer weights and the
training curves; suites get a score only when every task has one. Paired permutation tests compare every two
rows on every task where both kept per-example predictions. Renderers (terminal, JSON, Markdown, HTML) only
format this model.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from benchmark.engine import result_schema
from benchmark.plugin.registry import Registry
from benchmark.scoring import stats
from benchmark.scoring.scores import (
    Aggregate,
    mean_by_key,
    on_superb_scale,
    reference_score,
    relative,
    suite_reference,
    suite_score,
    superb_score,
)


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
    ci: tuple[float, float] | None = None
    seeds: list[int] = field(default_factory=list)
    layer_weights: list[float] | None = None
    curves: list[list[dict[str, float]]] = field(default_factory=list)
    step_curves: list[list[dict[str, float]]] = field(default_factory=list)
    """Per seed: the training loss along the optimizer steps (window means), when the result has it."""
    flag: str | None = None
    """Why this cell's results cannot be trusted as written by bench ('edited', 'conflicting copies'), else None."""
    superb: float | None = None
    """SUPERB-normalised score (FBANK = 0, SOTA = 1000) when the task has both references, else None."""
    note: str | None = None
    """What a suite's cell stands for when it is not the task's own ('mean of 5 folds'), else None."""


@dataclass
class Row:
    label: str
    tasks: dict[str, TaskCell] = field(default_factory=dict)
    suites: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    superb: dict[str, float | None] = field(default_factory=dict)
    """Per suite: the mean SUPERB-normalised task score, when every task of the suite has one."""
    n_parameters: int | None = None
    upstream: str = ""
    modality: str = ""
    mode: str = "frozen"
    layers: int | None = None
    fingerprints: list[str] = field(default_factory=list)
    pretraining: dict[str, Any] | None = None
    """How bench pretrained the upstream's checkpoint (method, data, epochs, per-epoch loss curve), when it did."""
    folded: dict[tuple[str, str], TaskCell] = field(default_factory=dict)
    """(suite, task) -> the suite's cell for a task that stands for several folds (SuiteSpec.folds)."""

    def cell(self, suite: str, task: str) -> TaskCell | None:
        """The cell that counts for `task` in `suite`: its folds' mean where the suite folds it, else its own."""
        return self.folded.get((suite, task), self.tasks.get(task))


@dataclass(frozen=True)
class Comparison:
    task: str
    a: str
    b: str
    test: stats.PairedTest


@dataclass
class TransferMatrix:
    """One row's zero-shot transfer results (--train-on / --eval-on): the main score (mean over seeds) of the model
    trained on each task (rows) on each task it was evaluated on (columns); the diagonal is the task's own score."""

    row: str
    train: list[str]
    evals: list[str]
    cells: dict[tuple[str, str], Aggregate]
    languages: dict[str, str | None]


def transfers(grouped: dict[tuple[str, str], list[dict[str, Any]]], registry: Registry) -> list[TransferMatrix]:
    """A matrix per row that has transfer results; columns are the training tasks first, then the others."""
    out: dict[str, TransferMatrix] = {}
    for (label, task), rs in sorted(grouped.items()):
        if not any(r.get("transfer") for r in rs):
            continue
        m = out.setdefault(label, TransferMatrix(label, [], [], {}, {}))
        m.train.append(task)
        m.cells[(task, task)] = Aggregate.of([float(r["main_score"]) for r in rs])
        others: dict[str, list[float]] = {}
        for r in rs:
            for name, t in (r.get("transfer") or {}).items():
                others.setdefault(name, []).append(float(t["main_score"]))
        for name, values in others.items():
            m.cells[(task, name)] = Aggregate.of(values)
    for m in out.values():
        m.evals = list(dict.fromkeys([*m.train, *sorted({e for _, e in m.cells})]))
        for t in m.evals:
            m.languages[t] = registry.tasks.get(t).obj.language if t in registry.tasks else None
    return list(out.values())


@dataclass
class Leaderboard:
    rows: list[Row]
    suites: list[str]
    tasks: list[str]
    human: dict[str, float | None]
    unknown_tasks: list[str]
    references: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    task_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    suite_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    comparisons: list[Comparison] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    transfers: list[TransferMatrix] = field(default_factory=list)
    flagged: list[str] = field(default_factory=list)
    """One line per result that is not as bench wrote it: its checksum does not match, or another result of the
    same job id has other scores. Renderers mark the cells and list these under the table."""


def _untrusted(results: Sequence[dict[str, Any]]) -> dict[int, str]:
    """id(result) -> why it is flagged. A checksum that does not match means the body was edited; two results of
    one job id with different scores mean one is a doctored copy (the latest `finished_at` must not just win).
    Results from before checksums are 'unverified': not flagged."""
    out: dict[int, str] = {}
    by_job: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        if result_schema.integrity(r) == "edited":
            out[id(r)] = "edited: its checksum does not match its contents"
        if r.get("job_id"):
            by_job.setdefault(r["job_id"], []).append(r)
    for jid, rs in by_job.items():
        if len({(r["main_score"], tuple(sorted(r["scores"].items()))) for r in rs}) > 1:
            for r in rs:
                out.setdefault(id(r), f"conflicting copies: {len(rs)} results of job {jid} differ in scores")
    return out


def _one_per_seed(rs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Several results of one row, task and seed (e.g. a rerun with --predict-test) count once: the latest."""
    latest: dict[int, dict[str, Any]] = {}
    for r in sorted(rs, key=lambda r: (r.get("finished_at") or "", r.get("job_id", ""))):
        latest[r["seed"]] = r
    return [latest[s] for s in sorted(latest)]


def _mean_weights(rs: Sequence[dict[str, Any]]) -> list[float] | None:
    ws = [r.get("layer_weights") for r in rs if r.get("layer_weights")]
    if not ws or len({len(w) for w in ws}) != 1:
        return None
    return [round(sum(col) / len(col), 6) for col in zip(*ws, strict=True)]


def build(results: Sequence[dict[str, Any]], registry: Registry, *, uncertainty: bool = True) -> Leaderboard:
    """The leaderboard model. `uncertainty=False` skips bootstrap CIs and paired tests (the terminal table)."""
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    unknown: set[str] = set()
    for r in results:
        if r["task"] not in registry.tasks:
            unknown.add(r["task"])
            continue
        grouped.setdefault((row_label(r), r["task"]), []).append(r)
    rows: dict[str, Row] = {}
    untrusted = _untrusted(results)
    flags: dict[tuple[str, str], str] = {}
    for key, rs in list(grouped.items()):
        reasons = [untrusted[id(r)] for r in rs if id(r) in untrusted]
        if reasons:
            flags[key] = reasons[0]
        grouped[key] = _one_per_seed(rs)
    for (label, task_name), rs in sorted(grouped.items()):
        task = registry.tasks.get(task_name).obj
        score = Aggregate.of([float(r["main_score"]) for r in rs])
        info = rs[0].get("upstream_info", {})
        row = rows.setdefault(label, Row(label, upstream=rs[0]["upstream"], mode=rs[0].get("mode", "frozen")))
        row.n_parameters = info.get("n_parameters", row.n_parameters)
        row.modality = info.get("modality", task.modality)
        row.layers = info.get("num_layers", row.layers)
        row.fingerprints = sorted({*row.fingerprints, *(r.get("upstream_info", {}).get("fingerprint", "?") for r in rs)})
        row.pretraining = info.get("pretraining") or row.pretraining
        row.tasks[task_name] = TaskCell(
            score, relative(score.mean, reference_score(task)), mean_by_key(r["scores"] for r in rs),
            ci=stats.bootstrap_ci(task, registry, rs) if uncertainty else None,
            seeds=[r["seed"] for r in rs], layer_weights=_mean_weights(rs),
            curves=[r.get("selection", {}).get("curve", []) for r in rs],
            step_curves=[r.get("selection", {}).get("step_curve", []) for r in rs])
        cell = row.tasks[task_name]
        cell.flag = flags.get((label, task_name))
        if all(k in cell.metrics for k in task.score_keys()):
            cell.superb = superb_score(task, {k: a.mean for k, a in cell.metrics.items()})
    present = {t for (_, t) in grouped}
    suites = [s.name for s in registry.suites if present & set(s.obj.tasks)]
    tasks_by_name = {r.name: r.obj for r in registry.tasks}
    human: dict[str, float | None] = {}
    for name in suites:
        suite = registry.suites.get(name).obj
        # Averaging accuracies with error rates means nothing: such a suite's aggregate is its SUPERB score.
        mixed = len({registry.metrics.get(m).obj.higher_is_better for t in suite.tasks if t in tasks_by_name
                     for m in tasks_by_name[t].score}) > 1
        human[name] = None if mixed else suite_reference(suite, tasks_by_name)
        for row in rows.values():
            for task_name, folds in suite.folds.items():
                folded = _fold(row, tasks_by_name[task_name], folds, grouped)
                if folded is not None:
                    row.folded[(name, task_name)] = folded
            cells = {t: c for t in suite.tasks if (c := row.cell(name, t)) is not None}
            value = None if mixed else suite_score(suite, {t: c.score.mean for t, c in cells.items()})
            row.suites[name] = (value, relative(value, human[name]))
            superb = suite_score(suite, {t: c.superb for t, c in cells.items()})
            if superb is not None:
                row.superb[name] = superb
    ordered = list(dict.fromkeys([t for s in suites for t in registry.suites.get(s).obj.tasks if t in present]
                                 + sorted(present)))
    for t in ordered:
        human[t] = reference_score(tasks_by_name[t])
    board = Leaderboard(sorted(rows.values(), key=lambda r: r.label), suites, ordered, human, sorted(unknown))
    def describe(t: str) -> None:
        task = tasks_by_name[t]
        board.task_info[t] = {"description": task.description, "suites": list(registry.suites_of(t)),
                              "metrics": task.metric_keys(), "score": task.score_keys(), "citation": task.citation,
                              "modality": task.modality, "version": task.version,
                              "lower_is_better": not all(registry.metrics.get(m).obj.higher_is_better
                                                         for m in task.score if m in registry.metrics)}
        board.references[t] = {name: {"score": reference_score(task, name), "scores": dict(ref.scores),
                                      "citation": ref.citation, "method": ref.method}
                               for name, ref in task.references.items()}

    for t in ordered:
        describe(t)
    for s in suites:
        spec = registry.suites.get(s).obj
        columns = [t for t in spec.tasks if t in present]
        if all(t in tasks_by_name and on_superb_scale(tasks_by_name[t]) for t in spec.tasks):
            # A SUPERB-scored suite shows every task, those without results as —: its score needs all of them.
            columns = list(spec.tasks)
            for t in columns:
                if t not in board.task_info:
                    describe(t)
        board.suite_info[s] = {"description": spec.description, "tasks": list(spec.tasks), "citation": spec.citation,
                               "columns": columns}
    if uncertainty:
        for t in ordered:
            task = tasks_by_name[t]
            for a, b in itertools.combinations([r.label for r in board.rows if t in r.tasks], 2):
                test = stats.paired_permutation(task, registry, grouped[(a, t)], grouped[(b, t)])
                if test is not None:
                    board.comparisons.append(Comparison(t, a, b, test))
    board.provenance = _provenance(results)
    board.flagged = [f"{row_label(r)} / {r['task']} seed {r['seed']} ({r.get('job_id') or '?'}): {untrusted[id(r)]}"
                     for r in results if id(r) in untrusted]
    board.transfers = transfers(grouped, registry)
    return board


def _fold(row: Row, task: Any, folds: Sequence[str], grouped: dict[tuple[str, str], list[dict[str, Any]]]
          ) -> TaskCell | None:
    """The suite's cell for `task`, which stands for `folds` (SUPERB reports ER as the mean of IEMOCAP's five
    leave-one-session-out folds): with every fold present, per seed that all folds ran the mean over the folds of
    the main score and of each metric (no bootstrap CI: the folds' examples differ); otherwise the task's own cell,
    saying how many folds are missing. None when the row has no result of the task or its folds."""
    own = row.tasks.get(task.name)
    if any(f not in row.tasks for f in folds):
        if own is None:
            return None
        missing = sum(f not in row.tasks for f in folds)
        return replace(own, note=f"{task.name} only: {missing} of {len(folds)} folds have no result")
    by_fold = [{r["seed"]: r for r in grouped[(row.label, f)]} for f in folds]
    seeds = sorted(set.intersection(*(set(b) for b in by_fold)))
    if not seeds:  # the folds ran under different seeds: one value per fold, averaged once
        per_seed = [[b[min(b)] for b in by_fold]]
    else:
        per_seed = [[b[s] for b in by_fold] for s in seeds]
    scores = [statistics.fmean(float(r["main_score"]) for r in rs) for rs in per_seed]
    metrics = mean_by_key({k: statistics.fmean(float(r["scores"][k]) for r in rs) for k in rs[0]["scores"]
                           if all(k in r["scores"] for r in rs)} for rs in per_seed)
    score = Aggregate.of(scores)
    flags = [row.tasks[f].flag for f in folds if row.tasks[f].flag]
    superb = superb_score(task, {k: a.mean for k, a in metrics.items()})
    return TaskCell(score, relative(score.mean, reference_score(task)), metrics, seeds=seeds, superb=superb,
                    flag=flags[0] if flags else None, note=f"mean of {len(folds)} folds")


def _provenance(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    versions: dict[str, set[str]] = {}
    commands, gits, devices, dates = set(), set(), set(), []
    for r in results:
        env = r.get("environment", {})
        for k, v in (env.get("versions") or {}).items():
            if v:
                versions.setdefault(k, set()).add(str(v))
        if env.get("command"):
            commands.add(env["command"])
        if env.get("git"):
            gits.add(env["git"])
        if env.get("device"):
            devices.add(env["device"])
        if r.get("finished_at"):
            dates.append(r["finished_at"])
    return {"versions": {k: sorted(v) for k, v in sorted(versions.items())}, "commands": sorted(commands),
            "git": sorted(gits), "devices": sorted(devices), "first": min(dates, default=None),
            "last": max(dates, default=None), "n_results": len(results)}


def _r(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else round(x, digits)


def to_json(board: Leaderboard) -> dict[str, Any]:
    def agg(a: Aggregate) -> dict[str, Any]:
        return {"mean": round(a.mean, 4), "std": round(a.std, 4), "n": a.n}

    return {
        "suites": board.suites,
        "tasks": board.tasks,
        "human": {k: _r(v) for k, v in board.human.items()},
        "rows": [
            {
                "upstream": row.label,
                "modality": row.modality,
                "mode": row.mode,
                "n_parameters": row.n_parameters,
                "fingerprints": row.fingerprints,
                **({"pretraining": row.pretraining} if row.pretraining else {}),
                "suites": {s: {"score": _r(v), "relative_to_human": _r(rel), "superb": _r(row.superb.get(s))}
                           for s, (v, rel) in row.suites.items()},
                "tasks": {t: {"score": agg(c.score), "relative_to_human": _r(c.relative_to_human),
                              "superb": _r(c.superb),
                              "ci95": None if c.ci is None else [_r(c.ci[0]), _r(c.ci[1])], "seeds": c.seeds,
                              "metrics": {m: agg(a) for m, a in c.metrics.items()}, "layer_weights": c.layer_weights}
                          for t, c in row.tasks.items()},
                **({"folded": [{"suite": s, "task": t, "score": agg(c.score), "superb": _r(c.superb), "seeds": c.seeds,
                                "note": c.note} for (s, t), c in row.folded.items()]} if row.folded else {}),
            }
            for row in board.rows
        ],
        "references": board.references,
        "comparisons": [{"task": c.task, "a": c.a, "b": c.b, "difference": _r(c.test.difference),
                         "p_value": _r(c.test.p_value), "seeds": list(c.test.seeds), "n_examples": c.test.n_examples,
                         "n_permutations": c.test.n_permutations} for c in board.comparisons],
        "provenance": board.provenance,
        "unknown_tasks": board.unknown_tasks,
        **({"flagged": board.flagged} if board.flagged else {}),
        "transfers": [{"row": m.row, "train": m.train, "evals": m.evals, "languages": m.languages,
                       "cells": [{"train": t, "eval": e, **agg(a)} for (t, e), a in m.cells.items()]}
                      for m in board.transfers],
    }
