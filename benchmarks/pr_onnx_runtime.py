"""PR: a frozen text encoder's forward passes on ONNX Runtime ÷ on PyTorch, and how far their features differ.

The `minilm` upstream (all-MiniLM-L6-v2) encodes the distinct snippets of the offline-text suite in bench's
length-sorted batches, once on PyTorch (`BENCH_RUNTIME=torch`) and once on ONNX Runtime (the default,
upstreams/onnx_runtime.py), the sides interleaved run by run in one process; the ONNX export is done before the
first timed run (its cost, once per weights, is part of P6's cold run instead). Printed: each side's seconds, the
ratio (median of --runs) and the largest difference of the mean-pooled features, relative to their scale.
Usage: python benchmarks/pr_onnx_runtime.py [--runs 3] [--limit N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, median, timed  # noqa: E402
from p6_first_run import suite_inputs  # noqa: E402


def encode(upstream, inputs: list[str], batch: int, runtime: str):
    """Mean-pooled features of every layer, (examples, layers, dim), on the given runtime."""
    import numpy as np
    import torch

    from benchmark.features.extract import length_sorted_batches

    os.environ["BENCH_RUNTIME"] = runtime
    upstream._onnx = None  # the runtime is chosen when the upstream's twin is made
    out = np.zeros((len(inputs), upstream.num_layers + 1, upstream.hidden_size), np.float32)
    with torch.inference_mode():
        for idx in length_sorted_batches(inputs, batch):
            hs = upstream([inputs[i] for i in idx])
            m = hs.mask.unsqueeze(-1).float()
            out[idx] = torch.stack([(h * m).sum(1) / m.sum(1) for h in hs.layers], 1).numpy()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--limit", type=int, default=None, help="only the first N distinct snippets")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import numpy as np

    from benchmark.plugin.manager import get_plugins
    from benchmark.plugin.specs import build_upstream, parse_upstream

    unique, _total, batch = suite_inputs()
    unique = unique[: args.limit] if args.limit else unique
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["BENCH_CACHE"] = tmp  # a fresh place for the exported graph
        upstream = build_upstream(parse_upstream("minilm"), get_plugins().registry)
        encode(upstream, unique[:64], batch, "onnx")  # export once, warm both sides' kernels
        encode(upstream, unique[:64], batch, "torch")
        ratios, t_ort, t_torch, gap = [], [], [], 0.0
        for run in range(args.runs):
            a, ref = timed(lambda: encode(upstream, unique, batch, "torch"))
            b, got = timed(lambda: encode(upstream, unique, batch, "onnx"))
            gap = max(gap, float(np.abs(got - ref).max() / np.abs(ref).max()))
            ratios.append(b / a), t_ort.append(b), t_torch.append(a)
            print(f"run {run + 1}: PyTorch {a:.1f}s, ONNX Runtime {b:.1f}s, ratio {b / a:.3f}", flush=True)
    print(f"\nmachine: {machine()}; {len(unique)} distinct snippets, batch {batch}")
    print(f"PR ONNX Runtime / PyTorch = {median(t_ort):.1f}s / {median(t_torch):.1f}s = {median(ratios):.3f}; "
          f"largest feature difference {gap:.1e} of the features' scale")


if __name__ == "__main__":
    main()
