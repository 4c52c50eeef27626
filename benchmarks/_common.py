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


def machine_facts() -> dict[str, Any]:
    """What the figures were measured on, for benchmarks/regenerate.py: CPU model, cores, GPU, versions, commit."""
    import platform
    import subprocess
    from importlib import metadata

    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False,
                            cwd=Path(__file__).resolve().parent).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "torch": torch.__version__, "transformers": metadata.version("transformers"),
            "python": platform.python_version(), "commit": commit or None}


def write_json(path: Path | None, ratios: dict[str, float], runs: int, **detail: Any) -> None:
    """A script's figures as benchmarks/regenerate.py reads them: the ratios (medians), the number of runs, the
    machine, when, and whatever else the script measured."""
    import datetime
    import json

    if path is None:
        return
    payload = {"ratios": {k: round(float(v), 4) for k, v in ratios.items()}, "runs": runs,
               "measured": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
               "machine": machine_facts(), **detail}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1, default=str) + "\n", encoding="utf-8")
