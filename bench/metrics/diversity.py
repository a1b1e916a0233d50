"""Diversity metric functions (plain functions over arrays; the ``diversity`` task applies them).

- ``intra_group_distance``: the mean, over groups (prompts) of at least two images, of the mean
  pairwise cosine distance 1 − cos(f_i, f_j) between the group's L2-normalised features (i < j).
  0: every image of a prompt is the same; collapse lowers it, noise raises it.
- ``intra_group_ms_ssim``: the same mean over groups of the mean pairwise MS-SSIM of the images
  themselves (torchmetrics, grey levels in [0, 255], Gaussian kernel 3 px, three scales: the weights of
  Wang et al. 2003's three finest scales, renormalised, since 28 px images cannot be halved four times).
  1: identical images; lower is more diverse.
- ``per_class_fd``: the mean over classes of the Fréchet distance between one class's real and
  synthetic features (classes with at least two images on both sides).

Each is compared with the same statistic of the real images, grouped by class and subsampled to the
synthetic per-prompt count (:func:`real_groups`), so a ratio of 1 means "as diverse as real images".
"""

from __future__ import annotations

import numpy as np

from bench.metrics.fidelity import fd

MS_SSIM_BETAS = tuple(np.array([0.0448, 0.2856, 0.3001]) / (0.0448 + 0.2856 + 0.3001))
MS_SSIM_KERNEL = 3


def _groups(groups: np.ndarray, min_size: int = 2) -> list[np.ndarray]:
    return [np.flatnonzero(groups == g) for g in np.unique(groups) if (groups == g).sum() >= min_size]


def intra_group_distance(features: np.ndarray, groups: np.ndarray) -> float | None:
    """Mean over groups of the mean pairwise cosine distance within the group (module doc); None if no group."""
    f = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    values = []
    for idx in _groups(groups):
        g = f[idx]
        sim = g @ g.T
        n = len(idx)
        values.append(float((n * n - sim.sum() - (n - np.trace(sim))) / (n * (n - 1))))
    return float(np.mean(values)) if values else None


def intra_group_ms_ssim(images: np.ndarray, groups: np.ndarray, max_per_group: int = 10) -> float | None:
    """Mean over groups of the mean pairwise MS-SSIM of the group's first ``max_per_group`` uint8 images
    (every pair of every group in one batched call)."""
    import torch
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as ms_ssim

    left, right, owner = [], [], []
    for k, idx in enumerate(_groups(groups)):
        i, j = np.triu_indices(min(len(idx), max_per_group), k=1)
        left.append(idx[i])
        right.append(idx[j])
        owner.append(np.full(len(i), k))
    if not left:
        return None
    x = torch.from_numpy(images).permute(0, 3, 1, 2).to(torch.float32)
    a, b = torch.from_numpy(np.concatenate(left)), torch.from_numpy(np.concatenate(right))
    s = ms_ssim(x[a], x[b], data_range=255.0, kernel_size=MS_SSIM_KERNEL, betas=MS_SSIM_BETAS,
                reduction="none", normalize="relu").double().numpy()
    owner = np.concatenate(owner)
    return float(np.mean([s[owner == k].mean() for k in np.unique(owner)]))


def per_class_fd(real: np.ndarray, real_classes: np.ndarray, fake: np.ndarray, fake_classes: np.ndarray) -> float | None:
    """Mean over the classes present on both sides (at least two images each) of the per-class FD."""
    values = [fd(real[real_classes == c], fake[fake_classes == c]) for c in np.unique(fake_classes)
              if (real_classes == c).sum() >= 2 and (fake_classes == c).sum() >= 2]
    return float(np.mean(values)) if values else None


def real_groups(classes: np.ndarray, per_group: int, seed: int) -> np.ndarray:
    """Indices of at most ``per_group`` real images per class (a seeded draw), so that the real images'
    within-class statistics are computed on groups as large as the synthetic prompts'."""
    rng = np.random.default_rng(seed)
    keep = [rng.permutation(np.flatnonzero(classes == c))[:per_group] for c in np.unique(classes)]
    return np.sort(np.concatenate(keep)) if keep else np.zeros(0, dtype=np.int64)
