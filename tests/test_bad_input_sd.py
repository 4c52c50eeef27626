"""Bad input of the LibriMix diarization layout (superb-sd), through the real `bench run`: a missing audio file, an
unreadable or empty wav, a malformed list line. Each is one line on stderr naming the file (and line), exit code 2,
no traceback, and nothing written but cache housekeeping (as tests/test_bad_input.py's battery)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from reliability_workspace import Workspace, empty_wav, make_workspace, overwrite
from test_sd import librimix

DATA = "data/LibriMix/data"


@dataclass(frozen=True)
class Case:
    id: str
    damage: Callable[[Path], None]
    """Applied to the workspace's data directory after the miniature LibriMix copy is built."""
    message: str
    """The whole stderr; `{ws}` is the workspace."""


CASES = [
    Case("missing-wav", lambda d: (d / "LibriMix/data/wav/test-mix1.wav").unlink(),
         "error: {ws}/" + DATA + "/test/wav.scp:1: audio file {ws}/" + DATA + "/wav/test-mix1.wav not found (is the "
         "download complete?)"),
    Case("unreadable-wav", overwrite("LibriMix/data/wav/test-mix0.wav", b"RIFF\x00\x00\x00\x00WAVEjunkjunk"),
         "error: {ws}/" + DATA + "/wav/test-mix0.wav: not a readable audio file (Error opening "
         "'{ws}/" + DATA + "/wav/test-mix0.wav': Error in WAV file. No 'data' chunk marker.)"),
    Case("empty-wav", empty_wav("LibriMix/data/wav/test-mix0.wav"),
         "error: {ws}/" + DATA + "/wav/test-mix0.wav: the audio is empty"),
    Case("bad-wav-scp-line", overwrite("LibriMix/data/test/wav.scp", "test-mix0 wav/test-mix0.wav\ntest-mix1\n"),
         "error: {ws}/" + DATA + "/test/wav.scp:2: expected '<recording> <wav path>', got 'test-mix1'"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_librimix_input(case: Case, tmp_path: Path) -> None:
    ws: Workspace = make_workspace(tmp_path)
    librimix(ws.data)
    case.damage(ws.data)
    before = ws.snapshot()
    r = ws.bench("run", "--upstream", "fbank", "--tasks", "superb-sd", "--data-dir", str(ws.data), "--output",
                 str(ws.out), "--epochs", "1", "-q")
    assert "Traceback" not in r.stderr + r.stdout
    assert r.stderr.strip() == case.message.replace("{ws}", str(ws.root)), r.stderr
    assert r.returncode == 2
    after = ws.snapshot()
    assert not [k for k in before if before[k] != after.get(k)], "a failed command changed files"
    assert not [k for k in after.keys() - before.keys() if not k.startswith(("cache/", "out/.locks/"))]
