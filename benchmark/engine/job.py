"""One job: (upstream, task, seed, hyper-parameter grid) -> Result. Pure apart from the upstream's own state.

Everything head-specific is the task's head kind's (`benchmark.heads.protocol`): the job asks it for a run, lets it
prepare the features (frozen mode reads them from the feature cache, computed on the first miss), fit each
grid point and predict; it records what the run and the kind report. Every point of the head grid
(learning rate, hidden size, weight decay, dropout, batch size: each may be a list) is trained with the same
seed; the point with the best model-selection score is chosen (ties: the first in grid order) and only it is
evaluated. The result records the whole grid, the selection rule and the chosen values.
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

from benchmark.engine.request import GRID_KEYS
from benchmark.errors import JobFailed, out_of_memory
from benchmark.heads.protocol import HeadJob, kind_of
from benchmark.plugin.registry import Registry
from benchmark.plugin.specs import LazyUpstream, upstream_info
from benchmark.scoring.scores import reference_score, relative, task_score
from benchmark.types import Result

Progress = Callable[..., None]


def grid_points(hp: dict[str, Any]) -> list[dict[str, Any]]:
    """The product of every list-valued grid hyper-parameter, in a stable order; [{}] when nothing is a list."""
    axes = [(k, hp[k]) for k in GRID_KEYS if isinstance(hp.get(k), list)]
    return [dict(zip([k for k, _ in axes], values, strict=True)) for values in itertools.product(*(v for _, v in axes))]


def _compact(values: list[Any]) -> list[Any]:
    """Class indices as ints, transcripts and answers as text, tag sequences as lists, QA targets as they are,
    regression values rounded to 6 significant digits (small, stable JSON)."""
    return [v if isinstance(v, int | str | dict) else list(v) if isinstance(v, list | tuple)
            else float(f"{v:.6g}") for v in values]


@contextlib.contextmanager
def _memory_guard(where: str, knob: str) -> Iterator[None]:
    """Turn an out-of-memory error into a failed job that names the batch size to lower."""
    try:
        yield
    except Exception as err:
        if not out_of_memory(err):
            raise
        raise JobFailed(f"out of memory on {where}; lower {knob}", transient=True) from None


def _scored(task: Any, registry: Registry, data: Any, preds: dict[str, list[Any]]) -> dict[str, float]:
    """Every metric of the task on every evaluation split (split-prefixed when the task has several)."""
    from benchmark.heads import training

    scores: dict[str, float] = {}
    for name, ex in data.evals.items():
        for metric, value in training.score_predictions(task, registry, ex.targets, preds[name]).items():
            scores[metric if len(task.evals) == 1 else f"{name}/{metric}"] = round(value, 4)
    return scores


def run_job(job: Any, upstream: Any, fresh_upstream: Callable[[], Any], data: Any, registry: Registry, cache: Any,
            env: dict[str, Any], emit: Progress, transfer_data: dict[str, Any] | None = None) -> Result:
    """Run one job on a loaded upstream and loaded data. `fresh_upstream()` reloads it (fine-tuning a grid).
    transfer_data: the data of the job's --eval-on tasks, by name."""
    from benchmark.heads import training

    task, hp, seed = job.task, job.hparams, job.seed
    pooling = hp["pooling"] or task.pooling
    symbol_map = None
    if task.symbol_map is not None:  # DNA / protein / music: each symbol becomes a word of the upstream's vocabulary
        from benchmark.tasks.symbols import map_data

        data, symbol_map = map_data(task, data, upstream, job.upstream.text)
    train = data.train
    if hp["max_train"] is not None and len(train) > hp["max_train"]:
        keep = sorted(random.Random(seed).sample(range(len(train)), hp["max_train"]))
        train = train.subset(keep)
    say = lambda *a, **k: emit(*a, job=job, **k)  # noqa: E731
    durations: dict[str, float] = {}
    t0 = time.perf_counter()
    points = grid_points(hp)
    kind = kind_of(registry, task.head)
    run = kind.start(HeadJob(task, registry, hp, seed, upstream, fresh_upstream, cache, train, data.select, pooling, say))

    def fit_grid() -> tuple[Any, int, list[dict[str, Any]]]:
        """Train every grid point; the best by model selection wins, ties go to the first. A diverged point is
        recorded and loses; the job fails only when every point failed."""
        tried: list[dict[str, Any]] = []
        transient: list[bool] = []
        best: tuple[Any, int] | None = None
        for i, point in enumerate(points):
            php = {**hp, **point}
            try:
                with _memory_guard(f"a training batch of {php['batch_size']}",
                                   f"--batch-size (now {php['batch_size']})"):
                    fitted_i = run.fit(i, php)
            except JobFailed as err:
                if len(points) == 1:
                    raise
                tried.append({**point, "failed": str(err)})
                transient.append(err.transient)
                continue
            tried.append({**point, "select_score": round(fitted_i.select_score, 4), "best_epoch": fitted_i.best_epoch})
            if best is None or training.better(task, registry, fitted_i.select_score, best[0].select_score):
                best = (fitted_i, i)
        if best is None:
            raise JobFailed(f"every grid point failed; the first: {tried[0]['failed']}", transient=all(transient))
        return best[0], best[1], tried

    if hp["mode"] == "frozen":  # features of train and select once, before the grid (fine-tuning runs the upstream
        # inside training instead)
        with _memory_guard(f"a batch of up to {hp['eval_batch_size']} examples while extracting features",
                           f"--eval-batch-size (now {hp['eval_batch_size']})"):
            run.prepare()
        durations["extract"] = round(time.perf_counter() - t0, 3)
    t1 = time.perf_counter()
    fitted, chosen_i, tried = fit_grid()
    durations["train"] = round(time.perf_counter() - t1, 3)

    def predict(examples: Any, name: str) -> list[Any]:
        return run.predict(fitted, examples, name)

    t2 = time.perf_counter()
    with _memory_guard(f"a batch of up to {hp['eval_batch_size']} examples while evaluating",
                       f"--eval-batch-size (now {hp['eval_batch_size']})"):
        preds = {name: predict(ex, name) for name, ex in data.evals.items()}
    scores = _scored(task, registry, data, preds)
    durations["evaluate"] = round(time.perf_counter() - t2, 3)
    transfer: dict[str, dict[str, Any]] = {}
    for other in getattr(job, "transfer", ()):  # zero-shot: the same model on another task's evaluation splits
        t4 = time.perf_counter()
        odata = (transfer_data or {})[other.name]
        with _memory_guard(f"a batch of up to {hp['eval_batch_size']} examples while evaluating {other.name}",
                           f"--eval-batch-size (now {hp['eval_batch_size']})"):
            opreds = {name: predict(ex, f"{other.name}/{name}") for name, ex in odata.evals.items()}
        oscores = _scored(other, registry, odata, opreds)
        omain, ohuman = task_score(other, oscores), reference_score(other, "human")
        orel = relative(omain, ohuman)
        transfer[other.name] = {
            "scores": oscores, "main_score": round(omain, 4),
            "relative_to_human": None if orel is None else round(orel, 4), "language": other.language,
            "version": other.version, "data_revision": odata.revision,
            "n_examples": {k: len(v) for k, v in odata.evals.items()},
            "predictions": {k: _compact(v) for k, v in opreds.items()},
            "targets": {k: _compact(list(ex.targets)) for k, ex in odata.evals.items()}}
        durations[f"transfer:{other.name}"] = round(time.perf_counter() - t4, 3)
    test_predictions: dict[str, dict[str, list[Any]]] = {}
    if hp.get("predict_test") and data.tests:
        t3 = time.perf_counter()
        for name, ex in data.tests.items():  # unlabeled: predictions only, for a benchmark server to score
            test_predictions[name] = {"index": list(ex.index), "prediction": _compact(predict(ex, name))}
        durations["predict_test"] = round(time.perf_counter() - t3, 3)
    head_notes = run.notes()
    durations["total"] = round(time.perf_counter() - t0, 3)
    main = task_score(task, scores)
    human = reference_score(task, "human")
    rel = relative(main, human)
    chosen = points[chosen_i]
    best_hp = {**hp, **chosen}
    selection = {
        "rule": kind.selection_rule(task, hp, len(points) > 1), "split_size": len(data.select), "best_epoch": fitted.best_epoch,
        "select_score": round(fitted.select_score, 4), "epochs_run": fitted.epochs_run, "curve": fitted.curve,
        **({"step_curve": fitted.steps} if getattr(fitted, "steps", None) else {}),
        **({"passes_per_epoch": run.passes_per_epoch(len(train), best_hp["batch_size"])}
           if hp["mode"] == "frozen" else {}),
        "grid": tried if len(points) > 1 else [], "chosen": chosen,
    }
    return Result(
        job_id=job.job_id, upstream=job.upstream.text, task=task.name, suite=registry.suites_of(task.name),
        seed=seed, mode=hp["mode"], scores=scores, main_score=round(main, 4),
        relative_to_human=None if rel is None else round(rel, 4), hyperparameters=dict(hp),
        upstream_info={"name": job.upstream.text, **(upstream.info() if isinstance(upstream, LazyUpstream) else
                                                      upstream_info(upstream)),
                       **({"checkpoint": {"series": job.upstream.series, "step": job.upstream.step}}
                          if job.upstream.series else {}),
                       "modifiers": list(job.upstream.modifiers)},
        task_info={
            "name": task.name, "version": task.version, "data_revision": data.revision, "source": job.source,
            "evals": list(task.evals), "head": task.head, "pooling": pooling, "notes": [*data.notes, *head_notes],
            "human_score": human, "language": task.language, **({"symbols": symbol_map} if symbol_map is not None else {}),
        },
        selection=selection, durations=durations, environment=env,
        layer_weights=fitted.featurizer.layer_weights() if fitted.featurizer is not None else None,
        n_examples={"train": len(train), "select": len(data.select), **{k: len(v) for k, v in data.evals.items()},
                    **{k: len(v) for k, v in data.tests.items() if hp.get("predict_test")}},
        predictions={k: _compact(v) for k, v in preds.items()},
        targets={k: _compact(list(ex.targets)) for k, ex in data.evals.items()},
        test_predictions=test_predictions, transfer=transfer,
        finished_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    )
