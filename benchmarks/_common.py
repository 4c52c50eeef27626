"""Helpers shared by the benchmark scripts: real data, timing, medians, a GLUE-layout directory."""

from __future__ import annotations

import os
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def vader_texts() -> list[tuple[str, int]]:
    """All 10,072 polar VADER movie-review snippets with their labels (real, variable-length text)."""
    from benchmark.engine.runner import default_cache_dir
    from downstreams.recipes.vader import load_snippets, polarity_items

    return [(s.text, int(s.mean > 0)) for s in polarity_items(load_snippets(default_cache_dir(), "movieReviewSnippets"))]


def fresh_cache(tmp: Path) -> Path:
    """A new, empty feature cache that still has the VADER sdist (so nothing is downloaded)."""
    from benchmark.engine.runner import default_cache_dir

    cache = tmp / f"cache-{time.monotonic_ns()}"
    src = default_cache_dir()
    for sub in ("sources", "datasets"):
        if (src / sub).is_dir():
            shutil.copytree(src / sub, cache / sub)
    return cache


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def write_sst2_dir(root: Path, rows: list[tuple[str, int]], n_train: int, n_dev: int) -> Path:
    """A GLUE-layout SST-2 directory with the first n_train / next n_dev (text, label) rows, balanced order kept."""
    d = root / "SST-2"
    d.mkdir(parents=True, exist_ok=True)
    for name, part in (("train.tsv", rows[:n_train]), ("dev.tsv", rows[n_train : n_train + n_dev])):
        with (d / name).open("w", encoding="utf-8") as f:
            f.write("sentence\tlabel\n")
            for text, label in part:
                f.write(f"{text.replace(chr(9), ' ')}\t{label}\n")
    return root


def interleave(rows: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Alternate positive and negative snippets (the corpus lists positive reviews first)."""
    pos = [r for r in rows if r[1] == 1]
    neg = [r for r in rows if r[1] == 0]
    return [r for pair in zip(pos, neg, strict=False) for r in pair]


def machine() -> str:
    import platform

    import torch

    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads")
