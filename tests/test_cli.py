"""The command line as a user meets it: subprocesses, exit codes, one-line errors, nothing written on failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_tsv


def bench(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200", **(env or {})}
    return subprocess.run([sys.executable, "-m", "benchmark", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=900)


def test_help_does_not_import_torch_or_transformers() -> None:
    code = ("import sys\nfrom benchmark.cli.app import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('HEAVY', sorted(m for m in ('torch', 'transformers', 'datasets') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "Commands:" in out.stdout and "run" in out.stdout
    assert out.stdout.strip().endswith("HEAVY []"), out.stdout[-300:]
    for sub in ("run", "list", "report", "plugins"):
        r = bench(sub, "--help")
        assert r.returncode == 0 and "Usage: bench " + sub in r.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--upstream", "minlm"], "error: unknown upstream 'minlm' — did you mean 'minilm'? (bench list upstreams)"),
        (["run", "--tasks", "glu"], "error: unknown task or suite 'glu' — did you mean 'glue'? (bench list tasks)"),
        (["run", "--seeds", "0,x"], "error: Invalid value for '--seeds': '0,x' is not a comma-separated list of "
                                    "integers (e.g. 0,1,2) (see 'bench run --help')"),
        (["run", "--mode", "frozzen"], "error: Invalid value for '--mode': 'frozzen' is not one of 'frozen', "
                                       "'finetune'. (see 'bench run --help')"),
        (["run", "--layer", "top"], "error: Invalid value for '--layer': 'top' is not 'weighted' or a layer number "
                                    "(0 = embeddings) (see 'bench run --help')"),
        (["run", "--upstream", "minilm+random"], "error: unknown upstream modifier '+random' in 'minilm+random' "
                                                 "(known: +rand, +re-emb)"),
        (["list", "things"], "error: Invalid value for '{upstreams|tasks|suites|heads|metrics|formats|datasets|"
                             "executors}': 'things' is not one of 'upstreams', 'tasks', 'suites', 'heads', 'metrics', "
                             "'formats', 'datasets', 'executors'. (see 'bench list --help')"),
        (["run", "--lr", "1e-3,fast"], "error: Invalid value for '--lr': '1e-3,fast' is not a comma-separated list "
                                       "of numbers (e.g. 1e-4,1e-3) (see 'bench run --help')"),
        (["run", "--executor", "slurm"], "error: unknown executor 'slurm' (bench list executors)"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    r = bench(*args, "--output", str(tmp_path / "out")) if args[0] == "run" else bench(*args)
    assert r.returncode == 2
    assert r.stderr.strip() == message
    assert "Traceback" not in r.stderr + r.stdout
    assert not (tmp_path / "out").exists()


def test_offline_bert_on_glue_names_model_and_data_and_writes_nothing(tmp_path: Path) -> None:
    empty_cache = tmp_path / "hf"
    r = bench("run", "--upstream", "bert", "--tasks", "glue", env={"HF_HOME": str(empty_cache)}, cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0] == (
        "error: cannot start: offline (HF_HUB_OFFLINE=1): 9 of 9 jobs need what is not here: model "
        "'google-bert/bert-base-uncased'; Hub dataset 'nyu-mll/glue' for cola, sst2, mrpc, stsb, qqp, mnli, qnli, "
        "rte, wnli; fetch it with network access: bench prefetch --upstream bert --tasks glue, or pass a local "
        "directory as bert:/path/to/model; pass "
        "--data-dir DIR holding CoLA/, SST-2/, MRPC/, STS-B/, QQP/, MNLI/, QNLI/, RTE/, WNLI/ in the GLUE download "
        "layout")
    assert list(tmp_path.iterdir()) == [empty_cache] or list(tmp_path.iterdir()) == []


def test_sst2_from_a_glue_directory_on_real_minilm(tmp_path: Path) -> None:
    """Must-show: a GLUE-layout dir holding only SST-2 runs and reports accuracy and the human-relative score."""
    from benchmark.engine.runner import default_cache_dir
    from downstreams.recipes.vader import load_snippets, polarity_items, split_of

    snippets = polarity_items(load_snippets(default_cache_dir(), "movieReviewSnippets"))

    def balanced(split: str, n: int) -> list[list[str]]:  # the corpus lists positive reviews first
        rows = [s for s in snippets if split_of(s.id) == split]
        pos, neg = [s for s in rows if s.mean > 0][: n // 2], [s for s in rows if s.mean < 0][: n // 2]
        return [[s.text, str(int(s.mean > 0))] for pair in zip(pos, neg) for s in pair]

    train, dev = balanced("train", 600), balanced("test", 300)
    write_tsv(tmp_path / "glue" / "SST-2" / "train.tsv", ["sentence", "label"], train)
    write_tsv(tmp_path / "glue" / "SST-2" / "dev.tsv", ["sentence", "label"], dev)
    out = tmp_path / "out"
    r = bench("run", "--upstream", "minilm", "--tasks", "sst2", "--data-dir", str(tmp_path / "glue"), "--output", str(out))
    assert r.returncode == 0, r.stderr
    [path] = out.glob("*.json")
    result = json.loads(path.read_text())
    assert result["task"] == "sst2" and result["task_info"]["source"] == "local"
    assert 70 < result["scores"]["accuracy"] <= 100
    assert result["relative_to_human"] == pytest.approx(result["main_score"] / 97.8, abs=1e-4)
    assert "sst2" in r.stdout and "×human" in r.stdout and "97.8" in r.stdout
    rep = bench("report", "--output", str(out), "--format", "json")
    board = json.loads(rep.stdout)
    row = board["rows"][0]
    assert row["upstream"] == "minilm"
    assert row["tasks"]["sst2"]["score"]["mean"] == pytest.approx(result["main_score"])
    assert row["suites"]["glue"]["score"] is None  # one task of nine is not a GLUE score
    assert board["human"]["glue"] == pytest.approx(87.05)
    # a rerun does no work and changes nothing
    before = path.read_bytes(), path.stat().st_mtime_ns
    r2 = bench("run", "--upstream", "minilm", "--tasks", "sst2", "--data-dir", str(tmp_path / "glue"), "--output", str(out))
    assert r2.returncode == 0 and "1 of 1 jobs already finished" in r2.stderr
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_list_and_plugins() -> None:
    r = bench("list", "suites")
    assert r.returncode == 0
    assert "glue" in r.stdout and "offline-text" in r.stdout and "vader-polarity" in r.stdout
    heads = bench("list", "heads").stdout.splitlines()
    assert any(line.startswith("ctc") and "[frames -> sequence]" in line for line in heads)
    assert any(line.startswith("classification") and "[pooled -> class]" in line for line in heads)
    formats = [line.split()[0] for line in bench("list", "formats").stdout.splitlines()]
    assert {"csv", "tsv", "jsonl", "json", "parquet"} <= set(formats)
    r = bench("plugins", "--json")
    data = json.loads(r.stdout)
    names = {p["name"]: p for p in data["plugins"]}
    assert names["upstreams.text"]["registered"]["upstreams"] == ["bert", "minilm", "specific"]
    assert names["downstreams.recipes.biosequences"]["registered"]["datasets"] == ["dna-made1", "dna-motifs", "pfam-families"]
    assert data["failures"] == []


def test_unwritable_output_fails_before_work(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = bench("run", "--output", str(blocker))
    assert r.returncode == 2
    assert r.stderr.strip() == f"error: output path {blocker} exists and is not a directory; pass --output DIR"
    assert blocker.read_text() == "x"
