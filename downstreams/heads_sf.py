"""Slot filling as CTC (SUPERB SF, after s3prl's "character-slot" recipe): the head transcribes an utterance's
characters with its slots marked inline by tag tokens, "WAKE ME UP AT B-time SEVEN AM E-time", each tag one
output symbol. Training and decoding are the `ctc` head's (downstreams.heads_ctc: CTC loss, greedy best path);
the task's `tokenize: characters+tags` keeps the tags whole. What this kind adds: it checks that a task's tags are
paired slot markers, and it scores with the slot metrics (downstreams.sf_metrics: slot_type_f1, slot_value_cer).

Registered by this module's hooks (benchmark.plugin.manager.DEFAULT_PLUGINS); listing heads imports no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from benchmark.hookspecs import hookimpl
from downstreams.heads import CTCHead
from downstreams.heads_kinds import CTCKind
from downstreams.sf_metrics import slot_type_f1, slot_value_cer

if TYPE_CHECKING:
    from benchmark.tasks.schema import TaskSpec

SLOT_CTC = CTCHead("slot filling: CTC over characters and slot tags (B-<slot> ... E-<slot>), greedy decoding; "
                   "SUPERB SF")


def slot_tags(vocabulary: list[str]) -> list[str]:
    """The vocabulary's tags (its entries of several characters)."""
    return [v for v in vocabulary if len(v) > 1]


@dataclass(frozen=True)
class SlotCTCKind(CTCKind):
    """CTC over characters and slot tags; predictions are transcripts with the slots marked inline."""

    metric_kinds: ClassVar[tuple[str, ...]] = ("sequence", "slots")

    def adopts(self, head: Any) -> bool:
        return False  # old-style sequence heads are the plain `ctc` kind's

    def with_head(self, head: Any) -> SlotCTCKind:
        return SlotCTCKind(head)

    def validate(self, task: TaskSpec) -> list[str]:
        problems = super().validate(task)
        if problems or task.vocabulary is None:
            return problems
        where = f"task '{task.name}': head '{task.head}'"
        if task.tokenize != "characters+tags":
            return [f"{where} reads slot tags as symbols: set tokenize: characters+tags"]
        tags = slot_tags(task.vocabulary)
        if not tags:
            return [f"{where} needs slot tags in the vocabulary (B-<slot> and E-<slot>, e.g. B-time, E-time)"]
        bad = [t for t in tags if t[:2] not in ("B-", "E-") or len(t) < 3]
        if bad:
            return [f"{where}: vocabulary entry {bad[0]!r} is neither a character nor a slot tag (B-<slot> / E-<slot>)"]
        begins, ends = {t[2:] for t in tags if t[0] == "B"}, {t[2:] for t in tags if t[0] == "E"}
        unpaired = sorted(begins ^ ends)
        if unpaired:
            return [f"{where}: slot '{unpaired[0]}' needs both B-{unpaired[0]} and E-{unpaired[0]} in the vocabulary"]
        return []


@hookimpl
def register_downstreams(register: Any) -> None:
    register("slot-ctc", SlotCTCKind(SLOT_CTC))


@hookimpl
def register_metrics(register: Any) -> None:
    register("slot_type_f1", slot_type_f1, higher_is_better=True, kind="slots")
    register("slot_value_cer", slot_value_cer, higher_is_better=False, kind="slots")
