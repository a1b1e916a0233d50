"""Fidelity metrics: plain functions over feature arrays (rows = images), float64 throughout.

- Fréchet distance (FD; "FID" when the features are Inception's), as in clean-fid;
- kernel inception distance (KID, Bińkowski et al. 2018): unbiased MMD² with the cubic polynomial
  kernel, averaged over random subsets;
- precision and recall of k-NN manifolds (Kynkäänniemi et al. 2019);
- CMMD (Jayasumana et al. 2024): MMD with a Gaussian kernel on CLIP embeddings;
- a percentile bootstrap confidence interval for any of them.

Feature space, sample counts and the real reference split are recorded by the task that calls these.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy import linalg


def feature_stats(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D) of features (N, D), in float64."""
    x = np.asarray(feats, dtype=np.float64)
    return x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False))


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """Fréchet distance between the Gaussians N(μ₁, Σ₁) and N(μ₂, Σ₂):

        d² = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁ Σ₂)^½)

    (the value reported as FID; squared feature units). The matrix square root is
    ``scipy.linalg.sqrtm`` of the product; if the product is singular (non-finite root), ``eps`` is
    added to both diagonals first. A complex root whose diagonal has an imaginary part above 1e-3 is
    an error (numerical failure); smaller imaginary parts are dropped.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"mismatched statistics: {mu1.shape} vs {mu2.shape}, {sigma1.shape} vs {sigma2.shape}")
    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"imaginary component {np.max(np.abs(covmean.imag))} in the matrix square root")
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def fd(x: np.ndarray, y: np.ndarray) -> float:
    """Fréchet distance between two feature sets (N, D) and (M, D)."""
    return frechet_distance(*feature_stats(x), *feature_stats(y))


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """KID's kernel k(a, b) = (aᵀb / D + 1)³."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(k_xx: np.ndarray, k_yy: np.ndarray, k_xy: np.ndarray) -> float:
    """Unbiased MMD² from kernel matrices: mean of off-diagonal k_xx + same for k_yy − 2·mean(k_xy)."""
    m, n = k_xx.shape[0], k_yy.shape[0]
    sxx = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    syy = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(sxx + syy - 2.0 * k_xy.mean())


def kid(x: np.ndarray, y: np.ndarray, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Kernel inception distance: the unbiased MMD² with the cubic polynomial kernel, averaged over
    ``subsets`` random subsets of ``min(subset_size, N, M)`` rows of each set (drawn without
    replacement within a subset; one subset when that is both whole sets). Returns (mean, standard
    deviation over subsets)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    m = min(subset_size, len(x), len(y))
    if m < 2:
        raise ValueError("KID needs at least 2 samples in each set")
    if m == len(x) == len(y):  # every subset is the whole of both sets: one value, no spread
        subsets = 1
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(subsets):
        a = x[rng.choice(len(x), m, replace=False)]
        b = y[rng.choice(len(y), m, replace=False)]
        vals.append(mmd2_unbiased(polynomial_kernel(a, a), polynomial_kernel(b, b), polynomial_kernel(a, b)))
    return float(np.mean(vals)), float(np.std(vals))


CHUNK = 2048  # rows per block of pairwise distances: memory O(CHUNK · N), not O(N²)


def _pairwise_dist(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    d2 = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * x @ y.T
    return np.sqrt(np.maximum(d2, 0.0))


def _knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Distance of each row of x to its k-th nearest other row of x (column 0 of the sorted row is itself)."""
    return np.concatenate([np.partition(_pairwise_dist(x[i:i + CHUNK], x), k, axis=1)[:, k]
                           for i in range(0, len(x), CHUNK)])


def _inside(q: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """For each row of q: is it within radius of at least one centre?"""
    return np.concatenate([(_pairwise_dist(q[i:i + CHUNK], centres) <= radii[None, :]).any(axis=1)
                           for i in range(0, len(q), CHUNK)])


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019). Each set's manifold is the union of
    balls around its points with radius the distance to the k-th nearest neighbour in the same set.
    Precision = share of fake points inside the real manifold; recall = share of real points inside
    the fake manifold. Euclidean distance, exact, in blocks of rows."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    r_real, r_fake = _knn_radii(real, min(k, len(real) - 1)), _knn_radii(fake, min(k, len(fake) - 1))
    return float(_inside(fake, real, r_real).mean()), float(_inside(real, fake, r_fake).mean())


def cmmd(x: np.ndarray, y: np.ndarray, sigma: float = 10.0, scale: float = 1000.0) -> float:
    """CMMD (Jayasumana et al. 2024): ``scale`` × MMD² with the Gaussian kernel
    k(a, b) = exp(−‖a − b‖² / (2σ²)), the biased (V-statistic) estimator of the reference code
    (diagonals included), on L2-normalised CLIP embeddings; σ = 10 and scale = 1000 as in the paper."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    gamma = 1.0 / (2.0 * sigma ** 2)

    def mean_k(a, b):
        return sum(np.exp(-gamma * _pairwise_dist(a[i:i + CHUNK], b) ** 2).sum()
                   for i in range(0, len(a), CHUNK)) / (len(a) * len(b))

    return float(scale * (mean_k(x, x) + mean_k(y, y) - 2.0 * mean_k(x, y)))


def bootstrap(metric: Callable[..., object], *arrays: np.ndarray, n_boot: int = 100, seed: int = 0) -> np.ndarray:
    """``metric(*arrays)`` on ``n_boot`` bootstrap resamples (each array resampled with replacement,
    independently); returns the values stacked, shape (n_boot,) or (n_boot, k) for a k-tuple metric."""
    rng = np.random.default_rng(seed)
    return np.asarray([metric(*[a[rng.integers(0, len(a), len(a))] for a in arrays]) for _ in range(n_boot)],
                      dtype=np.float64)


NEIGHBOURS = 32            # sorted neighbours kept per point by the fast fidelity bootstrap
DENSE_LIMIT = 250_000_000  # largest fake × real distance matrix (entries, float64) it keeps in memory


def _sorted_neighbours(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and distances of each row's ``k`` nearest rows of x (itself included), ascending."""
    idx, dist = [], []
    for i in range(0, len(x), CHUNK):
        d = _pairwise_dist(x[i:i + CHUNK], x)
        part = np.argpartition(d, k - 1, axis=1)[:, :k] if k < d.shape[1] else np.tile(np.arange(d.shape[1]), (len(d), 1))
        pd = np.take_along_axis(d, part, axis=1)
        order = np.argsort(pd, axis=1, kind="stable")
        idx.append(np.take_along_axis(part, order, axis=1))
        dist.append(np.take_along_axis(pd, order, axis=1))
    return np.concatenate(idx), np.concatenate(dist)


def _radii_of_resample(x: np.ndarray, nbr: tuple[np.ndarray, np.ndarray], counts: np.ndarray, k: int) -> np.ndarray:
    """k-NN radius of each distinct row of x in the multiset that repeats row j ``counts[j]`` times
    (what :func:`_knn_radii` returns for the resampled array, per distinct row; NaN where counts = 0).
    Walks the sorted neighbour lists; rows whose list holds fewer than k + 1 resampled points are
    computed exactly from their full row."""
    idx, dist = nbr
    cum = np.cumsum(counts[idx], axis=1)
    found = cum[:, -1] > k
    pos = np.argmax(cum > k, axis=1)
    radii = np.where(found, dist[np.arange(len(x)), pos], np.nan)
    for i in np.flatnonzero(~found & (counts > 0)):
        d = _pairwise_dist(x[i:i + 1], x)[0]
        order = np.argsort(d, kind="stable")
        radii[i] = d[order][np.argmax(np.cumsum(counts[order]) > k)]
    return np.where(counts > 0, radii, np.nan)


def bootstrap_fidelity(real: np.ndarray, fake: np.ndarray, n_boot: int, seed: int = 0, pr_k: int = 3,
                       cmmd_sigma: float = 10.0, kid_subsets: int = 10, kid_subset_size: int = 1000) -> np.ndarray:
    """FD, KID, precision, recall and CMMD on ``n_boot`` bootstrap resamples of (real, fake): the same
    values, resamples and order as ``bootstrap(metric, real, fake, n_boot=n_boot, seed=seed)`` with
    ``metric = (fd, kid(.., kid_subsets, kid_subset_size, seed)[0], *precision_recall(.., pr_k),
    cmmd(.., cmmd_sigma))``, shape (n_boot, 5), but without the O(N²) work per resample: a resample is
    a vector of counts per distinct point, so CMMD's kernel means are count-weighted sums over the
    distinct pairs (all resamples in one pass over the kernel), and k-NN radii come from each point's
    sorted neighbours. Equal to the plain bootstrap up to float rounding (tested)."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    n, m = len(real), len(fake)
    if n_boot == 0:
        return np.zeros((0, 5))
    if n * m > DENSE_LIMIT or min(n, m) < 2:  # too big to hold the fake × real distances: the plain way
        def metric(r, f):
            return (fd(r, f), kid(r, f, kid_subsets, kid_subset_size, seed)[0], *precision_recall(r, f, pr_k),
                    cmmd(r, f, cmmd_sigma))
        return bootstrap(metric, real, fake, n_boot=n_boot, seed=seed)
    rng = np.random.default_rng(seed)  # the draws of bootstrap(): real then fake, per resample
    draws = [(rng.integers(0, n, n), rng.integers(0, m, m)) for _ in range(n_boot)]
    c_real = np.stack([np.bincount(ir, minlength=n) for ir, _ in draws], axis=1).astype(np.float64)  # (n, B)
    c_fake = np.stack([np.bincount(jf, minlength=m) for _, jf in draws], axis=1).astype(np.float64)  # (m, B)

    gamma = 1.0 / (2.0 * cmmd_sigma ** 2)

    def weighted_kernel_means(a, ca, b, cb):
        """Per resample: Σ_ij ca_i cb_j k(a_i, b_j) / (Σca · Σcb)."""
        total = np.zeros(ca.shape[1])
        for i in range(0, len(a), CHUNK):
            kb = np.exp(-gamma * _pairwise_dist(a[i:i + CHUNK], b) ** 2) @ cb
            total += (ca[i:i + CHUNK] * kb).sum(axis=0)
        return total / (ca.sum(0) * cb.sum(0))

    cmmd_values = 1000.0 * (weighted_kernel_means(real, c_real, real, c_real)
                            + weighted_kernel_means(fake, c_fake, fake, c_fake)
                            - 2.0 * weighted_kernel_means(real, c_real, fake, c_fake))
    k_real, k_fake = min(pr_k, n - 1), min(pr_k, m - 1)
    nbr_real = _sorted_neighbours(real, min(NEIGHBOURS, n))
    nbr_fake = _sorted_neighbours(fake, min(NEIGHBOURS, m))
    d_fr = np.concatenate([_pairwise_dist(fake[i:i + CHUNK], real) for i in range(0, m, CHUNK)])  # (m, n)
    out = np.empty((n_boot, 5))
    for b, (ir, jf) in enumerate(draws):
        r_real = np.nan_to_num(_radii_of_resample(real, nbr_real, c_real[:, b], k_real), nan=-np.inf)
        r_fake = np.nan_to_num(_radii_of_resample(fake, nbr_fake, c_fake[:, b], k_fake), nan=-np.inf)
        fake_inside = (d_fr <= r_real[None, :]).any(axis=1)   # each distinct fake row within the real manifold
        real_inside = (d_fr <= r_fake[:, None]).any(axis=0)   # each distinct real row within the fake manifold
        precision = float(c_fake[:, b] @ fake_inside) / m
        recall = float(c_real[:, b] @ real_inside) / n
        r, f = real[ir], fake[jf]
        out[b] = (fd(r, f), kid(r, f, kid_subsets, kid_subset_size, seed)[0], precision, recall, cmmd_values[b])
    return out


def percentile_interval(values: np.ndarray, level: float = 0.95, estimate=None) -> np.ndarray:
    """The (1−level)/2 and (1+level)/2 quantiles of bootstrap values along axis 0: shape (2,) or (k, 2).

    With ``estimate`` (the statistic on the original sample), the interval is bias-corrected: shifted by
    ``estimate − mean(values)``. Set-level statistics need this: a resample repeats points, which
    inflates FD and CMMD and shrinks k-NN radii, so the plain percentile interval of FD or precision
    can miss the estimate altogether; means (rates, scores) are unbiased and barely move.
    """
    values = np.asarray(values, np.float64)
    q = np.quantile(values, [(1 - level) / 2, (1 + level) / 2], axis=0)
    if estimate is not None:
        q = q + (np.asarray(estimate, np.float64) - values.mean(axis=0))
    return q.T


def bootstrap_ci(metric: Callable[..., float], *arrays: np.ndarray, n_boot: int = 100, level: float = 0.95,
                 seed: int = 0, bias_corrected: bool = False) -> tuple[float, float]:
    """Percentile bootstrap interval of a scalar ``metric(*arrays)`` (see :func:`percentile_interval`)."""
    estimate = metric(*arrays) if bias_corrected else None
    lo, hi = percentile_interval(bootstrap(metric, *arrays, n_boot=n_boot, seed=seed), level, estimate)
    return float(lo), float(hi)


def fd_scorer(embed):
    """``embed`` (images → features) → a scorer ``real images → (images → Fréchet distance to them)``:
    what the run hands the LDM for its training curve, so generators need not import the metrics."""

    def fd_to(real_images):
        real = feature_stats(embed(real_images))
        return lambda images: frechet_distance(*feature_stats(embed(images)), *real)

    return fd_to
