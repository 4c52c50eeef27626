"""The bad-input battery: every case is one clear line on stderr, exit code 2, no traceback, nothing changed.

Each case runs the real `bench` command in a fresh workspace (tests/reliability_workspace.py) whose results
directory already holds a finished result and whose cache holds a file; after the command, every file that was
there must be byte-identical and no result or report may have been written (the cache may gain housekeeping
files such as an entry's lock). `{ws}` in an argument or an expected message is the workspace path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from reliability_workspace import TASKS_YAML, Workspace, make_workspace, score_rows, sentiment_rows, tsv


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    message: str
    setup: Callable[[Workspace], None] | None = None
    env: dict[str, str] = field(default_factory=dict)
    run: bool = True
    """True: args are added to `bench run` on the char upstream and the mini suite of the workspace."""


def _tasks(text: str) -> Callable[[Workspace], None]:
    def setup(ws: Workspace) -> None:
        ws.tasks.write_text(text, encoding="utf-8")

    return setup


def _edit_task(old: str, new: str) -> Callable[[Workspace], None]:
    assert old in TASKS_YAML, old
    return _tasks(TASKS_YAML.replace(old, new, 1))


def _sent(header: list[str], rows: list[list[str]], split: str = "train") -> Callable[[Workspace], None]:
    def setup(ws: Workspace) -> None:
        tsv(ws.data / "SENT" / f"{split}.tsv", header, rows)

    return setup


def _raw(rel: str, data: bytes) -> Callable[[Workspace], None]:
    def setup(ws: Workspace) -> None:
        (ws.root / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws.root / rel).write_bytes(data)

    return setup


def _model_dir(files: dict[str, str]) -> Callable[[Workspace], None]:
    def setup(ws: Workspace) -> None:
        d = ws.root / "model"
        d.mkdir()
        for name, text in files.items():
            (d / name).write_text(text, encoding="utf-8")

    return setup


def _remove(rel: str) -> Callable[[Workspace], None]:
    return lambda ws: (ws.root / rel).unlink()


def _both(*steps: Callable[[Workspace], None]) -> Callable[[Workspace], None]:
    def setup(ws: Workspace) -> None:
        for step in steps:
            step(ws)

    return setup


PWNED_TAG = "schema: 1\ntasks: !!python/object/apply:os.system ['touch {ws}/pwned']\n"

CASES = [
    # --- tasks files --------------------------------------------------------------------------------------------
    Case("yaml-malformed", (), "error: {ws}/tasks.yaml: invalid YAML: line 4: expected ',' or ']', but got '<stream end>'",
         _tasks("schema: 1\ntasks:\n  mini-sent: {description: [unclosed\n")),
    Case("yaml-unknown-key", (), "error: {ws}/tasks.yaml:12: task 'mini-sent': unknown key 'lables'",
         _edit_task("    labels: ['0', '1']", "    lables: ['0', '1']")),
    Case("yaml-wrong-type", (), "error: {ws}/tasks.yaml:9: task 'mini-sent': version: Input should be a valid integer "
         "(got 'one')", _edit_task("    version: 1\n    modality: text\n    head: class",
                                                            "    version: one\n    modality: text\n    head: class")),
    Case("yaml-missing-field", (), "error: {ws}/tasks.yaml:18: task 'mini-reg': missing required field 'head'",
         _edit_task("    head: regression\n", "")),
    Case("yaml-duplicate-task", (), "error: 2 problems in {ws}/tasks.yaml:\n{ws}/tasks.yaml:5: suite 'mini' names "
         "unknown task 'mini-reg' — did you mean 'mini-sent'?\n{ws}/tasks.yaml:18: task 'sst2' is already defined by "
         "benchmark.tasks.builtin; rename it", _edit_task("  mini-reg:\n", "  sst2:\n")),
    Case("yaml-duplicate-key", (), "error: {ws}/tasks.yaml: line 18: duplicate key 'mini-sent'",
         _edit_task("  mini-reg:\n", "  mini-sent:\n")),
    Case("yaml-code-tag", (), "error: {ws}/tasks.yaml: invalid YAML: line 2: could not determine a constructor for "
         "the tag 'tag:yaml.org,2002:python/object/apply:os.system'", lambda ws: ws.tasks.write_text(
             PWNED_TAG.format(ws=ws.root), encoding="utf-8")),
    Case("yaml-unknown-metric", (), "error: {ws}/tasks.yaml:13: task 'mini-sent' uses unknown metric 'acuracy' — did you "
         "mean 'accuracy'?", _edit_task("    metrics: [accuracy]\n    score: [accuracy]", "    metrics: [acuracy]\n    score: [acuracy]")),
    Case("yaml-unknown-head", (), "error: {ws}/tasks.yaml:11: task 'mini-sent' uses unknown head 'clasification' — did "
         "you mean 'classification'?", _edit_task("head: classification", "head: clasification")),
    Case("tasks-file-missing", ("--tasks-file", "{ws}/nope.yaml"), "error: tasks file not found: {ws}/nope.yaml"),
    # --- names --------------------------------------------------------------------------------------------------
    Case("unknown-upstream", ("--upstream", "chr"), "error: unknown upstream 'chr' — did you mean 'char'? "
         "(bench list upstreams)"),
    Case("unknown-task", ("--tasks", "mini-sant"), "error: unknown task or suite 'mini-sant' — did you mean "
         "'mini-sent'? (bench list tasks)"),
    Case("unknown-suite", ("--tasks", "offline-txt"), "error: unknown task or suite 'offline-txt' — did you mean "
         "'offline-text'? (bench list tasks)"),
    Case("unknown-executor", ("--executor", "slurm"), "error: unknown executor 'slurm' (bench list executors)"),
    Case("unknown-modifier", ("--upstream", "char+random"), "error: unknown upstream modifier '+random' in "
         "'char+random' (known: +rand, +re-emb)"),
    Case("modality-mismatch", ("--upstream", "fbank"), "error: upstream 'fbank' is a speech model and task "
         "'mini-sent' is a text task; pick tasks of the upstream's modality"),
    # --- data ---------------------------------------------------------------------------------------------------
    Case("data-dir-missing", ("--data-dir", "{ws}/nowhere"), "error: data directory not found: {ws}/nowhere "
         "(--data-dir / BENCH_DATA_DIR)"),
    Case("split-file-missing", (), "error: cannot start: missing files in {ws}/data for mini-sent (expected "
         "SENT/dev.tsv in the GLUE download layout, or leave those tasks out of --tasks)", _remove("data/SENT/dev.tsv")),
    Case("tsv-wrong-columns", (), "error: {ws}/data/SENT/train.tsv: no column 'sentence' (columns: text, label)",
         _sent(["text", "label"], sentiment_rows(30))),
    Case("split-empty", (), "error: task 'mini-sent': the 'train' split is empty", _sent(["sentence", "label"], [])),
    Case("label-outside-set", (), "error: task 'mini-sent': label '2' at {ws}/data/SENT/dev.tsv:4 is not one of "
         "['0', '1']", _sent(["sentence", "label"], [*sentiment_rows(2), ["a third kind", "2"]], "dev")),
    Case("regression-not-numeric", (), "error: task 'mini-reg': non-numeric target 'high' at "
         "{ws}/data/REG/train.tsv:3", lambda ws: tsv(ws.data / "REG" / "train.tsv", ["sentence", "score"],
                                                     [*score_rows(1), ["so good", "high"]])),
    Case("not-utf8", (), "error: {ws}/data/SENT/train.tsv: line 2 is not UTF-8 text (byte 0xe9); convert the file "
         "with iconv -t UTF-8",
         _raw("data/SENT/train.tsv", b"sentence\tlabel\ncaf\xe9 au lait\t1\n")),
    # --- models -------------------------------------------------------------------------------------------------
    Case("checkpoint-missing", ("--upstream", "bert:{ws}/no-such-model", "--tasks", "mini-sent"),
         "error: cannot start: missing model directory '{ws}/no-such-model' has no config.json (pass a directory "
         "saved with save_pretrained)"),
    Case("checkpoint-not-a-model", ("--upstream", "bert:{ws}/model", "--tasks", "mini-sent"),
         "error: cannot load text model '{ws}/model': Error no file named model.safetensors, or "
         "pytorch_model.bin, found in directory {ws}/model.", _model_dir({"config.json": '{"model_type": "bert"}'})),
    Case("checkpoint-bad-config", ("--upstream", "bert:{ws}/model", "--tasks", "mini-sent"),
         "error: cannot load text model '{ws}/model': It looks like the config file at "
         "'{ws}/model/config.json' is not a valid JSON file.",
         _model_dir({"config.json": "{not json"})),
    # --- options ------------------------------------------------------------------------------------------------
    Case("seeds-not-integers", ("--seeds", "0,1.5"), "error: Invalid value for '--seeds': '0,1.5' is not a "
         "comma-separated list of integers (e.g. 0,1,2) (see 'bench run --help')"),
    Case("seeds-empty", ("--seeds", ","), "error: Invalid value for '--seeds': give at least one seed (e.g. 0,1,2) "
         "(see 'bench run --help')"),
    Case("lr-not-a-number", ("--lr", "fast"), "error: Invalid value for '--lr': 'fast' is not a comma-separated list "
         "of numbers (e.g. 1e-4,1e-3) (see 'bench run --help')"),
    Case("conflict-head-lr-frozen", ("--head-lr", "1e-3"), "error: --head-lr applies to --mode finetune (in frozen "
         "mode only the head trains: use --lr)"),
    Case("conflict-cache-options", ("--no-cache", "--cache-dtype", "float16"), "error: --cache-dtype has no effect "
         "with --no-cache; drop one of them"),
    Case("layer-out-of-range", ("--layer", "9"), "error: --layer 9 is out of range for upstream 'char', which has "
         "layers 0 (embeddings) to 2"),
    Case("device-cuda-absent", ("--device", "cuda"), "error: --device cuda but no CUDA device is available; use "
         "--device cpu or auto"),
    Case("batch-size-zero", ("--batch-size", "64,0"), "error: --batch-size must be a whole number >= 1 (got 0)"),
    Case("lr-negative", ("--lr", "-1"), "error: --lr must be a positive number (got -1.0)"),
    Case("lr-not-finite", ("--lr", "1e-3,nan"), "error: --lr must be a positive number (got nan)"),
    Case("weight-decay-negative", ("--weight-decay", "-0.1"), "error: --weight-decay must be a number >= 0 (got -0.1)"),
    Case("seed-out-of-range", ("--seeds", "0,99999999999"), "error: seed 99999999999 is out of range: seeds are whole "
         "numbers from 0 to 4294967295"),
    Case("output-empty", ("--output", ""), "error: Invalid value for '--output' / '-o': is empty; give a path (see "
         "'bench run --help')"),
    Case("data-dir-is-a-file", ("--data-dir", "{ws}/tasks.yaml"), "error: data directory is not a directory: "
         "{ws}/tasks.yaml (--data-dir / BENCH_DATA_DIR)"),
    Case("epochs-zero", ("--epochs", "0"), "error: Invalid value for '--epochs': 0 is not in the range x>=1. "
         "(see 'bench run --help')"),
    # --- where things are written -------------------------------------------------------------------------------
    Case("output-under-a-file", ("--output", "{ws}/tasks.yaml/results"), "error: cannot write results to "
         "{ws}/tasks.yaml/results: Not a directory; pass --output DIR"),
    Case("output-is-a-file", ("--output", "{ws}/tasks.yaml"), "error: output path {ws}/tasks.yaml exists and is not "
         "a directory; pass --output DIR"),
    Case("cache-is-a-file", (), "error: cannot use the feature cache at {ws}/cache/marker: Not a directory (set "
         "BENCH_CACHE to a writable directory, or run with --no-cache)", env={"BENCH_CACHE": "{ws}/cache/marker"}),
    Case("cache-limit-not-a-number", (), "error: BENCH_CACHE_MAX_GB='lots' is not a number of gigabytes",
         env={"BENCH_CACHE_MAX_GB": "lots"}),
    # --- other commands -----------------------------------------------------------------------------------------
    Case("report-missing-dir", ("report", "--output", "{ws}/nothing"), "error: no results directory {ws}/nothing; run "
         "`bench run --output {ws}/nothing` first", run=False),
    Case("report-html-is-a-dir", ("report", "--output", "{ws}/out", "--html", "{ws}/out"), "error: Invalid value for "
         "'--html': File '{ws}/out' is a directory. (see 'bench report --help')", run=False),
    Case("list-bad-tasks-file", ("list", "tasks", "--tasks-file", "{ws}/tasks.yaml"), "error: {ws}/tasks.yaml: "
         "expected a mapping with 'schema', 'suites' and 'tasks' at the top", _tasks("- just\n- a list\n"), run=False),
]


def _fill(text: str, ws: Workspace) -> str:
    return text.replace("{ws}", str(ws.root))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    if case.setup is not None:
        case.setup(ws)
    before = ws.snapshot()
    args = [_fill(a, ws) for a in case.args]
    env = {k: _fill(v, ws) for k, v in case.env.items()}
    r = ws.bench(*(ws.run_args(*args) if case.run else args), env=env)
    assert "Traceback" not in r.stderr + r.stdout
    assert r.stderr.strip() == _fill(case.message, ws), r.stderr
    assert r.returncode == 2
    after = ws.snapshot()
    changed = sorted(k for k in before if before[k] != after.get(k))
    assert not changed, f"a failed command changed or removed files: {changed}"
    # (housekeeping may appear: a cache lock file, or the job's claim in OUTPUT/.locks, never a result)
    new = sorted(k for k in after.keys() - before.keys() if not k.startswith(("cache/", "out/.locks/")))
    assert not new, f"a failed command wrote {new}"
    assert not (ws.root / "pwned").exists()


def test_the_battery_is_big_enough() -> None:
    assert len({c.id for c in CASES}) == len(CASES) >= 25
