"""Query by example (SUPERB QbE): the MTWV and MAP metrics against hand-checked values and brute-force references,
the vectorised subsequence DTW against a plain double loop, the QUESST 2014 reader on a miniature download, and
`bench run` end to end on it and on the offline synth-qbe data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import quesst_mini

from benchmark.errors import BenchError
from benchmark.tasks.quesst_layout import Quesst14
from downstreams import qbe_metrics as qm
from downstreams.heads_qbe import QbEKind, parse_target


def _split(terms: list[tuple[list[float], list[int]]]) -> tuple[list, list]:
    """Targets and predictions of a split with these (scores over the documents, occurrences) queries, plus one
    document row (which the metrics ignore)."""
    y_true = [{"role": "query", "id": f"q{k}", "hits": hits} for k, (_, hits) in enumerate(terms)]
    y_pred = [list(scores) for scores, _ in terms]
    return [*y_true, {"role": "document", "id": "d0"}], [*y_pred, []]


# Two terms over four documents.
#   A: scores 0.9 0.8 0.3 0.1, occurs in documents 0 and 2 (2 targets, 2 non-targets)
#   B: scores 0.7 0.2 0.6 0.4, occurs in document 0      (1 target,  3 non-targets)
# TWV(θ) = 1 − ½ Σ_terms (P_miss + β P_fa), detect when score ≥ θ:
#   θ = 0.9: A misses ½, B misses 1, no false alarm          -> 1 − (0.5 + 1) / 2 = 0.25
#   θ = 0.8: A false-alarms ½                                 -> β = 12.49: 1 − (0.5 + 6.245 + 1) / 2 < 0
#   θ = 0.7: B's hit, A still false-alarms ½                  -> β = 12.49: 1 − (0.5 + 6.245 + 0) / 2 < 0
#   with β = 1:  θ = 0.8: 1 − (0.5 + 0.5 + 1) / 2 = 0;  θ = 0.7 (B's hit): 1 − (0.5 + 0.5 + 0) / 2 = 0.5;
#                θ = 0.6: 1 − (1 + 1/3) / 2 = 1/3;  θ = 0.4: 1 − (1 + 2/3) / 2 = 1/6;
#                θ = 0.3: 1 − (0.5 + 2/3) / 2 = 5/12;  θ = 0.2: 1 − (0.5 + 1) / 2 = 0.25;  θ = 0.1: 0
#   so MTWV = 0.25 at θ = 0.9 (β = 12.49, and any β > 1) and 0.5 at θ = 0.7 (β = 1).
# AP: A ranks hit, miss, hit, miss -> (1/1 + 2/3) / 2 = 5/6; B ranks its hit first -> 1; MAP = 11/12.
HAND = [([0.9, 0.8, 0.3, 0.1], [0, 2]), ([0.7, 0.2, 0.6, 0.4], [0])]


def test_mtwv_and_map_equal_the_hand_checked_example() -> None:
    y_true, y_pred = _split(HAND)
    assert qm.mtwv(y_true, y_pred) == pytest.approx(25.0)
    assert qm.mtwv_value(y_true, y_pred) == pytest.approx((0.25, 0.9))
    assert qm.mtwv_value(y_true, y_pred, beta=1.0) == pytest.approx((0.5, 0.7))
    assert qm.mean_average_precision(y_true, y_pred) == pytest.approx(100 * 11 / 12)
    _, twv = qm.twv_curve(qm.query_trials(y_true, y_pred), beta=1.0)
    assert twv == pytest.approx([0.25, 0.0, 0.5, 1 / 3, 1 / 6, 5 / 12, 0.25, 0.0])


def _brute_mtwv(terms: list[tuple[list[float], list[int]]], beta: float) -> float:
    """TWV at every threshold, straight from the definition (occurring terms only); max with 'detect nothing'."""
    used = [(np.asarray(s), set(h)) for s, h in terms if h]
    best = 0.0
    for theta in sorted({v for s, _ in used for v in s}):
        loss = 0.0
        for s, hits in used:
            detected = {d for d in range(len(s)) if s[d] >= theta}
            p_miss = 1 - len(detected & hits) / len(hits)
            p_fa = len(detected - hits) / (len(s) - len(hits))
            loss += p_miss + beta * p_fa
        best = max(best, 1 - loss / len(used))
    return best


def _brute_ap(scores: list[float], hits: list[int]) -> float:
    ranked = sorted(range(len(scores)), key=lambda d: -scores[d])
    found, precisions = 0, []
    for rank, d in enumerate(ranked, start=1):
        if d in hits:
            found += 1
            precisions.append(found / rank)
    return float(np.mean(precisions))


@pytest.mark.parametrize("seed", range(6))
def test_mtwv_and_map_equal_brute_force_references(seed: int) -> None:
    rng = np.random.default_rng(seed)
    terms = []
    for _ in range(int(rng.integers(2, 7))):
        n = int(rng.integers(5, 30))
        hits = sorted({int(h) for h in rng.integers(0, n, size=int(rng.integers(0, 4)))})  # some occur nowhere
        scores = np.round(rng.normal(size=n) + 2.0 * np.isin(np.arange(n), hits), 1)  # rounding makes ties
        terms.append((scores.tolist(), hits))
    y_true, y_pred = _split(terms)
    for beta in (qm.BETA, 1.0, 0.1):
        assert qm.mtwv_value(y_true, y_pred, beta)[0] == pytest.approx(_brute_mtwv(terms, beta)), beta
    distinct = [(s, h) for s, h in terms if h and len(set(s)) == len(s)]
    if distinct:
        y_true, y_pred = _split(distinct)
        want = np.mean([_brute_ap(s, h) for s, h in distinct])
        assert qm.mean_average_precision(y_true, y_pred) == pytest.approx(100 * want)


def test_metrics_read_only_query_rows_and_refuse_broken_scores() -> None:
    y_true, y_pred = _split(HAND)
    assert qm.mtwv(y_true[::-1], y_pred[::-1]) == pytest.approx(25.0)  # row order does not matter
    assert qm.mtwv([{"role": "document", "id": "d"}], [[]]) == 0.0
    with pytest.raises(ValueError, match="non-finite"):
        qm.mtwv(*_split([([0.1, float("nan")], [0])]))
    with pytest.raises(ValueError, match="outside"):
        qm.mtwv(*_split([([0.1, 0.2], [5])]))


def _dtw_reference(query: np.ndarray, doc: np.ndarray) -> float:
    """s3prl's match(): scipy cosine distance, min-max per query frame, dtw-python's asymmetric pattern open at
    both ends, normalised by the query length; as a plain double loop."""
    from scipy.spatial import distance

    dist = distance.cdist(query, doc, "cosine")
    dist = (dist - dist.min(1, keepdims=True)) / np.clip(dist.max(1, keepdims=True) - dist.min(1, keepdims=True),
                                                          1e-9, None)
    n, m = dist.shape
    acc = np.full((n, m), np.inf)
    acc[0] = dist[0]
    for i in range(1, n):
        for j in range(m):
            acc[i, j] = dist[i, j] + min(acc[i - 1, j], acc[i - 1, j - 1] if j >= 1 else np.inf,
                                         acc[i - 1, j - 2] if j >= 2 else np.inf)
    return float(acc[-1].min() / n)


def test_vectorised_dtw_equals_the_double_loop_and_finds_the_embedded_query() -> None:
    import torch

    from downstreams.qbe_dtw import Documents, _costs, query_scores

    rng = np.random.default_rng(0)
    query = rng.normal(size=(7, 5)).astype(np.float32)
    docs = [rng.normal(size=(int(n), 5)).astype(np.float32) for n in (3, 12, 20, 9)]
    docs[2][6:13] = query + 0.05 * rng.normal(size=query.shape)  # the query inside document 2
    bank = Documents(docs)
    got = np.zeros(len(docs))
    q = torch.nn.functional.normalize(torch.from_numpy(query), dim=-1)
    for idx, x, lengths in bank.chunks:
        got[idx] = _costs(q, x, lengths).numpy()
    assert got == pytest.approx([_dtw_reference(query, d) for d in docs], abs=1e-5)
    scores = query_scores(query, bank)
    assert int(np.argmax(scores)) == 2 and scores.mean() == pytest.approx(0.0, abs=1e-9)
    assert not query_scores(query[:4], bank).any()  # fewer than 5 frames: s3prl scores 0 everywhere


def test_targets_parse_and_the_head_trains_nothing(registry) -> None:
    assert parse_target("t", "query q1 4 2 4", "x") == {"role": "query", "id": "q1", "hits": [2, 4]}
    assert parse_target("t", "document d7", "x") == {"role": "document", "id": "d7"}
    for bad in ("document", "document d7 3", "query q1 two", "term q1"):
        with pytest.raises(BenchError, match="neither 'document ID' nor"):
            parse_target("t", bad, "f.lst:3")
    kind = registry.downstreams.get("query-by-example").obj
    assert isinstance(kind, QbEKind) and not kind.finetunes
    task = registry.tasks.get("synth-qbe").obj
    assert "nothing to fine-tune" in kind.check_mode(task, "finetune")
    assert kind.check_mode(task, "frozen") is None
    assert {"mtwv", "map"} <= set(registry.metrics.names())


def test_quesst_reader_keeps_english_queries_and_documents_with_their_occurrences(tmp_path: Path) -> None:
    quesst_mini.build(tmp_path)
    layout = Quesst14()
    assert layout.missing(tmp_path, "quesst14Database#dev") is None
    assert layout.missing(tmp_path, "elsewhere#dev") == "elsewhere/scoring/language_key_utterances.lst"
    clips, labels = layout.read(tmp_path, "quesst14Database#dev")
    # English documents 00001-00006 are positions 0-5; w0 is in 00001 and 00004, w1 in 00002 and 00005; the
    # Basque query and the Basque and Czech documents are left out.
    assert labels == ["query quesst14_dev_0001 0 3", "query quesst14_dev_0002 1 4",
                      *(f"document quesst14_0000{k}" for k in range(1, 7))]
    assert Path(clips[0].path).name == "quesst14_dev_0001.wav" and Path(clips[2].path).name == "quesst14_00001.wav"
    _, labels = layout.read(tmp_path, "quesst14Database#eval")
    assert labels[:2] == ["query quesst14_eval_0001 1 2", "query quesst14_eval_0002 3 5"]
    rttm = tmp_path / "quesst14Database" / "scoring" / "groundtruth_quesst14_dev" / "quesst14_dev.rttm"
    rttm.write_text("LEXEME quesst14_00001 1\n", encoding="utf-8")
    with pytest.raises(BenchError, match=r"quesst14_dev.rttm:1: expected 'LEXEME <document>"):
        layout.read(tmp_path, "quesst14Database#dev")


def _bench(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BENCH_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    env.pop("BENCH_DATA_DIR", None)
    return subprocess.run([sys.executable, "-m", "benchmark", *args], capture_output=True, text=True, env=env,
                          timeout=600)


def test_superb_qbe_runs_on_a_miniature_quesst_download(tmp_path: Path) -> None:
    quesst_mini.build(tmp_path / "data")
    out = tmp_path / "out"
    run = _bench("run", "--upstream", "fbank", "--tasks", "superb-qbe", "--data-dir", str(tmp_path / "data"), "-o",
                 str(out), "-q", cache=tmp_path / "cache")
    assert run.returncode == 0, run.stderr
    result = json.loads(next(out.rglob("*.json")).read_text())
    assert set(result["scores"]) == {"mtwv", "map"}
    assert result["n_examples"]["test"] == 2 + 6 and result["layer_weights"] == [1.0]  # fbank has one layer
    assert result["task_info"]["data_revision"].startswith("local:quesst14:")
    assert result["scores"]["map"] == pytest.approx(100.0)  # each tone word is found in its documents first
    preds = result["predictions"]["test"]
    assert [len(p) for p in preds] == [6, 6, *[0] * 6]


@pytest.mark.slow
def test_synth_qbe_fbank_beats_chance(tmp_path: Path) -> None:
    """Chance (scores unrelated to the documents) has MTWV about 0: detecting a share p of the trials at random gives
    TWV = p − β p < 0 for any β > 1, so the best threshold detects nothing."""
    out = tmp_path / "out"
    run = _bench("run", "--upstream", "fbank", "--tasks", "synth-qbe", "--seeds", "0", "-o", str(out), "-q",
                 cache=tmp_path / "cache")
    assert run.returncode == 0, run.stderr
    result = json.loads(next(out.rglob("*.json")).read_text())
    assert result["scores"]["mtwv"] > 0.0 and result["scores"]["map"] > 30.0
    assert result["n_examples"]["test"] == 12 + 40 and sum(result["layer_weights"]) == 1.0
    assert any("model-selection scores by layer: 0: mtwv" in n for n in result["task_info"]["notes"])


def test_the_layer_is_chosen_by_mtwv_then_map_then_the_lower_layer(registry) -> None:
    from types import SimpleNamespace

    from benchmark.types import Examples
    from downstreams.qbe_run import QbERun

    # One query occurring in document 0 of three; per layer, its scores over the documents.
    targets = ({"role": "query", "id": "q", "hits": [0]}, *({"role": "document", "id": f"d{k}"} for k in range(3)))
    per_layer = {0: [0.0, 1.0, 0.5],  # hit ranked last: MTWV 0, AP 1/3
                 1: [1.0, 1.0, 0.0],  # hit tied with a non-target at the top: MTWV 0, AP 1/2
                 2: [1.0, 1.0, 0.0],  # the same: a full tie with layer 1
                 3: [0.0, 0.5, 1.0]}  # hit last again
    task = registry.tasks.get("synth-qbe").obj
    job = SimpleNamespace(task=task, registry=registry, select=Examples((None,) * 4, targets))
    run = QbERun(job)  # type: ignore[arg-type]
    run.n_layers, run.src_select = 4, None
    asked: list[list[int]] = []

    def scores(examples, src, label, layers):
        asked.append(list(layers))
        return {lay: [per_layer[lay], [], [], []] for lay in layers}

    run.scores = scores  # type: ignore[method-assign]
    fitted = run.fit(0, {"layer": None})
    assert fitted.featurizer.layer_weights() == [0.0, 1.0, 0.0, 0.0] and fitted.select_score == 0.0
    per_layer[3] = [1.0, 0.0, 0.0]  # the hit alone on top: MTWV 100 beats any MAP
    assert run.fit(0, {"layer": None}).featurizer.layer == 3
    assert run.fit(0, {"layer": -2}).featurizer.layer == 2 and asked[-1] == [2]  # --layer: no search
