from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write_tsv

from benchmark.errors import BenchError
from benchmark.tasks import data
from benchmark.types import Examples


def test_glue_layout_loads_with_holdout_selection(registry, glue_dir: Path, tmp_path: Path) -> None:
    sst2 = registry.tasks.get("sst2").obj
    assert data.choose_source(sst2, glue_dir) == "local"
    assert data.missing(sst2, glue_dir, registry, tmp_path) is None
    td = data.load(sst2, glue_dir, registry, tmp_path)
    assert len(td.train) + len(td.dev) == 72 and len(td.dev) == 7  # 10% held out for model selection
    assert len(td.evals["dev"]) == 24
    assert td.evals["dev"].targets[0] == 1 and td.evals["dev"].targets[-1] == 0
    assert td.revision.startswith("local:glue-tsv:")
    again = data.load(sst2, glue_dir, registry, tmp_path)
    assert again.dev == td.dev  # the held-out slice is fixed, whatever the job seed


def test_pair_regression_and_multi_eval(registry, glue_dir: Path, tmp_path: Path) -> None:
    stsb = data.load(registry.tasks.get("stsb").obj, glue_dir, registry, tmp_path)
    assert isinstance(stsb.evals["dev"].inputs[0], tuple) and isinstance(stsb.evals["dev"].targets[1], float)
    mnli = data.load(registry.tasks.get("mnli").obj, glue_dir, registry, tmp_path)
    assert set(mnli.evals) == {"m", "mm"} and mnli.evals["m"].targets[:3] == (0, 1, 2)


def test_cola_has_no_header(registry, tmp_path: Path) -> None:
    d = tmp_path / "g"
    rows = [["gj04", "1", "", "The book was read by John."], ["gj04", "0", "*", "Book the John read."]] * 10
    write_tsv(d / "CoLA" / "train.tsv", None, rows)
    write_tsv(d / "CoLA" / "dev.tsv", None, rows[:4])
    td = data.load(registry.tasks.get("cola").obj, d, registry, tmp_path)
    assert td.evals["dev"].inputs[:2] == ("The book was read by John.", "Book the John read.")
    assert td.evals["dev"].targets[:2] == (1, 0)


def test_missing_files_are_named_with_a_fix(registry, glue_dir: Path, tmp_path: Path) -> None:
    lack = data.missing(registry.tasks.get("rte").obj, glue_dir, registry, tmp_path)
    assert lack is not None and (lack.what, lack.task, lack.files) == (f"files in {glue_dir}", "rte", "RTE/train.tsv")
    from benchmark.engine.runner import problems_message

    other = data.missing(registry.tasks.get("cola").obj, glue_dir, registry, tmp_path)
    assert problems_message([lack, other]) == (
        f"cannot start: missing files in {glue_dir} for rte, cola (expected RTE/train.tsv, CoLA/train.tsv in the "
        "GLUE download layout, or leave those tasks out of --tasks)")


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([["good film", "7"]], "task 'sst2': label '7' at {p}:2 is not one of ['0', '1']"),
        ([["good film"]], "{p}: no row has the expected 2 tab-separated columns"),
    ],
)
def test_bad_rows(registry, tmp_path: Path, rows, message) -> None:
    d = tmp_path / "g"
    write_tsv(d / "SST-2" / "train.tsv", ["sentence", "label"], rows)
    write_tsv(d / "SST-2" / "dev.tsv", ["sentence", "label"], [["ok", "1"]])
    with pytest.raises(BenchError) as err:
        data.load(registry.tasks.get("sst2").obj, d, registry, tmp_path)
    assert str(err.value) == message.format(p=d / "SST-2" / "train.tsv")


def test_wrong_columns_non_numeric_and_non_utf8(registry, tmp_path: Path) -> None:
    d = tmp_path / "g"
    write_tsv(d / "SST-2" / "train.tsv", ["text", "label"], [["good", "1"]])
    write_tsv(d / "SST-2" / "dev.tsv", ["sentence", "label"], [["ok", "1"]])
    with pytest.raises(BenchError, match=r"train.tsv: no column 'sentence' \(columns: text, label\)"):
        data.load(registry.tasks.get("sst2").obj, d, registry, tmp_path)
    head = ["index", "genre", "filename", "year", "old_index", "source1", "source2", "sentence1", "sentence2", "score"]
    write_tsv(d / "STS-B" / "train.tsv", head, [["0", "g", "f", "y", "0", "s", "s", "a", "b", "high"]])
    write_tsv(d / "STS-B" / "dev.tsv", head, [["0", "g", "f", "y", "0", "s", "s", "a", "b", "1.0"]])
    with pytest.raises(BenchError, match=r"task 'stsb': non-numeric target 'high' at .*train.tsv:2"):
        data.load(registry.tasks.get("stsb").obj, d, registry, tmp_path)
    (d / "SST-2" / "train.tsv").write_bytes(b"sentence\tlabel\ncaf\xe9\t1\n")
    with pytest.raises(BenchError, match=r"train.tsv: line 2 is not UTF-8 text \(byte 0xe9\)"):
        data.load(registry.tasks.get("sst2").obj, d, registry, tmp_path)


def test_empty_split(registry, tmp_path: Path) -> None:
    d = tmp_path / "g"
    write_tsv(d / "SST-2" / "train.tsv", ["sentence", "label"], [["good", "1"]] * 5)
    write_tsv(d / "SST-2" / "dev.tsv", ["sentence", "label"], [])
    with pytest.raises(BenchError, match="task 'sst2': the 'dev' split is empty"):
        data.load(registry.tasks.get("sst2").obj, d, registry, tmp_path)


def test_hub_source_missing_offline_names_the_fix(registry, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    lack = data.missing(registry.tasks.get("qqp").obj, None, registry, tmp_path)
    assert lack is not None and (lack.what, lack.task, lack.files) == ("Hub dataset 'nyu-mll/glue'", "qqp", "QQP/")
    assert "pass --data-dir DIR holding {files} in the GLUE download layout" in lack.how


def test_holdout_is_deterministic_and_disjoint() -> None:
    ex = Examples(tuple(f"s{i}" for i in range(100)), tuple(i % 2 for i in range(100)))
    a_train, a_sel = data.holdout(ex, 0.1, 2000)
    b_train, b_sel = data.holdout(ex, 0.1, 2000)
    assert a_sel == b_sel and len(a_sel) == 10 and len(a_train) == 90
    assert not set(a_sel.inputs) & set(a_train.inputs)
    assert len(data.holdout(ex, 0.5, 7)[1]) == 7


def test_hub_source_maps_columns_splits_and_class_labels(registry, monkeypatch) -> None:
    """The Hub path, with `datasets.load_dataset` answered from memory (the Hub is unreachable in tests)."""
    import datasets

    calls = []
    feats = datasets.Features({"premise": datasets.Value("string"), "hypothesis": datasets.Value("string"),
                               "label": datasets.ClassLabel(names=["entailment", "neutral", "contradiction"])})

    def split(n: int, offset: int) -> datasets.Dataset:
        return datasets.Dataset.from_dict({"premise": [f"p{i}" for i in range(offset, offset + n)],
                                           "hypothesis": [f"h{i}" for i in range(offset, offset + n)],
                                           "label": [i % 3 for i in range(n)]}, features=feats)

    def fake_load(path, name=None, revision=None, **kw):
        calls.append((path, name, revision))
        return datasets.DatasetDict({"train": split(30, 0), "validation_matched": split(6, 100),
                                     "validation_mismatched": split(9, 200)})

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    mnli = registry.tasks.get("mnli").obj
    td = data.load(mnli, None, registry, Path("/nonexistent"))
    assert calls == [("nyu-mll/glue", "mnli", "bcdcba79d07bc864c1c254ccfcedcce55bcc9a8c")]
    assert td.evals["m"].inputs[0] == ("p100", "h100") and td.evals["mm"].targets[:4] == (0, 1, 2, 0)
    assert len(td.train) == 27 and len(td.dev) == 3
    assert td.revision == "hub:nyu-mll/glue/mnli@bcdcba79d07bc864c1c254ccfcedcce55bcc9a8c"

    def failing(*a, **k):
        raise ConnectionError("Couldn't reach 'nyu-mll/glue' on the Hub (LocalEntryNotFoundError)\nmore")

    monkeypatch.setattr(datasets, "load_dataset", failing)
    with pytest.raises(BenchError) as err:
        data.load(mnli, None, registry, Path("/nonexistent"))
    assert str(err.value) == ("cannot load Hub dataset 'nyu-mll/glue' (mnli) for 'mnli': "
                              "Couldn't reach 'nyu-mll/glue' on the Hub (LocalEntryNotFoundError)")
