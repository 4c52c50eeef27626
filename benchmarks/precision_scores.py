"""Do scores move when the upstream computes in bfloat16? The evidence a lower-precision default needs.

For each offline suite, one neural upstream runs every task twice, `--dtype float32` and `--dtype bfloat16`
(frozen mode: only the upstream's forward passes change; heads train in float32), with the same seeds. Per task
it prints the mean and the range over seeds for both, and whether the bfloat16 mean lies within the float32
seeds' range (the issue-23 rule: lower precision may become the default only where the hardware computes it
natively and scores stay within the seeds' spread, on every offline suite).

Scores do not depend on machine load, so this may run on a busy machine (`nice`); its timings are not P4's.
Usage: python benchmarks/precision_scores.py [--suites offline-text,offline-tokens] [--seeds 0,1,2]
       [--out DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

SUITES = {  # suite -> the neural upstream measured on it (the published leaderboard's)
    "offline-text": "minilm",
    "offline-tokens": "minilm",
    "cross-discipline": "minilm",
    "offline-image": "simclr+rand",
    "offline-speech": "wav2vec2+rand",
}


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX-BF16)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suites", default=",".join(SUITES))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--out", type=Path, default=None, help="keep the results here (default: a temporary folder)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import benchmark

    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        for suite in args.suites.split(","):
            upstream = SUITES[suite]
            scores: dict[str, dict[str, list[float]]] = {}
            for dtype in ("float32", "bfloat16"):
                (out / suite).mkdir(parents=True, exist_ok=True)  # bench creates the last folder only
                for r in benchmark.run(upstream, suite, seeds=seeds, output=out / suite / dtype, dtype=dtype):
                    scores.setdefault(r.task, {}).setdefault(dtype, []).append(r.main_score)
            for task, by in scores.items():
                f32, b16 = by["float32"], by["bfloat16"]
                inside = min(f32) <= statistics.fmean(b16) <= max(f32)
                rows.append({"suite": suite, "upstream": upstream, "task": task, "float32": f32, "bfloat16": b16,
                             "within_seed_range": inside})
                print(f"{suite:16} {upstream:20} {task:22} float32 {statistics.fmean(f32):6.2f} "
                      f"[{min(f32):.2f}..{max(f32):.2f}]  bfloat16 {statistics.fmean(b16):6.2f} "
                      f"[{min(b16):.2f}..{max(b16):.2f}]  {'within' if inside else 'OUTSIDE'}", flush=True)
    print(f"\nnative bfloat16 on this CPU: {native_bf16()}; seeds {seeds}; "
          f"{sum(r['within_seed_range'] for r in rows)} of {len(rows)} tasks within the float32 seeds' range")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
