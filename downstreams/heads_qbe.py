"""The `query-by-example` head kind (SUPERB QbE, after s3prl's `quesst14_dtw`): nothing is trained; each spoken
query is searched in every document of its split by subsequence DTW on one layer's frames
(downstreams.qbe_dtw), and the layer is the one with the best score (MTWV) on the model-selection split.

How a split is represented: its examples are the split's documents and queries, each encoded once (frames,
through the feature cache). Targets say which is which (`role`), name them (`id`), and give each query the
positions, among the split's documents in order, of the documents it occurs in (`hits`). A query's prediction is
its detection score for every document of the split, in that order; a document's is empty
(downstreams.qbe_metrics reads them). Predicting reads a split's roles from its targets (which examples are
queries and which are documents is the split's structure, not a label); the occurrences are read only by the
metrics.

Raw labels of a file layout (benchmark.tasks.quesst_layout) are text: "document ID" or "query ID [POS ...]".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from benchmark.errors import BenchError
from benchmark.heads.protocol import BaseHead, HeadJob, HeadRun
from benchmark.hookspecs import hookimpl
from downstreams.qbe_metrics import METRICS

if TYPE_CHECKING:
    from benchmark.tasks.schema import TaskSpec

ROLES = ("document", "query")


def parse_target(task_name: str, value: Any, where: str) -> dict[str, Any]:
    """A QbE target (see the module docstring) from a raw label (text) or a recipe's dict; BenchError if bad."""
    if isinstance(value, dict):
        words = [str(value.get("role", "")), str(value.get("id", "")),
                 *(str(h) for h in (value.get("hits", ()) if value.get("role") == "query" else ()))]
    else:
        words = str(value).split()
    if len(words) < 2 or words[0] not in ROLES or (words[0] == "document" and len(words) != 2) or not all(
            w.isdigit() for w in words[2:]):
        raise BenchError(f"task '{task_name}': QbE target {str(value)!r} at {where} is neither 'document ID' nor "
                         "'query ID [DOCUMENT_POSITION ...]'")
    if words[0] == "document":
        return {"role": "document", "id": words[1]}
    return {"role": "query", "id": words[1], "hits": sorted({int(w) for w in words[2:]})}


class QbEKind(BaseHead):
    """Query by example: subsequence DTW of query frames in document frames per layer, no trained head."""

    description = ("query by example: subsequence DTW (cosine) of each spoken query in each document, per layer; "
                   "the layer with the best model-selection score is kept; nothing is trained")
    consumes: ClassVar[str] = "frames"
    target: ClassVar[str] = "detections"
    finetunes: ClassVar[bool] = False
    metric_kinds: ClassVar[tuple[str, ...]] = ("qbe",)

    def validate(self, task: TaskSpec) -> list[str]:
        if task.labels is not None or task.vocabulary is not None:
            return [f"task '{task.name}': head '{task.head}' scores queries against documents; drop labels and "
                    "vocabulary"]
        return []

    def check_mode(self, task: TaskSpec, mode: str) -> str | None:
        if mode == "finetune":
            return (f"task '{task.name}' uses head '{task.head}', which trains nothing (DTW on frozen features): "
                    "it has nothing to fine-tune; run it with --mode frozen")
        return None

    def convert_target(self, task: TaskSpec, value: Any, where: str) -> Any:
        return parse_target(task.name, value, where)

    def selection_rule(self, task: TaskSpec, hp: dict[str, Any], grid: bool) -> str:
        if hp.get("layer") is not None:
            return f"none: layer {hp['layer']} as --layer gives it; nothing is trained"
        others = [m for m in task.metrics if m not in task.score]
        tie = f"the better {'+'.join(others)}, then " if others else ""
        return (f"the layer with the best '{'+'.join(task.score)}' on the model-selection split (ties: {tie}the "
                "lower layer); nothing is trained")

    def start(self, job: HeadJob) -> HeadRun:
        from downstreams.qbe_run import QbERun

        return QbERun(job)


@hookimpl
def register_downstreams(register: Any) -> None:
    register("query-by-example", QbEKind())


@hookimpl
def register_metrics(register: Any) -> None:
    for name, fn in METRICS.items():
        register(name, fn, higher_is_better=True, kind="qbe")
