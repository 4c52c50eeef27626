"""Re-make benchmarks/README.md's figures: run the benchmark scripts (each writes its figures to
benchmarks/results/NAME.json with --json) and rewrite the table between the README's `figures` markers from those
files: each ratio's median, its runs, its target and whether it is met, and the machine, versions and commit it was
measured on. Every number in the table comes from a file a reader can re-make with this command.

    python benchmarks/regenerate.py                  # every CPU script (P1-P7, PA), then the table
    python benchmarks/regenerate.py --only p3,p7     # those scripts, then the table (the others' files kept)
    python benchmarks/regenerate.py --table-only     # the table from the files already there
    python benchmarks/regenerate.py --gpu            # also gpu_p1_p3.py (needs a CUDA card)

Run it on a quiet machine: other work on the cores stretches wall times far more than the differences measured.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
README = HERE / "README.md"
BEGIN = "<!-- figures:begin (written by `python benchmarks/regenerate.py`: edit the scripts, not this table) -->"
END = "<!-- figures:end -->"

# name: (script, extra arguments, {ratio: (what it divides, target or None when only reported)})
SCRIPTS: dict[str, tuple[str, tuple[str, ...], dict[str, tuple[str, float | None]]]] = {
    "p1_p2": ("p1_p2_overhead.py", (), {"P1": ("bench frozen probe, cold cache ÷ raw transformers forward passes", 1.15),
                                        "P2": ("second run, warm cache ÷ first run", 0.10)}),
    "p3": ("p3_bucketing.py", (), {"P3": ("length-bucketed ÷ arrival-order batches", 0.67)}),
    "p4": ("p4_mteb.py", (), {"P4": ("bench ÷ MTEB classification (whole train split), equal accuracy", 0.75)}),
    "p5": ("p5_memory.py", (), {"P5": ("peak RSS at ~10× the examples ÷ at 1×", 1.3)}),
    "p6": ("p6_first_run.py", (), {"P6": ("the README's first run ÷ raw forward passes of its distinct inputs", 1.15)}),
    "p7": ("p7_finetune.py", (), {"P7": ("bench finetune ÷ transformers Trainer (run_glue recipe), equal accuracy",
                                         1.0)}),
    "pa": ("pa_augment.py", (), {"PA": ("batched SimCLR/BYOL augmentations ÷ torchvision v2 per image", None)}),
    "gpu": ("gpu_p1_p3.py", (), {f"{r}@{n}": (f"{r} on a CUDA card, BERT-base shape, {n}-token inputs",
                                              1.15 if r == "P1" else 0.67) for n in (128, 512) for r in ("P1", "P3")}),
}
CPU_SCRIPTS = [name for name in SCRIPTS if name != "gpu"]


def run_script(name: str) -> int:
    script, extra, _ = SCRIPTS[name]
    out = RESULTS / f"{name}.json"
    cmd = [sys.executable, str(HERE / script), *extra, "--json", str(out)]
    print(f"[regenerate] {' '.join(cmd)}", flush=True)
    return subprocess.run(cmd, check=False).returncode


def machine_line(m: dict[str, Any]) -> str:
    gpu = f", {m['gpu']}" if m.get("gpu") else ""
    return (f"{m.get('cpu')}, {m.get('cores')} cores{gpu}; torch {m.get('torch')}, transformers {m.get('transformers')}, "
            f"Python {m.get('python')}, {m.get('threads')} threads; commit {m.get('commit')}")


def table(figures: dict[str, dict[str, Any]]) -> str:
    """The README's figures section from the scripts' files (name -> parsed JSON): one row per ratio, the machines
    listed once under it."""
    rows = ["| ratio | what | median | runs | target | | measured | machine |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    machines: dict[str, int] = {}
    for name, (_, _, ratios) in SCRIPTS.items():
        data = figures.get(name)
        if data is None:
            continue
        line = machine_line(data.get("machine", {}))
        ref = machines.setdefault(line, len(machines) + 1)
        for ratio, (what, target) in ratios.items():
            value = data.get("ratios", {}).get(ratio)
            if value is None:
                continue
            if target is None:
                verdict, goal = "reported", "—"
            else:
                verdict, goal = ("met" if value <= target else "**not met**"), f"≤ {target:g}"
            rows.append(f"| {ratio} | {what} | **{value:.3f}** | {data.get('runs')} | {goal} | {verdict} | "
                        f"{str(data.get('measured', ''))[:10]} | [{ref}] |")
    if len(rows) == 2:
        return "No figures in benchmarks/results/ yet: run `python benchmarks/regenerate.py`."
    notes = [f"[{ref}] {line}" for line, ref in machines.items()]
    return "\n".join(rows) + "\n\n" + "\n".join(notes)


def read_figures() -> dict[str, dict[str, Any]]:
    out = {}
    for name in SCRIPTS:
        path = RESULTS / f"{name}.json"
        if path.is_file():
            out[name] = json.loads(path.read_text(encoding="utf-8"))
    return out


def rewrite(readme: str, section: str) -> str:
    """The README with the text between the markers replaced (the markers appended at the end if absent)."""
    block = f"{BEGIN}\n{section}\n{END}"
    if BEGIN in readme and END in readme:
        head, rest = readme.split(BEGIN, 1)
        return head + block + rest.split(END, 1)[1]
    return readme.rstrip("\n") + "\n\n## Figures\n\n" + block + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", help="comma-separated scripts to run: " + ", ".join(SCRIPTS))
    ap.add_argument("--table-only", action="store_true", help="run nothing; rewrite the table from the files")
    ap.add_argument("--gpu", action="store_true", help="also run gpu_p1_p3.py (needs a CUDA card)")
    args = ap.parse_args(argv)
    names = [] if args.table_only else (args.only.split(",") if args.only else CPU_SCRIPTS + (["gpu"] if args.gpu else []))
    unknown = [n for n in names if n not in SCRIPTS]
    if unknown:
        print(f"error: unknown script '{unknown[0]}' (scripts: {', '.join(SCRIPTS)})", file=sys.stderr)
        return 2
    failed = [n for n in names if run_script(n) != 0]
    README.write_text(rewrite(README.read_text(encoding="utf-8"), table(read_figures())), encoding="utf-8")
    print(f"[regenerate] {README} rewritten from {RESULTS}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
