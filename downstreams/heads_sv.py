"""The `speaker-verification` head kind (SUPERB SV) and its metrics, registered as a builtin plugin.

An x-vector-style head on the upstream's frames: the featurizer's weighted layer sum -> a small TDNN -> statistics
pooling (mean and standard deviation over time) -> a speaker embedding, trained on the training speakers with an
additive-margin softmax (AM-softmax; scale 30, margin 0.4, s3prl's values); trials are scored by the cosine
similarity of the two embeddings. Training lives in downstreams/heads_sv_run.py, imported when a job starts
(listing the heads must not import torch).

Targets: a training utterance's target is its speaker's name (any string; the head numbers the speakers itself,
so a task needs no `labels`); an evaluation (or model-selection) utterance's target is the tuple of trials it
opens, `((other_index, label), ...)`, other_index the position of the other utterance in the same split and
label 1 (same speaker) or 0. Each utterance is thus encoded once however many trials it is in, and the
prediction of an utterance is the list of its trials' scores (downstreams/sv_metrics.py reads them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from benchmark.errors import BenchError
from benchmark.heads.protocol import BaseHead, HeadJob, HeadRun
from benchmark.hookspecs import hookimpl

if TYPE_CHECKING:
    from benchmark.tasks.schema import TaskSpec

AM_SCALE = 30.0
AM_MARGIN = 0.4
EMBEDDING_DIM = 128
Trials = tuple[tuple[int, int], ...]


def as_trials(value: Any, where: str) -> Trials:
    """A trial list ((other_index, 0|1), ...) checked, or a BenchError naming `where`."""
    try:
        out = tuple((int(j), int(label)) for j, label in value)
    except (TypeError, ValueError):
        raise BenchError(f"{where}: a trial list must be pairs (other_index, 0|1), got {str(value)[:80]!r}") from None
    bad = next((p for p in out if p[1] not in (0, 1) or p[0] < 0), None)
    if bad is not None:
        raise BenchError(f"{where}: trial {bad} must be (other_index >= 0, label 0 or 1)")
    return out


def is_speaker(target: Any) -> bool:
    return isinstance(target, str)


class SpeakerVerificationKind(BaseHead):
    """Speaker embeddings from frames (x-vector: TDNN + statistics pooling), AM-softmax on the training speakers,
    cosine scoring of trials."""

    description = ("speaker verification: x-vector head (TDNN, mean+std pooling) trained with AM-softmax "
                   f"(s {AM_SCALE:g}, m {AM_MARGIN:g}) on the training speakers; trials scored by cosine similarity")
    consumes = "frames"
    target = "trial-scores"
    finetunes = False
    metric_kinds = ("verification",)

    def validate(self, task: TaskSpec) -> list[str]:
        out = []
        if task.labels is not None or task.vocabulary is not None:
            out.append(f"task '{task.name}': head '{task.head}' learns the training speakers from the data and "
                       "scores trials; drop labels and vocabulary")
        if task.modality != "speech":
            out.append(f"task '{task.name}': head '{task.head}' verifies speakers; the task's modality must be speech")
        return out

    def check_mode(self, task: TaskSpec, mode: str) -> str | None:
        if mode == "finetune":
            return (f"task '{task.name}' uses head '{task.head}', which trains on frozen frames only; run it with "
                    "--mode frozen")
        return None

    def convert_target(self, task: TaskSpec, value: Any, where: str) -> Any:
        """A speaker name (training utterances) or a trial list (evaluation utterances)."""
        if isinstance(value, str):
            name = value.strip()
            if not name:
                raise BenchError(f"task '{task.name}': empty speaker name at {where}")
            return name
        return as_trials(value, f"task '{task.name}': {where}")

    def selection_rule(self, task: TaskSpec, hp: dict[str, Any], grid: bool) -> str:
        rule = (f"epoch with the best '{'+'.join(task.score)}' on the model-selection split's trials (speakers "
                f"unseen in training; early stopping, patience {hp['patience']})")
        return f"grid point and {rule}; ties go to the first point in grid order" if grid else rule

    def start(self, job: HeadJob) -> HeadRun:
        from downstreams.heads_sv_run import VerificationRun

        return VerificationRun(self, job)


def all_pairs(speakers: Sequence[str]) -> tuple[Trials, ...]:
    """Every pair (i < j) of a split whose targets are speaker names, as trial lists opened by i: a model-selection
    split held out of the training data is scored this way."""
    return tuple(tuple((j, int(speakers[i] == speakers[j])) for j in range(i + 1, len(speakers)))
                 for i in range(len(speakers)))


@hookimpl
def register_downstreams(register: Any) -> None:
    register("speaker-verification", SpeakerVerificationKind())


@hookimpl
def register_metrics(register: Any) -> None:
    from downstreams.sv_metrics import eer, min_dcf

    register("eer", eer, higher_is_better=False, kind="verification")
    register("min_dcf", min_dcf, higher_is_better=False, kind="verification")
