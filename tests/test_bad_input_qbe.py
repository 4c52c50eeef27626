"""The bad-input battery for the QUESST 2014 layout (superb-qbe), as tests/test_bad_input.py runs its cases: the
real `bench run` in a fresh workspace (tests/reliability_workspace.py) holding a miniature download
(tests/quesst_mini.py) with one thing broken; one clear line on stderr, exit code 2, no traceback, nothing that
was there changed and no result written. `{ws}` in a message is the workspace path, `{db}` the download's."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import quesst_mini
from reliability_workspace import Workspace, edit, empty_wav, make_workspace, overwrite, remove

DB = "data/quesst14Database"


@dataclass(frozen=True)
class Case:
    id: str
    message: str
    setup: Callable[[Path], None]
    """Breaks the miniature download (its folder is the argument)."""


LST = "scoring/language_key_utterances.lst"
GT = "scoring/groundtruth_quesst14_dev"
CASES = [
    Case("document-missing", "error: {db}/scoring/language_key_utterances.lst:3: audio file "
         "{db}/Audio/quesst14_00003.wav not found (is the download complete?)", remove("Audio/quesst14_00003.wav")),
    Case("query-missing", "error: {db}/scoring/language_key_dev.lst:2: audio file "
         "{db}/dev_queries/quesst14_dev_0002.wav not found (is the download complete?)",
         remove("dev_queries/quesst14_dev_0002.wav")),
    Case("wav-unreadable", "not a readable audio file", overwrite("Audio/quesst14_00002.wav", b"RIFF\x00\x00\x00\x00WAVEjunk")),
    Case("wav-empty", "the audio is empty", empty_wav("dev_queries/quesst14_dev_0001.wav")),
    Case("list-line-bad", "error: {db}/scoring/language_key_utterances.lst:2: expected '<audio path> <language>', "
         "got 'quesst14Database/Audio/quesst14_00002.wav nnenglish extra'",
         edit(LST, "quesst14_00002.wav nnenglish", "quesst14_00002.wav nnenglish extra")),
    Case("list-missing", "error: cannot start: missing files in {ws}/data for superb-qbe (expected "
         "quesst14Database/scoring/language_key_dev.lst in the official quesst14 layout (docs/superb.md), or leave "
         "those tasks out of --tasks)", remove("scoring/language_key_dev.lst")),
    Case("rttm-line-bad", "error: {db}/scoring/groundtruth_quesst14_dev/quesst14_dev.rttm:1: expected 'LEXEME "
         "<document> <channel> <begin> <duration> <query> ...', got 'LEXEME quesst14_00001 1'",
         lambda db: (db / GT / "quesst14_dev.rttm").write_text("LEXEME quesst14_00001 1\n", encoding="utf-8")),
    Case("ecf-not-xml", "error: {db}/scoring/groundtruth_quesst14_dev/quesst14.ecf.xml: not well-formed XML",
         overwrite(f"{GT}/quesst14.ecf.xml", b"<ecf><excerpt audio_filename='x'></ecf>")),
    Case("tlist-missing", "error: {db}/scoring/groundtruth_quesst14_dev: expected one *.tlist.xml file of the QUESST "
         "2014 ground truth, found 0", remove(f"{GT}/quesst14_dev.tlist.xml")),
]


def _fill(text: str, ws: Workspace) -> str:
    return text.replace("{db}", str(ws.root / DB)).replace("{ws}", str(ws.root))


REQUIRED = {"document-missing", "wav-unreadable", "wav-empty", "list-line-bad"}
"""The cases of every default run (each is a `bench` process, seconds apiece); the others are marked slow."""


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=() if c.id in REQUIRED else pytest.mark.slow)
                                  for c in CASES])
def test_bad_quesst_input(case: Case, tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    quesst_mini.build(ws.data)
    case.setup(ws.root / DB)
    before = ws.snapshot()
    r = ws.bench("run", "--upstream", "fbank", "--tasks", "superb-qbe", "--data-dir", str(ws.data), "--output",
                 str(ws.out))
    assert "Traceback" not in r.stderr + r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert _fill(case.message, ws) in lines[0], r.stderr
    assert r.returncode == 2
    after = ws.snapshot()
    assert not sorted(k for k in before if before[k] != after.get(k)), "a failed command changed files"
    new = sorted(k for k in after.keys() - before.keys() if not k.startswith(("cache/", "out/.locks/")))
    assert not new, f"a failed command wrote {new}"
