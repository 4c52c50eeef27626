"""What `bench run` shows while it works, fed by the runner's events (benchmark.interfaces.Progress).

On a terminal: rich bars (`Bars`). Anywhere else (CI logs, nohup, `> log 2>&1`): plain lines (`Lines`), because a
bar written to a file is one stale frame: one line per job start and end, and a heartbeat while a job works so that
a log never stays silent for longer than BENCH_HEARTBEAT_S seconds (default 30).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, NamedTuple

from benchmark.engine.result_schema import printable

HEARTBEAT_S = 30.0
"""Longest silence of a plain-line log while a job works (env BENCH_HEARTBEAT_S overrides it)."""


def heartbeat_seconds() -> float:
    value = os.environ.get("BENCH_HEARTBEAT_S", "")
    try:
        seconds = float(value) if value else HEARTBEAT_S
    except ValueError:
        return HEARTBEAT_S
    return seconds if seconds > 0 else HEARTBEAT_S


def job_name(job: Any) -> str:
    return f"{job.upstream.text} · {job.task.name} · seed {job.seed}"


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m"


def eta_text(done: int, total: int, first: tuple[int, float], counted_at: float, now: float) -> str:
    """', ETA 1m05s' for a count at `done` of `total` (reached at time `counted_at`), the rate measured from the
    first count `first` = (done, time) to that one, less the time already spent since; '' while it cannot be told."""
    done0, t0 = first
    if not (0 < done < total and done > done0 and counted_at > t0):
        return ""
    return f", ETA {_duration((total - done) * (counted_at - t0) / (done - done0) - (now - counted_at))}"


ELSEWHERE = " (finished by another run sharing the output)"


def score_line(result: Any) -> str:
    rel = "" if result.relative_to_human is None else f", {result.relative_to_human:.3f}× human"
    return f"{result.main_score:.2f}{rel}"


class Failure(NamedTuple):
    """A job that failed in this run: its reason, and whether a rerun may pass (JobFailed.transient)."""

    job: Any
    reason: str
    transient: bool = False


class Reporter:
    """What both views share: counting finished and failed jobs (the run's summary lines read them)."""

    def __init__(self, n_jobs: int, quiet: bool) -> None:
        self.n_jobs = n_jobs
        self.quiet = quiet
        self.done = 0
        self.failed: list[Failure] = []

    def __enter__(self) -> Reporter:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def __call__(self, event: str, **info: Any) -> None:
        raise NotImplementedError


def reporter(console: Any, n_jobs: int, quiet: bool, intro: str = "") -> Reporter:
    """Bars on a terminal, plain lines elsewhere (the log's first line says what the run will do: `intro`)."""
    if console.is_terminal:
        return Bars(console, n_jobs, quiet)
    return Lines(console, n_jobs, quiet, intro=intro)


class Bars(Reporter):
    """rich progress bars. A bar shows only once there is work to count: loading shows its name without a
    counter, and no bar reads 0/N before its first step."""

    def __init__(self, console: Any, n_jobs: int, quiet: bool) -> None:
        from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
        from rich.text import Text

        class Count(ProgressColumn):
            def render(self, task: Any) -> Text:  # "12/40", or nothing while the total is unknown
                if task.total is None:
                    return Text("")
                return Text(f"{int(task.completed)}/{int(task.total)}", style="progress.download")

        super().__init__(n_jobs, quiet)
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), Count(), TimeElapsedColumn(),
                                 console=console, transient=False, disable=quiet)
        self.jobs = self.progress.add_task("jobs", total=n_jobs, visible=False)
        self.step = self.progress.add_task("", total=None, visible=False)

    def __enter__(self) -> Bars:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is not None:  # an error or Ctrl-C: clear the bars, so that its one line stands alone
            self.progress.live.transient = True
        self.progress.__exit__(*exc)

    def _step(self, description: str, total: int | None, completed: int) -> None:
        # a new bar, not an update: rich keeps the last total when given None, which read "loading X 0/2040"
        self.progress.remove_task(self.step)
        self.step = self.progress.add_task(description, total=total, completed=completed)

    def __call__(self, event: str, **info: Any) -> None:
        p = self.progress
        if event == "load_upstream":
            self._step(f"loading {info['upstream']}", None, 0)
        elif event == "load_data":
            self._step(f"loading data for {info['task']}", None, 0)
        elif event == "job_start":
            p.update(self.jobs, visible=True)
            self._step(f"{job_name(info['job'])}", None, 0)
        elif event == "extract":
            job = info["job"]
            p.update(self.step, description=f"{job.upstream.text} · {job.task.name} · features ({info['label']})",
                     total=info["total"], completed=info["done"], visible=True)
        elif event == "epoch":
            job = info["job"]
            p.update(self.step, description=f"{job_name(job)} · epoch (select score {info['score']:.1f})",
                     total=info["epochs"], completed=info["epoch"], visible=True)
        elif event == "job_waiting":  # another run sharing the output holds the job's claim
            p.update(self.jobs, visible=True)
            self._step(f"{job_name(info['job'])} · waiting for the other bench run on it", None, 0)
        elif event in ("job_failed", "job_done"):
            p.update(self.jobs, visible=True)
            p.advance(self.jobs)
            p.update(self.step, visible=False)
            if event == "job_failed":
                self.failed.append(Failure(info["job"], info["reason"], bool(info.get("transient"))))
                p.console.print(printable(f"  {job_name(info['job'])}: FAILED: {info['reason']}"), highlight=False,
                                markup=False)
                return
            self.done += 1
            if not self.quiet:
                r = info["result"]
                p.console.print(printable(f"  {r.upstream} · {r.task} · seed {r.seed}: {score_line(r)}"
                                          f"{ELSEWHERE if info.get('elsewhere') else ''}"),
                                highlight=False, markup=False)


class Lines(Reporter):
    """Plain lines for a log: each job's start and end, and while a job works a heartbeat line (what it does,
    rows or epochs done / total, an ETA) whenever nothing was written for `heartbeat_seconds()`.

    The lines are held back until the first job ends or one interval has passed, and dropped if the run stops
    on an error before then: bad input found while loading (a data file, a checkpoint, --layer) stays the one
    `error:` line it is on a terminal, where the bars are cleared."""

    def __init__(self, console: Any, n_jobs: int, quiet: bool, interval: float | None = None, intro: str = "") -> None:
        super().__init__(n_jobs, quiet)
        self.intro = intro
        self.job_t0: float | None = None
        self.console = console
        self.interval = heartbeat_seconds() if interval is None else interval
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.last_line = time.monotonic()
        self.state = "starting"
        self.phase: tuple[str, float] = ("", time.monotonic())
        """(what the current counter counts, when the phase started)."""
        self.counter: tuple[int, int, str] | None = None
        """(done, total, unit) of the phase; total 0 while unknown."""
        self.base: tuple[int, float] = (0, 0.0)
        """(done, time) at the phase's first count: the ETA's rate is measured from there to the last count."""
        self.counted_at = 0.0
        self.training: dict[str, int] = {}
        """The current job's training: steps taken, steps per epoch (once the first epoch ended), epoch, epochs."""
        self.started = 0
        self.held: list[str] | None = []
        """Lines not written yet (None once they flow)."""
        self.thread = threading.Thread(target=self._beat, name="bench-heartbeat", daemon=True)

    def __enter__(self) -> Lines:
        if not self.quiet:
            if self.intro:
                self._say(self.intro)
            self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5)
        if exc[0] is None:
            self._release()

    def _write(self, text: str) -> None:
        self.console.print(printable(text), highlight=False, markup=False, soft_wrap=True)
        self.last_line = time.monotonic()

    def _say(self, text: str) -> None:
        with self.lock:
            if self.held is not None:
                self.held.append(text)
            else:
                self._write(text)

    def _release(self) -> None:
        with self.lock:
            held, self.held = self.held, None
            for text in held or ():
                self._write(text)

    def _beat(self) -> None:
        while not self.stop.wait(min(self.interval / 2, 1.0)):
            with self.lock:
                quiet_for = time.monotonic() - self.last_line
                holding = bool(self.held)
            if quiet_for >= self.interval and not self.stop.is_set():
                self._release()
                if not holding:  # (the lines held back are news enough for this interval)
                    self._say(self.heartbeat())

    def heartbeat(self) -> str:
        """What the run is doing now: '... features (train): rows 512/2040, 25%, ETA 1m05s', or while a head
        trains '... training: epoch 2/3, steps 480/1311, 37%, ETA 1m10s at most' (early stopping may end it
        sooner); 'epoch 1/3, step 120' while the first epoch has not told how many steps an epoch takes."""
        jobs = f"[{self.done + len(self.failed)}/{self.n_jobs} jobs done]"
        if self.counter is None:
            return f"  {jobs} {self.state} ({_duration(time.monotonic() - self.phase[1])} so far)"
        done, total, unit = self.counter
        if unit == "steps":
            t = self.training
            what = f"epoch {t['epoch']}/{t['epochs']}, " + (f"steps {done}/{total}" if total else f"step {done}")
        else:
            what = f"{unit} {done}/{total}"
        share = f", {100 * done / total:.0f}%" if total else ""
        eta = eta_text(done, total, self.base, self.counted_at, time.monotonic())
        limit = " at most" if unit in ("epochs", "steps") and eta else ""
        return f"  {jobs} {self.state}: {what}{share}{eta}{limit}"

    def _phase(self, state: str, counting: str = "") -> None:
        if (state, counting) != (self.state, self.phase[0]):
            self.state = state
            self.phase = (counting, time.monotonic())
            self.counter = None

    def _count(self, done: int, total: int, unit: str) -> None:
        now = time.monotonic()
        if self.counter is None:
            self.base = (done, now)
        self.counter, self.counted_at = (done, total, unit), now

    def __call__(self, event: str, **info: Any) -> None:
        if event == "load_upstream":
            self._phase(f"loading upstream {info['upstream']}")
            if not self.quiet:
                self._say(f"loading upstream {info['upstream']}")
        elif event == "load_data":
            self._phase(f"loading data for {info['task']}")
            if not self.quiet:
                self._say(f"loading data for {info['task']}")
        elif event == "job_start":
            self.started += 1
            self.job_t0 = time.monotonic()
            self._phase(job_name(info["job"]))
            if not self.quiet:
                self._say(f"[{self.started}/{self.n_jobs}] {job_name(info['job'])}: started")
        elif event == "extract":
            self._phase(f"{job_name(info['job'])} · features ({info['label']})", "rows")
            self._count(int(info["done"]), int(info["total"]), "rows")
        elif event == "step":  # one optimizer step of the job's training
            self._phase(f"{job_name(info['job'])} · training", "steps")
            if self.counter is None or int(info["epoch"]) < self.training["epoch"]:  # (the next grid point's)
                self.counter, self.training = None, {"steps": 0, "per_epoch": 0, "epoch": 0}
            t = self.training
            t.update(steps=t["steps"] + 1, epoch=int(info["epoch"]), epochs=int(info["epochs"]))
            self._count(t["steps"], t["per_epoch"] * t["epochs"], "steps")
        elif event == "epoch":
            if self.phase[0] == "steps" and self.counter is not None:  # the steps tell the way through the epochs
                t = self.training
                t["per_epoch"] = t["per_epoch"] or t["steps"] // max(int(info["epoch"]), 1)
                self._count(t["steps"], t["per_epoch"] * t["epochs"], "steps")
            else:  # a head kind that reports epochs only
                self._phase(f"{job_name(info['job'])} · training", "epochs")
                self._count(int(info["epoch"]), int(info["epochs"]), "epochs")
        elif event == "job_waiting":
            self._phase(f"{job_name(info['job'])} · waiting for the other bench run on it")
            if not self.quiet:
                self._say(f"{job_name(info['job'])}: claimed by another bench run sharing the output; waiting for it")
        elif event == "job_failed":
            self._release()
            self.failed.append(Failure(info["job"], info["reason"], bool(info.get("transient"))))
            self._phase("between jobs")
            self._say(f"[{self.done + len(self.failed)}/{self.n_jobs}] {job_name(info['job'])}: FAILED: "
                      f"{info['reason']}")
        elif event == "job_done":
            self._release()
            self.done += 1
            self._phase("between jobs")
            if not self.quiet:
                r = info["result"]
                took = (time.monotonic() - self.job_t0 if self.job_t0 is not None  # (ray: no job_start event)
                        else sum(v for v in r.durations.values() if isinstance(v, int | float)))
                self._say(f"[{self.done + len(self.failed)}/{self.n_jobs}] {r.upstream} · {r.task} · seed {r.seed}: "
                          f"{score_line(r)}" + (ELSEWHERE if info.get("elsewhere") else f" ({_duration(took)})"))
