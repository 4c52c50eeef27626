"""Contextual similarity: does an encoder give one word different vectors for its different senses?

For occurrences of one word labelled by sense (bank: river / finance), per layer: the cosine similarity matrix
of the occurrences' vectors; the mean similarity within a sense and across senses, and their difference (the
separation, > 0 when senses separate); a permutation test of that difference (sense labels shuffled, one-sided
p-value); and the leave-one-out nearest-neighbour accuracy (does the most similar other occurrence have the same
sense?) against its chance rate. Layer 0 (the input embeddings) sees the same token id in every sentence, so
whatever separation it shows comes from position embeddings alone: the baseline the contextual layers are read
against.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch


def cosine_matrix(vectors: torch.Tensor) -> np.ndarray:
    """(n, dim) -> (n, n) cosine similarities."""
    unit = torch.nn.functional.normalize(vectors.double(), dim=-1)
    return (unit @ unit.T).numpy()


def _separation(sim: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    same = labels[:, None] == labels[None, :]
    off = ~np.eye(len(labels), dtype=bool)
    return float(sim[same & off].mean()), float(sim[~same].mean())


def nearest_neighbour_accuracy(sim: np.ndarray, labels: np.ndarray) -> float:
    masked = sim.copy()
    np.fill_diagonal(masked, -np.inf)
    return float((labels[masked.argmax(1)] == labels).mean())


def nn_chance(labels: np.ndarray) -> float:
    """Expected leave-one-out 1-NN accuracy if the neighbour were a random other occurrence."""
    n = len(labels)
    _, counts = np.unique(labels, return_counts=True)
    return float(sum(c * (c - 1) for c in counts) / (n * (n - 1)))


def analyse(vectors: torch.Tensor, senses: Sequence[str], *, permutations: int = 2000, seed: int = 0
            ) -> dict[str, Any]:
    """vectors (n, L+1, dim) of one word's occurrences, senses (n,) -> per-layer matrices and scores."""
    labels = np.asarray(list(senses))
    if len(set(labels)) < 2:
        raise ValueError("contextual similarity needs occurrences of at least two senses")
    rng = np.random.default_rng(seed)
    shuffles = [rng.permutation(labels) for _ in range(permutations)]
    layers = []
    for layer in range(vectors.shape[1]):
        sim = cosine_matrix(vectors[:, layer])
        within, across = _separation(sim, labels)
        gap = within - across
        null = np.array([np.subtract(*_separation(sim, s)) for s in shuffles])
        layers.append({"layer": layer, "within": round(within, 4), "across": round(across, 4),
                       "separation": round(gap, 4),
                       "p_value": float((1 + (null >= gap).sum()) / (1 + permutations)),
                       "nn_accuracy": round(nearest_neighbour_accuracy(sim, labels), 4),
                       "matrix": np.round(sim, 3).tolist()})
    return {"senses": labels.tolist(), "nn_chance": round(nn_chance(labels), 4), "permutations": permutations,
            "layers": layers}
