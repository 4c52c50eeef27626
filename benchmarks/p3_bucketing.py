"""P3: length-bucketed batches with dynamic padding ÷ batches in arrival order, on variable-length real text.

Same model (all-MiniLM-L6-v2 through bench's `minilm` upstream), same 2,000 VADER snippets (5 to 60+ words),
same batch size; the features must be equal (bucketing only changes padding), so every score built on them is
too. Target <= 0.67. Medians of --runs runs. Usage: python benchmarks/p3_bucketing.py [--runs 3] [--n 2000]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import interleave, machine, median, timed, vader_texts, write_json  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--json", type=Path, help="write the figures here (benchmarks/regenerate.py reads them)")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import numpy as np

    from benchmark.features.extract import iter_pooled
    from benchmark.plugin.manager import get_plugins
    from benchmark.plugin.specs import build_upstream, parse_upstream

    texts = [t for t, _ in interleave(vader_texts())][: args.n]
    up = build_upstream(parse_upstream("minilm"), get_plugins().registry)

    def run(bucketed: bool) -> np.ndarray:
        out = np.zeros((len(texts), up.num_layers + 1, up.hidden_size), np.float32)
        for idx, pooled in iter_pooled(up, texts, "mean", args.batch_size, bucketed=bucketed):
            out[idx] = pooled
        return out

    run(True)  # warm-up
    ratios, t_b, t_a = [], [], []
    for r in range(args.runs):
        ta, arrival = timed(lambda: run(False))
        tb, bucketed = timed(lambda: run(True))
        diff = float(np.abs(arrival - bucketed).max())
        ratios.append(tb / ta)
        t_a.append(ta), t_b.append(tb)
        print(f"run {r + 1}: arrival {ta:.1f}s ({len(texts) / ta:.0f}/s), bucketed {tb:.1f}s ({len(texts) / tb:.0f}/s), "
              f"max |feature difference| {diff:.2e}", flush=True)
        assert diff < 1e-4, "bucketing must not change the features"
    words = [len(t.split()) for t in texts]
    print(f"\nmachine: {machine()}; {len(texts)} snippets of {min(words)}-{max(words)} words, batch {args.batch_size}")
    print(f"P3 bucketed / arrival order = {median(t_b):.1f}s / {median(t_a):.1f}s = {median(ratios):.3f}  "
          f"(target <= 0.67; features equal to 1e-4)")
    write_json(args.json, {"P3": median(ratios)}, args.runs, seconds={"bucketed": t_b, "arrival": t_a},
               snippets=len(texts), batch_size=args.batch_size)


if __name__ == "__main__":
    main()
