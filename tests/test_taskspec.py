from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.errors import BenchError
from benchmark.tasks.builtin import tasks_yaml_path
from benchmark.tasks.schema import load_task_file, parse_task_text

GOOD_TASK = """
schema: 1
tasks:
  mytask:
    description: d
    version: 1
    modality: text
    head: classification
    labels: [a, b]
    metrics: [accuracy]
    score: [accuracy]
    evals: [dev]
    sources:
      local: {format: glue-tsv, dir: X, inputs: [sentence], label: label, splits: {train: train.tsv, dev: dev.tsv}}
"""


def test_builtin_tasks_file_is_valid_and_complete() -> None:
    tasks, suites = load_task_file(tasks_yaml_path())
    names = {t.name for t in tasks}
    assert {"cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte", "wnli"} <= names
    assert {"vader-polarity", "vader-score"} <= names
    glue = next(s for s in suites if s.name == "glue")
    assert glue.tasks == ["cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte", "wnli"]
    by = {t.name: t for t in tasks}
    assert by["mnli"].metric_keys() == ["m/accuracy", "mm/accuracy"]
    assert by["mrpc"].score == ["f1", "accuracy"]
    assert by["cola"].metrics == ["matthews"]
    assert by["stsb"].labels is None and by["stsb"].head == "regression"
    for t in tasks:  # every reference carries its source
        for ref in t.references.values():
            assert ref.citation.strip()
        hub = t.sources.hub
        if hub is not None and t.name not in UNPINNED:
            assert len(hub.revision) == 40, f"{t.name}: Hub revision must be a pinned commit"
    assert {t.name: t.sources.hub.revision for t in tasks if t.name in UNPINNED} == UNPINNED


# The one exception, documented in docs/tokens.md: CoNLL-2003's Hub repository is a loading script, which datasets 5
# no longer runs; its parquet conversion lives on a branch, and no public project pins a commit of it.
UNPINNED = {"conll2003-ner": "refs/convert/parquet"}


def test_good_task_parses() -> None:
    tasks, suites = parse_task_text(GOOD_TASK, "t.yaml")
    assert [t.name for t in tasks] == ["mytask"] and suites == []
    assert tasks[0].pooling == "mean"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("    version: 1\n", "    version: 1\n    lables: [a]\n", "t.yaml: task 'mytask': unknown key 'lables'"),
        ("    version: 1\n", "    version: one\n", "t.yaml: task 'mytask': version: Input should be a valid integer"),
        ("    head: classification\n", "", "t.yaml: task 'mytask': missing required field 'head'"),
        ("    score: [accuracy]\n", "    score: [f1]\n",
         "t.yaml: task 'mytask': score names 'f1', which is not in metrics ['accuracy']"),
        ("    version: 1\n", "    version: 1\n    version: 2\n", "t.yaml: line 7: duplicate key 'version'"),
        ("    evals: [dev]\n", "    evals: [dev\n", "t.yaml: invalid YAML: line 13: expected ',' or ']'"),
        ("schema: 1\n", "schema: 2\n", "t.yaml: schema: Input should be 1"),
        ("dev: dev.tsv}", "test: dev.tsv}", "t.yaml: task 'mytask': sources.local.splits lacks 'dev'"),
        ("    evals: [dev]\n", "    evals: [dev]\n    tests: [test]\n",
         "t.yaml: task 'mytask': sources.local.splits lacks 'test'"),
        ("    evals: [dev]\n", "    evals: [dev]\n    tests: [dev]\n",
         "t.yaml: task 'mytask': tests names 'dev', which is already a train, select or evaluation split"),
        ("    evals: [dev]\n", "    evals: [dev]\n    tests: test\n",
         "t.yaml: task 'mytask': tests: Input should be a valid list"),
        ("dev: dev.tsv}}", "dev: dev.tsv}, overrides: {dev: {header: false}}}",
         "t.yaml: task 'mytask': sources.local.overrides names 'dev', which is not one of tests []"),
        ("dev: dev.tsv}}", "dev: dev.tsv}, overrides: {dev: {hedaer: false}}}",
         "t.yaml: task 'mytask': unknown key 'sources.local.overrides.dev.hedaer'"),
    ],
)
def test_bad_task_files_fail_with_one_line(old: str, new: str, message: str) -> None:
    assert old in GOOD_TASK
    with pytest.raises(BenchError) as err:
        parse_task_text(GOOD_TASK.replace(old, new, 1), "t.yaml")
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith(message), text


def test_test_splits_parse_with_their_overrides() -> None:
    text = GOOD_TASK.replace("    evals: [dev]\n", "    evals: [dev]\n    tests: [test]\n").replace(
        "dev: dev.tsv}}", "dev: dev.tsv, test: test.tsv}, index: 0, overrides: {test: {header: true, inputs: [s]}}}")
    [task], _ = parse_task_text(text, "t.yaml")
    local = task.sources.local
    assert task.tests == ["test"] and local is not None and local.index == 0
    assert local.overrides["test"].header is True and local.overrides["test"].inputs == ["s"]
    assert parse_task_text(GOOD_TASK, "t.yaml")[0][0].tests == []


def test_code_in_yaml_is_refused() -> None:
    evil = GOOD_TASK.replace("description: d", "description: !!python/object/apply:os.system ['echo hi']")
    with pytest.raises(BenchError, match="invalid YAML"):
        parse_task_text(evil, "t.yaml")


def test_missing_task_file(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="tasks file not found"):
        load_task_file(tmp_path / "nope.yaml")
