"""spoken-fortune-qa: the recipe's timing and answer units, the symbol mapping of QA over units, and (slow) a small
end-to-end `bench run` whose FF1 / AOS equal a reference computation on its own predictions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmark.media.audio import trim
from benchmark.tasks import symbols
from benchmark.tasks.schema import SymbolMap
from benchmark.types import Examples, TaskData
from downstreams.recipes.spoken_qa import TRIM_DB, SpokenFortuneQA

ROOT = Path(__file__).resolve().parent.parent


def test_trim_keeps_the_voiced_extent() -> None:
    wave = np.zeros(16_000, np.float32)
    wave[3200:8000] = 0.5  # 0.2 s .. 0.5 s
    wave[100] = 0.001  # a click below 2 % of the loudest frame's RMS
    out = trim(wave, TRIM_DB)
    assert len(out) == 4800 and out.min() == 0.5


def test_answer_units_are_the_runs_over_the_gold_time() -> None:
    # passage runs (unit, first frame, end frame) at 100 frames a second; the answer is 0.25 s .. 0.55 s
    passage = [[3, 0, 10], [7, 10, 20], [3, 20, 30], [9, 30, 50], [1, 50, 60], [2, 60, 80]]
    question = [[4, 0, 5], [4, 5, 9]]
    ex = SpokenFortuneQA.split_examples([passage, question], np.array([[0.25, 0.55]]), 100.0)
    q, p, bounds = ex.inputs[0]
    assert q == "u4 u4" and p == "u3 u7 u3 u9 u1 u2"
    assert bounds == ((0.0, 0.1), (0.1, 0.2), (0.2, 0.3), (0.3, 0.5), (0.5, 0.6), (0.6, 0.8))
    # runs overlapping [0.25, 0.55]: u3 (0.2-0.3), u9, u1 (0.5-0.6)
    assert ex.targets[0] == {"answers": ["u3 u9 u1"], "starts": [6], "time": [0.25, 0.55]}
    assert p[6:6 + len("u3 u9 u1")] == "u3 u9 u1"


def test_symbol_mapping_moves_qa_answers_onto_the_mapped_context() -> None:
    from benchmark.tasks.schema import TaskSpec

    task = TaskSpec.model_validate({
        "name": "units-qa", "description": "d", "version": 1, "modality": "text", "head": "unit-span-qa",
        "symbol_map": {"unit": "whitespace"}, "metrics": ["ff1"], "score": ["ff1"], "evals": ["test"],
        "sources": {"recipe": {"name": "spoken-fortune-qa"}}})
    bounds = ((0.0, 1.0), (1.0, 2.0), (2.0, 3.0), (3.0, 4.0))
    ex = Examples((("u1 u2", "u2 u3 u1 u3", bounds),),
                  ({"answers": ["u1 u3"], "starts": [6], "time": [2.0, 4.0]},))

    class Up:
        def single_token_words(self) -> list[str]:
            return ["alpha", "be", "cee", "delta", "eh"]

    data = TaskData(ex, ex, {"test": ex}, "r")
    mapped, record = symbols.map_data(task, data, Up(), "up")
    table = record["mapping"]
    q, p, b = mapped.train.inputs[0]
    assert q == f"{table['u1']} {table['u2']}" and p == " ".join(table[u] for u in ("u2", "u3", "u1", "u3"))
    assert b == bounds  # the unit times ride along unchanged
    t = mapped.train.targets[0]
    want = f"{table['u1']} {table['u3']}"
    assert t["answers"] == [want] and p[t["starts"][0]:t["starts"][0] + len(want)] == want
    assert t["time"] == [2.0, 4.0]
    # k-mers would cut an answer's edges: refused for QA pairs
    from benchmark.errors import BenchError

    kmer = task.model_copy(update={"symbol_map": SymbolMap(unit="whitespace", k=2)})
    with pytest.raises(BenchError, match="needs symbol_map k: 1"):
        symbols.map_data(kmer, data, Up(), "up")


def test_the_head_needs_whitespace_units() -> None:
    from benchmark.plugin.manager import load_plugins
    from benchmark.tasks.schema import TaskSpec

    kind = load_plugins().registry.downstreams.get("unit-span-qa").obj
    base = {"name": "t", "description": "d", "version": 1, "modality": "text", "head": "unit-span-qa",
            "metrics": ["ff1"], "score": ["ff1"], "evals": ["test"], "sources": {"recipe": {"name": "x"}}}
    assert kind.validate(TaskSpec.model_validate({**base, "symbol_map": {"unit": "whitespace"}})) == []
    assert "set symbol_map: {unit: whitespace}" in kind.validate(TaskSpec.model_validate(base))[0]


SMALL = """schema: 1
tasks:
  spoken-mini:
    description: a small spoken fortune QA
    version: 1
    modality: text
    head: unit-span-qa
    symbol_map: {unit: whitespace}
    metrics: [ff1, aos]
    score: [ff1, aos]
    evals: [test]
    hparams:
      frozen: {hidden: 32, batch_size: 8, epochs: 2, patience: 2}
    sources:
      recipe:
        name: spoken-fortune-qa
        options: {train: 8, select: 4, test: 6, speakers: 12, OPTIONS}
        splits: {train: train, select: select, test: test}
"""


def _bench(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "BENCH_CACHE": str(cwd / "cache"), "PYTHONPATH": str(ROOT), "COLUMNS": "200",
           "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "benchmark", *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=600)


@pytest.mark.slow
def test_small_run_end_to_end(tmp_path: Path) -> None:
    """Synthesis, k-means units, `bench units fit` on the task's audio, and a run of minilm that reads the units
    through the file; the result's FF1 / AOS equal a reference computation on its predictions."""
    from downstreams.spoken_qa_metrics import span_aos, span_f1

    tasks = tmp_path / "tasks.yaml"
    tasks.write_text(SMALL.replace("OPTIONS", "units: {k: 24}"), encoding="utf-8")
    r = _bench("units", "fit", "--tasks-file", str(tasks), "--tasks", "spoken-mini", "--k", "20", "-o", "u.npz",
               cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    tasks.write_text(SMALL.replace("OPTIONS", f"unit_model: {tmp_path / 'u.npz'}"), encoding="utf-8")
    r = _bench("run", "--upstream", "minilm", "--tasks-file", str(tasks), "--tasks", "spoken-mini", "--output", "out",
               cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    (path,) = sorted((tmp_path / "out").glob("spoken-mini__minilm__*.json"))
    result = json.loads(path.read_text(encoding="utf-8"))
    from benchmark.features import units

    assert result["task_info"]["data_revision"].endswith(f"units-{units.load(tmp_path / 'u.npz').digest()}")
    assert result["task_info"]["symbols"]["alphabet"] <= 20
    preds, golds = result["predictions"]["test"], result["targets"]["test"]
    assert len(preds) == len(golds) == 6
    for p, g in zip(preds, golds, strict=True):
        assert 0 <= p[0] < p[1] and 0 < g["time"][0] < g["time"][1]
    want_f1 = 100 * sum(span_f1(p, g["time"]) for p, g in zip(preds, golds, strict=True)) / 6
    want_aos = 100 * sum(span_aos(p, g["time"]) for p, g in zip(preds, golds, strict=True)) / 6
    assert result["scores"]["ff1"] == pytest.approx(want_f1, abs=1e-3)
    assert result["scores"]["aos"] == pytest.approx(want_aos, abs=1e-3)
    assert result["main_score"] == pytest.approx((result["scores"]["ff1"] + result["scores"]["aos"]) / 2, abs=1e-3)
    # the built clips record each passage's length and author spans, as the floor reads them
    from downstreams.spoken_qa_floor import split_layouts

    (built,) = (tmp_path / "cache" / "speech").glob("spoken-fortune-qa-*.npz")
    data = np.load(built)
    layouts = split_layouts(data["test_meta"], data["test_spans"])
    lengths = data["test_lengths"][0::2]  # passages and questions alternate
    for x, n, g in zip(layouts, lengths, golds, strict=True):
        assert x.seconds == pytest.approx(n / 16_000) and 2 <= len(x.authors) <= 3
        assert any(np.allclose(a, x.gold, atol=1e-3) for a in x.authors)
        assert list(x.gold) == pytest.approx(g["time"], abs=1e-3)
        assert all(0.15 <= a < b <= x.seconds - 0.15 for a, b in x.authors)
