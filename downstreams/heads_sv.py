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

from typing import TYPE_CHECKING, Any

from benchmark.errors import BenchError
from benchmark.heads.protocol import BaseHead, HeadJob, HeadRun
from benchmark.hookspecs import hookimpl
from downstreams.sv_trials import AM_MARGIN, AM_SCALE, as_trials

if TYPE_CHECKING:
    from benchmark.tasks.schema import TaskSpec

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


@hookimpl
def register_downstreams(register: Any) -> None:
    register("speaker-verification", SpeakerVerificationKind())


@hookimpl
def register_metrics(register: Any) -> None:
    from downstreams.sv_metrics import eer, min_dcf

    register("eer", eer, higher_is_better=False, kind="verification")
    register("min_dcf", min_dcf, higher_is_better=False, kind="verification")
