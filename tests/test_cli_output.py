"""Output everywhere (issue 23): what `bench` prints in a log and on a terminal.

A log (stderr not a terminal) gets plain lines: what the run will do, each job's start and end, and a heartbeat
whenever nothing was written for BENCH_HEARTBEAT_S seconds; a terminal gets bars that count only real work. The
end-of-run leaderboard shows every result of the run's upstreams and marks the earlier ones; tables fit 80
columns; failures a rerun cannot fix say to change something; every error starts `error:`; `bench list tasks`
marks what runs offline now; `--device` defaults to auto without changing any job id.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from reliability_workspace import ROOT, make_workspace

from benchmark.cli import progress
from benchmark.cli.progress import Failure
from benchmark.cli.run import what_next


class _Job:
    def __init__(self, upstream: str, task: str, seed: int = 0) -> None:
        self.upstream = type("Spec", (), {"text": upstream})()
        self.task = type("Task", (), {"name": task})()
        self.seed = seed


def _timed_lines(proc: subprocess.Popen) -> list[tuple[float, str]]:
    """Every stderr line of a running command with the time it arrived (seconds since start)."""
    t0 = time.monotonic()
    out: list[tuple[float, str]] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            out.append((time.monotonic() - t0, line.rstrip("\n")))

    reader = threading.Thread(target=read)
    reader.start()
    proc.wait(timeout=600)
    reader.join(timeout=10)
    return out


def test_a_log_gets_a_first_line_one_line_per_job_start_and_end_and_a_heartbeat(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    # Slow forward passes (0.5 s a batch of 6) make the extraction last ~5 s: heartbeats every 1 s in between.
    proc = ws.popen(*ws.run_args("--eval-batch-size", "6"), env={"BENCH_HEARTBEAT_S": "1", "BENCH_TEST_DELAY": "0.5"})
    lines = _timed_lines(proc)
    text = [line for _t, line in lines]
    assert proc.returncode == 0, text
    assert text[0] == (f"bench run: 2 jobs to do (upstreams: char; tasks: mini-sent, mini-reg; seeds: 0), results in "
                       f"{ws.out}")
    assert lines[0][0] < 30  # the guarantee: a line within 30 s of the start
    assert "[1/2] char · mini-sent · seed 0: started" in text
    assert "[2/2] char · mini-reg · seed 0: started" in text
    assert sum(bool(re.fullmatch(r"\[1/2\] char · mini-sent · seed 0: \d+\.\d\d \(\d+s\)", t)) for t in text) == 1
    assert sum(bool(re.fullmatch(r"\[2/2\] char · mini-reg · seed 0: \d+\.\d\d \(\d+s\)", t)) for t in text) == 1
    beats = [t for t in text if re.fullmatch(r"  \[0/2 jobs done\] char · mini-sent · seed 0 · features \(train\): "
                                             r"rows \d+/54, \d+%, ETA \d+s", t)]
    assert beats, text
    gaps = [b[0] - a[0] for a, b in zip(lines, lines[1:], strict=False)]
    assert max(gaps) < 3.0, (max(gaps), lines)  # interval 1 s, checked every 0.5 s; slack for a busy machine
    assert not any(c in "".join(text) for c in "━╸\r\x1b")  # no bar, no cursor movement, no colour


def test_heartbeat_interval_is_30_s_unless_bench_heartbeat_s_says(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BENCH_HEARTBEAT_S", raising=False)
    assert progress.heartbeat_seconds() == 30.0
    for value, expected in (("2.5", 2.5), ("0", 30.0), ("-1", 30.0), ("soon", 30.0)):
        monkeypatch.setenv("BENCH_HEARTBEAT_S", value)
        assert progress.heartbeat_seconds() == expected


def test_heartbeat_says_rows_done_of_total_and_an_eta(monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    clock = [100.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    console = Console(file=io.StringIO(), width=200)
    lines = progress.Lines(console, 3, quiet=False, interval=30)
    assert lines.heartbeat() == "  [0/3 jobs done] starting (0s so far)"
    job = _Job("minilm+rand", "vader-polarity")
    lines("job_start", job=job)
    lines("extract", job=job, done=0, total=2040, label="train")
    clock[0] += 20
    lines("extract", job=job, done=512, total=2040, label="train")
    assert lines.heartbeat() == ("  [0/3 jobs done] minilm+rand · vader-polarity · seed 0 · features (train): "
                                 "rows 512/2040, 25%, ETA 1m00s")
    # a head kind that reports epochs only: the rate is measured from its first report (5 epochs in 10 s)
    lines("epoch", job=job, epoch=5, epochs=50, score=80.0)
    clock[0] += 10
    lines("epoch", job=job, epoch=10, epochs=50, score=81.0)
    assert lines.heartbeat() == ("  [0/3 jobs done] minilm+rand · vader-polarity · seed 0 · training: epochs 10/50, "
                                 "20%, ETA 1m20s at most")
    clock[0] += 15  # no news for 15 s: the ETA counts down instead of growing
    assert lines.heartbeat().endswith("epochs 10/50, 20%, ETA 1m05s at most")
    # held back until a job ends or an interval passes (a run stopping on bad input then prints one line)
    assert lines.held == ["[1/3] minilm+rand · vader-polarity · seed 0: started"]
    assert console.file.getvalue() == ""  # type: ignore[attr-defined]
    lines("job_failed", job=job, reason="out of memory")
    assert console.file.getvalue() == ("[1/3] minilm+rand · vader-polarity · seed 0: started\n"  # type: ignore[attr-defined]
                                       "[1/3] minilm+rand · vader-polarity · seed 0: FAILED: out of memory\n")


def test_training_heartbeat_counts_optimizer_steps_and_its_eta_counts_down(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fine-tuning epoch can take minutes: the heartbeat follows its steps (the first epoch tells how many an epoch
    takes), and a job that reloads its upstream is shown training again at its first step, not still loading."""
    from rich.console import Console

    clock = [0.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    lines = progress.Lines(Console(file=io.StringIO(), width=200), 2, quiet=False, interval=30)
    job = _Job("bert:runs/x", "vader-polarity")
    lines("job_start", job=job)
    lines("load_upstream", upstream="bert:runs/x")
    assert lines.heartbeat() == "  [0/2 jobs done] loading upstream bert:runs/x (0s so far)"
    for _ in range(100):  # 100 steps at 0.5 s
        clock[0] += 0.5
        lines("step", job=job, epoch=1, epochs=3, loss=0.7)
    name = "bert:runs/x · vader-polarity · seed 0 · training"
    assert lines.heartbeat() == f"  [0/2 jobs done] {name}: epoch 1/3, step 100"  # steps per epoch not known yet
    clock[0] += 0.5
    lines("step", job=job, epoch=1, epochs=3, loss=0.7)
    lines("epoch", job=job, epoch=1, epochs=3, score=70.0)  # 101 steps an epoch
    for _ in range(50):
        clock[0] += 0.5
        lines("step", job=job, epoch=2, epochs=3, loss=0.6)
    # 151 of 303 steps; 150 steps took 75 s since the first, so 152 more take 76 s
    assert lines.heartbeat() == f"  [0/2 jobs done] {name}: epoch 2/3, steps 151/303, 50%, ETA 1m16s at most"
    clock[0] += 30
    assert lines.heartbeat().endswith("ETA 46s at most")
    done = type("Result", (), {"upstream": "bert:runs/x", "task": "vader-polarity", "seed": 0, "main_score": 70.0,
                               "relative_to_human": None, "durations": {}})()
    lines("job_done", job=job, result=done)
    lines("job_start", job=job)
    lines("load_upstream", upstream="bert:runs/x")  # fine-tuning: the next seed starts from the pretrained weights
    lines("step", job=job, epoch=1, epochs=3, loss=0.7)
    assert lines.heartbeat() == f"  [1/2 jobs done] {name}: epoch 1/3, step 1"
    for epoch in (1, 2, 3):  # a grid's first point trains 3 epochs of 10 steps...
        for _ in range(10 - (epoch == 1)):
            clock[0] += 1
            lines("step", job=job, epoch=epoch, epochs=3, loss=0.5)
        lines("epoch", job=job, epoch=epoch, epochs=3, score=70.0)
    assert lines.heartbeat().endswith("epoch 3/3, steps 30/30, 100%")
    clock[0] += 1
    lines("step", job=job, epoch=1, epochs=3, loss=0.7)  # ...and the next point starts over
    assert lines.heartbeat() == f"  [1/2 jobs done] {name}: epoch 1/3, step 1"


def test_terminal_bars_count_only_real_work() -> None:
    """No `loading minilm+rand ━━━ 0/2040`: loading shows no count, and no bar appears before its first step."""
    from rich.console import Console

    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    bars = progress.Bars(console, 2, quiet=False)
    tasks = {t.id: t for t in bars.progress.tasks}
    assert not tasks[bars.jobs].visible and not tasks[bars.step].visible  # nothing counted yet: no bar
    job = _Job("minilm", "vader-polarity")
    bars("job_start", job=job)
    bars("extract", job=job, done=512, total=2040, label="train")
    bars("job_done", job=job, result=type("R", (), {"upstream": "minilm", "task": "vader-polarity", "seed": 0,
                                                     "main_score": 80.0, "relative_to_human": None})())
    bars("load_upstream", upstream="minilm+rand")
    tasks = {t.id: t for t in bars.progress.tasks}
    step = tasks[bars.step]
    assert (step.description, step.total, step.completed, step.visible) == ("loading minilm+rand", None, 0, True)
    count = bars.progress.columns[2]
    assert str(count.render(step)) == ""  # type: ignore[attr-defined]
    assert str(count.render(tasks[bars.jobs])) == "1/2"  # type: ignore[attr-defined]


def test_the_leaderboard_shows_the_upstreams_earlier_results_marked(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    assert ws.bench(*ws.run_args("-q")).returncode == 0
    r = ws.bench(*ws.run_args("--tasks", "mini-sent"))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    row = next(line for line in lines if line.startswith("│ char"))
    cells = [c.strip() for c in row.strip("│").split("│")]
    header = [c.strip() for c in next(line for line in lines if "upstream" in line).strip("┃").split("┃")]
    assert header == ["upstream", "params", "mini", "×human", "mini-sent", "mini-reg"]
    assert re.fullmatch(r"\d+\.\d\*", cells[2]) and re.fullmatch(r"\d+\.\d", cells[4]), cells  # suite: mini-reg is old
    assert re.fullmatch(r"\d+\.\d\*", cells[5]), cells  # mini-reg's result is there, marked as an earlier run's
    assert "* = from an earlier run (this run did not run that task)." in " ".join(lines)
    assert "minilm+rand" not in r.stdout  # another upstream's result in the same directory is not this run's
    assert "* = from" not in ws.bench(*ws.run_args()).stdout  # everything ran (or was finished) in this run
    # Another protocol of the same upstream is another row: this run's row is unmarked, the default one marked
    r = ws.bench(*ws.run_args("--tasks", "mini-sent", "--layer", "1"))
    rows = {cells[0]: cells for cells in ([c.strip() for c in line.strip("│").split("│")]
                                          for line in r.stdout.splitlines() if line.startswith("│ char"))}
    assert re.fullmatch(r"\d+\.\d", rows["char [layer 1]"][4]) and rows["char [layer 1]"][5] == "—", rows
    assert all(re.fullmatch(r"\d+\.\d\*", rows["char"][i]) for i in (2, 4, 5)), rows


def test_tables_fit_80_columns_with_full_names() -> None:
    from benchmark.engine import results
    from benchmark.plugin.manager import get_plugins
    from benchmark.report import leaderboard

    where = ROOT / "leaderboard" / "results"
    r = subprocess.run([sys.executable, "-m", "benchmark", "report", "-o", str(where)], capture_output=True, text=True,
                       cwd=ROOT, env={**os.environ, "COLUMNS": "80"})
    assert r.returncode == 0, r.stderr
    board = leaderboard.build(results.load_all(where), get_plugins().registry, uncertainty=False)
    assert "…" not in r.stdout
    assert max(len(line) for line in r.stdout.splitlines()) <= 80
    headers = " ".join(line for line in r.stdout.splitlines() if line.startswith("┃"))
    names = [*board.suites, *board.tasks]
    assert "offline-text" in names and "vader-polarity" in names and len(names) > 20
    for name in names:
        assert re.search(rf"┃ *{re.escape(name)}( ↓)? *┃", headers), name
    # a long upstream name folds onto a second line rather than being cut
    assert re.search(r"│ efficientnet-lite0\+rand \[layer +│.*\n│ -1\] +│", r.stdout), r.stdout


PLUGIN = '''
from benchmark.hookspecs import hookimpl


def _strict(arg, *, name, trust_remote_code=False):
    raise ValueError("unknown size 'huge' (small or base)")


@hookimpl
def register_upstreams(register):
    register("strict", _strict, description="test: the factory rejects its argument")
'''


def test_a_deterministic_failure_says_what_to_change_not_rerun(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    (tmp_path / "strict_plugin.py").write_text(PLUGIN, encoding="utf-8")
    env = ws.env()
    r = ws.bench(*ws.run_args("--upstream", "strict", "--tasks", "mini-sent"),
                 env={"BENCH_PLUGINS": "bench_testplugin,strict_plugin",
                      "PYTHONPATH": f"{tmp_path}:{env['PYTHONPATH']}"})
    assert r.returncode == 1, r.stderr
    assert r.stderr.strip().splitlines()[-1] == (
        f"error: 1 of 1 jobs failed (why: {ws.out}/*.failed.json; first: strict · mini-sent · seed 0: upstream "
        "'strict' (plugin 'strict_plugin') failed to load: ValueError: unknown size 'huge' (small or base)); a rerun "
        "fails the same way: first change what the reason names (the plugin, the data or an option)")
    assert "rerun the same command" not in r.stderr


FLAKY = PLUGIN.replace('raise ValueError("unknown size \'huge\' (small or base)")',
                       'raise ConnectionResetError("the model server closed the connection")')


def test_a_connection_error_is_transient_by_its_type_and_the_record_says_so(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    (tmp_path / "flaky_plugin.py").write_text(FLAKY, encoding="utf-8")
    env = ws.env()
    r = ws.bench(*ws.run_args("--upstream", "strict", "--tasks", "mini-sent"),
                 env={"BENCH_PLUGINS": "bench_testplugin,flaky_plugin",
                      "PYTHONPATH": f"{tmp_path}:{env['PYTHONPATH']}"})
    assert r.returncode == 1, r.stderr
    assert r.stderr.strip().splitlines()[-1].endswith("ConnectionResetError: the model server closed the "
                                                      "connection); rerun the same command to retry them")
    [record] = [json.loads(p.read_text()) for p in ws.out.glob("*.failed.json")]
    assert record["transient"] is True


def test_transient_is_decided_by_the_error_type_not_its_words() -> None:
    from benchmark.errors import transient_error

    class ReadTimeout(OSError):  # as requests / httpx name theirs
        pass

    assert transient_error(MemoryError()) and transient_error(ConnectionRefusedError()) and transient_error(
        TimeoutError()) and transient_error(ReadTimeout("read timed out"))
    assert not transient_error(ValueError("connection string missing: out of memory"))
    assert not transient_error(RuntimeError("timeout must be positive"))


def test_rerun_is_said_only_where_a_rerun_can_help() -> None:
    job = _Job("minilm", "sst2")
    oom = Failure(job, "out of memory on a training batch of 256; lower --batch-size (now 256)", transient=True)
    bad = Failure(job, "upstream 'x' (plugin 'p') failed to load: ValueError: no connection string given")
    assert what_next([oom, oom]) == "rerun the same command to retry them"
    assert what_next([bad]) == ("a rerun fails the same way: first change what the reason names (the plugin, the "
                                "data or an option)")
    assert what_next([oom, bad]) == ("1 may pass on a rerun (out of memory, network); for the others, a rerun fails "
                                     "the same way: first change what the reason names (the plugin, the data or an "
                                     "option)")


@pytest.mark.parametrize(("args", "line"), [
    (["run", "--seeds", "x"], "error: Invalid value for '--seeds': 'x' is not a comma-separated list of integers "
                              "(e.g. 0,1,2) (see '{prog} run --help')"),
    (["lst"], "error: No such command 'lst'. Did you mean 'list'? (see '{prog} --help')"),
    (["run", "--device", "gpu"], "error: Invalid value for '--device': 'gpu' is not one of 'cpu', 'cuda', 'auto'. "
                                 "(see '{prog} run --help')"),
])
def test_one_error_prefix_for_usage_errors_everywhere(args: list[str], line: str, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from benchmark.cli.app import cli

    ws = make_workspace(tmp_path)
    r = ws.bench(*args)
    assert (r.returncode, r.stderr.strip()) == (2, line.format(prog="bench"))
    # The click group itself, called as click calls it (standalone, as CliRunner and plugins' tests do)
    result = CliRunner().invoke(cli, args, prog_name="bench")
    assert (result.exit_code, result.output.strip()) == (2, line.format(prog="bench"))
    assert "Error:" not in result.output


def test_list_tasks_marks_the_tasks_that_can_run_offline_now(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    (ws.data / "REG" / "dev.tsv").unlink()
    env = {"HF_DATASETS_CACHE": str(tmp_path / "datasets")}  # no Hub dataset prepared
    r = ws.bench("list", "tasks", "--tasks-file", str(ws.tasks), "--data-dir", str(ws.data), env=env)
    assert r.returncode == 0, r.stderr
    rows = {line.split()[0]: line for line in r.stdout.splitlines() if line.strip() and not line.startswith("*")}
    assert re.match(r"mini-sent +\[mini\] \* is the snippet positive\?  \(tasks file ", rows["mini-sent"])
    assert re.match(r"mini-reg +\[mini\] how positive", rows["mini-reg"])  # a split file is missing
    assert re.match(r"sst2 +\[glue\] SST-2", rows["sst2"])  # a Hub dataset not prepared here
    assert re.match(r"ner-nyt-editorials +\[offline-tokens\] \* ", rows["ner-nyt-editorials"])  # packaged data
    n = sum(" * " in line for line in rows.values())
    assert r.stdout.splitlines()[-1] == (
        f"* = can run offline now: its data is here ({n} of {len(rows)}: local files under --data-dir / "
        "BENCH_DATA_DIR, a recipe whose tools and inputs are here, or a Hub dataset that bench prefetch prepared); "
        "the others need a network first (bench prefetch --tasks NAME)")


def test_device_defaults_to_auto_and_keeps_job_ids_and_cpu_results(tmp_path: Path) -> None:
    import torch

    ws = make_workspace(tmp_path)
    r = ws.bench("run", "--help")
    assert re.search(r"--device \[cpu\|cuda\|auto\]\s+auto: cuda when a CUDA device is available, else cpu\.",
                     r.stdout), r.stdout
    assert ws.bench(*ws.run_args("-q")).returncode == 0  # the default: auto
    auto = {p.name: json.loads(p.read_text()) for p in ws.out.glob("mini-*.json")}
    assert len(auto) == 2
    again = ws.bench(*ws.run_args("--device", "cpu"))
    assert again.returncode == 0 and "2 of 2 jobs already finished" in again.stderr  # the same job ids
    cpu_out = tmp_path / "cpu"
    assert ws.bench(*ws.run_args("-q", "--device", "cpu", "--output", str(cpu_out))).returncode == 0
    cpu = {p.name: json.loads(p.read_text()) for p in cpu_out.glob("mini-*.json")}
    assert cpu.keys() == auto.keys()
    if not torch.cuda.is_available():  # auto is cpu here: the very same scores
        for name, result in auto.items():
            assert result["environment"]["device"] == "cpu"
            assert (result["main_score"], result["scores"]) == (cpu[name]["main_score"], cpu[name]["scores"])


CMD_PLUGIN = '''
import click
from benchmark.hookspecs import hookimpl


@hookimpl
def register_commands(cli):
    @cli.command("grumpy")
    def grumpy():
        raise click.ClickException("the moon is not full")
'''


def test_a_plugin_commands_click_error_is_the_same_one_line(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    (tmp_path / "grumpy_plugin.py").write_text(CMD_PLUGIN, encoding="utf-8")
    r = ws.bench("grumpy", env={"BENCH_PLUGINS": "grumpy_plugin", "PYTHONPATH": f"{tmp_path}:{ws.env()['PYTHONPATH']}"})
    assert (r.returncode, r.stderr) == (1, "error: the moon is not full\n")


def test_pretraining_off_a_terminal_writes_a_step_line_at_most_every_interval() -> None:
    """`bench pretrain ... > log`: the bar becomes a plain line (steps, loss, ETA) at most every 30 s, beside the
    per-checkpoint lines; before, a log showed nothing between checkpoints (8 minutes on a shared machine)."""
    from rich.console import Console

    from benchmark.clitools import PretrainProgress

    clock = [0.0]
    progress = PretrainProgress("mlm", interval=30, console=Console(file=io.StringIO(), width=200))  # no terminal
    progress.clock = lambda: clock[0]
    progress.last_line = 0.0
    with progress:
        for step in range(1, 201):  # a step every 0.5 s: 100 s in all
            clock[0] += 0.5
            progress("step", step=step, steps=1000, loss=9.0 - step / 100)
            if step == 100:
                progress("epoch", epoch=100, epochs=1000, loss=8.5, unit="step")
    lines = progress.console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    # 30 s in: step 60, 59 steps in 29.5 s since the first, 940 to go -> 470 s; the checkpoint line at step 100
    # (50 s) resets the interval, so the next step line comes at step 160 (80 s)
    assert lines == ["  step 60/1000, 6%, loss 8.4000, ETA 7m50s",
                     "  step 100/1000: loss 8.5000",
                     "  step 160/1000, 16%, loss 7.4000, ETA 7m00s"]
