"""Bad input of the VoxCeleb1 verification layout (superb-sv), through the real `bench run`: one clear line on
stderr, exit code 2, no traceback, nothing changed (tests/test_bad_input.py's battery, on a miniature copy of the
layout, tests/voxceleb1_copy.py). A trial of a file with itself, an empty list and the other list errors are
checked on the reader alone in tests/test_sv.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from reliability_workspace import empty_wav, make_workspace, overwrite, remove
from voxceleb1_copy import VERI_TEST2, make_voxceleb1

BASE = "data/VoxCeleb1"
FIRST_DEV_WAV = f"{BASE}/wav/id10001/5r0dWxy17C8/00001.wav"  # read first: the training split's first utterance


@dataclass(frozen=True)
class Case:
    id: str
    message: str
    setup: Callable[[Path], None]
    """Breaks the copy (the workspace's root is the argument)."""


LINE = "'<0|1> <speaker>/<video>/<file>.wav <speaker>/<video>/<file>.wav'"
CASES = [
    Case("sv-trial-list-missing", "error: cannot start: missing files in {ws}/data for superb-sv (expected "
         "VoxCeleb1/veri_test2.txt in the official voxceleb1-verification layout (docs/superb.md), or leave those "
         "tasks out of --tasks)", remove(f"{BASE}/veri_test2.txt")),
    Case("sv-audio-missing", "error: {ws}/data/VoxCeleb1/veri_test2.txt:3: audio file id10271/x6uYqmx31kE/00009.wav "
         "not found under {ws}/data/VoxCeleb1/wav",
         overwrite(f"{BASE}/veri_test2.txt", VERI_TEST2.replace("00002.wav", "00009.wav", 1))),
    Case("sv-bad-trial-line", "error: {ws}/data/VoxCeleb1/veri_test2.txt:3: expected " + LINE + ", got "
         "'target id10271/5r0dWxy17C8/00001.wav id10271/x6uYqmx31kE/00002.wav'",
         overwrite(f"{BASE}/veri_test2.txt", VERI_TEST2.replace("1 id10271", "target id10271", 1))),
    Case("sv-wav-unreadable", "error: {ws}/" + FIRST_DEV_WAV + ": not a readable audio file (Error opening "
         "'{ws}/" + FIRST_DEV_WAV + "': Format not recognised.)", overwrite(FIRST_DEV_WAV, "not a wav file\n")),
    Case("sv-wav-empty", "error: {ws}/" + FIRST_DEV_WAV + ": the audio is empty", empty_wav(FIRST_DEV_WAV)),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_voxceleb1_verification_input(case: Case, tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    make_voxceleb1(ws.data)
    case.setup(ws.root)
    before = ws.snapshot()
    r = ws.bench("run", "--upstream", "fbank", "--tasks", "superb-sv", "--data-dir", str(ws.data), "--output",
                 str(ws.out), "--epochs", "1", "--hidden", "8")
    assert "Traceback" not in r.stderr + r.stdout
    assert r.stderr.strip() == case.message.replace("{ws}", str(ws.root)), r.stderr
    assert r.returncode == 2
    after = ws.snapshot()
    assert sorted(k for k in before if before[k] != after.get(k)) == []
    assert sorted(k for k in after.keys() - before.keys() if not k.startswith(("cache/", "out/.locks/"))) == []
