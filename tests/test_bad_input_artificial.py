"""Bad `--data artificial:...` options of `bench pretrain mlm`, through the real command (as tests/test_bad_input.py's
battery): one line on stderr naming what is wrong and how to fix it, exit code 2, no traceback, nothing written,
and an earlier run that --overwrite would replace still whole when the spec turns out wrong."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from reliability_workspace import Workspace, make_workspace

KINDS = "uniform, zipf, paired, consecutive"


@dataclass(frozen=True)
class Case:
    id: str
    data: str
    message: str
    """The whole stderr."""
    setup: Callable[[Workspace], None] | None = None
    extra: tuple[str, ...] = ()


def _earlier_run(ws: Workspace) -> None:
    """A finished `bench pretrain mlm` folder: --overwrite may replace it, but only once the new run can start."""
    (ws.root / "mlm").mkdir()
    (ws.root / "mlm" / "bench_pretraining.json").write_text('{"method": "mlm"}\n', encoding="utf-8")
    (ws.root / "mlm" / "model.safetensors").write_bytes(b"weights")


CASES = [
    Case("unknown-kind", "artificial:bracket",
         f"error: --data 'artificial:bracket': unknown kind 'bracket'; kinds: {KINDS}"),
    Case("not-a-source", "wiki",
         f"error: --data 'wiki': expected 'text' or artificial:KIND[?tokens=N&...] with KIND one of {KINDS}"),
    Case("tokens-not-a-number", "artificial:zipf?tokens=2M",
         "error: --data 'artificial:zipf?tokens=2M': tokens=2M is not a whole number"),
    Case("length-too-long", "artificial:uniform?length=600",
         "error: --data 'artificial:uniform?length=600': length=600 must be between 2 and 510"),
    Case("exponent-negative", "artificial:zipf?exponent=-1",
         "error: --data 'artificial:zipf?exponent=-1': exponent=-1 must be a number > 0"),
    Case("option-of-another-kind", "artificial:paired?run=3",
         "error: --data 'artificial:paired?run=3': unknown option 'run' for paired (options: tokens, vocab, length, "
         "seed)"),
    Case("paired-odd-length", "artificial:paired?length=61",
         "error: --data 'artificial:paired?length=61': paired needs an even length (a pair is two tokens, two "
         "types): length=61"),
    Case("run-longer-than-length", "artificial:consecutive?length=10&run=12",
         "error: --data 'artificial:consecutive?length=10&run=12': run=12 is longer than length=10"),
    Case("consecutive-vocab-too-small", "artificial:consecutive?vocab=20",
         "error: --data 'artificial:consecutive?vocab=20': consecutive needs vocab >= length (20 < 62): a sequence "
         "is one run of consecutive ids"),
    # Known only once the tokenizer is learned: still before --overwrite deletes the earlier run.
    Case("vocab-beyond-tokenizer", "artificial:uniform?vocab=5000",
         "error: --data 'artificial:uniform?tokens=2000000&vocab=5000&length=62': vocab=5000 exceeds the "
         "295 non-special ids of the tokenizer; lower vocab= or raise --vocab", _earlier_run, ("--overwrite",)),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_artificial_data(case: Case, tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    if case.setup:
        case.setup(ws)
    before = ws.snapshot()
    r = ws.bench("pretrain", "mlm", "--out", str(ws.root / "mlm"), "--languages", "en", "--sentences", "200",
                 "--vocab", "300", "--data", case.data, *case.extra)
    assert "Traceback" not in r.stderr + r.stdout
    assert r.stderr.strip() == case.message, r.stderr
    assert r.returncode == 2
    after = ws.snapshot()
    assert not [k for k in before if before[k] != after.get(k)], "a failed command changed files"
    assert not [k for k in after.keys() - before.keys() if not k.startswith("cache/")], "a failed command wrote"
