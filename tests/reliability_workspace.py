"""A workspace for the reliability tests: the user's own tasks file and data, a results directory that already
holds a finished result, a feature cache, and a `bench` runner that loads the fault-test plugin by name."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

TASKS_YAML = """\
schema: 1
suites:
  mini:
    description: two small local tasks
    tasks: [mini-sent, mini-reg]
tasks:
  mini-sent:
    description: is the snippet positive?
    version: 1
    modality: text
    head: classification
    labels: ['0', '1']
    metrics: [accuracy]
    score: [accuracy]
    evals: [dev]
    sources:
      local: {format: glue-tsv, dir: SENT, inputs: [sentence], label: label, splits: {train: train.tsv, dev: dev.tsv}}
  mini-reg:
    description: how positive is the snippet?
    version: 1
    modality: text
    head: regression
    metrics: [pearson, spearman]
    score: [pearson, spearman]
    evals: [dev]
    sources:
      local: {format: glue-tsv, dir: REG, inputs: [sentence], label: score, splits: {train: train.tsv, dev: dev.tsv}}
"""

GOOD = ["a gorgeous, witty and moving film", "the performances are wonderful", "an absolute delight",
        "smart, funny and beautifully made", "one of the best films of the year", "a warm and charming story"]
BAD = ["a dull, lifeless mess", "the plot is boring and predictable", "a tedious waste of time",
       "clumsy, shallow and annoying", "one of the worst films of the year", "a cold and joyless story"]


def tsv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join("\t".join(r) for r in [header, *rows]) + "\n", encoding="utf-8")


def sentiment_rows(n: int) -> list[list[str]]:
    return [[f"{(GOOD if i % 2 else BAD)[i % 6]} ({i})", str(i % 2)] for i in range(n)]


def score_rows(n: int) -> list[list[str]]:
    return [[f"rated: {(GOOD if i % 2 else BAD)[i % 6]} ({i})", f"{(i % 2) * 3 + (i % 5) / 5:.2f}"] for i in range(n)]


@dataclass
class Workspace:
    root: Path

    @property
    def out(self) -> Path:
        return self.root / "out"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def tasks(self) -> Path:
        return self.root / "tasks.yaml"

    def env(self, **extra: str) -> dict[str, str]:
        path = os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        return {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200", "BENCH_CACHE": str(self.cache),
                "BENCH_PLUGINS": "bench_testplugin", "PYTHONPATH": path, **extra}

    def bench(self, *args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "benchmark", *args], capture_output=True, text=True,
                              env=self.env(**(env or {})), cwd=self.root, timeout=timeout)

    def popen(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "benchmark", *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.env(**(env or {})), cwd=self.root)

    def run_args(self, *extra: str) -> list[str]:
        """`bench run` on the char upstream and the mini suite, in this workspace."""
        return ["run", "--upstream", "char", "--tasks", "mini", "--tasks-file", str(self.tasks), "--data-dir",
                str(self.data), "--output", str(self.out), *extra]

    def snapshot(self) -> dict[str, str]:
        """Every file under the workspace and its content hash."""
        return {str(p.relative_to(self.root)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(self.root.rglob("*")) if p.is_file()}


def make_workspace(root: Path, n: int = 60) -> Workspace:
    ws = Workspace(root)
    root.mkdir(parents=True, exist_ok=True)
    ws.tasks.write_text(TASKS_YAML, encoding="utf-8")
    tsv(ws.data / "SENT" / "train.tsv", ["sentence", "label"], sentiment_rows(n))
    tsv(ws.data / "SENT" / "dev.tsv", ["sentence", "label"], sentiment_rows(n // 3))
    tsv(ws.data / "REG" / "train.tsv", ["sentence", "score"], score_rows(n))
    tsv(ws.data / "REG" / "dev.tsv", ["sentence", "score"], score_rows(n // 3))
    ws.out.mkdir()
    # A finished result from an earlier run: no failure may touch it. Named, so that new leaderboard files (which
    # sort anywhere) do not change which one the tests expect.
    earlier = sorted((ROOT / "leaderboard" / "results").glob("vader-polarity__minilm+rand__seed0__*.json"))[0]
    shutil.copy(earlier, ws.out / earlier.name)
    ws.cache.mkdir()
    (ws.cache / "marker").write_text("kept\n", encoding="utf-8")
    return ws


def remove(rel: str) -> Callable[[Path], None]:
    """A bad-input battery's damage: delete `rel` under the miniature download's base folder."""
    return lambda base: (base / rel).unlink()


def overwrite(rel: str, data: bytes | str) -> Callable[[Path], None]:
    """A bad-input battery's damage: replace the bytes of `rel` under the base folder (text as UTF-8)."""
    return lambda base: (base / rel).write_bytes(data.encode() if isinstance(data, str) else data)


def empty_wav(rel: str) -> Callable[[Path], None]:
    """A bad-input battery's damage: make `rel` a well-formed WAV file without a single sample."""
    import numpy as np
    import soundfile as sf

    return lambda base: sf.write(base / rel, np.zeros(0, np.float32), 16_000, subtype="FLOAT")


def edit(rel: str, old: str, new: str) -> Callable[[Path], None]:
    """A bad-input battery's damage: replace the first `old` in the text of `rel` (which must hold it)."""
    def damage(base: Path) -> None:
        text = (base / rel).read_text(encoding="utf-8")
        assert old in text, old
        (base / rel).write_text(text.replace(old, new, 1), encoding="utf-8")

    return damage
