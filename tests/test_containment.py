"""Plugins are contained, files stay inside their roots, input is bounded (issue 22, items 6, 8, 9, 11).

The bounded-input cases run the real `bench` command in a fresh workspace (tests/reliability_workspace.py), as
tests/test_bad_input.py does: one line on stderr, exit code 2, no traceback, nothing already there changed.
The plugin cases write plugin modules to a tmp dir and name them in BENCH_PLUGINS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from reliability_workspace import TASKS_YAML, Workspace, make_workspace

SENT_LOCAL = ("local: {format: glue-tsv, dir: SENT, inputs: [sentence], label: label, splits: {train: train.tsv, "
              "dev: dev.tsv}}")
REG_LOCAL = ("local: {format: glue-tsv, dir: REG, inputs: [sentence], label: score, splits: {train: train.tsv, "
             "dev: dev.tsv}}")
assert SENT_LOCAL in TASKS_YAML and REG_LOCAL in TASKS_YAML


@dataclass(frozen=True)
class Case:
    id: str
    message: str
    setup: Callable[[Workspace], None]
    validate: bool = False
    """True: `bench validate --tasks-file`; False: `bench run` on the char upstream and the mini suite."""
    env: dict[str, str] = field(default_factory=dict)


def _edit(old: str, new: str) -> Callable[[Workspace], None]:
    assert old in TASKS_YAML, old

    def setup(ws: Workspace) -> None:
        ws.tasks.write_text(TASKS_YAML.replace(old, new, 1), encoding="utf-8")

    return setup


def _both(*steps: Callable[[Workspace], None]) -> Callable[[Workspace], None]:
    def setup(ws: Workspace) -> None:
        for step in steps:
            step(ws)

    return setup


def _symlinked_train(ws: Workspace) -> None:
    secret = ws.root / "secret.tsv"
    secret.write_text("TOP-SECRET-LINE\tx\n", encoding="utf-8")
    (ws.data / "SENT" / "train.tsv").unlink()
    (ws.data / "SENT" / "train.tsv").symlink_to(secret)


def _bomb(levels: int = 9) -> str:
    """A 'billion laughs' YAML alias bomb as a recipe's options (nine aliases per level)."""
    lines = ['x0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"x{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "recipe:\n        name: vader\n        options:\n" + "".join(f"          {line}\n" for line in lines)


def _jsonl(line: str) -> Callable[[Workspace], None]:
    def setup(ws: Workspace) -> None:
        (ws.data / "SENT" / "train.jsonl").write_text(line + "\n", encoding="utf-8")

    return _both(_edit(SENT_LOCAL, SENT_LOCAL.replace("glue-tsv", "jsonl").replace("train.tsv", "train.jsonl")),
                 setup)


def _padded(size: int) -> Callable[[Workspace], None]:
    def setup(ws: Workspace) -> None:
        ws.tasks.write_text(TASKS_YAML + "#" * size + "\n", encoding="utf-8")

    return setup


ESCAPE = "error: {ws}/tasks.yaml:17: task 'mini-sent': sources.local: "
CASES = [
    # --- files stay inside their roots ----------------------------------------------------------------------
    Case("dir-climbs-out", ESCAPE + "dir: path '../../../../../etc' leaves --data-dir (absolute or '..'); give a "
         "path inside it", _edit(SENT_LOCAL, SENT_LOCAL.replace("dir: SENT", "dir: ../../../../../etc").replace(
             "train.tsv", "passwd").replace("dev.tsv", "passwd"))),
    Case("dir-climbs-out-validate", ESCAPE + "dir: path '../../../../../etc' leaves --data-dir (absolute or '..'); "
         "give a path inside it", _edit("dir: SENT", "dir: ../../../../../etc"), validate=True),
    Case("split-absolute", ESCAPE + "splits.train: path '/etc/passwd' leaves --data-dir (absolute or '..'); give a "
         "path inside it", _edit("train: train.tsv", "train: /etc/passwd")),
    Case("split-absolute-validate", ESCAPE + "splits.train: path '/etc/passwd' leaves --data-dir (absolute or '..'); "
         "give a path inside it", _edit("train: train.tsv", "train: /etc/passwd"), validate=True),
    Case("split-dotdot-tasks-file-base", ESCAPE + "splits.dev: path '../x/dev.tsv' leaves the tasks file's folder "
         "(absolute or '..'); give a path inside it", _edit("dev: dev.tsv}}", "dev: ../x/dev.tsv}, base: tasks-file}"),
         validate=True),
    Case("split-symlink-out", "error: task 'mini-sent': SENT/train.tsv resolves outside {ws}/data (a symlink?); tasks "
         "read only files inside their data directory", _symlinked_train),
    # --- input is bounded -----------------------------------------------------------------------------------
    Case("yaml-alias-bomb", "error: {ws}/tasks.yaml: line 35: expands to more than 200000 values (YAML aliases "
         "repeated inside each other?); write the data out plainly", _edit(REG_LOCAL, _bomb())),
    Case("yaml-alias-bomb-validate", "error: {ws}/tasks.yaml: line 35: expands to more than 200000 values (YAML "
         "aliases repeated inside each other?); write the data out plainly", _edit(REG_LOCAL, _bomb()), validate=True),
    Case("yaml-too-large", "error: {ws}/tasks.yaml: 4195067 bytes, more than a tasks file may hold (4194304)",
         _padded(4 * 1024 * 1024), validate=True),
    Case("recipe-options-too-large", "error: {ws}/tasks.yaml:27: task 'mini-reg': sources.recipe: options: 70009 "
         "characters once written out, more than 65536", _edit(REG_LOCAL, "recipe: {name: vader, options: {x: "
                                                                         + "a" * 70000 + "}}"), validate=True),
    Case("yaml-huge-int", "error: {ws}/tasks.yaml: line 9: an integer with 5001 digits (at most 64)",
         _edit("version: 1\n", "version: 1" + "0" * 5000 + "\n")),
    Case("yaml-nul-byte", "error: {ws}/tasks.yaml: invalid YAML: unacceptable character #x0000: special characters "
         "are not allowed", _edit("is the snippet", "is\0the snippet"), validate=True),
    Case("yaml-deep-nesting", "error: {ws}/tasks.yaml: invalid YAML: nested more than 64 levels deep",
         _edit("description: two small", "description: " + "[" * 5000 + "]" * 5000 + "\n    x: two small"),
         validate=True),
    Case("yaml-nesting-65", "error: {ws}/tasks.yaml: line 4: nested more than 64 levels deep",
         _edit("description: two small", "description: " + "[" * 70 + "]" * 70 + "\n    x: two small"),
         validate=True),
    Case("yaml-unhashable-key", "error: {ws}/tasks.yaml: line 7: a key must be a plain value, not a list",
         _edit("tasks:\n  mini-sent", "tasks:\n  ? [a, b]\n  : 1\n  mini-sent")),
    Case("jsonl-deep-nesting", "error: {ws}/data/SENT/train.jsonl:1: bad JSONL row (nested too deeply)",
         _jsonl('{"sentence": ' + "[" * 100_000 + "]" * 100_000 + ', "label": "1"}')),
    Case("jsonl-huge-int", "error: {ws}/data/SENT/train.jsonl:1: bad JSONL row (a number too large: Exceeds the limit "
         "(4300 digits) for integer string conversion)", _jsonl('{"sentence": 1' + "0" * 5000 + ', "label": "1"}')),
]


def _fill(text: str, ws: Workspace) -> str:
    return text.replace("{ws}", str(ws.root))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bounded_and_contained_input(case: Case, tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", n=30)
    case.setup(ws)
    before = ws.snapshot()
    args = ("validate", "--tasks-file", str(ws.tasks)) if case.validate else ws.run_args()
    r = ws.bench(*args, env=case.env, timeout=300)
    assert "Traceback" not in r.stderr + r.stdout
    assert "TOP-SECRET" not in r.stderr + r.stdout and "root:" not in r.stderr + r.stdout
    assert r.stderr.strip() == _fill(case.message, ws), r.stderr
    assert r.returncode == 2
    after = ws.snapshot()
    assert {k: v for k, v in before.items() if after.get(k) != v} == {}
    assert not [p for p in after if p not in before and not p.startswith("cache/")]


def test_a_byte_order_mark_is_not_part_of_the_first_column(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", n=30)
    for name in ("train.tsv", "dev.tsv"):
        path = ws.data / "SENT" / name
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    r = ws.bench("run", "--upstream", "char", "--tasks", "mini-sent", "--tasks-file", str(ws.tasks), "--data-dir",
                 str(ws.data), "--output", str(ws.out), timeout=600)
    assert r.returncode == 0, r.stderr
    assert "\ufeff" not in r.stderr


def test_a_byte_order_mark_is_dropped_by_every_text_format(tmp_path: Path) -> None:
    from benchmark.plugin.manager import load_plugins
    from benchmark.tasks.schema import parse_task_text

    body = TASKS_YAML.replace(SENT_LOCAL, SENT_LOCAL.replace("glue-tsv", "{fmt}"))
    registry = load_plugins().registry
    rows = {"tsv": "sentence\tlabel\nfine\t1\n", "csv": "sentence,label\nfine,1\n",
            "jsonl": json.dumps({"sentence": "fine", "label": "1"}) + "\n",
            "json": json.dumps([{"sentence": "fine", "label": "1"}])}
    for fmt, text in rows.items():
        path = tmp_path / f"train.{fmt}"
        path.write_bytes(b"\xef\xbb\xbf" + text.encode())
        [task, _], _ = parse_task_text(body.replace("{fmt}", fmt), "t.yaml")
        assert task.sources.local is not None
        examples, _ = registry.formats.get(fmt).obj.read(task, task.sources.local, path)
        assert examples.inputs == ("fine",), fmt


# --- plugins are contained --------------------------------------------------------------------------------------


def _bench(tmp_path: Path, plugin: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return subprocess.run([sys.executable, "-m", "benchmark", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "BENCH_PLUGINS": plugin, "PYTHONPATH": path, "COLUMNS": "200", **env})


def test_sys_exit_at_a_plugins_import_is_one_line_and_every_command_works(tmp_path: Path) -> None:
    (tmp_path / "exit_plugin.py").write_text("import sys\nsys.exit(3)\n")
    r = _bench(tmp_path, "exit_plugin", "--help")
    assert r.returncode == 0 and "Usage: bench" in r.stdout
    assert r.stderr.strip() == "warning: plugin 'exit_plugin' (BENCH_PLUGINS) failed to load: SystemExit: 3"
    r = _bench(tmp_path, "exit_plugin", "list", "upstreams")
    assert r.returncode == 0 and "minilm" in r.stdout
    assert r.stderr.strip() == "warning: plugin 'exit_plugin' (BENCH_PLUGINS) failed to load: SystemExit: 3"


def test_a_base_exception_at_import_or_in_a_hook_disables_only_that_plugin(tmp_path: Path) -> None:
    (tmp_path / "odd_plugin.py").write_text("class Odd(BaseException):\n    pass\n\nraise Odd('not an Exception')\n")
    (tmp_path / "hook_exit_plugin.py").write_text(
        "import sys\nfrom benchmark.hookspecs import hookimpl\n\n@hookimpl\ndef register_metrics(register):\n"
        "    sys.exit(4)\n")
    r = _bench(tmp_path, "odd_plugin,hook_exit_plugin", "list", "metrics")
    assert r.returncode == 0 and "accuracy" in r.stdout
    assert r.stderr.strip().splitlines() == [
        "warning: plugin 'odd_plugin' (BENCH_PLUGINS) failed to load: Odd: not an Exception",
        "warning: plugin 'hook_exit_plugin' skipped: register_metrics failed: SystemExit: 4"]


def test_sys_exit_in_register_commands_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "cmd_exit_plugin.py").write_text(
        "import sys\nfrom benchmark.hookspecs import hookimpl\n\n@hookimpl\ndef register_commands(cli):\n"
        "    sys.exit(5)\n")
    r = _bench(tmp_path, "cmd_exit_plugin", "list", "executors")
    assert r.returncode == 0 and "local" in r.stdout
    assert r.stderr.strip() == "warning: plugin 'cmd_exit_plugin' failed in register_commands: SystemExit: 5"


def test_a_plugin_that_hangs_at_import_is_given_up_on(tmp_path: Path) -> None:
    (tmp_path / "slow_plugin.py").write_text("import time\ntime.sleep(600)\n")
    start = time.monotonic()
    r = _bench(tmp_path, "slow_plugin", "list", "executors", BENCH_PLUGIN_IMPORT_TIMEOUT="1")
    assert time.monotonic() - start < 60
    assert r.returncode == 0 and "local" in r.stdout
    assert r.stderr.strip() == ("warning: plugin 'slow_plugin' (BENCH_PLUGINS) failed to load: TimeoutError: did not "
                                "finish importing in 1 s (BENCH_PLUGIN_IMPORT_TIMEOUT)")


def test_ctrl_c_while_a_plugin_imports_still_stops_bench(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmark.plugin.manager import load_plugins

    (tmp_path / "interrupted_plugin.py").write_text("raise KeyboardInterrupt\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("BENCH_PLUGINS", "interrupted_plugin")
    with pytest.raises(KeyboardInterrupt):
        load_plugins()


def test_a_plugin_command_named_run_does_not_replace_bench_run(tmp_path: Path) -> None:
    (tmp_path / "run_plugin.py").write_text(
        "import click\nfrom benchmark.hookspecs import hookimpl\n\n@hookimpl\ndef register_commands(cli):\n"
        "    @cli.command('run')\n    def fake():\n        click.echo('FAKE RUN')\n")
    r = _bench(tmp_path, "run_plugin", "run", "--help")
    assert r.returncode == 0 and "Train heads for every" in r.stdout and "FAKE" not in r.stdout
    assert "command 'bench run' is already there" in r.stderr  # said on --help too
    r = _bench(tmp_path, "run_plugin", "list", "executors")
    assert r.returncode == 0 and "local" in r.stdout
    assert r.stderr.strip() == ("warning: plugin 'run_plugin' failed in register_commands: command 'bench run' is "
                                "already there (from bench itself); the plugin's was not added")


@pytest.mark.parametrize("split", ["/mnt/corpus#train", "../corpus#train", "sub/../../x#test"])
def test_corpus_layout_splits_cannot_leave_the_data_dir(split: str) -> None:
    """Corpus folders may be symlinks to where a corpus lives (shared storage); the tasks file's own paths cannot
    climb out, which is what a hostile tasks file could use."""
    from pydantic import ValidationError

    from benchmark.tasks.schema import LocalSource

    with pytest.raises(ValidationError, match=r"splits\.train: path '.*' leaves --data-dir \(absolute or '\.\.'\)"):
        LocalSource(format="speech-commands", splits={"train": split})
