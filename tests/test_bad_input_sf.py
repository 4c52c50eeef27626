"""The bad-input battery for the Audio SNIPS layout (superb-sf): each case runs the real `bench run` on a miniature
download (tests/test_sf.py's) with one thing wrong, and must end with one clear line on stderr, exit code 2, no
traceback and no result written."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from reliability_workspace import overwrite, remove
from test_sf import write_snips


@dataclass(frozen=True)
class Case:
    id: str
    damage: Callable[[Path], None]
    message: str
    """The whole stderr line; {data} is the data directory."""


def _empty_wav(base: Path) -> None:
    sf.write(base / "train" / "Ivy-snips-train-0.wav", np.zeros(0, np.float32), 16_000, subtype="FLOAT")


def _rmtree(rel: str) -> Callable[[Path], None]:
    def damage(base: Path) -> None:
        for p in sorted((base / rel).iterdir()):
            p.unlink()
        (base / rel).rmdir()

    return damage


def _line(text: str) -> Callable[[Path], None]:
    def damage(base: Path) -> None:
        path = base / "all.iob.snips.txt"
        lines = path.read_text(encoding="utf-8").splitlines()
        path.write_text("\n".join([lines[0], text, *lines[2:]]) + "\n", encoding="utf-8")

    return damage


WAV = "{data}/SNIPS/train/Ivy-snips-train-0.wav"
CASES = [
    Case("transcripts-missing", remove("all.iob.snips.txt"), "error: cannot start: missing files in {data} for "
         "superb-sf (expected SNIPS/all.iob.snips.txt in the official audio-snips layout (docs/superb.md), or leave "
         "those tasks out of --tasks)"),
    Case("split-folder-missing", _rmtree("test"), "error: cannot start: missing files in {data} for superb-sf "
         "(expected SNIPS/test/ in the official audio-snips layout (docs/superb.md), or leave those tasks out of "
         "--tasks)"),
    Case("wav-unreadable", overwrite("train/Ivy-snips-train-0.wav", b"RIFF\x00\x00\x00\x00WAVEjunkjunk"),
         "not a readable audio file"),
    Case("wav-empty", _empty_wav, "the audio is empty"),
    Case("list-line-bad", _line("Salli-snips-train-1 BOS PLAY IT EOS\tO O PlayMusic"),
         "error: {data}/SNIPS/all.iob.snips.txt:2: expected '<id> BOS WORDS EOS<TAB>O TAGS <intent>' with one tag "
         "per word, got 'Salli-snips-train-1 BOS PLAY IT EOS\\tO O PlayMusic'"),
    Case("slot-not-listed", _line("Salli-snips-train-1 BOS PLAY IT EOS\tO O alarm PlayMusic"),
         "error: {data}/SNIPS/all.iob.snips.txt:2: slot type 'alarm' is not in slots.txt"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_snips_input_is_one_line_and_exit_2(case: Case, tmp_path: Path) -> None:
    data, out = tmp_path / "data", tmp_path / "out"
    base = write_snips(data)
    case.damage(base)
    env = {**os.environ, "BENCH_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}
    env.pop("BENCH_DATA_DIR", None)
    run = subprocess.run([sys.executable, "-m", "benchmark", "run", "--upstream", "fbank", "--tasks", "superb-sf",
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
        assert WAV.replace("{data}", str(data)) in lines[0] and expected in lines[0]
    assert not list(out.rglob("*.json"))  # no result, no failure record: the data is wrong, not the job
