"""Cached files that several `bench run`s may build at once: one process builds, the others wait and read it
(benchmark.paths.build_lock), and what appears is always a whole file (benchmark.paths.private_tmp). Three runs
starting synth-sf together once wrote one shared `.tmp.npz` and one of them read the mix (BadZipFile)."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.paths import private_tmp
from downstreams.recipes.speech_synth import SynthRecipe


class SlowRecipe(SynthRecipe):
    name, prefix, what, version = "slow-test", "slow", "test clips", 1
    defaults, whole = {"seed": 0}, {"seed": 0}

    def __init__(self, log: Path) -> None:
        self.log = log

    def path(self, o: dict[str, Any], cache_dir: Path) -> Path:
        return Path(cache_dir) / "speech" / f"slow-{self.digest(o)}.npz"  # no synthesiser versions needed

    def synthesise(self, o: dict[str, Any]) -> dict[str, Any]:
        with open(self.log, "a") as f:
            f.write("built\n")
        time.sleep(0.5)  # long enough for the other processes to arrive while this one builds
        rng = np.random.default_rng(o["seed"])
        return {s: ([rng.standard_normal(20_000).astype(np.float32) for _ in range(4)], {"labels": np.arange(4)})
                for s in self.splits}


def _build(args: tuple[Path, Path]) -> list[float]:
    log, cache = args
    path = SlowRecipe(log).build({"seed": 0}, cache)
    with np.load(path) as data:
        return [float(data[k].sum()) for k in sorted(data.files)]


def test_processes_building_one_cache_file_build_it_once_and_read_it_whole(tmp_path: Path) -> None:
    log = tmp_path / "log"
    with multiprocessing.get_context("fork").Pool(3) as pool:
        sums = pool.map(_build, [(log, tmp_path / "cache")] * 3)
    assert log.read_text() == "built\n"  # one synthesis, two waits
    assert sums[0] == sums[1] == sums[2] and len(sums[0]) == 9
    # nothing but the file and its lock is left behind
    assert sorted(p.name for p in (tmp_path / "cache" / "speech").iterdir()) == [
        f".slow-{SlowRecipe(log).digest({'seed': 0})}.npz.lock", f"slow-{SlowRecipe(log).digest({'seed': 0})}.npz"]


def test_private_tmp_names_differ_per_call_and_stay_beside_the_file(tmp_path: Path) -> None:
    target = tmp_path / "x.npz"
    a, b = private_tmp(target), private_tmp(target)
    assert a != b and a.parent == b.parent == tmp_path and a.name.startswith(".x.npz.") and a.suffix == ".tmp"
