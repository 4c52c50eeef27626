"""The feature cache heals itself: a corrupt, foreign or edited entry is recomputed (never fatal), entries in use
survive eviction, and `bench cache clear` removes whatever is under its root without leaving it."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from fakes import CharUpstream
from reliability_workspace import Workspace, make_workspace

from benchmark.features import extract as features
from benchmark.features.cache import FeatureCache

WARNING = "WARNING benchmark.features.cache: feature cache entry "


def _scores(ws: Workspace) -> list[dict]:
    return [json.loads(p.read_text())["scores"] for p in sorted(ws.out.glob("mini-sent__char__*.json"))]


def _entries(ws: Workspace) -> list[Path]:
    return sorted(p for p in (ws.cache / "features").iterdir() if not p.name.startswith("."))


def _run(ws: Workspace, **env: str):
    for p in ws.out.glob("mini-sent__char__*.json"):  # the job runs again and reads the cache
        p.unlink()
    return ws.bench(*ws.run_args("--tasks", "mini-sent", "-q"), env=env)


def _zeros_in_place(entry: Path) -> None:
    f = entry / "features.npy"
    a = np.load(f, mmap_mode="r+")
    a[:] = 0  # the right shape and header: only the checksum tells
    a.flush()


def _nan(entry: Path) -> None:
    a = np.load(entry / "features.npy", mmap_mode="r+")
    a[0, 0, 0] = np.nan
    a.flush()


def _garbage_file(entry: Path) -> None:
    for f in entry.iterdir():
        f.unlink()
    entry.rmdir()
    entry.write_bytes(os.urandom(64))


CORRUPTIONS = [
    ("random features.npy", lambda e: (e / "features.npy").write_bytes(os.urandom(500)), None),
    ("random meta.json", lambda e: (e / "meta.json").write_bytes(os.urandom(100)), None),
    ("zeros of the right shape", _zeros_in_place,
     "features.npy does not match its checksum (chunk 0: edited or damaged on disk)"),
    ("a NaN", _nan, "features.npy holds NaN or infinite values"),
    ("a garbage file at the entry's name", _garbage_file, None),
]


def test_a_corrupt_or_foreign_entry_is_recomputed_with_one_warning(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    first = _run(ws)
    assert first.returncode == 0, first.stderr
    clean = _scores(ws)
    for what, corrupt, reason in CORRUPTIONS:
        entry = _entries(ws)[0]
        corrupt(entry)
        r = _run(ws)
        assert r.returncode == 0 and "Traceback" not in r.stderr, (what, r.stderr)
        assert _scores(ws) == clean, what
        warnings = [line for line in r.stderr.splitlines() if line.startswith(WARNING)]
        assert len(warnings) == 1, (what, r.stderr)
        assert warnings[0].startswith(f"{WARNING}{entry.name} is corrupt (")
        assert warnings[0].endswith("); removed it and recomputing it")
        if reason:
            assert warnings[0] == f"{WARNING}{entry.name} is corrupt ({reason}); removed it and recomputing it"
        assert entry.is_dir() and not [p for p in (ws.cache / "features").iterdir() if p.name.startswith(".bad-")]
        clean_again = _run(ws)  # the healed entry is trusted: no warning
        assert clean_again.returncode == 0 and WARNING not in clean_again.stderr, what


def test_eviction_spares_entries_in_use(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    assert _run(ws).returncode == 0
    clean = _scores(ws)
    for limit in ("0.0004", "1e-9"):  # smaller than one split's entry, or than any entry at all
        for p in _entries(ws):
            shutil.rmtree(p)
        r = _run(ws, BENCH_CACHE_MAX_GB=limit)
        assert r.returncode == 0 and "Traceback" not in r.stderr, (limit, r.stderr)
        assert _scores(ws) == clean, limit


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0"])
def test_cache_limit_must_be_positive_and_finite(tmp_path: Path, value: str) -> None:
    ws = make_workspace(tmp_path)
    before = ws.snapshot()
    r = _run(ws, BENCH_CACHE_MAX_GB=value)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == (f"error: BENCH_CACHE_MAX_GB={value!r} must be a positive, finite "
                                                 "number of gigabytes (unset it for no limit)")
    assert ws.snapshot() == before


def test_cache_clear_removes_anything_under_its_root_and_nothing_outside(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    root = ws.cache / "features"
    features.extract(CharUpstream(), ["a b", "c d e"], "mean", 8, FeatureCache(ws.cache))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep", encoding="utf-8")
    (root / "0123abcd-float32").write_bytes(b"garbage")
    (root / "stray.txt").write_text("?", encoding="utf-8")
    (root / "link-to-dir").symlink_to(outside)
    (root / "link-to-file").symlink_to(outside / "precious.txt")
    r = ws.bench("cache", "clear")
    assert r.returncode == 0 and r.stdout.strip() == "removed 5 cache entries"
    assert list(root.iterdir()) == []
    assert (outside / "precious.txt").read_text(encoding="utf-8") == "keep"
    assert (ws.cache / "marker").read_text(encoding="utf-8") == "kept\n"


def test_entries_without_checksums_are_still_trusted(tmp_path: Path) -> None:
    feats = features.extract(CharUpstream(), ["a b", "c d e"] * 5, "mean", 8, FeatureCache(tmp_path))
    meta_path = feats.path.parent / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    assert meta["checksum"]["algorithm"] == "crc32"
    del meta["checksum"]  # as written before checksums existed
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    key = feats.path.parent.name.rsplit("-", 1)[0]
    again = FeatureCache(tmp_path).get(key)
    assert again is not None and np.array_equal(again.read(0, 10), feats.read(0, 10))


def test_an_edited_frame_entry_is_refused(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path)
    with cache.create_frames("k", 2, {}) as w:
        w.write([0, 1], [np.ones((3, 2, 4), np.float32), np.ones((2, 2, 4), np.float32)])
    assert FeatureCache(tmp_path).get_frames("k") is not None
    frames = cache.path("k") / "frames.bin"
    frames.write_bytes(bytes(frames.stat().st_size))
    assert FeatureCache(tmp_path).get_frames("k") is None
