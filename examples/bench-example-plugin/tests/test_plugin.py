"""Tests of the example plugin: its registrations, the `hashbow` upstream contract, the question data, and the
`multi-label` head with its metrics and its CSV task.

Run them after `pip install -e .` (or a plain install) in an environment that has bench: `pytest`.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import bench_example_plugin
import pytest
import torch
from bench_example_plugin import HashbowFactory
from bench_example_plugin.hashbow import HashBow, tokenize, word_buckets
from bench_example_plugin.multilabel import MultiLabelKind, mean_ap, micro_f1
from bench_example_plugin.questions import LABELS, QuestionsLoader, build_splits, label_text, split_of

from benchmark.errors import BenchError

ML_LABELS = ["raters-positive", "raters-negative", "strong"]
ML_DATA = Path(bench_example_plugin.__file__).parent / "multilabel_data"


@pytest.fixture(scope="module")
def registry():
    """What bench loads: the plugin through its entry point when installed, else handed over directly."""
    from benchmark.plugin.manager import load_plugins

    plugins = load_plugins()
    if "example-questions" in plugins.registry.tasks:  # the entry point, or BENCH_PLUGINS=bench_example_plugin
        return plugins.registry
    return load_plugins(extra=(bench_example_plugin,)).registry


@pytest.fixture(scope="module")
def small() -> HashBow:
    return HashBow(dim=32)


# -- the plugin ------------------------------------------------------------------------------------------


def test_entry_point_is_declared() -> None:
    try:
        dist = importlib.metadata.distribution("bench-example-plugin")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("bench-example-plugin is not installed (pip install -e .)")
    eps = {ep.name: ep.value for ep in dist.entry_points if ep.group == "bench"}
    assert eps == {"example": "bench_example_plugin"}


def test_importing_the_plugin_does_not_import_torch() -> None:
    code = "import sys, bench_example_plugin; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_registers_upstream_loader_task_and_suite(registry) -> None:
    up = registry.upstreams.get("hashbow")
    assert up.plugin in ("example", "bench_example_plugin")
    assert up.meta["modality"] == "text"
    assert registry.datasets.get("example-questions").plugin == up.plugin
    task = registry.tasks.get("example-questions").obj
    assert (task.modality, task.head, task.labels) == ("text", "classification", list(LABELS))
    assert (task.metrics, task.score, task.evals) == (["accuracy"], ["accuracy"], ["test"])
    assert task.sources.recipe is not None and task.sources.recipe.name == "example-questions"
    assert "Hutto & Gilbert" in (task.citation or "")
    suite = registry.suites.get("example").obj
    assert suite.tasks == ["example-questions"] and "Hutto & Gilbert" in (suite.citation or "")
    assert registry.check() == []


# -- the hashbow upstream ---------------------------------------------------------------------------------


def test_contract(small: HashBow) -> None:
    from benchmark.testing import check_upstream

    check_upstream(small).raise_for_failures()
    variant = HashBow(dim=32)
    variant.reinitialize("all", 0)
    check_upstream(variant).raise_for_failures()


def test_factory_reads_the_dimension() -> None:
    factory = HashbowFactory()
    default = factory(None, name="hashbow")
    assert (default.name, default.hidden_size, default.num_layers) == ("hashbow", 512, 2)
    up = factory("128", name="hashbow:128", trust_remote_code=False)
    assert (up.name, up.hidden_size, up.modality, up.sample_rate) == ("hashbow:128", 128, "text", None)
    assert up.n_parameters == sum(p.numel() for p in up.parameters()) == 4096 * 128 + 2 * (128 * 128 + 128)
    assert factory.missing("128") is None
    for bad in ("abc", "0", "100000"):
        with pytest.raises(BenchError, match=r"hashbow:"):
            factory.missing(bad)


def test_shapes_mask_offsets_and_segments(small: HashBow) -> None:
    out = small(["a bb", "  ccc dd e"])
    assert len(out.layers) == 3 and out.num_layers == 2
    assert all(h.shape == (2, 3, 32) and h.dtype == torch.float32 for h in out.layers)
    assert out.mask.tolist() == [[True, True, False], [True, True, True]]
    assert out.offsets.tolist() == [[[0, 1], [2, 4], [-1, -1]], [[2, 5], [6, 8], [9, 10]]]
    assert out.segments.tolist() == [[0, 0, -1], [0, 0, 0]]
    for h in out.layers:  # padding is exactly zero in every layer
        assert torch.count_nonzero(h[0, 2]) == 0
    pair = small([("is it", "yes")])
    assert pair.segments.tolist() == [[0, 0, 1]]
    assert pair.offsets.tolist() == [[[0, 2], [3, 5], [0, 3]]]


def test_same_word_same_layer0_vector_anywhere(small: HashBow) -> None:
    out = small(["film good film", "film"])
    h0 = out.layers[0]
    assert torch.equal(h0[0, 0], h0[0, 2]) and torch.equal(h0[0, 0], h0[1, 0])


def test_batch_independence(small: HashBow) -> None:
    texts = ["short", "a much longer snippet of text than the first one", ("a pair", "of strings")]
    batch = small(texts)
    for i, text in enumerate(texts):
        alone = small([text])
        n = int(alone.mask[0].sum())
        assert int(batch.mask[i].sum()) == n
        for hb, ha in zip(batch.layers, alone.layers):
            torch.testing.assert_close(hb[i, :n], ha[0, :n])


def test_empty_strings_and_empty_batch(small: HashBow) -> None:
    out = small(["", "word"])
    assert out.mask.tolist() == [[False], [True]]
    with pytest.raises(ValueError, match="empty batch"):
        small([])


def test_buckets_are_crc32_not_the_salted_hash() -> None:
    # zlib.crc32 of '<hi', 'hi>' is fixed forever; Python's hash() of a str changes with every process.
    assert word_buckets("Hi", 4096) == word_buckets("hi", 4096) == (3509, 3791)
    assert tokenize(" two  words ") == [("two", 1, 4), ("words", 6, 11)]


def test_same_output_in_a_fresh_process_with_another_hash_seed(small: HashBow) -> None:
    code = ("import json; from bench_example_plugin.hashbow import HashBow;"
            "print(json.dumps(HashBow(dim=32)(['hashed trigrams!']).layers[-1][0].tolist()))")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    there = torch.tensor(json.loads(out.stdout))
    here = small(["hashed trigrams!"]).layers[-1][0]
    torch.testing.assert_close(here, there)


def test_fingerprint_follows_the_config_and_the_weights() -> None:
    a, b = HashBow(dim=32), HashBow(dim=64)
    assert a.fingerprint != b.fingerprint
    assert a.fingerprint == HashBow(dim=32).fingerprint
    assert a.fingerprint != HashBow(dim=32, n_buckets=1024).fingerprint
    assert a.fingerprint != HashBow(dim=32, seed=1).fingerprint


def test_reinitialize() -> None:
    base = HashBow(dim=32)
    emb = HashBow(dim=32)
    emb.reinitialize("embeddings", 0)
    assert not torch.equal(emb.embedding.weight, base.embedding.weight)
    assert all(torch.equal(x.weight, y.weight) for x, y in zip(emb.layers, base.layers))
    assert emb.fingerprint != base.fingerprint
    rand = HashBow(dim=32)
    rand.reinitialize("all", 0)
    assert not torch.equal(rand.embedding.weight, base.embedding.weight)
    assert not any(torch.equal(x.weight, y.weight) for x, y in zip(rand.layers, base.layers))
    assert not torch.equal(rand.embedding.weight, emb.embedding.weight)
    again = HashBow(dim=32)
    again.reinitialize("all", 0)
    assert torch.equal(again.embedding.weight, rand.embedding.weight)
    assert again.fingerprint == rand.fingerprint != emb.fingerprint
    with pytest.raises(ValueError, match="scope"):
        base.reinitialize("everything", 0)  # type: ignore[arg-type]


# -- the example-questions data ---------------------------------------------------------------------------


def test_label_text() -> None:
    assert label_text("Is this progress?") == ("Is this progress", 1)
    assert label_text("Just what makes us happy, anyway?!  ") == ("Just what makes us happy, anyway", 1)
    assert label_text("Why? Because it works.") == ("Why. Because it works", 1)
    assert label_text("A quiet triumph.") == ("A quiet triumph", 0)
    assert label_text("Is this progress?", strip_punctuation=False) == ("Is this progress?", 1)
    assert label_text(" ?! ") is None


def test_splits_are_balanced_fixed_and_independent_of_order() -> None:
    items = [(f"c:{i}", f"text {i}", int(i % 10 == 0)) for i in range(3000)]
    splits = build_splits(items)
    assert build_splits(list(reversed(items))) == splits
    seen: set[str] = set()
    for name, ex in splits.items():
        assert len(ex) > 0 and 2 * sum(ex.targets) == len(ex), name
        assert all(split_of("c:" + t.split()[1]) == name for t in ex.inputs)
        assert seen.isdisjoint(ex.inputs)
        seen.update(ex.inputs)
    assert len(splits["train"]) > len(splits["test"]) > len(splits["select"])


def test_loader_builds_balanced_splits_from_the_vader_snippets(registry) -> None:
    from benchmark.engine.runner import default_cache_dir

    task = registry.tasks.get("example-questions").obj
    options = dict(task.sources.recipe.options)
    loader = registry.datasets.get("example-questions").obj
    splits = loader(task=task, options=options, cache_dir=default_cache_dir())
    assert set(splits) == {"train", "select", "test"}
    for name, ex in splits.items():
        assert len(ex) >= 100, name
        assert 2 * sum(ex.targets) == len(ex), name
        assert set(ex.targets) == {0, 1}
        assert not any("?" in text for text in ex.inputs), "a question mark would give the label away"
    assert loader(task=task, options=options, cache_dir=default_cache_dir()) == splits
    assert "movieReviewSnippets" in loader.revision(options)
    with pytest.raises(BenchError, match="unknown option 'corpus'"):
        QuestionsLoader().options({"corpus": "tweets"})


# -- the multi-label head, its metrics and its task ---------------------------------------------------------


def test_registers_the_multi_label_head_its_metrics_and_task(registry) -> None:
    from benchmark.heads import kind_of

    kind = kind_of(registry, "multi-label")
    assert isinstance(kind, MultiLabelKind) and (kind.consumes, kind.target, kind.finetunes) == ("pooled", "labels", True)
    for name in ("micro_f1", "mean_ap"):
        metric = registry.metrics.get(name).obj
        assert (metric.higher_is_better, metric.kind) == (True, "multi-label")
    task = registry.tasks.get("example-multilabel").obj
    assert (task.head, task.labels, task.metrics, task.score) == ("multi-label", ML_LABELS, ["mean_ap", "micro_f1"],
                                                                  ["mean_ap"])
    local = task.sources.local
    assert (local.base, local.format, local.dir, task.origin_dir) == ("tasks-file", "csv", "multilabel_data",
                                                                      ML_DATA.parent)
    assert "Hutto & Gilbert" in (task.citation or "") and task.license == "MIT"


def test_label_cells_become_indicators_and_a_bad_one_is_one_line(registry) -> None:
    task = registry.tasks.get("example-multilabel").obj
    kind = MultiLabelKind()
    assert kind.convert_target(task, "strong|raters-positive", "x") == (1, 0, 1)
    assert kind.convert_target(task, "", "x") == (0, 0, 0)
    assert kind.convert_target(task, ["raters-negative"], "x") == (0, 1, 0)  # a JSON list of names
    with pytest.raises(BenchError, match=r"^task 'example-multilabel': label 'loud' at f.csv:3 is not one of "):
        kind.convert_target(task, "strong|loud", "f.csv:3")


def test_metrics_are_scikit_learns() -> None:
    from sklearn.metrics import average_precision_score, f1_score

    truth = [[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1], [1, 0, 0]]
    scores = [[0.9, 0.2, 0.6], [0.4, 0.7, 0.1], [0.6, 0.4, 0.3], [0.2, 0.1, 0.8], [0.3, 0.6, 0.5]]
    predicted = [[int(p >= 0.5) for p in row] for row in scores]
    assert micro_f1(truth, scores) == pytest.approx(100 * f1_score(truth, predicted, average="micro"))
    assert micro_f1(truth, scores) == pytest.approx(100 * 2 * 5 / (2 * 5 + 2 + 2))  # 5 hits, 2 false, 2 missed
    assert mean_ap(truth, scores) == pytest.approx(100 * average_precision_score(truth, scores, average="macro"))
    # a label nobody has is left out of the mean (it has no average precision), not counted as 0
    assert mean_ap([r + [0] for r in truth], [r + [0.7] for r in scores]) == pytest.approx(mean_ap(truth, scores))
    assert mean_ap([[0, 0]], [[0.5, 0.5]]) == 0.0


def test_the_shipped_csv_is_real_multi_label_data(registry, tmp_path: Path) -> None:
    from benchmark.tasks.data import load

    texts = {split: (ML_DATA / f"{split}.csv").read_text(encoding="utf-8") for split in ("train", "dev")}
    assert sum(len(t.encode("utf-8")) for t in texts.values()) < 100_000
    for text in texts.values():  # quoted fields holding commas: the CSV reader must honour the quoting
        assert len(re.findall(r'^\d+,"[^"\n]*,[^"\n]*",', text, re.M)) > 50
    task = registry.tasks.get("example-multilabel").obj
    data = load(task, None, registry, tmp_path)  # no data directory: the files are beside tasks.yaml
    assert (len(data.train), len(data.dev), len(data.evals["dev"])) == (336, 84, 180)  # select: 20% of train
    rows = [*data.train.targets, *data.dev.targets, *data.evals["dev"].targets]
    assert all(len(y) == 3 and set(y) <= {0, 1} for y in rows)
    for k, label in enumerate(ML_LABELS):
        assert 0.25 < sum(y[k] for y in rows) / len(rows) < 0.65, label
    assert sum(sum(y) >= 2 for y in rows) > 0.3 * len(rows)  # genuinely multi-label
    assert any(", " in x for x in data.evals["dev"].inputs)


def test_the_head_trains_frozen_and_fine_tuned(tmp_path: Path) -> None:
    import benchmark
    from benchmark.plugin.manager import get_plugins

    if "example-multilabel" not in get_plugins().registry.tasks:
        pytest.skip("bench-example-plugin is not installed (pip install -e .)")
    for mode, hparams in (("frozen", {}), ("finetune", {"epochs": 1, "max_train": 64})):
        (res,) = benchmark.run("hashbow:32", "example-multilabel", [0], tmp_path / mode, mode=mode,
                               cache_dir=tmp_path / "cache", **hparams)
        preds, gold = res.predictions["dev"], res.targets["dev"]
        assert len(preds) == len(gold) == 180 and res.selection["epochs_run"] >= 1, mode
        assert all(len(p) == 3 and all(0.0 <= x <= 1.0 and round(x, 4) == x for x in p) for p in preds)
        assert all(len(y) == 3 and set(y) <= {0, 1} for y in gold)
        assert res.scores == {"mean_ap": round(mean_ap(gold, preds), 4), "micro_f1": round(micro_f1(gold, preds), 4)}
        assert res.main_score == res.scores["mean_ap"] and len(res.layer_weights) == 3
