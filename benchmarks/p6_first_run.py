"""P6: the README's first `bench run` ÷ the raw forward passes of its unique inputs.

P6 = `bench run` as the quick start runs it (minilm on the `offline-text` suite: vader-polarity and vader-score,
seed 0, a cold feature cache: load the model and data, extract features, train and select both heads, evaluate,
write the results) ÷ the raw `transformers` forward passes of every distinct snippet those two tasks read (load
the model, tokenize, forward with every hidden state, length-sorted batches of bench's size). Target <= 1.15.

The two tasks split the same movie-review snippets differently (vader-score keeps the neutral ones), so without
sharing rows between cache entries the snippets common to both would be encoded twice (P6 was 1.5 before
benchmark.features.reuse). Same model, one process, the sides interleaved run by run; medians of --runs runs.
Usage: python benchmarks/p6_first_run.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import fresh_cache, machine, median, timed, write_json  # noqa: E402
from p1_p2_overhead import raw_forward  # noqa: E402


def suite_inputs() -> tuple[list[str], int, int]:
    """The distinct inputs of every split the suite's jobs read, how many inputs in all, and the batch size."""
    from benchmark.engine.request import COMMON_DEFAULTS
    from benchmark.engine.runner import default_cache_dir
    from benchmark.plugin.manager import get_plugins
    from benchmark.tasks import data

    reg = get_plugins().registry
    every: list[str] = []
    for name in reg.suites.get("offline-text").obj.tasks:
        td = data.load(reg.tasks.get(name).obj, None, reg, default_cache_dir())
        every += [*td.train.inputs, *td.select.inputs, *(x for ex in td.evals.values() for x in ex.inputs)]
    return list(dict.fromkeys(every)), len(every), int(COMMON_DEFAULTS["eval_batch_size"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", type=Path, help="write the figures here (benchmarks/regenerate.py reads them)")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import benchmark

    unique, total, batch = suite_inputs()
    raw_forward(unique[:64], batch)  # warm imports and kernels for both sides
    ratios, bench_s, raw_s = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            t_raw, _ = timed(lambda: raw_forward(unique, batch))
            cache = fresh_cache(Path(tmp))
            out = Path(tmp) / f"out{run}"
            t_bench, results = timed(lambda: benchmark.run("minilm", "offline-text", seeds=[0], output=out,
                                                           cache_dir=cache))
            metas = [json.loads(p.read_text()) for p in (cache / "features").glob("*/meta.json")]
            computed = sum(m.get("computed", m["shape"][0]) for m in metas)
            ratios.append(t_bench / t_raw)
            bench_s.append(t_bench), raw_s.append(t_raw)
            print(f"run {run + 1}: raw forward {t_raw:.1f}s, bench cold {t_bench:.1f}s "
                  f"(extract {sum(r.durations['extract'] for r in results):.1f}s, inputs encoded {computed}); "
                  + ", ".join(f"{r.task} {r.main_score:.2f}" for r in results), flush=True)
    print(f"\nmachine: {machine()}; offline-text reads {total} inputs, {len(unique)} distinct; batch {batch}")
    print(f"P6 bench cold / raw forward of the distinct inputs = {median(bench_s):.1f}s / {median(raw_s):.1f}s = "
          f"{median(ratios):.3f}  (target <= 1.15)")
    write_json(args.json, {"P6": median(ratios)}, args.runs, seconds={"bench_cold": bench_s, "raw_forward": raw_s},
               inputs={"read": total, "distinct": len(unique)})


if __name__ == "__main__":
    main()
