"""The feature cache: hits, keys, atomic entries under SIGKILL, concurrent writers, size limit, streaming."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from fakes import CharUpstream

from benchmark.features import extract as features
from benchmark.features.cache import FeatureCache

TEXTS = [f"example number {i} " + "x" * (i % 17) for i in range(300)]


def _calls(path: Path) -> int:
    return sum(int(line.split()[1]) for line in path.read_text().splitlines()) if path.exists() else 0


def test_second_request_is_a_cache_hit_and_keys_follow_what_matters(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    up = CharUpstream(calls=calls)
    cache = FeatureCache(tmp_path / "c")
    first = features.extract(up, TEXTS, "mean", 32, cache)
    assert _calls(calls) == 300 and first.shape == (300, 3, 8)
    events = []
    again = features.extract(up, TEXTS, "mean", 32, cache, progress=lambda *a, **k: events.append((a, k)))
    assert _calls(calls) == 300  # no forward pass
    assert events[-1][1]["cached"] is True
    assert np.array_equal(first.read(0, 300), again.read(0, 300))
    # a changed model, data, order, pooling or compute dtype is another entry; only inputs no entry of the same
    # model, pooling and compute dtype holds run through the upstream (benchmark.features.reuse)
    features.extract(CharUpstream(dim=8, layers=3, calls=calls), TEXTS, "mean", 32, cache)
    assert _calls(calls) == 600
    features.extract(up, TEXTS[:-1] + ["changed"], "mean", 32, cache)
    assert _calls(calls) == 601  # one new input
    features.extract(up, TEXTS[::-1], "mean", 32, cache)
    assert _calls(calls) == 601  # every row reused
    features.extract(up, TEXTS, "cls", 32, cache)
    features.extract(up, TEXTS, "mean", 32, cache, dtype="bfloat16")
    assert cache.info().entries == 6 and _calls(calls) == 1201


def test_an_input_is_encoded_once_whatever_task_split_or_order_it_comes_in(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    up = CharUpstream(calls=calls)
    cache = FeatureCache(tmp_path / "c")
    a = features.extract(up, TEXTS[:200], "mean", 32, cache, label="train")
    assert _calls(calls) == 200
    split = TEXTS[250:] + TEXTS[100:200] + TEXTS[250:260] + TEXTS[50:60]  # other order, shared inputs, repeats
    events = []
    b = features.extract(up, split, "mean", 32, cache, label="dev", progress=lambda *x, **k: events.append(k))
    assert _calls(calls) == 250  # only the 50 inputs of TEXTS[250:] ran, each once although 10 of them repeat
    assert events[-1] == {"done": 50, "total": 50, "label": "dev"}
    rows_a, rows_b = a.read(0, 200), b.read(0, len(split))
    assert np.array_equal(rows_b[50:150], rows_a[100:200]) and np.array_equal(rows_b[160:], rows_a[50:60])
    assert np.array_equal(rows_b[150:160], rows_b[:10])  # a repeated input: the same row
    direct = np.concatenate([p for _, p in features.iter_pooled(up, split, "mean", 400, bucketed=False)])
    assert np.allclose(rows_b, direct, atol=1e-6)
    meta = json.loads((b.path.parent / "meta.json").read_text())
    assert (meta["computed"], meta["reused"]) == (50, 110)  # 170 rows: 110 copied, 60 from 50 computed inputs


def test_rows_of_an_entry_whose_row_index_is_damaged_are_not_reused(tmp_path: Path, caplog) -> None:
    calls = tmp_path / "calls"
    up = CharUpstream(calls=calls)
    cache = FeatureCache(tmp_path / "c")
    a = features.extract(up, TEXTS[:100], "mean", 32, cache)
    index = a.path.parent / "rows.idx"
    index.write_bytes(b"\0" * index.stat().st_size)
    features.extract(up, TEXTS[:100][::-1], "mean", 32, FeatureCache(tmp_path / "c"))
    assert _calls(calls) == 200
    assert "rows.idx does not match its checksum; its rows are not reused" in caplog.text


def test_nothing_to_compute_never_loads_the_upstream(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path / "c")
    up = CharUpstream()
    features.extract(up, TEXTS, "mean", 32, cache)

    class Unloaded:
        fingerprint = up.fingerprint

        def __getattr__(self, name: str):
            raise AssertionError(f"the upstream was used ({name})")

    feats = features.extract(Unloaded(), TEXTS[10:20] + TEXTS[:5], "mean", 32, cache)
    assert feats.shape == (15, 3, 8)


def test_no_cache_reuses_no_rows_of_the_cache(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    features.extract(CharUpstream(calls=calls), TEXTS, "mean", 32, FeatureCache(tmp_path / "c"))
    features.extract(CharUpstream(calls=calls), TEXTS[::-1], "mean", 32, FeatureCache(tmp_path / "c", enabled=False))
    assert _calls(calls) == 600


def test_rows_match_a_direct_computation_in_any_batching(tmp_path: Path) -> None:
    up = CharUpstream()
    direct = np.concatenate([p for _, p in features.iter_pooled(up, TEXTS, "mean", 300, bucketed=False)])
    cached = features.extract(up, TEXTS, "mean", 7, FeatureCache(tmp_path)).read(0, 300)
    assert np.allclose(direct, cached, atol=1e-6)  # length-bucketed batches scatter back to input order
    arrival = np.zeros_like(direct)
    for idx, pooled in features.iter_pooled(up, TEXTS, "mean", 7, bucketed=False):
        arrival[idx] = pooled
    assert np.allclose(arrival, cached, atol=1e-6)


def test_float16_entries_and_chunked_reads(tmp_path: Path, monkeypatch) -> None:
    import benchmark.features.cache as cache_mod

    monkeypatch.setattr(cache_mod, "CHUNK_BYTES", 3 * 8 * 4 * 64)  # 64 rows a chunk
    up = CharUpstream()
    full = features.extract(up, TEXTS, "mean", 32, FeatureCache(tmp_path / "a"))
    half = features.extract(up, TEXTS, "mean", 32, FeatureCache(tmp_path / "b", dtype="float16"))
    assert half.dtype == np.float16 and half.path.stat().st_size < 0.6 * full.path.stat().st_size
    assert np.allclose(full.read(0, 300), half.read(0, 300), atol=2e-2)
    starts = [s for s, _ in full.chunks()]
    assert starts == [0, 64, 128, 192, 256] and np.array_equal(np.concatenate([c for _, c in full.chunks()]),
                                                               full.read(0, 300))
    mean, std = features.moments(full)
    x = full.read(0, 300)
    assert np.allclose(mean, x.mean(0), atol=1e-5) and np.allclose(std, x.std(0, ddof=1), atol=1e-4)


def test_a_failed_write_leaves_no_entry(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path)
    with pytest.raises(RuntimeError, match="boom"):
        with cache.create("k", 10, {}) as w:
            w.write([0, 1], np.ones((2, 3, 4), np.float32))
            raise RuntimeError("boom")
    assert cache.get("k") is None and cache.info().entries == 0 and cache.info().partial == 0
    with pytest.raises(RuntimeError, match="wrote 2 of 10 rows"):
        with cache.create("k", 10, {}) as w:
            w.write([0, 1], np.ones((2, 3, 4), np.float32))
    assert cache.get("k") is None


KILLED_WRITER = """
import sys, time
sys.path.insert(0, {tests!r})
from pathlib import Path
from benchmark.features import extract as features
from benchmark.features.cache import FeatureCache
from fakes import CharUpstream
texts = [f"example number {{i}}" for i in range(2000)]
print("start", flush=True)
features.extract(CharUpstream(delay=0.05), texts, "mean", 16, FeatureCache(Path({root!r})))
"""


@pytest.mark.parametrize("kill_after", [0.3, 1.2, 2.5])
def test_sigkill_mid_write_leaves_nothing_a_later_run_trusts(tmp_path: Path, kill_after: float) -> None:
    root = tmp_path / "cache"
    code = KILLED_WRITER.format(tests=str(Path(__file__).parent), root=str(root))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "start"
    time.sleep(kill_after)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    cache = FeatureCache(root)
    assert cache.info().entries == 0  # the half-written entry is not visible
    texts = [f"example number {i}" for i in range(2000)]
    got = features.extract(CharUpstream(), texts, "mean", 64, cache)  # recomputed, complete and correct
    direct = np.concatenate([p for _, p in features.iter_pooled(CharUpstream(), texts, "mean", 2000, bucketed=False)])
    assert np.allclose(got.read(0, 2000), direct, atol=1e-6)
    assert cache.info().partial == 0  # the new writer cleared the killed writer's leftovers
    assert cache.clear() == 1 and cache.info().entries == 0


def _extract_in_process(root: str, calls: str, out: str) -> None:
    feats = features.extract(CharUpstream(calls=Path(calls), delay=0.01), TEXTS, "mean", 16, FeatureCache(Path(root)))
    np.save(out, feats.read(0, len(TEXTS)))


def test_concurrent_writers_compute_once_and_agree(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    calls = tmp_path / "calls"
    procs = [ctx.Process(target=_extract_in_process, args=(str(tmp_path / "c"), str(calls), str(tmp_path / f"{i}.npy")))
             for i in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    arrays = [np.load(tmp_path / f"{i}.npy") for i in range(3)]
    assert all(np.array_equal(arrays[0], a) for a in arrays[1:])
    assert _calls(calls) == len(TEXTS)  # one process computed, the others waited and read
    assert FeatureCache(tmp_path / "c").info().entries == 1


def test_size_limit_evicts_least_recently_used(tmp_path: Path) -> None:
    up = CharUpstream()
    one = features.extract(up, TEXTS, "mean", 32, FeatureCache(tmp_path / "probe"))
    size = one.path.stat().st_size + 400

    def run() -> FeatureCache:  # a new cache object per run: entries a run has opened are pinned against eviction
        return FeatureCache(tmp_path / "c", max_bytes=int(2.5 * size))

    a = features.extract(up, TEXTS[:100] * 3, "mean", 32, run())
    time.sleep(0.05)
    features.extract(up, TEXTS[::-1], "mean", 32, run())
    time.sleep(0.05)
    os.utime(a.path.parent / "meta.json")  # a is used again: b is now the oldest
    cache = run()
    features.extract(up, TEXTS, "cls", 32, cache)
    assert cache.info().entries == 2 and a.path.exists()


def test_no_cache_keeps_nothing(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path / "c", enabled=False)
    feats = features.extract(CharUpstream(), TEXTS, "mean", 32, cache)
    scratch = feats.path
    assert scratch.exists() and not str(scratch).startswith(str(tmp_path / "c"))
    cache.close()
    assert not scratch.exists() and not (tmp_path / "c").exists()


def test_cache_cli(tmp_path: Path) -> None:
    env = {**os.environ, "BENCH_CACHE": str(tmp_path)}
    features.extract(CharUpstream(), TEXTS, "mean", 32, FeatureCache(tmp_path))
    info = subprocess.run([sys.executable, "-m", "benchmark", "cache", "info", "--json"], env=env,
                          capture_output=True, text=True, check=True)
    data = json.loads(info.stdout)
    assert data["entries"] == 1 and data["bytes"] > 300 * 3 * 8 * 4 and data["path"] == str(tmp_path / "features")
    cleared = subprocess.run([sys.executable, "-m", "benchmark", "cache", "clear"], env=env, capture_output=True,
                             text=True, check=True)
    assert cleared.stdout.strip() == "removed 1 cache entries"
    assert FeatureCache(tmp_path).info().entries == 0
