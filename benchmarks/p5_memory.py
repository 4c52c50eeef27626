"""P5: peak memory at 10x the examples ÷ at 1x. Target <= 1.3.

Each size runs `bench run --upstream minilm --tasks sst2` in a fresh process on a GLUE-layout SST-2 directory
made of real VADER snippets (1x: 1,000 training examples; 10x: 10,000... capped by the 10,072 snippets, so 10x
uses 9,000 train + the rest as dev), with a fresh feature cache, and reads the child's peak resident set size
(ru_maxrss). Features stream to disk and the head trains from chunks, so memory should not follow data size.
Usage: python benchmarks/p5_memory.py [--runs 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import fresh_cache, interleave, machine, median, vader_texts, write_json, write_sst2_dir  # noqa: E402

CHILD = """
import resource, sys, benchmark
[r] = benchmark.run("minilm", "sst2", seeds=[0], output=sys.argv[1], data_dir=sys.argv[2], cache_dir=sys.argv[3])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, r.n_examples["train"], r.scores["accuracy"])
"""


def peak_rss(data_dir: Path, tmp: Path) -> tuple[int, int, float]:
    out = tmp / f"out-{os.urandom(4).hex()}"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", CHILD, str(out), str(data_dir), str(fresh_cache(tmp))],
                          capture_output=True, text=True, env=env, check=True)
    rss_kb, n, acc = proc.stdout.split()
    return int(rss_kb), int(n), float(acc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--json", type=Path, help="write the figures here (benchmarks/regenerate.py reads them)")
    args = ap.parse_args()
    rows = interleave(vader_texts())
    small_n, large_n = 1000, min(10000, len(rows) - 500)
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        small = write_sst2_dir(tmp / "small", rows, small_n, 500)
        large = write_sst2_dir(tmp / "large", rows, large_n, 500)
        ratios, s_kb, l_kb = [], [], []
        for r in range(args.runs):
            a, na, acc_a = peak_rss(small, tmp)
            b, nb, acc_b = peak_rss(large, tmp)
            ratios.append(b / a)
            s_kb.append(a), l_kb.append(b)
            print(f"run {r + 1}: peak RSS {a / 1024:.0f} MB at {na} train examples (accuracy {acc_a:.1f}), "
                  f"{b / 1024:.0f} MB at {nb} (accuracy {acc_b:.1f})", flush=True)
    print(f"\nmachine: {machine()}; parent peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    print(f"P5 peak RSS 10x / 1x = {median(l_kb) / 1024:.0f} MB / {median(s_kb) / 1024:.0f} MB = {median(ratios):.3f}  "
          f"(target <= 1.3)")
    write_json(args.json, {"P5": median(ratios)}, args.runs, peak_rss_mb={"small": [k / 1024 for k in s_kb],
                                                                          "large": [k / 1024 for k in l_kb]})


if __name__ == "__main__":
    main()
