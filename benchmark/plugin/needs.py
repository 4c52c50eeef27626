"""What a job reads and may lack: `Need` (an input: is it here, which network fetches it, how) and `Missing` (what a
job lacks and how to supply it). Upstream factories and dataset loaders return them (`needs()`); the planner,
`bench prefetch` and `bench run --offline` read them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Missing:
    """What a job lacks (`what`) and how to supply it (`how`).

    Problems with the same `what` and `how` are reported together, listing their `task`s and `files`.
    """

    what: str
    how: str
    task: str | None = None
    files: str | None = None


@dataclass(frozen=True)
class Need:
    """One input a job reads.

    kind: "model", "dataset" or "data" (a recipe's own files). name: what it is, as shown to the user (unique
    per kind). present: it is on this machine now. network: where fetching it goes (HUB, "PyPI"), None when it
    is built here from installed files. fetch: puts it into the cache (None: bench cannot).
    how: another way to supply it when it is absent, for the offline message; "{files}" in it is replaced by the
    `files` of every need with the same `how` (so GLUE's nine tasks make one hint). label: how the offline
    message names it (needs with one label are listed once, with their tasks).
    """

    kind: str
    name: str
    present: bool
    network: str | None = None
    fetch: Callable[[], Any] | None = field(default=None, compare=False, repr=False)
    how: str = ""
    files: str = ""
    label: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return self.kind, self.name

    @property
    def shown(self) -> str:
        return self.label or f"{self.kind} {self.name}"

    @property
    def hint(self) -> str:
        """`how` with this need's own files filled in ('' when there is no other way)."""
        return self.how.replace("{files}", self.files)
