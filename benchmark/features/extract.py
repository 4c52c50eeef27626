"""Frozen features: run the upstream once per split into the feature cache, then stream rows from it.

Inputs are grouped into batches of similar length (dynamic padding: far less padding than arrival order) and
the upstream runs under inference mode, optionally with bf16 / fp16 autocast. Each layer is pooled to one
vector per example (pooling commutes with the layer weighted sum), so a split is an (examples, layers, dim)
array, written row by row to disk: memory does not grow with the number of examples.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from benchmark.errors import JobFailed
from benchmark.features.cache import FeatureCache, Features, entry_key, inputs_digest
from benchmark.heads.featurizer import pool_layers
from benchmark.plugin.specs import check_hidden

Progress = Callable[..., None]
log = logging.getLogger(__name__)
COMPUTE_DTYPES = ("float32", "bfloat16", "float16")


def _noop(*_: Any, **__: Any) -> None:
    pass


def input_length(x: Any) -> int:
    """A cheap length proxy used to bucket inputs of similar size into the same batch."""
    if isinstance(x, str):
        return len(x)
    if isinstance(x, tuple | list) and x and isinstance(x[0], str):
        return sum(len(s) for s in x)
    shape = getattr(x, "shape", None)  # arrays, and audio clips on disk (benchmark.media.audio.AudioClip)
    return int(shape[-1]) if shape is not None else len(x)


def upstream_inputs(upstream: Any, batch: Sequence[Any]) -> list[Any]:
    """A batch as the upstream takes it: audio clips on disk are decoded at a speech upstream's sample rate; images
    (files, uint8 or float arrays) become float32 CHW arrays in [0, 1] for an image upstream."""
    if getattr(upstream, "modality", None) == "speech":
        from benchmark.media.audio import as_waveforms

        return as_waveforms(batch, upstream.sample_rate)
    if getattr(upstream, "modality", None) == "image":
        from benchmark.media.image import as_images

        return as_images(batch)
    return list(batch)


def length_sorted_batches(inputs: Sequence[Any], batch_size: int, bucketed: bool = True) -> list[list[int]]:
    """Indices grouped into batches of similar length (or in arrival order); callers scatter results by index."""
    order = sorted(range(len(inputs)), key=lambda i: input_length(inputs[i])) if bucketed else list(range(len(inputs)))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def autocast(device: str, dtype: str) -> contextlib.AbstractContextManager[Any]:
    """bf16 / fp16 autocast on the device, or nothing for float32."""
    if dtype == "float32":
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda" if device.startswith("cuda") else "cpu", dtype=getattr(torch, dtype))


def upstream_device(upstream: Any) -> str:
    dev = getattr(upstream, "device", None)
    if dev is None:
        dev = next((p.device for p in upstream.parameters()), torch.device("cpu"))
    return str(dev)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to do
        return None


def _release_freed_memory() -> None:
    """Hand memory freed by finished batches back to the OS (glibc keeps it otherwise, and batches of varying
    length fragment the heap, so resident memory would creep up with the number of batches)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def iter_batches(upstream: Any, inputs: Sequence[Any], batch_size: int, transform: Callable[[Any], Any],
                 dtype: str = "float32", bucketed: bool = True) -> Iterator[tuple[list[int], Any]]:
    """(indices, transform(hidden states)) for every batch of `inputs`, the upstream in inference mode; the hidden
    states are dropped before the result is handed on, so memory holds one batch's output at a time."""
    upstream.eval()
    device = upstream_device(upstream)
    with torch.inference_mode(), autocast(device, dtype):
        for b, idx in enumerate(length_sorted_batches(inputs, batch_size, bucketed)):
            hidden = upstream(upstream_inputs(upstream, [inputs[i] for i in idx]))
            check_hidden(upstream, hidden, len(idx))
            out = transform(hidden)
            del hidden
            if b % 4 == 3:
                _release_freed_memory()
            yield idx, out


def iter_pooled(upstream: Any, inputs: Sequence[Any], pooling: str, batch_size: int, dtype: str = "float32",
                bucketed: bool = True) -> Iterator[tuple[list[int], np.ndarray]]:
    """(indices, pooled (batch, layers, dim) float32) for every batch of `inputs`."""
    return iter_batches(upstream, inputs, batch_size, lambda h: pool_layers(h, pooling).float().cpu().numpy(), dtype,
                        bucketed)


def _check_finite(pooled: np.ndarray, idx: list[int], label: str) -> None:
    """NaN or infinite features fail the job (and are never cached): training on them would diverge silently."""
    bad = ~np.isfinite(pooled).reshape(len(pooled), -1).all(1)
    if bad.any():
        first = idx[int(np.argmax(bad))]
        where = f" of the {label} split" if label else ""
        raise JobFailed(f"the upstream produced NaN or infinite features for example {first}{where} "
                        f"({int(bad.sum())} in its batch); check the upstream and that input")


def cached_extract(get: Callable[[str], Any], create: Callable[..., Any], key: str, cache: FeatureCache,
                   n: int, meta: dict[str, Any], batches: Callable[[], Iterator[tuple[list[int], Any]]],
                   check: Callable[[Any, list[int]], None], progress: Progress, label: str) -> Any:
    """An entry from the cache (`get`), or computed from `batches()` under the key's lock, each batch checked
    and written through `create` (another process may have made it while we waited for the lock)."""
    found = get(key)
    if found is None:
        with cache.lock(key):
            found = get(key)
            if found is None:
                done = 0
                with create(key, n, meta) as writer:
                    for idx, rows in batches():
                        check(rows, idx)
                        writer.write(idx, rows)
                        done += len(idx)
                        progress("extract", done=done, total=n, label=label)
                found = get(key)
                if found is None:
                    raise RuntimeError(f"feature cache entry {key} vanished right after it was written")
                return found
    progress("extract", done=n, total=n, label=label, cached=True)
    return found


def entry(upstream: Any, inputs: Sequence[Any], pooling: str, dtype: str, label: str) -> tuple[str, dict[str, Any]]:
    """A split's feature-cache key and the metadata stored with it (pooled or frame features alike)."""
    key = entry_key(upstream.fingerprint, pooling, inputs_digest(inputs), dtype)
    return key, {"upstream": upstream.fingerprint, "pooling": pooling, "compute_dtype": dtype,
                 "examples": len(inputs), "label": label}


def extract(upstream: Any, inputs: Sequence[Any], pooling: str, batch_size: int, cache: FeatureCache, *,
            dtype: str = "float32", progress: Progress = _noop, label: str = "") -> Features:
    """The split's pooled features from the cache; on a miss the entry is assembled from the rows other entries
    hold for the same inputs, and only the inputs no entry holds run through the upstream, each once
    (benchmark.features.reuse)."""
    key, meta = entry(upstream, inputs, pooling, dtype, label)
    found = cache.get(key)
    if found is None:
        with cache.lock(key):
            found = cache.get(key)
            if found is None:
                _assemble(upstream, inputs, pooling, batch_size, cache, key, meta, dtype, progress, label)
                found = cache.get(key)
                if found is None:
                    raise RuntimeError(f"feature cache entry {key} vanished right after it was written")
                return found
    progress("extract", done=len(inputs), total=len(inputs), label=label, cached=True)
    return found


def _assemble(upstream: Any, inputs: Sequence[Any], pooling: str, batch_size: int, cache: FeatureCache, key: str,
              meta: dict[str, Any], dtype: str, progress: Progress, label: str) -> None:
    """Write the entry `key`: rows other entries hold are copied, the other distinct inputs are computed."""
    from benchmark.features import reuse

    digests = reuse.example_digests(inputs)
    same: dict[bytes, list[int]] = {}  # each distinct input -> every position it holds in the split
    for i, d in enumerate(digests):
        same.setdefault(bytes(d), []).append(i)
    have = reuse.donors(cache, meta, digests)
    positions: dict[str, list[tuple[int, int]]] = {}
    for b, ours in same.items():
        if b in have:
            donor, row = have[b]
            positions.setdefault(donor, []).extend((row, i) for i in ours)
    with cache.create(key, len(inputs), meta, digests=digests) as writer:
        copied = reuse.copy_rows(cache, writer, positions)  # leaves in `positions` the donors that failed
        todo = [ours[0] for b, ours in same.items() if b not in have or have[b][0] in positions]
        meta.update(computed=len(todo), reused=copied)
        done = 0
        if todo:  # nothing to compute: the upstream is not even loaded (a LazyUpstream stays unloaded)
            for idx, rows in iter_pooled(upstream, [inputs[t] for t in todo], pooling, batch_size, dtype):
                firsts = [todo[j] for j in idx]
                _check_finite(rows, firsts, label)
                where = [same[bytes(digests[f])] for f in firsts]
                writer.write([i for w in where for i in w], np.repeat(rows, [len(w) for w in where], axis=0))
                done += len(idx)
                progress("extract", done=done, total=len(todo), label=label)
    if copied:
        log.info("%s: %d of %d rows reused from other cache entries, %d inputs computed", label or key, copied,
                 len(inputs), len(todo))


class ArrayFeatures:
    """In-memory stand-in for `cache.Features` (tests, tiny data): same read / chunk interface."""

    def __init__(self, array: np.ndarray | torch.Tensor, chunk: int | None = None) -> None:
        self.array = np.asarray(array, dtype=np.float32)
        self.shape = self.array.shape
        self._chunk = chunk or len(self.array) or 1

    def __len__(self) -> int:
        return len(self.array)

    def read(self, start: int, stop: int) -> np.ndarray:
        return self.array[start:stop]

    def chunk_rows(self) -> int:
        return self._chunk

    def chunks(self) -> Iterator[tuple[int, np.ndarray]]:
        for start in range(0, len(self), self._chunk):
            yield start, self.read(start, start + self._chunk)


RESIDENT_BYTES = 256 << 20
"""A split whose float32 features fit in this many bytes is read into memory once for training, instead of
streaming its chunks from disk every epoch; larger ones stream (memory stays bounded by this, not the data)."""


def resident(src: Any) -> Any:
    """`src` held in memory when it is a feature file of at most RESIDENT_BYTES (the same chunks, the same values:
    training reads exactly what it would have streamed), else `src` itself."""
    if not isinstance(src, Features) or len(src) * int(np.prod(src.shape[1:])) * 4 > RESIDENT_BYTES:
        return src
    return ArrayFeatures(src.read(0, len(src)), chunk=src.chunk_rows())


def moments(src: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per (layer, dim) mean and standard deviation over all rows, streamed chunk by chunk (float64 sums)."""
    n, total, squares = 0, 0.0, 0.0
    for _, x in src.chunks():
        total = total + x.sum(0, dtype=np.float64)
        squares = squares + np.square(x, dtype=np.float64).sum(0)
        n += len(x)
    mean = total / max(n, 1)
    var = np.maximum(squares / max(n, 1) - mean * mean, 0.0) * (n / max(n - 1, 1))
    return mean.astype(np.float32), np.sqrt(var).astype(np.float32)
