"""The bad-input battery of the NMSQA layout (task `nmsqa`): each case runs the real `bench run` on a miniature
copy (tests/test_nmsqa.py's) with one thing wrong, and must end with one clear line on stderr, exit code 2, no
traceback and no result written."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from reliability_workspace import overwrite, remove
from test_nmsqa import SPAN_HEADER, write_nmsqa


@dataclass(frozen=True)
class Case:
    id: str
    damage: Callable[[Path], None]
    message: str
    """The whole stderr line; {data} is the data directory. A message without 'error: ' is a part of it."""


def _span_row(row: str) -> Callable[[Path], None]:
    def damage(base: Path) -> None:
        path = base / "train" / "train-answer-span.csv"
        lines = path.read_text(encoding="utf-8").splitlines()
        path.write_text("\n".join([SPAN_HEADER, row, *lines[2:]]) + "\n", encoding="utf-8")

    return damage


def _rmtree(rel: str) -> Callable[[Path], None]:
    def damage(base: Path) -> None:
        for p in sorted((base / rel).rglob("*"), reverse=True):
            p.rmdir() if p.is_dir() else p.unlink()
        (base / rel).rmdir()

    return damage


SPANS = "{data}/NMSQA/train/train-answer-span.csv"
CASES = [
    Case("split-missing", _rmtree("dev"), "error: cannot start: missing data for 'nmsqa' (expected "
         "NMSQA/dev/dev-answer-span.csv under {data} in NMSQA's released layout (docs/spoken-qa.md))"),
    Case("question-audio-missing", remove("train/train_audios/question-0_0_0.mp3"),
         f"error: {SPANS}:2: audio file {{data}}/NMSQA/train/train_audios/question-0_0_0.mp3 not found (is the "
         "download complete?)"),
    Case("span-malformed", _span_row("q-a,ans,u,0,0,0,0_0,1.5,1.1,u"),
         f"error: {SPANS}:2: answer span 1.5..1.1 ends before it starts"),
    Case("span-not-a-number", _span_row("q-a,ans,u,0,0,0,0_0,one,1.1,u"),
         f"error: {SPANS}:2: new_start 'one' is not a number of seconds"),
    Case("audio-unreadable", overwrite("train/train_audios/context-0_0_1.wav", b"RIFF\x00\x00\x00\x00WAVEjunkjunk"),
         "{data}/NMSQA/train/train_audios/context-0_0_1.wav: not a readable audio file"),
]


SLOW = {"audio-unreadable"}
"""Found when a job decodes the audio (the others are found before any job starts): slow on a loaded machine."""


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=[pytest.mark.slow] if c.id in SLOW else [])
                                  for c in CASES])
def test_bad_nmsqa_input_is_one_line_and_exit_2(case: Case, tmp_path: Path) -> None:
    data, out = tmp_path / "data", tmp_path / "out"
    case.damage(write_nmsqa(data))
    env = {**os.environ, "BENCH_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}
    env.pop("BENCH_DATA_DIR", None)
    run = subprocess.run([sys.executable, "-m", "benchmark", "run", "--upstream", "minilm", "--tasks", "nmsqa",
                          "--data-dir", str(data), "-o", str(out), "--epochs", "1", "-q"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert "Traceback" not in run.stderr + run.stdout
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2, run.stderr
    assert len(lines) == 1, run.stderr
    expected = case.message.replace("{data}", str(data))
    if expected.startswith("error: "):
        assert lines[0] == expected
    else:  # a bad audio file: the line names the file and what is wrong with it
        assert expected in lines[0]
    assert not list(out.rglob("*.json"))  # no result, no failure record: the data is wrong, not the job
