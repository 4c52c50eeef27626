"""Textless spoken QA (DUAL, Lin et al. 2022): the `unit-span-qa` head kind and the FF1 / AOS metrics.

The head is the extractive `span-qa` head (BERT's start / end vectors, windows over a long context:
downstreams.heads_tokens.SpanRun) over a passage of discrete speech units that a text upstream reads through the
task's symbol mapping (one word per unit, benchmark.tasks.symbols); what it adds is the answer: the best span's
first and last unit, looked up in the passage's unit runs (an input is (question units, passage units, each
passage unit's [start, end] seconds), downstreams/recipes/spoken_qa.py), give the predicted *time* span that the
metrics compare with the gold one (downstreams.spoken_qa_metrics: DUAL's frame-level F1 and AOS).

Registered by this module's hooks (benchmark.plugin.manager.DEFAULT_PLUGINS); listing heads imports no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from benchmark.hookspecs import hookimpl
from downstreams.heads import SpanHead
from downstreams.heads_kinds import SpanKind
from downstreams.spoken_qa_metrics import aos, ff1

if TYPE_CHECKING:
    from benchmark.heads.protocol import HeadJob, HeadRun
    from benchmark.tasks.schema import TaskSpec

UNIT_SPAN = SpanHead("spoken QA over discrete units: BERT's start / end span head over the passage's units, "
                     "answered as the span's time (DUAL)", max_answer_tokens=250)
"""An answer of a few words is tens of units at 100 frames a second (an author's name: 20-60 after merging runs)."""


@dataclass(frozen=True)
class UnitSpanKind(SpanKind):
    """A span of passage units per (question units, passage units, unit times) input, answered as a time span."""

    metric_kinds: ClassVar[tuple[str, ...]] = ("spoken-span",)

    def adopts(self, head: Any) -> bool:
        return False  # old-style span heads are the plain `span-qa` kind's

    def with_head(self, head: Any) -> UnitSpanKind:
        return UnitSpanKind(head)

    def validate(self, task: TaskSpec) -> list[str]:
        problems = super().validate(task)
        sm = task.symbol_map
        if not problems and (sm is None or sm.unit != "whitespace" or sm.k != 1):
            problems.append(f"task '{task.name}': head '{task.head}' reads units as words: set symbol_map: "
                            "{unit: whitespace} (k: 1)")
        return problems

    def start(self, job: HeadJob) -> HeadRun:
        from downstreams.spoken_qa_run import UnitSpanRun  # torch: imported when a job runs, not when listing

        return UnitSpanRun(self, job)


@hookimpl
def register_downstreams(register: Any) -> None:
    register("unit-span-qa", UnitSpanKind(UNIT_SPAN))


@hookimpl
def register_metrics(register: Any) -> None:
    register("ff1", ff1, higher_is_better=True, kind="spoken-span")
    register("aos", aos, higher_is_better=True, kind="spoken-span")
