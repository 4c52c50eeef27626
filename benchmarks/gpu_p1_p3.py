"""GPU: P1, P3 and sentences/s on a BERT-base-size encoder, for the day the device tool lends a card.

The encoder is BERT-base's shape with random weights (`BertConfig()`: 12 layers, 768 wide; MiniLM's WordPiece
tokenizer), saved as a local checkpoint and read as bench's `bert:DIR` upstream. Inputs are seeded word sequences
of 1/4 to all of 128 or 512 tokens. In one process, for each length:
  P1  bench's frozen extraction (benchmark.features.extract into a fresh cache: every layer mean-pooled, written to
      disk) ÷ the raw transformers forward passes (every hidden state) over the same length-sorted batches;
  P3  bench's length-sorted batches ÷ batches in arrival order (features equal to 1e-3 of their scale);
  ST  sentences/s of bench's extraction beside sentence-transformers' `encode` (mean pooling, same checkpoint,
      same batch size) on the same card.
Prints the card's name. Usage: python benchmarks/gpu_p1_p3.py [--device cuda] [--n 4096] [--batch-size 64]
[--layers 12] [--lengths 128,512] (--device cpu --n 128 --layers 2 checks the script itself on a CPU).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import median, timed, write_json  # noqa: E402


def checkpoint(root: Path, layers: int) -> Path:
    import torch
    from transformers import BertConfig, BertModel

    from upstreams.text import minilm_path

    torch.manual_seed(0)
    out = root / "bert-base-random"
    BertModel(BertConfig(num_hidden_layers=layers)).save_pretrained(out)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (Path(minilm_path()) / name).is_file():
            shutil.copy(Path(minilm_path()) / name, out / name)
    return out


def texts(n: int, tokens: int, seed: int = 0) -> list[str]:
    """Word sequences of tokens/4 to tokens-2 words (about one WordPiece token each), arrival order random."""
    import numpy as np

    words = ("the old man painted a red door while my sister carried heavy boxes across the quiet garden and "
             "nobody noticed how late it was getting").split()
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(words, size=int(rng.integers(tokens // 4, tokens - 1)))) for _ in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--lengths", default="128,512")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", type=Path, help="write the figures here (benchmarks/regenerate.py reads them)")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import AutoModel, AutoTokenizer

    from benchmark.features.cache import FeatureCache
    from benchmark.features.extract import extract, iter_pooled, length_sorted_batches
    from benchmark.plugin.manager import get_plugins
    from benchmark.plugin.specs import build_upstream, parse_upstream

    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    card = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = checkpoint(Path(tmp), args.layers)
        up = build_upstream(parse_upstream(f"bert:{path}"), get_plugins().registry).to(dev)
        tok = AutoTokenizer.from_pretrained(path)
        raw = AutoModel.from_pretrained(path).eval().to(dev)
        for length in (int(x) for x in args.lengths.split(",")):
            inputs = texts(args.n, length)
            st = SentenceTransformer(modules=[models.Transformer(str(path), max_seq_length=length),
                                              models.Pooling(768, "mean")], device=str(dev))

            def raw_pass() -> None:
                with torch.inference_mode():
                    for idx in length_sorted_batches(inputs, args.batch_size):
                        enc = tok([inputs[i] for i in idx], truncation=True, max_length=length, padding=True,
                                  return_tensors="pt").to(dev)
                        raw(**enc, output_hidden_states=True)
                sync()

            def bench_pass(k: int) -> None:
                with torch.inference_mode():
                    extract(up, inputs, "mean", args.batch_size, FeatureCache(Path(tmp) / f"cache-{length}-{k}"))
                sync()

            def pooled(bucketed: bool) -> np.ndarray:
                out = np.zeros((len(inputs), up.num_layers + 1, up.hidden_size), np.float32)
                with torch.inference_mode():
                    for idx, rows in iter_pooled(up, inputs, "mean", args.batch_size, bucketed=bucketed):
                        out[idx] = rows
                sync()
                return out

            raw_pass(), bench_pass(-1)  # warm both
            p1, p3, rates = [], [], []
            for k in range(args.runs):
                t_raw, _ = timed(raw_pass)
                t_bench, _ = timed(lambda k=k: bench_pass(k))
                t_arrival, a = timed(lambda: pooled(False))
                t_sorted, b = timed(lambda: pooled(True))
                t_st, _ = timed(lambda: st.encode(inputs, batch_size=args.batch_size))
                gap = float(np.abs(a - b).max() / np.abs(b).max())
                p1.append(t_bench / t_raw), p3.append(t_sorted / t_arrival)
                rates.append((len(inputs) / t_bench, len(inputs) / t_st))
                print(f"[{length} tokens] run {k + 1}: raw {t_raw:.2f}s bench {t_bench:.2f}s; arrival {t_arrival:.2f}s "
                      f"sorted {t_sorted:.2f}s (features differ by {gap:.1e} of their scale); "
                      f"sentence-transformers {t_st:.2f}s", flush=True)
            print(f"{card}, BERT-base shape ({args.layers} layers, random weights), {args.n} inputs up to {length} "
                  f"tokens, batch {args.batch_size}: P1 {median(p1):.3f} (target <= 1.15), P3 {median(p3):.3f} "
                  f"(<= 0.67), sentences/s bench {median([r[0] for r in rates]):.0f} vs sentence-transformers "
                  f"{median([r[1] for r in rates]):.0f}", flush=True)
            figures |= {f"P1@{length}": median(p1), f"P3@{length}": median(p3)}
    write_json(args.json, figures, args.runs, card=card, layers=args.layers, inputs=args.n)


if __name__ == "__main__":
    main()
