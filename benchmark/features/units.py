"""Discrete speech units: k-means over one layer of a speech upstream's frames, as DUAL (Lin et al. 2022) and HuBERT
(Hsu et al. 2021) make them, written as a reusable unit model.

A unit model is the k centroids plus what produced the frames they were fitted on (the upstream spec, the layer,
the frame rate) and how (k, seed, frames used); its digest names it. Encoding a waveform runs the same upstream,
takes the same layer, assigns each frame its nearest centroid, and merges consecutive duplicates into runs that
keep their first and last frame, so a span of units maps back to a span of time (DUAL's "deduplicated" units).

With the `mfcc` upstream this is HuBERT's first-iteration target recipe (fairseq examples/hubert/simple_kmeans):
13 Kaldi MFCCs (23 mel bins, 25 ms windows every 10 ms, no energy, no normalisation) with their first and second
derivatives (39 dims at 100 Hz), clustered by scikit-learn's MiniBatchKMeans with k-means++ initialisation
(fairseq: k = 100, batch 10,000, n_init 20; here k is the user's, n_init 5 and at most `max_frames` frames
drawn at random with the seed, to stay cheap on a CPU).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.errors import BenchError
from benchmark.paths import private_tmp

FORMAT = "bench-units/1"
MAX_FRAMES = 200_000


@dataclass(frozen=True)
class UnitSpec:
    """What to cluster: which upstream's frames, at which layer, into how many units, with which seed."""

    upstream: str = "mfcc_no_cmvn"
    layer: int = 0
    k: int = 64
    seed: int = 0
    max_frames: int = MAX_FRAMES

    def check(self) -> None:
        if not 2 <= self.k <= 4096:
            raise BenchError(f"units: k must be between 2 and 4096, not {self.k}")
        if self.layer < 0:
            raise BenchError(f"units: layer must be 0 or more, not {self.layer}")
        if self.max_frames < self.k:
            raise BenchError(f"units: max_frames ({self.max_frames}) must be at least k ({self.k})")

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.__dict__, sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Run:
    """A run of one unit over frames [start, end) (end exclusive)."""

    unit: int
    start: int
    end: int


@dataclass(frozen=True)
class UnitModel:
    """k centroids over one layer of one upstream, and where they came from."""

    centroids: np.ndarray
    """(k, dim) float32."""
    spec: UnitSpec
    frame_rate: float
    """Frames per second of the upstream's layer (100 for mfcc / fbank, 50 for wav2vec2)."""
    fitted_on: str
    """What the frames came from (tasks and splits, or files), for the record."""
    n_frames: int
    """How many frames the k-means saw."""

    @property
    def k(self) -> int:
        return int(self.centroids.shape[0])

    def digest(self) -> str:
        """Names the model: its centroids and how its frames are made (the same file gives the same digest)."""
        h = hashlib.sha256(np.ascontiguousarray(self.centroids, dtype=np.float32).tobytes())
        h.update(json.dumps({"upstream": self.spec.upstream, "layer": self.spec.layer}, sort_keys=True).encode())
        return h.hexdigest()[:16]

    def assign(self, frames: np.ndarray) -> np.ndarray:
        """The nearest centroid (squared Euclidean) of each frame: (T,) int."""
        x = np.asarray(frames, dtype=np.float32)
        c = self.centroids
        d = (x * x).sum(1, keepdims=True) - 2 * x @ c.T + (c * c).sum(1)[None, :]
        return d.argmin(1).astype(np.int64)

    def record(self) -> dict[str, Any]:
        return {"upstream": self.spec.upstream, "layer": self.spec.layer, "k": self.k, "seed": self.spec.seed,
                "frame_rate": self.frame_rate, "fitted_on": self.fitted_on, "n_frames": self.n_frames,
                "digest": self.digest()}

    def save(self, path: Path) -> None:
        """One .npz file (no pickle): the centroids and a JSON header; written whole or not at all."""
        path = Path(path)
        header = {"format": FORMAT, **self.record(), "max_frames": self.spec.max_frames}
        tmp = private_tmp(path)
        with open(tmp, "wb") as f:
            np.savez(f, centroids=self.centroids.astype(np.float32), header=np.array(json.dumps(header)))
        tmp.replace(path)


def load(path: Path) -> UnitModel:
    """A unit model file written by `UnitModel.save` (`bench units fit`); a bad file is one BenchError line."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            centroids = np.asarray(data["centroids"], dtype=np.float32)
            header = json.loads(str(data["header"]))
    except FileNotFoundError:
        raise BenchError(f"unit model '{path}' does not exist; make one with bench units fit") from None
    except (OSError, ValueError, KeyError, json.JSONDecodeError):
        raise BenchError(f"unit model '{path}' is not a unit model file (bench units fit writes them)") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT or centroids.ndim != 2:
        raise BenchError(f"unit model '{path}' is not a unit model file (bench units fit writes them)")
    spec = UnitSpec(str(header["upstream"]), int(header["layer"]), int(header["k"]), int(header["seed"]),
                    int(header.get("max_frames", MAX_FRAMES)))
    model = UnitModel(centroids, spec, float(header["frame_rate"]), str(header["fitted_on"]), int(header["n_frames"]))
    if model.digest() != header.get("digest") or model.k != spec.k:
        raise BenchError(f"unit model '{path}' is damaged: its centroids do not match its recorded digest; fit it "
                         "again with bench units fit")
    return model


def runs(units: Sequence[int] | np.ndarray) -> list[Run]:
    """Consecutive duplicates merged: [5, 5, 2, 2, 2, 5] -> Run(5, 0, 2), Run(2, 2, 5), Run(5, 5, 6)."""
    out: list[Run] = []
    start = 0
    seq = [int(u) for u in units]
    for t in range(1, len(seq) + 1):
        if t == len(seq) or seq[t] != seq[start]:
            out.append(Run(seq[start], start, t))
            start = t
    return out


def symbols(found: Sequence[Run]) -> str:
    """Runs as the whitespace-separated symbols a symbol-mapped text task reads: 'u5 u2 u5'."""
    return " ".join(f"u{r.unit}" for r in found)


def build_upstream(name: str) -> Any:
    """The speech upstream `name` (any spec bench run takes: mfcc, fbank, wav2vec2+rand...)."""
    from benchmark.plugin.manager import get_plugins
    from benchmark.plugin.specs import build_upstream as build
    from benchmark.plugin.specs import parse_upstream

    registry = get_plugins().registry
    spec = parse_upstream(name)
    if spec.name not in registry.upstreams:
        raise BenchError(f"units: unknown upstream '{spec.name}' (bench list upstreams)")
    upstream = build(spec, registry)
    if getattr(upstream, "modality", None) != "speech":
        raise BenchError(f"units: upstream '{name}' is not a speech upstream; units are made from speech frames")
    return upstream


def frames(upstream: Any, waves: Sequence[np.ndarray], layer: int, batch_size: int = 8,
           progress: Callable[[int, int], None] | None = None) -> list[np.ndarray]:
    """Each waveform's frames at `layer` of the upstream: (T_i, dim) float32, in input order."""
    from benchmark.features.extract import iter_batches

    n_layers = int(getattr(upstream, "num_layers", 0)) + 1
    if layer >= n_layers:
        raise BenchError(f"units: upstream '{getattr(upstream, 'name', '?')}' has layers 0..{n_layers - 1}, not "
                         f"{layer}")
    out: list[np.ndarray | None] = [None] * len(waves)

    def take(hidden: Any) -> list[np.ndarray]:
        x, mask = hidden.layers[layer].float().cpu().numpy(), hidden.mask.cpu().numpy()
        return [x[b][mask[b]] for b in range(len(x))]

    done = 0
    for idx, got in iter_batches(upstream, list(waves), batch_size, take):
        for i, f in zip(idx, got, strict=True):
            out[i] = f
        done += len(idx)
        if progress is not None:
            progress(done, len(waves))
    return [f for f in out if f is not None]


def frame_rate(upstream: Any) -> float:
    return float(upstream.sample_rate) / float(getattr(upstream, "downsample_rate", 320))


def fit(features: Sequence[np.ndarray], spec: UnitSpec, frame_rate: float, fitted_on: str) -> UnitModel:
    """k-means (scikit-learn MiniBatchKMeans, k-means++, seeded) over the frames, at most spec.max_frames of them
    drawn at random with the seed."""
    from sklearn.cluster import MiniBatchKMeans

    spec.check()
    kept = [np.asarray(f, dtype=np.float32) for f in features if len(f)]
    x = np.concatenate(kept, axis=0) if kept else np.zeros((0, 1), np.float32)
    if len(x) < spec.k:
        raise BenchError(f"units: {len(x)} frames are too few for k = {spec.k} units; give more "
                         "audio or a smaller --k")
    if len(x) > spec.max_frames:
        x = x[np.sort(np.random.default_rng(spec.seed).choice(len(x), spec.max_frames, replace=False))]
    km = MiniBatchKMeans(n_clusters=spec.k, init="k-means++", batch_size=10_000, n_init=5, max_iter=100,
                         max_no_improvement=100, tol=0.0, reassignment_ratio=0.0, random_state=spec.seed)
    km.fit(x)
    return UnitModel(km.cluster_centers_.astype(np.float32), spec, frame_rate, fitted_on, int(len(x)))


def encode(model: UnitModel, features: Iterable[np.ndarray]) -> list[list[Run]]:
    """Each utterance's deduplicated unit runs."""
    return [runs(model.assign(f)) for f in features]
