"""Discrete speech units (benchmark.features.units): deduplicated runs, nearest-centroid assignment, seeded k-means,
the unit model file, frames from a real speech upstream, and `bench units fit | show | encode` end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from benchmark.errors import BenchError
from benchmark.features import units
from benchmark.features.units import Run, UnitModel, UnitSpec

ROOT = Path(__file__).resolve().parent.parent


def test_runs_merge_consecutive_duplicates_and_keep_their_frames() -> None:
    assert units.runs([5, 5, 2, 2, 2, 5]) == [Run(5, 0, 2), Run(2, 2, 5), Run(5, 5, 6)]
    assert units.runs([7]) == [Run(7, 0, 1)]
    assert units.runs([]) == []
    assert units.runs(np.array([1, 2, 2, 1, 1, 1, 3])) == [Run(1, 0, 1), Run(2, 1, 3), Run(1, 3, 6), Run(3, 6, 7)]
    assert units.symbols(units.runs([5, 5, 2, 5])) == "u5 u2 u5"


def _model(centroids: list[list[float]], **spec: object) -> UnitModel:
    return UnitModel(np.array(centroids, np.float32), UnitSpec(**spec), 100.0, "hand-made", 10)  # type: ignore[arg-type]


def test_assign_is_the_nearest_centroid() -> None:
    model = _model([[0, 0], [10, 0], [0, 10]], k=3)
    frames = np.array([[1, 1], [9, -1], [-1, 8], [5.1, 0], [4.9, 0]], np.float32)
    assert model.assign(frames).tolist() == [0, 1, 2, 1, 0]


def test_fit_finds_separated_clusters_and_is_seeded() -> None:
    rng = np.random.default_rng(0)
    means = np.array([[0, 0, 0], [20, 0, 0], [0, 20, 0]], np.float32)
    feats = [means[i] + rng.normal(0, 0.5, (300, 3)).astype(np.float32) for i in (0, 1, 2, 0)]
    spec = UnitSpec("mfcc", 0, 3, seed=1)
    a = units.fit(feats, spec, 100.0, "blobs")
    b = units.fit(feats, spec, 100.0, "blobs")
    np.testing.assert_array_equal(a.centroids, b.centroids)  # same seed, same units
    nearest = np.abs(a.centroids[None, :, :] - means[:, None, :]).max(-1).min(1)  # each mean's closest centroid
    assert (nearest < 0.2).all(), a.centroids
    assert a.n_frames == 1200 and a.k == 3
    # each blob's frames become one run of one unit
    assert [len(r) for r in units.encode(a, feats)] == [1, 1, 1, 1]
    capped = units.fit(feats, UnitSpec("mfcc", 0, 3, seed=1, max_frames=100), 100.0, "blobs")
    assert capped.n_frames == 100
    with pytest.raises(BenchError, match="1200 frames are too few for k = 2000"):
        units.fit(feats, UnitSpec("mfcc", 0, 2000, max_frames=200_000), 100.0, "blobs")


def test_unit_model_file_round_trip_and_damage(tmp_path: Path) -> None:
    model = _model([[0, 0], [1, 2]], upstream="fbank", layer=0, k=2, seed=3)
    path = tmp_path / "u.npz"
    model.save(path)
    back = units.load(path)
    np.testing.assert_array_equal(back.centroids, model.centroids)
    assert back.spec == model.spec and back.digest() == model.digest() and len(model.digest()) == 16
    assert back.record() == {"upstream": "fbank", "layer": 0, "k": 2, "seed": 3, "frame_rate": 100.0,
                             "fitted_on": "hand-made", "n_frames": 10, "digest": model.digest()}
    # the digest names the centroids and how the frames are made
    assert _model([[0, 0], [1, 2.5]], upstream="fbank", k=2).digest() != model.digest()
    assert _model([[0, 0], [1, 2]], upstream="mfcc", k=2).digest() != model.digest()
    with np.load(path) as data:
        header = str(data["header"])
    with open(path, "wb") as f:
        np.savez(f, centroids=np.array([[0, 0], [1, 3]], np.float32), header=np.array(header))
    with pytest.raises(BenchError, match="is damaged"):
        units.load(path)
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(BenchError, match="is not a unit model file"):
        units.load(tmp_path / "text.npz")
    with pytest.raises(BenchError, match="does not exist"):
        units.load(tmp_path / "none.npz")


def test_mfcc_frames_are_hubert_first_iteration_features() -> None:
    """mfcc: 13 MFCCs + deltas + delta-deltas (39 dims) every 10 ms."""
    upstream = units.build_upstream("mfcc")
    t = np.arange(16_000) / 16_000
    waves = [np.sin(2 * np.pi * 440 * t).astype(np.float32), (0.1 * np.random.default_rng(0).standard_normal(8000)).astype(np.float32)]
    feats = units.frames(upstream, waves, 0)
    assert [f.shape for f in feats] == [(98, 39), (48, 39)]  # Kaldi: 1 + (n - 400) // 160 frames
    assert units.frame_rate(upstream) == 100.0
    with pytest.raises(BenchError, match="has layers 0..0, not 2"):
        units.frames(upstream, waves, 2)
    with pytest.raises(BenchError, match="not a speech upstream"):
        units.build_upstream("specific")
    with pytest.raises(BenchError, match="unknown upstream 'nope'"):
        units.build_upstream("nope")


def _bench(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "BENCH_CACHE": str(cwd / "cache"), "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "benchmark", *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=300)


def test_units_commands(tmp_path: Path) -> None:
    clips = tmp_path / "clips"
    clips.mkdir()
    t = np.arange(16_000) / 16_000
    # half a second of a tone, of silence, of a higher tone: the frames of each part fall into their own units
    for i, f in enumerate((300, 900)):
        wave = np.concatenate([np.sin(2 * np.pi * f * t[:8000]), np.zeros(8000), np.sin(2 * np.pi * 2 * f * t[:8000])])
        sf.write(clips / f"c{i}.wav", (0.5 * wave).astype(np.float32), 16_000)
    r = _bench("units", "fit", "--upstream", "mfcc", "--k", "4", "--audio", str(clips), "-o", "u.npz", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "wrote u.npz: k = 4 over 296 frames" in r.stdout
    model = units.load(tmp_path / "u.npz")
    assert model.record()["fitted_on"] == f"2 files under {clips}" and model.spec == UnitSpec("mfcc", 0, 4, 0)
    shown = _bench("units", "show", "u.npz", cwd=tmp_path)
    assert shown.returncode == 0 and f"digest: {model.digest()}" in shown.stdout and "k: 4" in shown.stdout
    enc = _bench("units", "encode", "u.npz", str(clips / "c0.wav"), cwd=tmp_path)
    assert enc.returncode == 0, enc.stderr
    rows = [line.split("\t") for line in enc.stdout.splitlines()]
    # the runs tile the clip: each starts where the previous ended, from 0 to its last frame (1.5 s: 148 frames)
    assert rows[0][1] == "0.00" and rows[-1][2] == "1.48"
    assert all(a[2] == b[1] for a, b in zip(rows, rows[1:], strict=False))
    assert all(a[0] != b[0] for a, b in zip(rows, rows[1:], strict=False))  # deduplicated
    # the same file encodes like the library does
    feats = units.frames(units.build_upstream("mfcc"), [sf.read(clips / "c0.wav", dtype="float32")[0]], 0)
    assert [f"u{r.unit}" for r in units.encode(model, feats)[0]] == [row[0] for row in rows]
