"""Memorisation metrics: how close synthetic images lie to training images, relative to real held-out ones.

Distances (exact search with faiss, queries in chunks):
- feature space: rows are L2-normalised, searched by inner product (cosine); the distance is the chord
  ``d = √(2 − 2·cos)`` (Euclidean distance between unit vectors, in [0, 2]);
- pixel space: images as vectors in [0, 1]; the distance is the root-mean-square pixel difference
  ``d = ‖x − y‖₂ / √D`` (0 = identical, 1/255 ≈ one grey level everywhere).

Metrics, from each synthetic image's nearest (d₁) and second-nearest (d₂) training image and the same
for real held-out images (never seen by the generator):
- distance ratio: median d₁(synthetic) / median d₁(held-out); ≈ 1 for a generator that does not copy,
  → 0 for one that does;
- near-copy rate: share of synthetic images with d₁ below the 1st percentile of held-out d₁ (so real
  held-out images score about 1 % by construction); thresholds are calibrated per modality;
- Carlini et al. 2023 ratio test: share of synthetic images with d₁ / d₂ < 1/3 (an image much closer to
  one training image than to any other is an extracted copy).
"""

from __future__ import annotations

import numpy as np


def l2_normalise(x: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Rows of ``x`` scaled to unit L2 norm, in ``dtype`` (all-zero rows stay zero)."""
    x = np.asarray(x, dtype)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def nearest_neighbours(queries: np.ndarray, base: np.ndarray, k: int = 2, space: str = "cosine",
                       chunk: int = 4096, candidates: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest rows of ``base`` for each row of ``queries``.

    ``space="cosine"``: rows are L2-normalised, distances are chords √(2 − 2·cos) = ‖x̂ − ŷ‖₂.
    ``space="pixel"``: rows are pixel vectors in [0, 1], distances are RMS differences ‖x − y‖₂ / √D.
    Returns distances (N, k) float64, ascending, and base indices (N, k).

    A faiss flat index (float32) proposes the ``k + candidates`` nearest rows; their distances are then
    recomputed directly as ‖x − y‖ in float64 and re-ranked. faiss scores through ‖x‖² + ‖y‖² − 2⟨x, y⟩
    (or 2 − 2⟨x̂, ŷ⟩), which cancels catastrophically for near-copies: at a pixel RMS of 0.005 its
    float32 result is off by about 0.3 % and depends on the CPU's summation order. The direct difference
    has no cancellation, so the distances of close pairs are exact and the same on every machine.
    """
    import faiss

    if space == "cosine":
        base_64, q_64 = l2_normalise(base, np.float64), l2_normalise(queries, np.float64)
        index = faiss.IndexFlatIP(base_64.shape[1])
        scale = 1.0
    elif space == "pixel":
        base_64, q_64 = np.asarray(base, np.float64), np.asarray(queries, np.float64)
        index = faiss.IndexFlatL2(base_64.shape[1])
        scale = 1.0 / np.sqrt(base_64.shape[1])
    else:
        raise ValueError(f"unknown space {space!r}")
    index.add(np.ascontiguousarray(base_64, np.float32))
    k = min(k, len(base_64))
    m = min(k + max(candidates, 0), len(base_64))
    dists, idx = [], []
    for i in range(0, len(q_64), chunk):
        q = q_64[i:i + chunk]
        _, cand = index.search(np.ascontiguousarray(q, np.float32), m)
        exact = np.concatenate([_direct_distances(q[j:j + 256], base_64, cand[j:j + 256])
                                for j in range(0, len(q), 256)]) * scale
        order = np.argsort(exact, axis=1, kind="stable")[:, :k]
        dists.append(np.take_along_axis(exact, order, axis=1))
        idx.append(np.take_along_axis(cand, order, axis=1))
    if not dists:
        return np.zeros((0, k)), np.zeros((0, k), np.int64)
    return np.concatenate(dists), np.concatenate(idx).astype(np.int64)


def _direct_distances(q: np.ndarray, base: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """‖q_n − base[cand[n, k]]‖₂ for every query n and candidate k, float64, no cancellation."""
    diff = q[:, None, :] - base[cand]
    return np.sqrt(np.einsum("nkd,nkd->nk", diff, diff))


def near_copy_threshold(heldout_d1: np.ndarray, percentile: float = 1.0) -> float:
    """The ``percentile``-th percentile of held-out nearest-train distances (linear interpolation)."""
    return float(np.percentile(np.asarray(heldout_d1, np.float64), percentile))


def near_copy_rate(synthetic_d1: np.ndarray, threshold: float) -> float:
    """Share of synthetic images strictly closer to a training image than ``threshold``."""
    return float(np.mean(np.asarray(synthetic_d1) < threshold))


def distance_ratio(synthetic_d1: np.ndarray, heldout_d1: np.ndarray) -> float:
    """median(synthetic d₁) / median(held-out d₁)."""
    return float(np.median(synthetic_d1) / max(float(np.median(heldout_d1)), 1e-12))


def carlini_ratios(d1: np.ndarray, d2: np.ndarray) -> np.ndarray:
    """d₁ / d₂ per image (0 when d₁ = 0; a duplicated training image gives d₂ = 0 and counts as copied)."""
    d1, d2 = np.asarray(d1, np.float64), np.asarray(d2, np.float64)
    return np.divide(d1, d2, out=np.zeros_like(d1), where=d2 > 0)


def carlini_rate(d1: np.ndarray, d2: np.ndarray, threshold: float = 1.0 / 3.0) -> float:
    """Share of images with d₁ / d₂ < ``threshold`` (Carlini et al. 2023's relative-distance test)."""
    return float(np.mean(carlini_ratios(d1, d2) < threshold))
