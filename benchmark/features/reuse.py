"""Rows shared between feature-cache entries: an input is encoded once, whatever task, split or labels it comes in.

An entry holds one split's pooled features, keyed by the split's inputs in order. Tasks that share inputs (two
VADER tasks over the same snippets, a suite whose tasks split one corpus differently) would each miss the cache
and run the upstream again. So every entry also stores the digest of each of its rows' inputs (`rows.idx`:
16 bytes per row, its CRC in `meta.json`), and on a miss the entry is assembled from the rows other entries of
the same upstream fingerprint, pooling and compute dtype already hold; only the inputs no entry holds run
through the upstream (each distinct input once, also within a split).

A row copied from another entry was computed in another batch: its values can differ from those of a fresh
extraction in the last bits (padding to another length changes the order of float sums, ~1e-6), never more. A
run is still reproduced exactly from the same cache state, and a cold run of the same command repeats itself.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)
ROWS_FILE = "rows.idx"
DIGEST_BYTES = 16
FAMILY_KEYS = ("upstream", "pooling", "compute_dtype")
"""What must match for a row of one entry to stand for the same input in another."""


def hash_input(h: Any, x: Any) -> None:
    """Feed one input's identity to a hash: what a split's key and a row's digest (benchmark.features.reuse) are of."""
    if isinstance(x, np.ndarray):  # a waveform or an image: its dtype, shape and bytes
        h.update(f"{x.dtype.str}{x.shape}".encode())
        h.update(np.ascontiguousarray(x).tobytes())
    elif hasattr(x, "key"):  # audio on disk (benchmark.media.audio.AudioClip): path, slice and file stamp
        h.update(x.key().encode("utf-8"))
    else:
        h.update(json.dumps(x, ensure_ascii=False).encode("utf-8"))


def example_digest(x: Any) -> bytes:
    """The digest of one input, over the bytes a split's cache key hashes for it (`hash_input`)."""
    h = hashlib.sha256()
    hash_input(h, x)
    return h.digest()[:DIGEST_BYTES]


def example_digests(inputs: Sequence[Any]) -> np.ndarray:
    """(n, DIGEST_BYTES) uint8: one row per input."""
    out = np.zeros((len(inputs), DIGEST_BYTES), dtype=np.uint8)
    for i, x in enumerate(inputs):
        out[i] = np.frombuffer(example_digest(x), dtype=np.uint8)
    return out


def write_rows_index(folder: Path, digests: np.ndarray) -> int:
    """Write `rows.idx` into a new entry's folder; returns its CRC32 (recorded in meta.json)."""
    data = np.ascontiguousarray(digests, dtype=np.uint8).tobytes()
    (folder / ROWS_FILE).write_bytes(data)
    return zlib.crc32(data)


def read_rows_index(entry: Path, meta: dict[str, Any]) -> np.ndarray | None:
    """An entry's row digests, or None when it has none or they do not match their CRC."""
    crc = meta.get("rows_crc32")
    if not isinstance(crc, int):
        return None
    try:
        data = (entry / ROWS_FILE).read_bytes()
    except OSError:
        return None
    if zlib.crc32(data) != crc or len(data) % DIGEST_BYTES:
        log.warning("feature cache entry %s: %s does not match its checksum; its rows are not reused", entry.name,
                    ROWS_FILE)
        return None
    return np.frombuffer(data, dtype=np.uint8).reshape(-1, DIGEST_BYTES)


def donors(cache: Any, meta: dict[str, Any], digests: np.ndarray) -> dict[bytes, tuple[str, int]]:
    """For each wanted input digest some entry of the same family holds: (that entry's key, its row)."""
    if not cache.enabled:  # --no-cache: nothing is read from the cache, not even rows of other entries
        return {}
    wanted = {bytes(d) for d in digests}
    found: dict[bytes, tuple[str, int]] = {}
    for entry in cache.entries():
        if len(found) == len(wanted):
            break
        try:
            other = json.loads((entry / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if (not isinstance(other, dict) or other.get("frames") or other.get("dtype") != cache.dtype.name
                or any(other.get(k) != meta.get(k) for k in FAMILY_KEYS)):
            continue
        rows = read_rows_index(entry, other)
        if rows is None:
            continue
        key = entry.name.rsplit("-", 1)[0]
        for row, d in enumerate(rows):
            b = bytes(d)
            if b in wanted and b not in found:
                found[b] = (key, row)
    return found


def copy_rows(cache: Any, writer: Any, positions: dict[str, list[tuple[int, int]]]) -> int:
    """Copy rows from donor entries into the writer: positions[key] = [(donor row, our row), ...]. A donor that
    fails its checks now is skipped (its rows are computed instead); returns the rows copied, and leaves
    `positions` holding only what was not copied."""
    copied = 0
    for key in list(positions):
        feats = cache.get(key)  # verified (checksums, finiteness) once per process, and pinned against eviction
        if feats is None:
            continue
        pairs = sorted(positions.pop(key))
        step = feats.chunk_rows()
        at = 0
        while at < len(pairs):
            start = pairs[at][0]
            block = [p for p in pairs[at:] if p[0] < start + step]
            rows = feats.read(start, start + step)
            writer.write([ours for _, ours in block], rows[[theirs - start for theirs, _ in block]])
            copied += len(block)
            at += len(block)
    return copied
