"""The data-format registry: every builtin format reads the same table alike, CSV as spreadsheets write it, a
plugin's own format, data kept beside its tasks file, and an unknown format as one line."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from benchmark.engine import results as results_mod
from benchmark.errors import BenchError, PluginError
from benchmark.plugin.registry import Registry
from benchmark.tasks import data, formats
from benchmark.tasks.schema import LocalSource, load_task_file, parse_task
from benchmark.types import Examples, Unlabeled

TESTS = Path(__file__).resolve().parent
HEADER = ["idx", "premise", "hypothesis", "label"]
ROWS = [["0", "a cat sat", "a cat is sitting", "yes"], ["1", "it rained", 'it was "sunny"', "no"],
        ["2", "dogs, cats and birds", "pets", "yes"], ["3", "x", "y", "no"]]

TASK = {"description": "d", "version": 1, "modality": "text", "head": "classification", "labels": ["no", "yes"],
        "metrics": ["accuracy"], "score": ["accuracy"], "evals": ["dev"], "tests": ["test"]}


def _task(fmt: str, header: bool = True, inputs: list = ["premise", "hypothesis"], label: object = "label"):  # noqa: B006
    ext = {"glue-tsv": "tsv"}.get(fmt, fmt)
    local = {"format": fmt, "dir": "d", "header": header, "inputs": inputs, "label": label, "index": "idx",
             "splits": {"train": f"train.{ext}", "dev": f"train.{ext}", "test": f"train.{ext}"}}
    return parse_task("pairs", {**TASK, "sources": {"local": local}}, "test")


def _write(fmt: str, path: Path, header: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [HEADER, *ROWS] if header else ROWS
    if fmt in ("tsv", "glue-tsv"):
        path.write_text("".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")
    elif fmt == "csv":
        with path.open("w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows(rows)
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(dict(zip(HEADER, r))) + "\n" for r in ROWS), encoding="utf-8")
    elif fmt == "json":
        path.write_text(json.dumps([dict(zip(HEADER, r)) for r in ROWS]), encoding="utf-8")
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = list(zip(*ROWS))
        pq.write_table(pa.table({"idx": [int(i) for i in columns[0]], "premise": list(columns[1]),
                                 "hypothesis": list(columns[2]), "label": list(columns[3])}), path)


EXPECTED = Examples(tuple((r[1], r[2]) for r in ROWS), (1, 0, 1, 0))
EXPECTED_TEST = Unlabeled((0, 1, 2, 3), tuple((r[1], r[2]) for r in ROWS))


@pytest.mark.parametrize("fmt", ["tsv", "glue-tsv", "csv", "jsonl", "json", "parquet"])
def test_every_builtin_format_reads_the_same_table(fmt: str, registry, tmp_path: Path) -> None:
    ext = {"glue-tsv": "tsv"}.get(fmt, fmt)
    _write(fmt, tmp_path / "d" / f"train.{ext}")
    task = _task(fmt)
    td = data.load(task, tmp_path, registry, tmp_path / "cache", tests=True)
    assert td.evals["dev"] == EXPECTED
    assert td.tests["test"] == EXPECTED_TEST
    assert td.revision.startswith(f"local:{fmt}:")
    assert isinstance(registry.formats.get(fmt).obj, formats.UnlabeledFormat)


@pytest.mark.parametrize("fmt", ["tsv", "csv", "parquet"])
def test_tables_take_column_numbers(fmt: str, registry, tmp_path: Path) -> None:
    header = fmt == "parquet"  # a Parquet file always names its columns; numbers work as well
    _write(fmt, tmp_path / "d" / f"train.{fmt}", header=header)
    task = _task(fmt, header=header, inputs=[1, 2], label=3)
    fmt_obj = registry.formats.get(fmt).obj
    examples, skipped = fmt_obj.read(task, task.sources.local, tmp_path / "d" / f"train.{fmt}")
    assert (examples, skipped) == (EXPECTED, 0)


def test_csv_quotes_commas_newlines_and_strict_rows(registry, tmp_path: Path) -> None:
    path = tmp_path / "d" / "train.csv"
    path.parent.mkdir()
    path.write_bytes('\ufeffidx,premise,hypothesis,label\r\n0,"one, two","say ""hi""\nthen go",yes\n'
                     '1,plain,"x",no\n'.encode())
    task = _task("csv")
    examples, _ = registry.formats.get("csv").obj.read(task, task.sources.local, path)
    assert examples == Examples((("one, two", 'say "hi"\nthen go'), ("plain", "x")), (1, 0))
    path.write_text("idx,premise,hypothesis,label\n0,a,b,yes\n1,\"multi\nline\",b,maybe\n", encoding="utf-8")
    with pytest.raises(BenchError, match=r"label 'maybe' at .*train.csv:3 is not one of"):
        registry.formats.get("csv").obj.read(task, task.sources.local, path)
    path.write_text("idx,premise,hypothesis,label\n0,a,b,yes\n1,short\n", encoding="utf-8")
    with pytest.raises(BenchError, match=r"train.csv:3: expected at least 4 comma-separated columns, got 2"):
        registry.formats.get("csv").obj.read(task, task.sources.local, path)
    path.write_text('idx,premise,hypothesis,label\n0,"never closed,b,yes\n', encoding="utf-8")
    with pytest.raises(BenchError, match=r"train.csv:2: not valid CSV"):
        registry.formats.get("csv").obj.read(task, task.sources.local, path)


def test_a_format_reading_no_test_splits_says_which_do(registry, tmp_path: Path) -> None:
    body = {**TASK, "labels": None, "head": "span-qa", "metrics": ["squad_f1"], "score": ["squad_f1"],
            "sources": {"local": {"format": "squad-json", "dir": "q", "inputs": ["question", "context"],
                                  "label": "answers", "splits": {"train": "t.json", "dev": "t.json", "test": "t.json"}}}}
    (tmp_path / "q").mkdir()
    (tmp_path / "q" / "t.json").write_text(json.dumps({"data": [{"paragraphs": [{"context": "the cat sat", "qas": [
        {"id": "1", "question": "who sat?", "answers": [{"text": "cat", "answer_start": 4}]}]}]}]}))
    task = parse_task("qa", body, "test")
    with pytest.raises(BenchError, match=r"format squad-json reads no unlabeled test splits \(formats that do: "
                                         r"csv, glue-tsv, json, jsonl, parquet, tsv\)"):
        data.load(task, tmp_path, registry, tmp_path / "cache", tests=True)


def test_registering_formats_is_checked() -> None:
    reg = Registry()
    register = reg.format_registrar("mine")
    with pytest.raises(PluginError, match="without a read"):
        register(object())
    with pytest.raises(PluginError, match="the name of a corpus layout"):
        register(formats.Tsv(name="image-folder"))
    register(formats.Csv(name="csv2"))
    assert reg.registered_by("mine")["formats"] == ["csv2"]


def test_origin_dir_is_recorded_but_never_dumped(tmp_path: Path) -> None:
    tasks = tmp_path / "t.yaml"
    tasks.write_text("schema: 1\ntasks:\n  pairs:\n" + textwrap.indent(json.dumps(
        {**TASK, "sources": {"local": {"format": "csv", "base": "tasks-file", "inputs": ["premise"], "label": "label",
                                       "splits": {"train": "a.csv", "dev": "a.csv", "test": "a.csv"}}}}), "    "))
    (task,), _ = load_task_file(tasks)
    assert task.origin_dir == tmp_path.resolve() and "origin" not in json.dumps(task.model_dump())
    built = parse_task("pairs", {**TASK, "sources": {"local": task.sources.local.model_dump()}}, "code")
    assert built.origin_dir is None and data.choose_source(built, None) == "local"
    with pytest.raises(BenchError, match="reads data beside its tasks file .* not loaded from a tasks file"):
        data.load(built, None, Registry(), tmp_path)
    with pytest.raises(ValueError, match="needs dir"):
        LocalSource(format="csv", inputs=["a"], label="b", splits={"train": "t"})


# --- through the command line, as a user and a plugin author meet it ---------------------------------------------

def _docs_plugin() -> str:
    """docs/tasks.md's one-file plugin: the pipe-separated format, and tasks registered by the YAML's path."""
    doc = (TESTS.parent / "docs" / "tasks.md").read_text(encoding="utf-8")
    return re.search(r"```python\n(.*?)```", doc[doc.index("### Adding a format"):], flags=re.S).group(1)


TASK_YAML = """\
schema: 1
tasks:
  {name}:
    description: polarity from a {fmt} file kept beside this tasks file
    version: 1
    modality: text
    head: classification
    labels: [neg, pos]
    metrics: [accuracy]
    score: [accuracy]
    evals: [dev]
    sources:
      local: {{base: tasks-file, dir: data, format: {fmt}, inputs: [text], label: label,
              splits: {{train: train.{ext}, dev: dev.{ext}}}}}
"""

WORDS = ["good, fine and \"great\"", "bad,\nawful", "lovely,\nwarm", "dull, flat"]


def _rows(n: int) -> list[list[str]]:
    return [[f"{WORDS[i % 4]} {i}", "pos" if i % 4 in (0, 2) else "neg"] for i in range(n)]


def _bench(*args: str, plugin_dir: Path | None = None) -> subprocess.CompletedProcess:
    path = os.pathsep.join(filter(None, [str(TESTS), str(plugin_dir or ""), os.environ.get("PYTHONPATH", "")]))
    plugins = "bench_testplugin" + (",pipe_plugin" if plugin_dir else "")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200", "BENCH_PLUGINS": plugins, "PYTHONPATH": path}
    env.pop("BENCH_DATA_DIR", None)
    return subprocess.run([sys.executable, "-m", "benchmark", *args], capture_output=True, text=True, env=env,
                          timeout=600)


def _packages(tmp_path: Path) -> tuple[Path, Path]:
    """A user's tasks file with CSV data beside it, and a plugin shipping its own format, tasks and data."""
    mine = tmp_path / "mine"
    (mine / "data").mkdir(parents=True)
    (mine / "tasks.yaml").write_text(TASK_YAML.format(name="csv-polarity", fmt="csv", ext="csv"), encoding="utf-8")
    for split, n in (("train", 40), ("dev", 12)):
        with (mine / "data" / f"{split}.csv").open("w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([["text", "label"], *_rows(n)])
    plugin = tmp_path / "plugin"
    (plugin / "data").mkdir(parents=True)
    (plugin / "pipe_plugin.py").write_text(_docs_plugin(), encoding="utf-8")
    (plugin / "tasks.yaml").write_text(TASK_YAML.format(name="pipe-polarity", fmt="pipe-separated", ext="psv"),
                                            encoding="utf-8")
    for split, n in (("train", 40), ("dev", 12)):
        text = "".join(f"{t.replace(chr(10), ' ')}|{label}\n" for t, label in [["text", "label"], *_rows(n)])
        (plugin / "data" / f"{split}.psv").write_text(text, encoding="utf-8")
    return mine, plugin


def test_csv_and_plugin_format_tasks_run_beside_their_tasks_files(tmp_path: Path) -> None:
    mine, plugin = _packages(tmp_path)
    out = tmp_path / "out"
    r = _bench("run", "--upstream", "char", "--tasks", "csv-polarity,pipe-polarity", "--tasks-file",
               str(mine / "tasks.yaml"), "--output", str(out), "--seeds", "0", plugin_dir=plugin)
    assert r.returncode == 0, r.stderr[-3000:]
    results = {res["task"]: res for res in results_mod.load_all(out)}
    assert set(results) == {"csv-polarity", "pipe-polarity"}, sorted(p.name for p in out.iterdir())
    revisions = {name: res["task_info"]["data_revision"] for name, res in results.items()}
    assert results["csv-polarity"]["n_examples"] == {"train": 36, "select": 4, "dev": 12}
    assert revisions["csv-polarity"].startswith("local:csv:")
    assert revisions["pipe-polarity"].startswith("local:pipe-separated:")


def test_csv_beside_its_tasks_file_reads_quoted_cells(tmp_path: Path, registry) -> None:
    mine, _ = _packages(tmp_path)
    (task,), _ = load_task_file(mine / "tasks.yaml")
    td = data.load(task, None, registry, tmp_path / "cache")
    assert td.evals["dev"].inputs[:2] == ('good, fine and "great" 0', "bad,\nawful 1")
    assert td.evals["dev"].targets[:2] == (1, 0)


def test_unknown_format_is_one_line_and_exit_2(tmp_path: Path) -> None:
    mine, _ = _packages(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text((mine / "tasks.yaml").read_text().replace("format: csv", "format: xlsx"), encoding="utf-8")
    for args in (["validate", "--tasks-file", str(bad)],
                 ["run", "--upstream", "char", "--tasks", "csv-polarity", "--tasks-file", str(bad), "--output",
                  str(tmp_path / "out")]):
        r = _bench(*args)
        assert r.returncode == 2, r.stderr[-2000:]
        assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
        assert (f"{bad}:13: task 'csv-polarity' uses unknown data format 'xlsx' (known: conll, conllu, csv, glue-tsv, "
                "json, jsonl, parquet, squad-json, tsv; or a corpus layout, docs/tasks.md)") in r.stderr
    assert not (tmp_path / "out").exists()
