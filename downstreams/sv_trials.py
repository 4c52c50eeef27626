"""What the speaker-verification head (downstreams/heads_sv.py) and its run (downstreams/heads_sv_run.py) share:
the loss's constants and the trial lists an evaluation utterance carries as its target. No torch here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmark.errors import BenchError

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


def all_pairs(speakers: Sequence[str]) -> tuple[Trials, ...]:
    """Every pair (i < j) of a split whose targets are speaker names, as trial lists opened by i: a model-selection
    split held out of the training data is scored this way."""
    return tuple(tuple((j, int(speakers[i] == speakers[j])) for j in range(i + 1, len(speakers)))
                 for i in range(len(speakers)))
