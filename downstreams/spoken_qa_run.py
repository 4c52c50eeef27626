"""The run of the `unit-span-qa` head kind (downstreams.heads_spoken_qa): the span-qa run, answering with time."""

from __future__ import annotations

from typing import Any

from downstreams.heads_tokens import SpanRun


def unit_index(context: str, char: int) -> int:
    """Which unit of a mapped context (one word per unit, single spaces) character `char` falls in."""
    return context.count(" ", 0, max(0, char))


def time_span(example: Any, start: int, end: int) -> list[float]:
    """[start, end] seconds of the units that characters [start, end) of the example's context cover."""
    context, bounds = example[1], example[2]
    if not bounds:
        return [0.0, 0.0]
    first = min(unit_index(context, start), len(bounds) - 1)
    last = min(max(first, unit_index(context, end - 1)), len(bounds) - 1)
    return [float(bounds[first][0]), float(bounds[last][1])]


class UnitSpanRun(SpanRun):
    """SpanRun whose predictions are the span's [start, end] seconds instead of its text (an example with no
    window, which a passage of units always has, would answer the empty span)."""

    empty: Any = [0.0, 0.0]

    def answer(self, example: Any, start: int, end: int) -> Any:
        return time_span(example, start, end)
