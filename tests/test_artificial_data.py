"""Artificial pretraining data (Chiang & Lee 2022; upstreams/artificial.py): each kind's statistics against its
definition, exact token counts, determinism per seed, the slice of token ids, and `bench pretrain mlm --data
artificial:paired` end to end into a checkpoint that `bench run` loads as an upstream."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import numpy as np
import pytest
from reliability_workspace import make_workspace
from scipy import stats

from benchmark.errors import BenchError
from upstreams import artificial
from upstreams.artificial import ArtificialSpec, chunk, chunks, n_chunks, parse, stream


def _data(text: str, available: int = 10_000, seed: int = 0) -> list[np.ndarray]:
    return list(chunks(parse(text).resolved(available, seed)))


def _sequences(text: str, **kw: int) -> list[np.ndarray]:
    return [row for c in _data(text, **kw) for row in c]


def test_uniform_frequencies_are_chi_square_consistent() -> None:
    [tokens] = _data("artificial:uniform?tokens=200000&vocab=50&length=50")
    counts = np.bincount(tokens.ravel(), minlength=50)
    assert counts.sum() == 200_000 and tokens.min() == 0 and tokens.max() == 49
    chi2 = float(((counts - 4000) ** 2 / 4000).sum())
    # 49 degrees of freedom: a uniform draw lands in the central 99.8 % (a cycling or constant generator would not)
    assert stats.chi2.ppf(0.001, 49) < chi2 < stats.chi2.ppf(0.999, 49), chi2
    assert chi2 == pytest.approx(44.887, abs=0.001)  # this seed's value (p = 0.64)
    # neighbours are independent too: the pair (token, next token) is uniform over 50 x 50
    pairs = np.bincount((tokens[:, :-1] * 50 + tokens[:, 1:]).ravel(), minlength=2500)
    expected = pairs.sum() / 2500
    assert stats.chi2.sf(float(((pairs - expected) ** 2 / expected).sum()), 2499) > 0.001


@pytest.mark.parametrize("exponent", [1.0, 1.5])
def test_zipf_rank_frequency_slope(exponent: float) -> None:
    [tokens] = _data(f"artificial:zipf?tokens=500000&vocab=1000&exponent={exponent}")[:1]
    counts = np.bincount(tokens.ravel(), minlength=1000)
    assert (np.diff(counts[:10]) < 0).all()  # type t is the (t+1)-th most frequent
    ranks = np.arange(1, 101)  # the top 100 ranks: each seen hundreds of times at least
    slope = np.polyfit(np.log(ranks), np.log(counts[:100]), 1)[0]
    assert slope == pytest.approx(-exponent, abs=0.05)
    harmonic = (np.arange(1, 1001) ** -exponent).sum()
    assert counts[0] / counts.sum() == pytest.approx(1 / harmonic, rel=0.02)  # 13.4 % for exponent 1


def _stack_check(row: np.ndarray, pairs: int) -> int:
    """Balanced, properly nested, every closer matching its opener; returns the maximum depth."""
    stack: list[int] = []
    deepest = 0
    for t in row.tolist():
        if t < pairs:
            stack.append(t)
            deepest = max(deepest, len(stack))
        else:
            assert stack and stack.pop() == t - pairs, row
    assert not stack, row
    return deepest


def test_paired_sequences_are_balanced_nested_and_matching() -> None:
    rows = _sequences("artificial:paired?tokens=62040&vocab=40")  # 1000 of 62 tokens and one of 40
    assert [len(r) for r in rows[-2:]] == [62, 40] and len(rows) == 1001
    depths = [_stack_check(r, 20) for r in rows]
    assert 3 <= np.mean(depths) <= 12 and max(depths) > 10  # random shapes, deep nesting among them
    openers = np.concatenate([r[r < 20] for r in rows])
    assert len(openers) == 62040 // 2 and set(openers.tolist()) == set(range(20))


def test_paired_shapes_are_uniform_over_balanced_words() -> None:
    """Length 6: the 5 Dyck words of 3 pairs, each 1/5 of the time (the cycle lemma's uniformity)."""
    rows = _sequences("artificial:paired?tokens=60000&length=6&vocab=2")
    shapes = {}
    for r in rows:
        key = "".join("(" if t == 0 else ")" for t in r.tolist())
        shapes[key] = shapes.get(key, 0) + 1
    assert sorted(shapes) == ["((()))", "(()())", "(())()", "()(())", "()()()"]
    assert stats.chisquare(list(shapes.values())).pvalue > 0.001
    assert all(abs(n / 10_000 - 0.2) < 0.015 for n in shapes.values())


def test_consecutive_sequences_are_shuffled_runs_of_consecutive_ids() -> None:
    rows = _sequences("artificial:consecutive?tokens=6250&vocab=300&length=25&run=4")
    assert len(rows) == 250 and all(len(r) == 25 for r in rows)
    in_order = 0
    for r in rows:
        start = int(r.min())
        assert 0 <= start <= 300 - 25
        for w in range(0, 25, 4):  # windows of 4, the last of 1: each a permutation of its consecutive run
            window = r[w:w + 4]
            assert sorted(window.tolist()) == list(range(start + w, start + w + len(window))), r
            in_order += len(window) == 4 and bool((np.diff(window) == 1).all())
    assert in_order / (250 * 6) == pytest.approx(1 / 24, abs=0.02)  # 1 of 4! orders keeps the run as it was


def test_token_counts_are_exact_and_chunks_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(artificial, "CHUNK_ROWS", 7)
    spec = parse("artificial:paired?tokens=1000&length=62&vocab=10").resolved(100, 3)
    assert n_chunks(spec) == 4 and spec.sequences == 17  # 16 full sequences in chunks of 7, 7, 2; then 8 tokens
    parts = list(chunks(spec))
    assert [p.shape for p in parts] == [(7, 62), (7, 62), (2, 62), (1, 8)]
    assert sum(p.size for p in parts) == 1000
    for name in artificial.KINDS:
        text = f"artificial:{name}?tokens=12345&length=50&vocab=60" if name != "paired" else \
            "artificial:paired?tokens=12346&length=50&vocab=60"
        assert sum(len(r) for r in _sequences(text)) == int(text.split("tokens=")[1].split("&")[0])
    # one epoch of the training stream holds every sequence exactly once, in another order
    epoch = list(itertools.islice(stream(spec, seed=5), 17))
    key = sorted(r.tobytes() for r in epoch)
    assert key == sorted(r.tobytes() for p in parts for r in p)
    assert [len(r) for r in epoch] != [62] * 16 + [8]


def test_determinism_per_seed() -> None:
    for name in artificial.KINDS:
        text = f"artificial:{name}?tokens=4000&vocab=100"
        a, b = _data(text, seed=1), _data(text, seed=1)
        assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
        c = _data(text, seed=2)
        assert not np.array_equal(a[0], c[0])
        assert np.array_equal(_data(text + "&seed=2", seed=9)[0], c[0])  # seed= in the spec wins over --seed
    spec = parse("artificial:zipf?tokens=100").resolved(50, 0)
    assert np.array_equal(chunk(spec, 0), chunk(spec, 0))


def test_spec_parsing_and_resolution() -> None:
    assert parse("artificial:zipf") == ArtificialSpec("zipf")
    spec = parse("artificial:consecutive?tokens=1_000&run=3&length=10&seed=4")
    assert spec == ArtificialSpec("consecutive", tokens=1000, run=3, length=10, seed=4)
    assert spec.resolved(99, 0).canonical() == "artificial:consecutive?tokens=1000&vocab=99&length=10&seed=4&run=3"
    assert parse("artificial:paired").resolved(7995, 1).vocab == 7994  # every non-special id, even for pairs
    assert parse(parse("artificial:zipf?exponent=1.2").resolved(80, 7).canonical()).resolved(80, 0) == \
        ArtificialSpec("zipf", vocab=80, seed=7, exponent=1.2)


@pytest.mark.parametrize(("text", "message"), [
    ("artificial:uniform?tokens=1", "tokens=1 must be >= 2"),
    ("artificial:uniform?tokens", "'tokens' is not key=value"),
    ("artificial:uniform?seed=1&seed=2", "seed is given twice"),
    ("artificial:zipf?exponent=nan", "exponent=nan must be a number > 0"),
    ("artificial:paired?tokens=1001", "paired needs an even tokens"),
    ("artificial:paired?vocab=7", "paired needs an even vocab"),
])
def test_bad_specs_say_what_is_wrong(text: str, message: str) -> None:
    """The same messages through the real command: tests/test_bad_input_artificial.py."""
    with pytest.raises(BenchError, match=re.escape(f"--data '{text}': {message}")):
        parse(text)


def test_token_ids_are_a_slice_after_the_special_tokens() -> None:
    from upstreams.mlm import ArtificialBatches, resolve_artificial, train_tokenizer

    tok = train_tokenizer([f"the {w} sat on the {v}" for w in ("cat", "dog", "cow") for v in ("mat", "hat")] * 5,
                          120)
    spec, lo = resolve_artificial(parse("artificial:uniform?tokens=3000&length=30"), tok, 0)
    assert lo == 5 and spec.vocab == len(tok) - 5
    batch = ArtificialBatches(spec, lo, tok.cls_token_id, tok.sep_token_id, 0).next(100)
    ids = np.array(batch)
    assert ids.shape == (100, 32) and (ids[:, 0] == tok.cls_token_id).all() and (ids[:, -1] == tok.sep_token_id).all()
    inner = ids[:, 1:-1]
    assert inner.min() == 5 and inner.max() == len(tok) - 1 and not np.isin(inner, tok.all_special_ids).any()


def test_pretrain_on_paired_data_writes_a_checkpoint_bench_run_loads(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    out = tmp_path / "paired"
    r = ws.bench("pretrain", "mlm", "--languages", "en", "--sentences", "200", "--vocab", "300",
                 "--data", "artificial:paired?tokens=6200&vocab=40&length=30", "--steps", "6", "--save-every", "3",
                 "--hidden", "16", "--layers", "1", "--heads", "2", "--batch-size", "8", "--out", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "6 steps on 6200 tokens of artificial:paired?tokens=6200&vocab=40&length=30&seed=0" in r.stdout
    meta = json.loads((out / "bench_pretraining.json").read_text())
    assert meta["data"]["name"] == "artificial:paired?tokens=6200&vocab=40&length=30&seed=0"
    assert meta["data"]["token_ids"] == [5, 44] and meta["data"]["sentences"] == 207  # 206 of 30 + one of 20
    assert meta["config"]["max_tokens"] == 32 and meta["step"] == 6 and len(meta["loss_curve"]) == 2
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["step-000000", "step-000003", "step-000006"]
    r = ws.bench("run", "--upstream", f"bert:{out}", "--tasks", "mini-sent", "--tasks-file", str(ws.tasks),
                 "--data-dir", str(ws.data), "--output", str(ws.out), "--epochs", "1", "-q")
    assert r.returncode == 0, r.stderr[-2000:]
    [result] = ws.out.glob("mini-sent__bert*.json")
    data = json.loads(result.read_text())
    assert data["upstream_info"]["pretraining"]["data"]["kind"] == "paired"
    assert data["upstream"] == f"bert:{out}" and 0 <= data["scores"]["accuracy"] <= 100
