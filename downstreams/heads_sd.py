"""The `diarization` head kind (SUPERB SD, after s3prl's downstream/diarization and EEND): frame-level activity of
two speakers from every frame of the upstream, and the `der` metric. A plugin module: it registers the head kind
(register_downstreams) and the metric (register_metrics).

The head: the featurizer's weighted layers -> a bidirectional LSTM (`hidden` units a direction; hidden 0 is a
linear layer) stepping at about 40 ms (frames averaged in groups, its outputs repeated back to every frame) -> two
sigmoid outputs per frame, one per speaker, trained with the permutation-invariant binary cross-entropy (the
smaller loss of the two speaker orderings, per recording). Model selection: the DER on the
model-selection split (each epoch at threshold 0.5, no median filter); then the post-processing (threshold x median
filter, s3prl's score.sh grid) is chosen on that split too. Predictions are segments at the upstream's frame rate
(downstreams/sd_metrics.py). Training and prediction live in downstreams/heads_sd_run.py, imported when a job starts:
listing the heads does not import torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from benchmark.heads.protocol import BaseHead, HeadJob, HeadRun
from benchmark.hookspecs import hookimpl
from downstreams.sd_metrics import der, reference_of

if TYPE_CHECKING:
    from benchmark.tasks.schema import TaskSpec


@dataclass(frozen=True)
class DiarizationKind(BaseHead):
    """Who speaks when, for two speakers, from every frame (targets: `{"duration", "segments"}` references)."""

    description: str = ("speaker diarization of two speakers: per-frame activity (BiLSTM, permutation-invariant "
                        "BCE), segments scored by DER")
    consumes: ClassVar[str] = "frames"
    target: str = "diarization"
    metric_kinds: ClassVar[tuple[str, ...]] = ("diarization",)

    def validate(self, task: TaskSpec) -> list[str]:
        if task.labels is not None or task.vocabulary is not None:
            return [f"task '{task.name}': head '{task.head}' predicts who speaks when (references of segments); "
                    "drop labels and vocabulary"]
        return []

    def convert_target(self, task: TaskSpec, value: Any, where: str) -> Any:
        return reference_of(value, f"task '{task.name}': {where}")

    def selection_rule(self, task: TaskSpec, hp: dict[str, Any], grid: bool) -> str:
        rule = super().selection_rule(task, hp, grid)
        return (f"{rule}, at activity threshold 0.5 without a median filter; then the threshold (0.3-0.7) and "
                "median filter (1 or 11 frames) with the best DER on that split")

    def start(self, job: HeadJob) -> HeadRun:
        from downstreams.heads_sd_run import DiarizationRun

        return DiarizationRun(self, job)


@hookimpl
def register_downstreams(register: Any) -> None:
    register("diarization", DiarizationKind())


@hookimpl
def register_metrics(register: Any) -> None:
    register("der", der, higher_is_better=False, kind="diarization")
