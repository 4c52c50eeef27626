"""Bad input around fine-tuning options, through the real `bench run` (as tests/test_bad_input.py): one clear line
on stderr, exit code 2, no traceback, nothing written or changed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from reliability_workspace import make_workspace


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    message: str


_GROUPED_FROZEN = ("error: --group-by-length applies to --mode finetune (it orders the fine-tuning batches; frozen "
                   "mode trains on cached features in chunk order): drop it or add --mode finetune")

CASES = [
    Case("group-by-length-frozen-default", ("--group-by-length",), _GROUPED_FROZEN),
    Case("group-by-length-frozen-explicit", ("--mode", "frozen", "--group-by-length"), _GROUPED_FROZEN),
    Case("fused-optimizer-frozen", ("--fused-optimizer",),
         "error: --fused-optimizer applies to --mode finetune (it is the fine-tuning optimizer's implementation): "
         "drop it or add --mode finetune"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_finetune_input(case: Case, tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    before = ws.snapshot()
    # (a loaded machine must not turn the test plugin's import into a warning line of its own)
    r = ws.bench(*ws.run_args(*case.args), env={"BENCH_PLUGIN_IMPORT_TIMEOUT": "600"})
    assert "Traceback" not in r.stderr + r.stdout
    assert r.stderr.strip() == case.message, r.stderr
    assert r.returncode == 2
    after = ws.snapshot()
    assert {k: v for k, v in after.items() if not k.startswith("cache/")} == \
        {k: v for k, v in before.items() if not k.startswith("cache/")}
    assert all(after.get(k) == v for k, v in before.items())
