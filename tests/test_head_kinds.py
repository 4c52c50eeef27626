"""Head kinds are registered trainers (benchmark.heads.protocol): a plugin adds a new kind of head in one file
(tests/heads_testplugin.py: multi-label targets, with their own label cells, loss, decoding and metrics) and it runs
end to end with no change to bench; old-style head objects still work; the engine never branches on a head's
name."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

import benchmark
from benchmark.errors import BenchError, PluginError
from benchmark.heads.protocol import CONSUMES, BaseHead, HeadKind, declared, kind_of
from benchmark.plugin.manager import get_plugins, load_plugins, reset_plugins
from benchmark.tasks.schema import parse_task

ROOT = Path(__file__).resolve().parent.parent
SENTENCES = ["a gorgeous, witty and moving film", "the plot is boring", "is it worth a ticket?", "a dull mess",
             "one of the best films of the year, a warm and charming story", "why would anyone watch this?",
             "smart, funny and beautifully made", "terrible acting and a lazy script from start to end"]


def _aspects(text: str) -> tuple[list[str], str]:
    positive = any(w in text for w in ("gorgeous", "best", "smart", "good"))
    names = [n for n, on in (("positive", positive), ("long", len(text) > 30), ("question", text.endswith("?")))
             if on]
    return names, "1" if positive else "0"


def _write(data: Path, bad: str | None = None) -> None:
    (data / "MULTI").mkdir(parents=True, exist_ok=True)
    for split, n in (("train", 48), ("dev", 16)):
        rows = []
        for i in range(n):
            text = f"{SENTENCES[i % len(SENTENCES)]} ({i})"
            names, positive = _aspects(SENTENCES[i % len(SENTENCES)])
            rows.append({"text": text, "labels": "|".join(names), "positive": positive})
        if bad is not None:
            rows[1]["labels"] = bad
        (data / "MULTI" / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture()
def plugins(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BENCH_PLUGINS", "bench_testplugin,heads_testplugin")  # the char upstream + the new head
    reset_plugins()
    yield get_plugins()
    reset_plugins()


def test_a_head_kind_from_a_plugin_runs_end_to_end_frozen_and_fine_tuned(plugins, tmp_path: Path) -> None:
    data = tmp_path / "data"
    _write(data)
    assert plugins.registry.check({"multi-aspects"}) == []
    results = {}
    for mode in ("frozen", "finetune"):
        (res,) = benchmark.run("char", "multi-aspects", [0], tmp_path / mode, data_dir=data,
                               cache_dir=tmp_path / "cache", mode=mode)
        results[mode] = res
    for mode, res in results.items():
        assert res.task_info["head"] == "multilabel" and set(res.scores) == {"label_f1", "exact_sets"}, mode
        gold = res.targets["dev"]
        assert gold[0] == [0, 1] and gold[2] == [2]  # "positive|long" and "question", converted by the head kind
        assert all(isinstance(p, list) and set(p) <= {0, 1, 2} for p in res.predictions["dev"])
        assert 0.0 <= res.main_score <= 100.0 and res.main_score == res.scores["label_f1"]
        assert res.selection["curve"] and res.layer_weights is not None and len(res.layer_weights) == 3
        assert res.selection["rule"].startswith("epoch with the best 'label_f1'")
    assert results["frozen"].selection["epochs_run"] >= 1 and "passes_per_epoch" in results["frozen"].selection
    assert results["finetune"].selection["epochs_run"] == 2 and "extract" not in results["finetune"].durations


def test_a_head_kind_reads_its_own_label_cells_while_loading(plugins, tmp_path: Path) -> None:
    from benchmark.tasks.data import convert_target, load

    data = tmp_path / "data"
    _write(data, bad="positive|nope")
    task = plugins.registry.tasks.get("multi-aspects").obj
    with pytest.raises(BenchError, match=r"^task 'multi-aspects': label 'nope' at .*train.jsonl:2 is not one of"):
        load(task, data, plugins.registry, tmp_path)
    with pytest.raises(BenchError, match=r"label 'positive\|long' at x is not one of"):  # outside load: the
        convert_target(task, "positive|long", "x")  # standard reading, which knows nothing of sets


def test_an_old_style_head_object_still_trains_as_it_did(plugins, tmp_path: Path) -> None:
    """A plugin's object with build / loss / predict and target "class" (the builtin classification head's API
    before head kinds) trains exactly as the builtin classification kind."""
    data = tmp_path / "data"
    _write(data)
    kind = kind_of(plugins.registry, "old-linear")
    assert isinstance(kind, HeadKind) and declared(plugins.registry, "old-linear") == ("pooled", "class")
    runs = {name: benchmark.run("char", name, [0], tmp_path / "out", data_dir=data, cache_dir=tmp_path / "cache")[0]
            for name in ("multi-positive", "multi-positive-old")}
    new, old = runs["multi-positive"], runs["multi-positive-old"]
    assert old.task_info["head"] == "old-linear" and new.job_id != old.job_id
    assert old.predictions == new.predictions and old.scores == new.scores
    assert old.selection["curve"] == new.selection["curve"] and old.layer_weights == new.layer_weights


def test_check_reports_what_a_head_kind_refuses(registry) -> None:
    no_labels = parse_task("nolabels", {"description": "d", "version": 1, "modality": "text", "head": "tagging",
                                        "metrics": ["token_accuracy"], "score": ["token_accuracy"], "evals": ["test"],
                                        "sources": {"recipe": {"name": "digits"}}}, "t")
    registry.downstreams.add("weird", object(), "test")
    weird = parse_task("weird-task", {**no_labels.model_dump(exclude={"name"}, exclude_defaults=True), "head": "weird",
                                      "labels": ["a"]}, "t")

    class Partial:  # meant as a kind (start, consumes) but lacking the rest of the protocol
        consumes = "pooled"

        def start(self, job):
            raise AssertionError

    registry.downstreams.add("partial", Partial(), "test")
    for task in (no_labels, weird):
        registry.tasks.add(task.name, task, "test")
    assert registry.check({"nolabels"}) == ["task 'nolabels': head 'tagging' tags words and needs labels (the tag set)"]
    [problem] = registry.check({"weird-task"})
    assert problem.startswith("head 'weird' (plugin 'test') is neither a head kind")
    with pytest.raises(PluginError, match=r"head 'partial' \(plugin 'test'\) lacks description, target, finetunes"):
        kind_of(registry, "partial")


def test_builtin_kinds_declare_what_they_consume_and_predict(registry) -> None:
    got = {name: declared(registry, name) for name in ("classification", "regression", "knn", "ctc", "tagging",
                                                       "span-qa")}
    assert got == {"classification": ("pooled", "class"), "regression": ("pooled", "real"), "knn": ("pooled", "class"),
                   "ctc": ("frames", "sequence"), "tagging": ("words", "tags"), "span-qa": ("spans", "span")}
    for name in got:
        kind = kind_of(registry, name)
        assert isinstance(kind, HeadKind) and isinstance(kind, BaseHead) and kind.consumes in CONSUMES
        assert kind.description == registry.downstreams.get(name).description
    assert [kind_of(registry, n).finetunes for n in ("classification", "knn")] == [True, False]
    task = registry.tasks.get("digits-knn").obj
    assert "nothing to fine-tune" in kind_of(registry, "knn").check_mode(task, "finetune")
    assert kind_of(registry, "knn").check_mode(task, "frozen") is None


def test_a_legacy_frame_head_is_adopted_by_the_ctc_kind() -> None:
    from downstreams.heads import CTCHead

    reg = load_plugins().registry
    reg.downstreams.add("my-ctc", CTCHead("an old-style frame head"), "test")
    assert declared(reg, "my-ctc") == ("frames", "sequence")
    assert kind_of(reg, "my-ctc").head == CTCHead("an old-style frame head")


HEAD_WORDS = {"sequence", "tags", "span", "class", "real", "ctc", "knn", "classification", "regression", "tagging",
              "span-qa", "pooled", "frames", "words", "spans", "nothing", "labels"}


def _strings(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [s for e in node.elts for s in _strings(e)]
    return []


def test_the_engine_never_branches_on_a_head_or_target_name() -> None:
    """No comparison with a head's or target's name, and no peeking at old head attributes, anywhere in the core
    (benchmark/): it asks the task's head kind."""
    found = []
    for path in sorted((ROOT / "benchmark").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Compare):
                names = [s for x in (node.left, *node.comparators) for s in _strings(x) if s in HEAD_WORDS]
                if names:
                    found.append(f"{where}: {ast.unparse(node)}")
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr")
                  and len(node.args) > 1 and _strings(node.args[1]) in (["target"], ["nonparametric"])):
                found.append(f"{where}: {ast.unparse(node)}")
            elif isinstance(node, ast.Attribute) and node.attr == "nonparametric":
                found.append(f"{where}: {ast.unparse(node)}")
    assert found == []


def test_a_head_that_consumes_nothing_records_no_layer_weights(plugins, tmp_path: Path) -> None:
    data = tmp_path / "data"
    _write(data)
    (res,) = benchmark.run("char", "multi-positive-majority", [0], tmp_path / "out", data_dir=data,
                           cache_dir=tmp_path / "cache")
    assert res.layer_weights is None and res.selection["rule"] == "none: a baseline"
    assert len(set(res.predictions["dev"])) == 1 and res.task_info["notes"][-1].startswith("every example gets class")
    with pytest.raises(BenchError, match="which cannot be fine-tuned; run it with --mode frozen"):
        benchmark.run("char", "multi-positive-majority", [0], tmp_path / "ft", data_dir=data, mode="finetune")
