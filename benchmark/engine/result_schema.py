"""The one schema a result file must pass before any report trusts it, and the checksum of its body.

Result files are data anyone can edit, copy or forge; `bench report` and `bench run` read them back. A file that
fails this schema is skipped with one warning (never an internal error), and a result whose stored checksum no
longer matches its body is flagged as edited in every report.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError, field_validator

SCHEMA_VERSION = 1
CHECKSUM_FIELD = "checksum"

# A score is a finite number: strict, so "95.8" (a string) or true are refused, and NaN/inf never reach a mean.
Score = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class ResultFile(BaseModel):
    """What every reader relies on; other keys are kept as they are (older and newer results add fields)."""

    model_config = ConfigDict(extra="allow")

    job_id: StrictStr = ""
    upstream: StrictStr
    task: StrictStr
    suite: list[StrictStr] = []
    seed: StrictInt
    mode: StrictStr = "frozen"
    scores: dict[StrictStr, Score]
    main_score: Score
    relative_to_human: Score | None = None
    hyperparameters: dict[str, Any] = {}
    upstream_info: dict[str, Any] = {}
    selection: dict[str, Any] = {}
    layer_weights: list[Score] | None = None
    environment: dict[str, Any] = {}
    transfer: dict[str, dict[str, Any]] = {}
    inputs: dict[str, Any] = {}
    finished_at: StrictStr | None = None
    schema_: StrictInt = Field(default=1, alias="schema")
    checksum: StrictStr | None = None

    @field_validator("schema_")
    @classmethod
    def _known(cls, v: int) -> int:
        if v > SCHEMA_VERSION:
            raise ValueError(f"result schema {v} is newer than this bench reads ({SCHEMA_VERSION}): upgrade bench")
        return v


def problem(data: Any) -> str | None:
    """Why `data` is not a result file bench can trust, in one line; None when it passes the schema."""
    if not isinstance(data, dict):
        return f"not a bench result file (a JSON {type(data).__name__}, not an object)"
    try:
        ResultFile.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "file"
        more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
        return f"{where}: {first['msg']}{more}"
    except RecursionError:
        return "nested too deeply"
    return None


def checksum(data: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of the result without its checksum field."""
    body = {k: v for k, v in data.items() if k != CHECKSUM_FIELD}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def integrity(data: dict[str, Any]) -> str:
    """'verified' (checksum matches), 'edited' (it does not) or 'unverified' (written before checksums)."""
    stored = data.get(CHECKSUM_FIELD)
    if stored is None:
        return "unverified"
    try:
        return "verified" if stored == checksum(data) else "edited"
    except (ValueError, TypeError, RecursionError):
        return "edited"




def printable(text: object) -> str:
    """`text` with control and format characters shown escaped (\\x1b, \\u202e): names read from files reach a
    terminal, and an escape sequence in one must print as text, never act on the terminal."""
    out = []
    for ch in str(text):
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)
