"""The run of a `query-by-example` job (downstreams.heads_qbe): frames of a split's queries and documents (the
feature cache, or the upstream on each batch under --no-cache), DTW scores per layer (downstreams.qbe_dtw), the
layer chosen on the model-selection split, predictions with it on the evaluation splits."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmark.errors import BenchError
from benchmark.heads.protocol import HeadJob
from benchmark.heads.sequence import CachedFrames, LiveFrames, extract_frames
from benchmark.heads.training import Fitted, score_predictions, selection_score
from downstreams.qbe_dtw import Documents, normalise, query_scores

log = logging.getLogger(__name__)

MEMORY_BUDGET = 2 * 2**30
"""Bytes of frames held at once: the layers of a split are read in groups that fit (each group one pass over the
cache or the upstream)."""
FRAMES_PER_SAMPLE = 1 / 160
"""Without the cache a split's frame count is not known before the upstream runs: bounded by 100 frames per
second of 16 kHz audio (the finest frame rate of the builtin speech upstreams)."""


def _device(upstream: Any) -> str:
    """Where the DTW runs: on the upstream's device once the upstream is loaded (a GPU when it runs there), else on
    the CPU (every feature came from the cache)."""
    from benchmark.features.extract import upstream_device

    if getattr(upstream, "loaded", True) is False:
        return "cpu"
    device = upstream_device(upstream.get() if hasattr(upstream, "loaded") else upstream)
    return device if device.startswith("cuda") else "cpu"


@contextlib.contextmanager
def _dtw_threads(device: str) -> Iterator[None]:
    """One CPU thread while the DTW runs there: its row steps are small tensor operations, for which threads cost
    more in synchronisation than they gain (measured 5x faster with one thread on a busy 2-core machine)."""
    import torch

    before = torch.get_num_threads()
    if device == "cpu":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class ChosenLayer:
    """What the result records as layer weights: one-hot on the layer the DTW used."""

    layer: int
    layers: int

    def layer_weights(self) -> list[float]:
        return [1.0 if i == self.layer else 0.0 for i in range(self.layers)]


def roles(task_name: str, examples: Any, label: str) -> tuple[list[int], list[int]]:
    """(positions of the queries, positions of the documents) of a split, checking the queries' occurrences."""
    targets = getattr(examples, "targets", None)
    if targets is None:
        raise BenchError(f"task '{task_name}': the {label} split has no targets, so its queries and documents "
                         "cannot be told apart; QbE splits carry them (downstreams/heads_qbe.py)")
    queries = [i for i, t in enumerate(targets) if t["role"] == "query"]
    docs = [i for i, t in enumerate(targets) if t["role"] == "document"]
    if not queries or not docs:
        raise BenchError(f"task '{task_name}': the {label} split needs queries and documents (it has "
                         f"{len(queries)} queries and {len(docs)} documents)")
    for i in queries:
        if any(h >= len(docs) for h in targets[i]["hits"]):
            raise BenchError(f"task '{task_name}': query {targets[i]['id']} of the {label} split occurs at document "
                             f"position {max(targets[i]['hits'])}, but the split has {len(docs)} documents")
    return queries, docs


class QbERun:
    """The HeadRun of the query-by-example kind."""

    def __init__(self, job: HeadJob) -> None:
        self.job = job
        self.n_layers = 0
        self.select_by_layer: dict[int, dict[str, float]] = {}
        self.dtw_seconds = 0.0
        self.pairs = 0

    def frames(self, examples: Any, label: str) -> Any:
        j = self.job
        if not j.cache.enabled:  # --no-cache: the upstream runs on every pass
            return LiveFrames(j.upstream, examples.inputs, j.hp["dtype"])
        return CachedFrames(extract_frames(j.upstream, examples.inputs, j.hp["eval_batch_size"], j.cache,
                                           dtype=j.hp["dtype"], progress=j.progress, label=label))

    def prepare(self) -> None:
        roles(self.job.task.name, self.job.select, "select")
        self.src_select = self.frames(self.job.select, "select")
        self.n_layers = self.src_select.layers

    def layer_groups(self, src: Any, layers: Sequence[int]) -> list[list[int]]:
        """`layers` in groups whose frames of the whole split fit MEMORY_BUDGET."""
        frames = sum(src.length(i) for i in range(len(src)))
        if isinstance(src, LiveFrames):
            frames = int(frames * FRAMES_PER_SAMPLE) + len(src)
        per_layer = max(1, frames * src.dim * 4)
        size = max(1, MEMORY_BUDGET // per_layer)
        return [list(layers[k:k + size]) for k in range(0, len(layers), size)]

    def blocks(self, src: Any, layers: Sequence[int]) -> list[np.ndarray]:
        """Each example's (frames, len(layers), dim) block, in split order."""
        if isinstance(src, CachedFrames):  # one example at a time: a padded batch of every layer can be large
            return [np.ascontiguousarray(src.example(i)[:, list(layers)]) for i in range(len(src))]
        out: list[np.ndarray] = []
        batch = self.job.hp["eval_batch_size"]
        for start in range(0, len(src), batch):  # the upstream runs on each batch (--no-cache)
            x, lengths = src.batch(range(start, min(start + batch, len(src))))
            x = x.numpy() if hasattr(x, "numpy") else x
            out.extend(np.ascontiguousarray(x[k, : int(n)][:, list(layers)]) for k, n in enumerate(lengths))
        return out

    def scores(self, examples: Any, src: Any, label: str, layers: Sequence[int]) -> dict[int, list[Any]]:
        """Predictions (a score list per query, [] per document) of every layer in `layers`."""
        queries, docs = roles(self.job.task.name, examples, label)
        device = _device(self.job.upstream)
        out: dict[int, list[Any]] = {}
        for group in self.layer_groups(src, layers):
            blocks = self.blocks(src, group)  # the upstream may run here (--no-cache): outside _dtw_threads
            for k, layer in enumerate(group):
                t0 = time.perf_counter()
                with _dtw_threads(device):
                    feats = normalise([b[:, k] for b in blocks])
                    bank = Documents([feats[i] for i in docs], device)
                    preds: list[Any] = [[] for _ in range(len(examples))]
                    for q in queries:
                        preds[q] = [round(float(v), 4) for v in query_scores(feats[q], bank)]
                out[layer] = preds
                self.dtw_seconds += time.perf_counter() - t0
                self.pairs += len(queries) * len(docs)
                self.job.progress("extract", done=len(out), total=len(layers), label=f"{label} DTW")
            del blocks
        return out

    def fit(self, index: int, hp: dict[str, Any]) -> Fitted:
        j = self.job
        layer = hp.get("layer")
        layers = [layer % self.n_layers] if layer is not None else list(range(self.n_layers))
        by_layer = self.scores(j.select, self.src_select, "select", layers)
        best, best_key = layers[0], (float("-inf"), float("-inf"))
        for lay in layers:  # ascending: full ties keep the lower layer
            scored = score_predictions(j.task, j.registry, j.select.targets, by_layer[lay])
            score = selection_score(j.task, scored)
            # MTWV is often 0 on every layer of a weak upstream (a false alarm costs 12.5 times a miss at QUESST's β):
            # the task's other metrics (MAP) break such ties
            others = [v for m, v in scored.items() if m not in j.task.score]
            key = (score, float(np.mean(others)) if others else 0.0)
            self.select_by_layer[lay] = {m: round(v, 2) for m, v in scored.items()}
            if key > best_key:
                best, best_key = lay, key
        best_score = best_key[0]
        log.info("QbE: layer %d chosen on select (%s)", best, self.select_by_layer)
        return Fitted(ChosenLayer(best, self.n_layers), None, 0.0, 1.0, 0, best_score, 0, [])

    def predict(self, fitted: Fitted, examples: Any, label: str) -> list[Any]:
        layer = fitted.featurizer.layer  # type: ignore[union-attr]
        return self.scores(examples, self.frames(examples, label), label, [layer])[layer]

    def passes_per_epoch(self, n: int, batch_size: int) -> int:
        return 0

    def notes(self) -> list[str]:
        per = "; ".join(f"{k}: " + ", ".join(f"{m} {v:.2f}" for m, v in scores.items())
                        for k, scores in sorted(self.select_by_layer.items()))
        rate = self.pairs / self.dtw_seconds if self.dtw_seconds > 0 else 0.0
        return [f"QbE: subsequence DTW per layer, model-selection scores by layer: {per}",
                f"QbE: {self.pairs} query-document DTW alignments in {self.dtw_seconds:.1f} s ({rate:.0f} per second)"]
