"""Result files are verified when read (issue 22 items 4 and 7): `bench report` runs on a copy of committed
leaderboard results with forged files beside them; a bad file is skipped with one warning line, an edited or
doctored copy is flagged, and names from files never act on the terminal."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from benchmark.engine import result_schema, results

ROOT = Path(__file__).resolve().parents[1]
GOOD = sorted((ROOT / "leaderboard" / "results").glob("digits-10shot__byol_byol-digits.pt__seed*.json"))


def bench_report(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "400", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "benchmark", "report", "--output", str(out), *extra],
                          capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)


@pytest.fixture
def board(tmp_path: Path) -> Path:
    out = tmp_path / "results"
    out.mkdir()
    for path in GOOD:
        shutil.copy(path, out / path.name)
    return out


def good() -> dict:
    return json.loads(GOOD[0].read_text(encoding="utf-8"))


def forged(**changes: object) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        data = good()
        data.update(changes, job_id="forged0000000000")
        path.write_text(json.dumps(data), encoding="utf-8")  # json.dumps writes NaN / Infinity as Python does
    return write


def deep(path: Path) -> None:
    path.write_text("[" * 200_000 + "]" * 200_000, encoding="utf-8")


def fifo(path: Path) -> None:
    os.mkfifo(path)


def dev_zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


def huge(path: Path) -> None:
    with open(path, "wb") as f:
        f.truncate(results.MAX_RESULT_BYTES + 1)  # sparse: no disk used


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[Path], None]
    reason: str


CASES = [
    Case("nan score", forged(main_score=float("nan")), "main_score: Input should be a finite number"),
    Case("infinite score", forged(scores={"accuracy": float("inf")}), "scores.accuracy: Input should be a finite"),
    Case("string score", forged(main_score="95.8"), "main_score: Input should be a valid number"),
    Case("scores as a list", forged(scores=[95.8]), "scores: Input should be a valid dictionary"),
    Case("string seed", forged(seed="0"), "seed: Input should be a valid integer"),
    Case("null hyperparameters", forged(hyperparameters=None), "hyperparameters: Input should be a valid dict"),
    Case("very deep JSON", deep, "nested too deeply"),
    Case("a FIFO", fifo, "not a regular file"),
    Case("a link to /dev/zero", dev_zero, "not a regular file"),
    Case("over the size cap", huge, "larger than 64 MB"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_bad_result_file_is_skipped_with_one_warning(board: Path, case: Case) -> None:
    bad = board / "digits-10shot__forged__seed0__forged0000000000.json"
    case.make(bad)
    proc = bench_report(board)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "skipping" in line]
    assert len(warnings) == 1, proc.stderr
    assert str(bad) in warnings[0] and case.reason in warnings[0], warnings[0]
    assert "byol:byol-digits.pt" in proc.stdout and "internal error" not in proc.stderr


def test_save_writes_a_checksum_of_the_body(tmp_path: Path) -> None:
    path = results.save(tmp_path, results.result_from_dict(good()))
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["checksum"] == result_schema.checksum(data)
    assert result_schema.integrity(data) == "verified"
    assert result_schema.integrity(good()) == "unverified"  # committed results predate checksums: not flagged
    data["main_score"] = 99.9
    assert result_schema.integrity(data) == "edited"


def test_an_edited_result_is_flagged_in_the_table_and_the_html(board: Path) -> None:
    for path in board.glob("*.json"):
        path.unlink()
        written = results.save(board, results.result_from_dict(json.loads(
            (ROOT / "leaderboard" / "results" / path.name).read_text(encoding="utf-8"))))
        assert written.name == path.name  # job ids and file names stay as they are
    doctored = board / GOOD[0].name
    data = json.loads(doctored.read_text(encoding="utf-8"))
    data["main_score"] = data["scores"]["accuracy"] = 99.9
    doctored.write_text(json.dumps(data), encoding="utf-8")
    html = board.parent / "board.html"
    proc = bench_report(board, "--html", str(html))
    assert proc.returncode == 0, proc.stderr
    assert " !" in proc.stdout
    assert (f"! not as bench wrote it: byol:byol-digits.pt [layer -1] / digits-10shot seed 0 ({data['job_id']}): edited: "
            "its checksum does not match its contents") in proc.stdout
    page = html.read_text(encoding="utf-8")
    assert 'class="flag"' in page and 'id="flagged"' in page


def test_a_copy_of_a_job_with_other_scores_is_flagged(board: Path) -> None:
    data = good()
    data["main_score"] = data["scores"]["accuracy"] = 99.9
    data["finished_at"] = "2099-01-01T00:00:00+00:00"  # would win as the latest
    (board / "copy.json").write_text(json.dumps(data), encoding="utf-8")
    proc = bench_report(board)
    assert proc.returncode == 0, proc.stderr
    assert f"conflicting copies: 2 results of job {data['job_id']} differ in scores" in proc.stdout
    assert proc.stdout.count("! not as bench wrote it") == 2


def test_unflagged_results_add_nothing_to_the_html(board: Path) -> None:
    html = board.parent / "board.html"
    assert bench_report(board, "--html", str(html)).returncode == 0
    page = html.read_text(encoding="utf-8")
    assert 'class="flag"' not in page and 'id="flagged"' not in page


@pytest.mark.parametrize("name", ["evil\x1b]0;owned\x07\x1b[2J", "\x1b]8;;http://x.invalid\x1b\\link\x1b]8;;\x1b\\",
                                  "[bold]loud[/bold]"])
def test_names_from_files_never_act_on_the_terminal(board: Path, name: str) -> None:
    data = good()
    data["upstream"] = data["upstream_info"]["name"] = name
    data["job_id"] = "evil000000000000"
    (board / "evil.json").write_text(json.dumps(data), encoding="utf-8")
    proc = bench_report(board)
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout + proc.stderr and "\x07" not in proc.stdout
    assert result_schema.printable(name) in proc.stdout  # shown, escaped: \x1b, and [bold] literally


def test_bench_run_skips_a_bad_result_with_one_warning_and_writes_checksummed_results(tmp_path: Path) -> None:
    from reliability_workspace import make_workspace

    ws = make_workspace(tmp_path / "ws")
    bad = ws.out / "mini-sent__forged__seed0__forged0000000000.json"
    forged(main_score=float("nan"))(bad)
    for attempt in ("first", "resume"):
        proc = ws.bench(*ws.run_args("--seeds", "1"))
        assert proc.returncode == 0, (attempt, proc.stderr)
        warnings = [line for line in proc.stderr.splitlines() if "skipping" in line]
        assert len(warnings) == 1 and str(bad) in warnings[0] and "finite number" in warnings[0], proc.stderr
        assert "not as bench wrote it" not in proc.stdout and "internal error" not in proc.stderr
    written = [json.loads(p.read_text(encoding="utf-8")) for p in ws.out.glob("mini-*__char__*.json")]
    assert written and all(result_schema.integrity(r) == "verified" for r in written)


def test_markdown_marks_flagged_cells_and_escapes_control_characters(board: Path) -> None:
    data = good()
    data["main_score"] = data["scores"]["accuracy"] = 99.9
    assert data["job_id"] == "0d11b034e2aa2e0b"  # a doctored copy of a committed result, under another name
    (board / "copy.json").write_text(json.dumps(data), encoding="utf-8")
    evil = good() | {"upstream": "evil\x1b[2J", "job_id": "evil000000000000"}
    (board / "evil.json").write_text(json.dumps(evil), encoding="utf-8")
    proc = bench_report(board, "--format", "markdown")
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout and "evil\\\\x1b\\[2J" in proc.stdout
    assert " ⚠" in proc.stdout and "conflicting copies: 2 results of job 0d11b034e2aa2e0b" in proc.stdout


def test_failure_records_that_are_not_regular_files_are_skipped(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "x__y__seed0__0000000000000000.failed.json")
    (tmp_path / "z__y__seed0__0000000000000001.failed.json").write_text('{"reason": "boom"}', encoding="utf-8")
    assert results.load_failures(tmp_path) == [{"reason": "boom"}]
