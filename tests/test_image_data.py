"""Image task data: the fixed digits split, the image layouts (ImageFolder, CIFAR-10 and STL-10 binary versions) on
miniature files written here, the Hub's Image columns, and the one-line errors for data that cannot be read."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.errors import BenchError
from benchmark.media.image import ImageFile, as_image
from benchmark.tasks import data
from benchmark.tasks.image_layouts import CIFAR10_LABELS, STL10_LABELS
from benchmark.tasks.schema import parse_task
from downstreams.recipes import images

TESTS = Path(__file__).parent

# -- digits ----------------------------------------------------------------------------------------------------


def test_digits_split_is_fixed_stratified_and_disjoint() -> None:
    x, y, idx = images._split_indices()
    assert {k: len(v) for k, v in idx.items()} == {"train": 1077, "select": 360, "test": 360}
    every = np.concatenate(list(idx.values()))
    assert len(every) == 1797 and set(every.tolist()) == set(range(1797))  # disjoint, and nothing left out
    # the recorded split (scikit-learn 1.9.1, random_state=0): a change here changes every digits score
    assert idx["test"][:6].tolist() == [21, 24, 28, 34, 35, 37] and idx["test"][-3:].tolist() == [1787, 1789, 1791]
    assert idx["select"][:6].tolist() == [5, 10, 13, 15, 29, 31]
    assert images.digits_digest(x, y, idx) == images.DIGITS_DIGEST
    overall = np.bincount(y, minlength=10) / len(y)
    for name, i in idx.items():  # stratified: each digit's share within one image of the whole set's
        counts = np.bincount(y[i], minlength=10)
        assert np.all(np.abs(counts - overall * len(i)) <= 1.0), (name, counts)


def test_digits_examples_are_float_chw_in_unit_range_and_deterministic() -> None:
    first, again = images.digits_splits(), images.digits_splits()
    x, y, idx = images._split_indices()
    for name in ("train", "select", "test"):
        ex = first[name]
        assert all(a.dtype == np.float32 and a.shape == (1, 8, 8) for a in ex.inputs)
        stacked = np.stack(ex.inputs)
        assert stacked.min() == 0.0 and stacked.max() == 1.0  # 0..16 scaled by 1/16
        assert ex.targets == tuple(int(v) for v in y[idx[name]])
        assert np.array_equal(stacked.reshape(len(ex), 64), x[idx[name]] / 16)
        assert np.array_equal(np.stack(again[name].inputs), stacked) and again[name].targets == ex.targets
    assert as_image(first["test"].inputs[0]).shape == (1, 8, 8)  # what an image upstream receives


def test_digits_tasks_load_through_the_recipe(registry, tmp_path: Path) -> None:
    for name in ("digits", "digits-knn"):
        task = registry.tasks.get(name).obj
        assert data.missing(task, None, registry, tmp_path) is None
        td = data.load(task, None, registry, tmp_path)
        assert (len(td.train), len(td.dev), len(td.evals["test"])) == (1077, 360, 360)
        assert td.revision == f"digits-v1:{images.DIGITS_DIGEST[:12]}" and td.notes == ()
        assert task.labels == [str(d) for d in range(10)]
        assert task.hparams == ({"frozen": {"layer": -1}} if name == "digits-knn" else
                                {"frozen": {"layer": -1, "lr": [0.001, 0.01], "epochs": 100, "patience": 20}})
    assert registry.suites.get("offline-image").obj.tasks == ["digits", "digits-knn", "digits-10shot"]
    with pytest.raises(BenchError, match="digits: unknown option 'seed'"):
        registry.datasets.get("digits").obj(task=None, options={"seed": 1}, cache_dir=tmp_path)


def test_the_few_label_task_keeps_ten_training_images_per_class(registry, tmp_path: Path) -> None:
    task = registry.tasks.get("digits-10shot").obj
    td = data.load(task, None, registry, tmp_path)
    full = images.digits_splits()
    assert (len(td.train), len(td.dev), len(td.evals["test"])) == (100, 360, 360)
    assert sorted(np.bincount(td.train.targets).tolist()) == [10] * 10
    assert td.revision == f"digits-v1:{images.DIGITS_DIGEST[:12]}:10-per-class"
    # a subset of the full train split, in its order; selection and test are the full ones
    train_keys = [x.tobytes() for x in full["train"].inputs]
    positions = [train_keys.index(x.tobytes()) for x in td.train.inputs]
    assert positions == sorted(positions)
    assert td.evals["test"].targets == full["test"].targets
    again = data.load(task, None, registry, tmp_path)
    assert [x.tobytes() for x in again.train.inputs] == [x.tobytes() for x in td.train.inputs]
    five = images.few_labels(full["train"], 5)
    assert len(five) == 50 and not set(x.tobytes() for x in five.inputs) <= set(x.tobytes() for x in td.train.inputs)
    for bad in (0, 200, "10"):
        with pytest.raises(BenchError, match="labels_per_class"):
            images.few_labels(full["train"], bad)  # type: ignore[arg-type]


def test_a_different_digits_split_stops_the_task(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images, "DIGITS_DIGEST", "0" * 64)
    images._digits.cache_clear()
    try:
        with pytest.raises(BenchError) as err:
            images.digits_splits()
    finally:
        images._digits.cache_clear()
    assert "gives a different digits split" in str(err.value) and "\n" not in str(err.value)


# -- folders of image files ------------------------------------------------------------------------------------


def _png(path: Path, value: int, size: tuple[int, int] = (4, 3), mode: str = "RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fill = value if mode == "L" else (value, 255 - value, 7)
    Image.new(mode, size, fill).save(path)
    return path


def test_list_images_walks_sorted_and_keeps_only_images(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    _png(root / "b" / "z.png", 1)
    _png(root / "a.PNG", 2)
    _png(root / "b" / "deep" / "y.jpg", 3)
    _png(root / ".hidden" / "x.png", 4)
    (root / "notes.txt").write_text("not an image")
    (root / "._a.png").write_bytes(b"macOS resource fork")
    found = images.list_images(root)
    assert [Path(f.path).relative_to(root).as_posix() for f in found] == ["a.PNG", "b/deep/y.jpg", "b/z.png"]
    assert all(isinstance(f, ImageFile) and f.stamp for f in found)
    assert as_image(found[2])[:, 0, 0].tolist() == pytest.approx([1 / 255, 254 / 255, 7 / 255])
    (root / "empty").mkdir()
    with pytest.raises(BenchError, match=r"^no image files \(\.bmp, .*\) under .*empty$"):
        images.list_images(root / "empty")
    with pytest.raises(BenchError, match="image folder not found: .*nowhere"):
        images.list_images(tmp_path / "nowhere")


FOLDER_TASK = {"description": "d", "version": 1, "modality": "image", "head": "classification",
               "labels": ["cat", "dog"], "metrics": ["accuracy"], "score": ["accuracy"], "evals": ["test"],
               "sources": {"local": {"format": "image-folder", "splits": {"train": "pets/train", "test": "pets/val"}}}}


def _pets(root: Path) -> None:
    for split, n in (("train", 10), ("val", 2)):
        for k, cls in enumerate(("cat", "dog")):
            for i in range(n):
                _png(root / "pets" / split / cls / f"{i:02d}.png", 10 * k + i, mode="L")


def test_image_folder_layout_gives_file_references_and_class_targets(registry, tmp_path: Path) -> None:
    task = parse_task("pets", FOLDER_TASK, "t.yaml")
    lack = data.missing(task, tmp_path, registry, tmp_path)
    assert lack is not None and lack.files == "pets/train/" and "image-folder layout (docs/images.md)" in lack.how
    _pets(tmp_path)
    assert data.missing(task, tmp_path, registry, tmp_path) is None
    td = data.load(task, tmp_path, registry, tmp_path)
    test = td.evals["test"]
    assert [Path(x.path).relative_to(tmp_path).as_posix() for x in test.inputs] == [
        "pets/val/cat/00.png", "pets/val/cat/01.png", "pets/val/dog/00.png", "pets/val/dog/01.png"]
    assert test.targets == (0, 0, 1, 1) and all(isinstance(x, ImageFile) for x in test.inputs)
    assert as_image(test.inputs[3]).shape == (1, 3, 4) and as_image(test.inputs[3])[0, 0, 0] == pytest.approx(11 / 255)
    assert len(td.train) + len(td.dev) == 20 and len(td.dev) == 2  # no select split: 10 % of train held out
    assert td.revision.startswith("local:image-folder:")
    _png(tmp_path / "pets" / "val" / "dog" / "01.png", 99, mode="L")  # an edited file is new data
    assert data.load(task, tmp_path, registry, tmp_path).revision != td.revision


def test_image_folder_refuses_a_class_folder_outside_the_labels(registry, tmp_path: Path) -> None:
    _pets(tmp_path)
    _png(tmp_path / "pets" / "train" / "horse" / "0.png", 5)
    task = parse_task("pets", FOLDER_TASK, "t.yaml")
    with pytest.raises(BenchError) as err:
        data.load(task, tmp_path, registry, tmp_path)
    msg = str(err.value)
    assert "folder 'horse' is not one of the task's labels ['cat', 'dog']" in msg and "\n" not in msg
    (tmp_path / "pets" / "train" / "horse" / "0.png").unlink()
    (tmp_path / "pets" / "train" / "horse").rmdir()
    for f in (tmp_path / "pets" / "val" / "dog").iterdir():
        f.unlink()
    with pytest.raises(BenchError, match="val/dog: class folder holds no image files"):
        data.load(task, tmp_path, registry, tmp_path)


# -- CIFAR-10 binary version -----------------------------------------------------------------------------------

CIFAR_BATCHES = [f"data_batch_{i}.bin" for i in range(1, 6)]


def _cifar_image(k: int) -> np.ndarray:
    """A (3, 32, 32) uint8 image that differs along every axis: channel, row and column."""
    c, r, col = np.meshgrid(np.arange(3), np.arange(32), np.arange(32), indexing="ij")
    return ((k * 7 + c * 80 + r * 2 + col) % 256).astype(np.uint8)


def _cifar(root: Path, records: int = 3) -> Path:
    base = root / "cifar-10-batches-bin"
    base.mkdir(parents=True)
    for n, name in enumerate([*CIFAR_BATCHES, "test_batch.bin"]):
        rows = [bytes([(n + k) % 10]) + _cifar_image(10 * n + k).tobytes() for k in range(records)]
        (base / name).write_bytes(b"".join(rows))
    return base


def test_cifar10_binary_records_become_uint8_images_and_class_targets(registry, tmp_path: Path) -> None:
    _cifar(tmp_path)
    task = registry.tasks.get("cifar10").obj
    assert task.labels == CIFAR10_LABELS
    assert data.missing(task, tmp_path, registry, tmp_path) is None
    td = data.load(task, tmp_path, registry, tmp_path)
    test = td.evals["test"]
    assert len(test) == 3 and test.targets == (5, 6, 7)  # test_batch.bin is the 6th file: labels 5, 6, 7
    for k, img in enumerate(test.inputs):
        assert img.dtype == np.uint8 and img.shape == (3, 32, 32)
        assert np.array_equal(img, _cifar_image(50 + k))  # R, G, B planes, each row by row
    assert len(td.train) + len(td.dev) == 15 and len(td.dev) == 2  # 10 % of 15, rounded: the selection holdout
    assert td.notes == ("model selection on a held-out 2 examples of train (seed 0)",)
    assert td.revision.startswith("local:cifar10-binary:")
    assert as_image(test.inputs[0]).max() <= 1.0 and pickle.loads(pickle.dumps(test.inputs[0])).shape == (3, 32, 32)


def test_cifar10_binary_problems_are_one_line(registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    task = registry.tasks.get("cifar10").obj
    lack = data.missing(task, tmp_path, registry, tmp_path)
    assert lack is not None and lack.files == "cifar-10-batches-bin/"
    base = _cifar(tmp_path)
    (base / "data_batch_3.bin").unlink()
    assert data.missing(task, tmp_path, registry, tmp_path).files == "cifar-10-batches-bin/data_batch_3.bin"
    (base / "data_batch_3.bin").write_bytes((base / "data_batch_1.bin").read_bytes()[:-100])  # truncated
    with pytest.raises(BenchError) as err:
        data.load(task, tmp_path, registry, tmp_path)
    assert "data_batch_3.bin: 9,119 bytes is not a whole number of 3,073-byte records" in str(err.value)
    assert "cifar-10-binary.tar.gz" in str(err.value) and "\n" not in str(err.value)
    (base / "data_batch_3.bin").write_bytes(bytes([12]) + bytes(3072))  # CIFAR-100's coarse label byte, say
    with pytest.raises(BenchError, match="data_batch_3.bin: record 0 has label byte 12, outside 0..9"):
        data.load(task, tmp_path, registry, tmp_path)


def test_the_pickled_python_version_of_cifar10_is_refused_never_unpickled(registry, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*a: object, **k: object) -> None:
        raise AssertionError("a CIFAR-10 pickle was loaded")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    py = tmp_path / "cifar-10-batches-py"
    py.mkdir()
    for name in ("data_batch_1", "test_batch", "batches.meta"):
        (py / name).write_bytes(b"\x80\x04not really")
    task = registry.tasks.get("cifar10").obj
    with pytest.raises(BenchError) as err:
        data.missing(task, tmp_path, registry, tmp_path)
    msg = str(err.value)
    assert "cifar-10-batches-py is the python (pickle) version of CIFAR-10" in msg and "\n" not in msg
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz" in msg
    # a task file pointing straight at the python folder gets the same answer
    body = {**FOLDER_TASK, "labels": CIFAR10_LABELS, "sources": {"local": {"format": "cifar10-binary", "splits": {
        "train": "cifar-10-batches-py#train", "test": "cifar-10-batches-py#test"}}}}
    with pytest.raises(BenchError, match="python \\(pickle\\) version"):
        data.load(parse_task("mine", body, "t.yaml"), tmp_path, registry, tmp_path)


# -- STL-10 binary version -------------------------------------------------------------------------------------


def _stl_images() -> np.ndarray:
    """Two (3, 96, 96) images, as they should look: one varies down the rows, one across the columns."""
    c, r, col = np.meshgrid(np.arange(3), np.arange(96), np.arange(96), indexing="ij")
    return np.stack([(r + 100 * c) % 256, (2 * col + 50 * c) % 256]).astype(np.uint8)


def _stl(root: Path, labels: bytes = bytes([3, 10])) -> Path:
    base = root / "stl10_binary"
    base.mkdir(parents=True)
    for split in ("train", "test"):
        # the official files store each channel column-major (Matlab order): write the transpose of each plane
        (base / f"{split}_X.bin").write_bytes(b"".join(
            np.ascontiguousarray(img.transpose(0, 2, 1)).tobytes() for img in _stl_images()))
        (base / f"{split}_y.bin").write_bytes(labels)
    return base


def test_stl10_binary_images_are_transposed_back_from_column_major(registry, tmp_path: Path) -> None:
    _stl(tmp_path)
    task = registry.tasks.get("stl10").obj
    assert task.labels == STL10_LABELS
    assert data.missing(task, tmp_path, registry, tmp_path) is None
    td = data.load(task, tmp_path, registry, tmp_path)
    test = td.evals["test"]
    assert test.targets == (2, 9)  # labels 1..10 in the file: 3 = car, 10 = truck
    assert [STL10_LABELS[t] for t in test.targets] == ["car", "truck"]
    want = _stl_images()
    for k, img in enumerate(test.inputs):
        assert img.dtype == np.uint8 and img.shape == (3, 96, 96)
        assert np.array_equal(img, want[k])
    assert np.all(test.inputs[0][:, 5, :] == test.inputs[0][:, 5, :1])  # image 0 is constant along a row
    assert np.all(test.inputs[1][:, :, 5] == test.inputs[1][:, :1, 5])  # image 1 is constant down a column
    assert as_image(test.inputs[1])[0, 0, 3] == pytest.approx(6 / 255)


@pytest.mark.parametrize("damage, message", [
    (lambda b: (b / "train_X.bin").write_bytes((b / "train_X.bin").read_bytes()[:-1]),
     "train_X.bin: 55,295 bytes is not a whole number of 96x96 colour images"),
    (lambda b: (b / "train_y.bin").write_bytes(bytes([1])), "train_y.bin holds 1 labels for the 2 images of train_X.bin"),
    (lambda b: (b / "train_y.bin").write_bytes(bytes([0, 4])), "train_y.bin: label 0 of image 0 is outside 1..10"),
])
def test_stl10_binary_problems_are_one_line(registry, tmp_path: Path, damage, message: str) -> None:
    damage(_stl(tmp_path))
    with pytest.raises(BenchError) as err:
        data.load(registry.tasks.get("stl10").obj, tmp_path, registry, tmp_path)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_stl10_missing_label_file_is_named(registry, tmp_path: Path) -> None:
    (_stl(tmp_path) / "test_y.bin").unlink()
    lack = data.missing(registry.tasks.get("stl10").obj, tmp_path, registry, tmp_path)
    assert lack is not None and lack.files == "stl10_binary/test_y.bin"


# -- the Hub ---------------------------------------------------------------------------------------------------


def test_hub_image_columns_become_uint8_chw_arrays(registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`datasets.load_dataset` answered from memory, with the Hub datasets' real column names and features."""
    import datasets

    calls = []

    def split(n: int, offset: int, column: str) -> datasets.Dataset:
        feats = datasets.Features({column: datasets.Image(), "label": datasets.ClassLabel(names=CIFAR10_LABELS)})
        pics = [Image.fromarray(np.full((32, 32, 3), (offset + i, i, 200), np.uint8)) for i in range(n)]
        return datasets.Dataset.from_dict({column: pics, "label": [i % 10 for i in range(n)]}, features=feats)

    def fake_load(path, name=None, revision=None, **kw):
        calls.append((path, name, revision))
        column = "img" if path == "uoft-cs/cifar10" else "image"
        return datasets.DatasetDict({"train": split(20, 0, column), "test": split(4, 100, column)})

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    cifar = registry.tasks.get("cifar10").obj
    td = data.load(cifar, None, registry, tmp_path)
    assert calls == [("uoft-cs/cifar10", "plain_text", "0b2714987fa478483af9968de7c934580d0bb9a2")]
    test = td.evals["test"]
    assert test.targets == (0, 1, 2, 3) and len(td.train) == 18 and len(td.dev) == 2
    assert all(x.dtype == np.uint8 and x.shape == (3, 32, 32) for x in test.inputs)
    assert test.inputs[2][:, 0, 0].tolist() == [102, 2, 200]
    assert td.revision == "hub:uoft-cs/cifar10/plain_text@0b2714987fa478483af9968de7c934580d0bb9a2"
    td = data.load(registry.tasks.get("stl10-knn").obj, None, registry, tmp_path)
    assert calls[-1] == ("tanganke/stl10", None, "49ae7f94508f7feae62baf836db284306eab0b0f")
    assert td.evals["test"].inputs[1][:, 3, 3].tolist() == [101, 1, 200]


def test_offline_without_data_the_image_tasks_say_how_to_supply_it(registry, tmp_path: Path) -> None:
    # conftest sets HF_HUB_OFFLINE=1: the Hub is unreachable, as on a machine without network
    for name, folder in (("cifar10", "cifar-10-batches-bin/"), ("stl10-knn", "stl10_binary/")):
        lack = data.missing(registry.tasks.get(name).obj, None, registry, tmp_path)
        assert lack is not None and "Hugging Face Hub is unreachable" in lack.how and lack.files == folder
        assert f"the {'cifar10' if name == 'cifar10' else 'stl10'}-binary layout (docs/images.md)" in lack.how


# -- through the command line ----------------------------------------------------------------------------------


def _bench(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BENCH_CACHE": str(tmp_path / "cache"), "BENCH_PLUGINS": "image_testplugin",
           "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    env.pop("BENCH_DATA_DIR", None)
    return subprocess.run([sys.executable, "-m", "benchmark", *args], capture_output=True, text=True, env=env,
                          timeout=600)


def _one_line_error(run: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_cli_image_data_errors_are_one_line_and_write_nothing(tmp_path: Path) -> None:
    out, empty = tmp_path / "out", tmp_path / "empty"
    empty.mkdir()
    run = ["run", "--upstream", "pixels", "-o", str(out), "-q"]
    _one_line_error(_bench(*run, "--tasks", "cifar-stl", tmp_path=tmp_path),
                    "offline (HF_HUB_OFFLINE=1)", "fetch it with network access: bench prefetch --tasks cifar-stl,",
                    "cifar-10-batches-bin/", "stl10_binary/")
    _one_line_error(_bench(*run, "--tasks", "cifar10", "--data-dir", str(empty), tmp_path=tmp_path),
                    "cifar-10-batches-bin/", "official cifar10-binary layout")
    pickled = tmp_path / "pickled"
    (pickled / "cifar-10-batches-py").mkdir(parents=True)
    _one_line_error(_bench(*run, "--tasks", "cifar10", "--data-dir", str(pickled), tmp_path=tmp_path),
                    "python (pickle) version of CIFAR-10", "cifar-10-binary.tar.gz")
    truncated = tmp_path / "truncated"
    (_stl(truncated) / "test_X.bin").write_bytes(bytes(1000))
    _one_line_error(_bench(*run, "--tasks", "stl10", "--data-dir", str(truncated), tmp_path=tmp_path),
                    "test_X.bin: 1,000 bytes is not a whole number")
    tasks = tmp_path / "pets.yaml"
    tasks.write_text(json.dumps({"schema": 1, "tasks": {"pets": FOLDER_TASK}}), encoding="utf-8")  # JSON is YAML
    pets = tmp_path / "pets-data"
    _pets(pets)
    _png(pets / "pets" / "val" / "horse" / "0.png", 1)
    _one_line_error(_bench(*run, "--tasks", "pets", "--tasks-file", str(tasks), "--data-dir", str(pets),
                           tmp_path=tmp_path), "folder 'horse' is not one of the task's labels")
    assert not out.exists() or not list(out.rglob("*.json"))


def test_cli_runs_digits_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = _bench("run", "--upstream", "pixels", "--tasks", "digits", "-o", str(out), "--epochs", "8", "-q",
                 tmp_path=tmp_path)
    assert run.returncode == 0, run.stderr
    result = json.loads(next(out.rglob("*.json")).read_text())
    assert result["n_examples"] == {"train": 1077, "select": 360, "test": 360}
    assert result["task_info"]["data_revision"] == f"digits-v1:{images.DIGITS_DIGEST[:12]}"
    assert result["hyperparameters"]["layer"] == -1
    assert result["main_score"] > 80.0  # a linear probe on raw pixels; chance is 10
    # --layer weighted is a choice, not the absence of one: it overrides the task's last-layer default
    out2 = tmp_path / "weighted"
    run = _bench("run", "--upstream", "pixels", "--tasks", "digits", "-o", str(out2), "--epochs", "1", "-q",
                 "--layer", "weighted", tmp_path=tmp_path)
    assert run.returncode == 0, run.stderr
    weighted = json.loads(next(out2.rglob("*.json")).read_text())
    assert weighted["hyperparameters"]["layer"] is None and weighted["job_id"] != result["job_id"]
    listed = _bench("list", "tasks", tmp_path=tmp_path).stdout
    assert all(name in listed for name in ("digits ", "digits-knn", "cifar10 ", "cifar10-knn", "stl10 ", "stl10-knn"))
