"""Issue 23: a tasks file's problems are all reported in one run, each at its file and line; an empty data file is
named as empty; bench refuses to create a path whose parent folder does not exist (like `mkdir` without -p).

Each case runs the real `bench` command in a fresh workspace (tests/reliability_workspace.py), asserts the exact
stderr and exit code 2, and that nothing in the workspace was changed or written.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from reliability_workspace import TASKS_YAML, Workspace, make_workspace


def _fill(text: str, ws: Workspace) -> str:
    return text.replace("{ws}", str(ws.root))


def _refused(ws: Workspace, args: list[str], message: str) -> None:
    """`bench ARGS` says exactly `message` on stderr, exits 2, and changes or writes nothing in the workspace."""
    before = ws.snapshot()
    r = ws.bench(*args)
    assert "Traceback" not in r.stderr + r.stdout
    assert r.stderr.strip() == _fill(message, ws), r.stderr
    assert r.returncode == 2
    after = ws.snapshot()
    assert not [k for k in before if before[k] != after.get(k)], "a refused command changed files"
    new = sorted(k for k in after.keys() - before.keys() if not k.startswith("cache/"))
    assert not new, f"a refused command wrote {new}"


def _edit(*pairs: tuple[str, str]) -> str:
    text = TASKS_YAML
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


# -- every problem of a tasks file at once -------------------------------------------------------------------------

FOUR_MISTAKES = _edit(
    ("tasks: [mini-sent, mini-reg]", "tasks: [mini-sent, mini-rag]"),  # line 5: a suite names an unknown task
    ("head: classification", "head: clasification"),  # line 11: an unknown head kind
    ("    metrics: [accuracy]\n", "    metrics: [accuracy, f2]\n"),  # line 13: an unknown metric
    ("    version: 1\n    modality: text\n    head: regression", "    version: 1\n    lables: [a]\n    modality: text\n"
     "    head: regression"),  # line 21: a schema error (an unknown key) in another task
)
FOUR_PROBLEMS = """\
error: 4 problems in {ws}/tasks.yaml:
{ws}/tasks.yaml:5: suite 'mini' names unknown task 'mini-rag'
{ws}/tasks.yaml:11: task 'mini-sent' uses unknown head 'clasification' — did you mean 'classification'?
{ws}/tasks.yaml:13: task 'mini-sent' uses unknown metric 'f2'
{ws}/tasks.yaml:21: task 'mini-reg': unknown key 'lables'"""


@pytest.mark.parametrize("command", ["validate", "run"])
def test_four_mistakes_are_reported_in_one_run(command: str, tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    ws.tasks.write_text(FOUR_MISTAKES, encoding="utf-8")
    args = ["validate", "--tasks-file", str(ws.tasks)] if command == "validate" else ws.run_args()
    _refused(ws, args, FOUR_PROBLEMS)


def test_every_schema_error_of_a_task_and_every_broken_rule(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    ws.tasks.write_text(_edit(
        ("    version: 1\n    modality: text\n    head: class", "    version: one\n    modality: txt\n    head: clas"),
        ("inputs: [sentence], label: label", "inputs: [1.5], label: label"),
        ("    metrics: [pearson, spearman]\n    score: [pearson, spearman]\n    evals: [dev]\n",
         "    metrics: [pearson]\n    score: [pearson, spearman, mse]\n    evals: [dev]\n    tests: [dev]\n"),
    ), encoding="utf-8")
    _refused(ws, ["validate", "--tasks-file", str(ws.tasks)], """\
error: 7 problems in {ws}/tasks.yaml:
{ws}/tasks.yaml:9: task 'mini-sent': version: Input should be a valid integer (got 'one')
{ws}/tasks.yaml:10: task 'mini-sent': modality: Input should be 'text', 'speech' or 'image' (got 'txt')
{ws}/tasks.yaml:11: task 'mini-sent' uses unknown head 'clasification' — did you mean 'classification'?
{ws}/tasks.yaml:17: task 'mini-sent': sources.local.inputs.0: Input should be a valid string (got 1.5)
{ws}/tasks.yaml:24: task 'mini-reg': score names 'spearman', which is not in metrics ['pearson']
{ws}/tasks.yaml:24: task 'mini-reg': score names 'mse', which is not in metrics ['pearson']
{ws}/tasks.yaml:26: task 'mini-reg': tests names 'dev', which is already a train, select or evaluation split""")


def test_problems_of_several_files_in_one_run(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    ws.tasks.write_text(_edit(("head: classification", "head: clasification")), encoding="utf-8")
    other = ws.root / "other.yaml"
    other.write_text("schema: 1\nsuits: {}\ntasks:\n  x:\n    description: d\n", encoding="utf-8")
    _refused(ws, ["validate", "--tasks-file", str(ws.tasks), "--tasks-file", str(other)], """\
error: 1 problem in {ws}/tasks.yaml:
{ws}/tasks.yaml:11: task 'mini-sent' uses unknown head 'clasification' — did you mean 'classification'?
8 problems in {ws}/other.yaml:
{ws}/other.yaml:2: unknown key 'suits'
{ws}/other.yaml:4: task 'x': missing required field 'version'
{ws}/other.yaml:4: task 'x': missing required field 'modality'
{ws}/other.yaml:4: task 'x': missing required field 'head'
{ws}/other.yaml:4: task 'x': missing required field 'metrics'
{ws}/other.yaml:4: task 'x': missing required field 'score'
{ws}/other.yaml:4: task 'x': missing required field 'evals'
{ws}/other.yaml:4: task 'x': missing required field 'sources'""")


def test_a_refused_file_leaves_nothing_registered(tmp_path: Path) -> None:
    from benchmark.errors import BenchError
    from benchmark.plugin.manager import add_task_files, load_plugins

    ws = make_workspace(tmp_path)
    ws.tasks.write_text(_edit(("head: regression", "head: regresion")), encoding="utf-8")
    plugins = load_plugins()
    with pytest.raises(BenchError, match=r"tasks.yaml:22: task 'mini-reg' uses unknown head 'regresion'"):
        add_task_files(plugins, [ws.tasks])
    assert "mini-sent" not in plugins.registry.tasks and "mini" not in plugins.registry.suites
    ws.tasks.write_text(TASKS_YAML, encoding="utf-8")  # fixed: the same process may add it now
    add_task_files(plugins, [ws.tasks])
    assert {"mini-sent", "mini-reg"} <= set(plugins.registry.tasks.names())


# -- an empty data file is named as empty, whatever its format -------------------------------------------------------

_CLASSIFY = ("head: classification\n    labels: ['0', '1']\n    metrics: [accuracy]\n    score: [accuracy]",
             "inputs: [sentence], label: label")
FORMAT_TASKS = {  # format -> (what the task predicts, its columns)
    **{fmt: _CLASSIFY for fmt in ("tsv", "glue-tsv", "csv", "jsonl", "json", "parquet")},
    "conllu": ("head: tagging\n    labels: [NOUN, VERB]\n    metrics: [token_accuracy]\n    score: [token_accuracy]",
               "inputs: [form], label: upos"),
    "conll": ("head: tagging\n    labels: [O, B-PER, I-PER]\n    metrics: [span_f1]\n    score: [span_f1]",
              "inputs: [0], label: -1"),
    "squad-json": ("head: span-qa\n    metrics: [squad_f1]\n    score: [squad_f1]",
                   "inputs: [question, context], label: answers"),
}


def test_every_registered_data_format_is_checked_here() -> None:
    from benchmark.plugin.manager import load_plugins

    assert set(FORMAT_TASKS) == set(load_plugins().registry.formats.names())


@pytest.mark.parametrize("content", [b"", b"\n\n"], ids=["0-bytes", "blank-lines"])
@pytest.mark.parametrize("fmt", sorted(FORMAT_TASKS))
def test_an_empty_data_file_is_named(fmt: str, content: bytes, tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    head, columns = FORMAT_TASKS[fmt]
    ws.tasks.write_text(f"""\
schema: 1
tasks:
  empty-{fmt}:
    description: a task whose train file is empty
    version: 1
    modality: text
    {head}
    evals: [dev]
    sources:
      local: {{format: {fmt}, dir: E, {columns}, splits: {{train: train.data, dev: train.data}}}}
""", encoding="utf-8")
    (ws.data / "E").mkdir()
    (ws.data / "E" / "train.data").write_bytes(content)
    args = ["run", "--upstream", "char", "--tasks", f"empty-{fmt}", "--tasks-file", str(ws.tasks), "--data-dir",
            str(ws.data), "--output", str(ws.out)]
    _refused(ws, args, f"error: task 'empty-{fmt}': {{ws}}/data/E/train.data is empty (no header, no rows)")


# -- bench creates a path only inside a folder that exists (like mkdir without -p) -----------------------------------

PATH_CASES = {  # id -> (arguments, the path refused)
    "run-output": ([], "{ws}/nowhere/results"),
    "report-html": (["report", "--output", "{ws}/out", "--html", "{ws}/nowhere/r.html"], "{ws}/nowhere/r.html"),
    "export-to": (["export", "glue-submission", "--output", "{ws}/out", "--to", "{ws}/nowhere/glue", "--allow-missing"],
                  "{ws}/nowhere/glue"),
    "analyze-output": (["analyze", "similarity", "--upstream", "char", "--output", "{ws}/nowhere/results"],
                       "{ws}/nowhere/results"),
    "scaffold-dest": (["new-plugin", "mything", "--dest", "{ws}/nowhere/bench-mything"], "{ws}/nowhere/bench-mything"),
    "pretrain-simclr-out": (["pretrain", "simclr", "--out", "{ws}/nowhere/simclr.pt"], "{ws}/nowhere/simclr.pt"),
    "pretrain-mlm-out": (["pretrain", "mlm", "--out", "{ws}/nowhere/mlm"], "{ws}/nowhere/mlm"),
}


@pytest.mark.parametrize("case", sorted(PATH_CASES))
def test_a_path_in_a_missing_folder_is_refused(case: str, tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    args, refused = PATH_CASES[case]
    args = [_fill(a, ws) for a in args]
    if case == "run-output":
        args = ws.run_args()
        args[args.index("--output") + 1] = _fill(refused, ws)
    _refused(ws, args, f"error: cannot create {refused}: folder {{ws}}/nowhere does not exist; create it first")
    assert not (ws.root / "nowhere").exists()


def test_the_last_folder_or_file_is_still_created(tmp_path: Path) -> None:
    from benchmark.engine.results import check_writable

    ws = make_workspace(tmp_path)
    r = ws.bench("report", "--output", str(ws.out), "--html", str(ws.root / "r.html"))
    assert r.returncode == 0, r.stderr
    assert (ws.root / "r.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    r = ws.bench("new-plugin", "mything", "--dest", str(ws.root / "bench-mything"))
    assert r.returncode == 0, r.stderr
    assert (ws.root / "bench-mything" / "pyproject.toml").is_file()
    check_writable(ws.root / "fresh")  # `bench run --output fresh` in an existing folder (the default on a clone)
    assert (ws.root / "fresh").is_dir()


def test_two_broken_rules_on_one_key_are_two_lines() -> None:
    from benchmark.tasks.located import report
    from benchmark.tasks.task_file import parse_all

    text = _edit(("evals: [dev]\n    sources:\n      local: {format: glue-tsv, dir: SENT",
                  "evals: [dev, test]\n    sources:\n      local: {format: glue-tsv, dir: SENT"),
                 ("splits: {train: train.tsv, dev: dev.tsv}}\n  mini-reg", "splits: {train: train.tsv}}\n  mini-reg"))
    parsed = parse_all(text, "t.yaml")
    assert [t.name for t in parsed.tasks] == ["mini-reg"] and parsed.invalid == {"mini-sent"}
    assert report({"t.yaml": (parsed.node, list(parsed.problems))}) == (
        "2 problems in t.yaml:\n"
        "t.yaml:17: task 'mini-sent': sources.local.splits lacks 'dev'\n"
        "t.yaml:17: task 'mini-sent': sources.local.splits lacks 'test'")
