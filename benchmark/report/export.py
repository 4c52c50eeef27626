"""`bench export glue-submission`: the TSV files the GLUE evaluation server scores, from result files.

The core is pure (result dicts -> file texts); the command writes the files atomically and never replaces one
silently. Results carry test predictions when they were run with `--predict-test`.

The submission format, as two widely used implementations write it:
- nyu-mll/jiant, jiant/scripts/benchmarks/benchmark_submission_formatter.py: one file per task named CoLA.tsv,
  SST-2.tsv, MRPC.tsv, STS-B.tsv, MNLI-m.tsv, MNLI-mm.tsv, QNLI.tsv, QQP.tsv, RTE.tsv, WNLI.tsv and AX.tsv (the
  diagnostic set, predicted with the MNLI model), each a tab-separated header row `index, prediction` then one
  row per test example; jiant/tasks/core.py (GlueMixin.get_glue_preds) writes the example's index and the label
  string, and jiant/tasks/lib/stsb.py (StsbTask.get_glue_preds) the STS-B score rounded to 3 decimals.
- huggingface/transformers, examples/pytorch/text-classification/run_glue.py (--do_predict): header
  "index\\tprediction", then `label_list[item]` for classification (0/1 for CoLA, SST-2, MRPC, QQP, WNLI;
  entailment/neutral/contradiction for MNLI, entailment/not_entailment for QNLI and RTE) and f"{item:3.3f}" for
  STS-B; MNLI predicts test_matched and test_mismatched.
Our label strings are the tasks' `labels` in tasks.yaml, which are exactly those. STS-B scores lie in 0..5, so
predictions are clipped to that range.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.errors import BenchError
from benchmark.paths import make_dir

# (task, test split, submission file), in the order of the GLUE leaderboard.
GLUE_FILES: tuple[tuple[str, str, str], ...] = (
    ("cola", "test", "CoLA.tsv"),
    ("sst2", "test", "SST-2.tsv"),
    ("mrpc", "test", "MRPC.tsv"),
    ("stsb", "test", "STS-B.tsv"),
    ("qqp", "test", "QQP.tsv"),
    ("mnli", "test_m", "MNLI-m.tsv"),
    ("mnli", "test_mm", "MNLI-mm.tsv"),
    ("qnli", "test", "QNLI.tsv"),
    ("rte", "test", "RTE.tsv"),
    ("wnli", "test", "WNLI.tsv"),
    ("mnli", "ax", "AX.tsv"),
)
GLUE_TASKS: tuple[str, ...] = tuple(dict.fromkeys(t for t, _, _ in GLUE_FILES))
SCORE_RANGE: dict[str, tuple[float, float]] = {"stsb": (0.0, 5.0)}  # STS-B similarity is rated 0..5


@dataclass(frozen=True)
class Submission:
    """What an export writes (`files`: name -> TSV text) and where each task's predictions came from."""

    upstream: str
    files: dict[str, str]
    sources: dict[str, dict[str, Any]]
    """task -> the chosen result's job_id, seed, mode and main_score."""
    missing: dict[str, list[str]]
    """task -> its files that no result has test predictions for."""


def _has_tests(result: Mapping[str, Any]) -> bool:
    return result.get("task") in GLUE_TASKS and bool(result.get("test_predictions"))


def choose_upstream(results: Sequence[Mapping[str, Any]], upstream: str | None, where: str) -> str:
    """The upstream to export: the one asked for, or the only one with GLUE test predictions."""
    names = sorted({str(r["upstream"]) for r in results if _has_tests(r)})
    if upstream is not None:
        if upstream not in names:
            have = f" (upstreams with them: {', '.join(names)})" if names else ""
            raise BenchError(f"no GLUE test predictions of upstream '{upstream}' in {where}{have}")
        return upstream
    if not names:
        raise BenchError(f"no result in {where} has GLUE test predictions; run `bench run --tasks glue "
                         f"--predict-test --output {where}` first")
    if len(names) > 1:
        raise BenchError(f"{where} holds GLUE test predictions of several upstreams ({', '.join(names)}); "
                         "pick one with --upstream")
    return names[0]


def best_results(results: Sequence[Mapping[str, Any]], upstream: str) -> dict[str, Mapping[str, Any]]:
    """Per GLUE task, the upstream's result with test predictions and the highest main score (ties: lowest
    seed, then job id, so the choice never depends on file order)."""
    best: dict[str, Mapping[str, Any]] = {}
    for r in results:
        if r["upstream"] != upstream or not _has_tests(r):
            continue
        key = (-float(r["main_score"]), int(r["seed"]), str(r.get("job_id", "")))
        old = best.get(r["task"])
        if old is None or key < (-float(old["main_score"]), int(old["seed"]), str(old.get("job_id", ""))):
            best[r["task"]] = r
    return best


def format_rows(task: str, labels: Sequence[str] | None, index: Sequence[Any], predictions: Sequence[Any],
                where: str) -> str:
    """One submission file: the header, then `index<TAB>prediction` per example, in the result's order."""
    if len(index) != len(predictions):
        raise BenchError(f"{where}: {len(index)} test indices but {len(predictions)} predictions; rerun the job "
                         "with --overwrite")
    if len(set(index)) != len(index):
        raise BenchError(f"{where}: repeated test indices; rerun the job with --overwrite")
    lines = ["index\tprediction"]
    if labels is None:
        low, high = SCORE_RANGE.get(task, (float("-inf"), float("inf")))
        lines += [f"{i}\t{min(max(float(p), low), high):.3f}" for i, p in zip(index, predictions)]
    else:
        for i, p in zip(index, predictions):
            if not isinstance(p, int) or not 0 <= p < len(labels):
                raise BenchError(f"{where}: prediction {p!r} is not a class index 0..{len(labels) - 1}")
            lines.append(f"{i}\t{labels[p]}")
    return "\n".join(lines) + "\n"


def glue_submission(results: Sequence[Mapping[str, Any]], labels: Mapping[str, Sequence[str] | None],
                    upstream: str | None = None, where: str = "the results") -> Submission:
    """The GLUE submission files of one upstream; `labels` maps each GLUE task to its class names (None:
    regression). Files without test predictions are listed in `missing`, not written."""
    name = choose_upstream(results, upstream, where)
    chosen = best_results(results, name)
    files: dict[str, str] = {}
    sources: dict[str, dict[str, Any]] = {}
    missing: dict[str, list[str]] = {}
    for task, split, filename in GLUE_FILES:
        r = chosen.get(task)
        preds = (r.get("test_predictions") or {}).get(split) if r is not None else None
        if r is None or preds is None:
            missing.setdefault(task, []).append(filename)
            continue
        where_r = f"result {r.get('job_id', '?')} ({task}, seed {r['seed']}) split '{split}'"
        files[filename] = format_rows(task, labels.get(task), preds["index"], preds["prediction"], where_r)
        sources[task] = {k: r.get(k) for k in ("job_id", "seed", "mode", "main_score")}
    return Submission(name, files, sources, missing)


def missing_message(sub: Submission, where: str) -> str:
    tasks = list(sub.missing)
    files = [f for fs in sub.missing.values() for f in fs]
    return (f"no GLUE test predictions for {', '.join(tasks)} ({', '.join(files)}) of '{sub.upstream}' in "
            f"{where}; run them with `bench run --upstream {sub.upstream} --tasks {','.join(tasks)} --predict-test "
            f"--output {where}`, or pass --allow-missing")


def write_files(files: Mapping[str, str], out_dir: Path, overwrite: bool = False) -> list[Path]:
    """Write every file or none: all are checked, then written to temporary files, then renamed into place."""
    if out_dir.exists() and not out_dir.is_dir():
        raise BenchError(f"{out_dir} exists and is not a directory; pass --to DIR")
    clash = [n for n in files if (out_dir / n).exists()]
    if clash and not overwrite:
        raise BenchError(f"{out_dir} already holds {', '.join(clash)}; pass --overwrite to replace them")
    try:
        make_dir(out_dir)  # its parent must exist (benchmark.paths)
    except OSError as err:
        raise BenchError(f"cannot create {out_dir}: {err.strerror or err}; pass --to DIR") from None
    staged: list[tuple[str, Path]] = []
    try:
        for name, text in files.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=out_dir)
            staged.append((tmp, out_dir / name))
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
        for tmp, path in staged:
            os.replace(tmp, path)
    except OSError as err:
        raise BenchError(f"cannot write to {out_dir}: {err.strerror or err}; pass --to DIR") from None
    finally:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return [out_dir / n for n in files]
