"""P1 and P2: what a frozen benchmark costs beyond the upstream's forward passes, and what a second run costs.

P1 = bench end to end (cold feature cache: load model and data, extract features, train and select the head,
     evaluate, write the result) ÷ the raw `transformers` forward passes of the same examples in the same
     batches (load model, tokenize, forward with every hidden state). Target <= 1.15.
P2 = a second run on the same upstream x task with another seed and learning rate (warm cache) ÷ the first
     run. Target <= 0.1.

Same model (all-MiniLM-L6-v2), same data (the vader-polarity train / select / test splits), one process,
medians of --runs runs. Usage: python benchmarks/p1_p2_overhead.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import fresh_cache, machine, median, timed, write_json  # noqa: E402


def raw_forward(inputs: list[str], batch_size: int) -> None:
    """The floor: load the model, tokenize and run it over the same length-sorted batches bench uses."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from benchmark.features.extract import length_sorted_batches
    from upstreams.text import minilm_path

    path = minilm_path()
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    with torch.inference_mode():
        for idx in length_sorted_batches(inputs, batch_size):
            enc = tok([inputs[i] for i in idx], truncation=True, max_length=512, padding=True, return_tensors="pt")
            model(**enc, output_hidden_states=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", type=Path, help="write the figures here (benchmarks/regenerate.py reads them)")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import benchmark
    from benchmark.engine.runner import default_cache_dir
    from benchmark.plugin.manager import get_plugins
    from benchmark.tasks import data

    reg = get_plugins().registry
    task = reg.tasks.get("vader-polarity").obj
    td = data.load(task, None, reg, default_cache_dir())
    inputs = [*td.train.inputs, *td.dev.inputs, *td.evals["test"].inputs]
    raw_forward(inputs[:64], 64)  # warm imports and kernels for both sides
    p1, p2, bench_s, raw_s, warm_s = [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            t_raw, _ = timed(lambda: raw_forward(inputs, 64))
            cache = fresh_cache(Path(tmp))
            out = Path(tmp) / f"out{run}"
            t_bench, [first] = timed(lambda: benchmark.run("minilm", "vader-polarity", seeds=[0], output=out,
                                                           cache_dir=cache))
            t_warm, [second] = timed(lambda: benchmark.run("minilm", "vader-polarity", seeds=[1], output=out,
                                                           cache_dir=cache, lr=3e-3))
            assert second.durations["extract"] < 1.0, "the second run must read features from the cache"
            p1.append(t_bench / t_raw)
            p2.append(t_warm / t_bench)
            bench_s.append(t_bench), raw_s.append(t_raw), warm_s.append(t_warm)
            print(f"run {run + 1}: raw forward {t_raw:.1f}s, bench cold {t_bench:.1f}s "
                  f"(extract {first.durations['extract']:.1f}s, train {first.durations['train']:.1f}s), "
                  f"bench warm {t_warm:.1f}s; accuracy {first.scores['accuracy']:.2f} / {second.scores['accuracy']:.2f}",
                  flush=True)
    print(f"\nmachine: {machine()}; {len(inputs)} examples (vader-polarity train + select + test), batch 64")
    print(f"P1 bench cold / raw forward = {median(bench_s):.1f}s / {median(raw_s):.1f}s = {median(p1):.3f}  (target <= 1.15)")
    print(f"P2 second run / first run   = {median(warm_s):.1f}s / {median(bench_s):.1f}s = {median(p2):.3f}  (target <= 0.10)")
    write_json(args.json, {"P1": median(p1), "P2": median(p2)}, args.runs, seconds={
        "bench_cold": bench_s, "raw_forward": raw_s, "bench_warm": warm_s}, examples=len(inputs))


if __name__ == "__main__":
    main()
