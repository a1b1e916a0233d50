"""Every metric against an independent numpy/scipy computation, and the sanity ordering on `smoke`."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg

from bench.metrics import alignment as al
from bench.metrics import fidelity as fi
from bench.metrics import memorisation as mem


def _gauss(n, d, shift=0.0, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(d, d)) / np.sqrt(d)
    return rng.normal(size=(n, d)) @ a + shift


# -- fidelity -------------------------------------------------------------------------------------


def _fd_reference(x, y):
    """FD with the symmetric form Tr((Σ₁^½ Σ₂ Σ₁^½)^½), which equals Tr((Σ₁Σ₂)^½)."""
    m1, m2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    r1 = linalg.sqrtm(s1).real
    return float(((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(linalg.sqrtm(r1 @ s2 @ r1).real))


def test_fd_matches_scipy_reference():
    x, y = _gauss(500, 16, seed=1), _gauss(400, 16, shift=0.3, seed=2)
    assert fi.fd(x, y) == pytest.approx(_fd_reference(x, y), rel=1e-6, abs=1e-8)


def test_fd_of_identical_sets_is_zero_and_known_1d_value():
    x = _gauss(300, 32, seed=3)
    assert abs(fi.fd(x, x)) < 1e-6
    # 1-D Gaussians: d² = (μ₁ − μ₂)² + (σ₁ − σ₂)²
    assert fi.frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([3.0]), np.array([[9.0]])) \
        == pytest.approx(4.0 + 1.0)


def test_fd_singular_covariance_uses_eps_fallback():
    x = _gauss(10, 32, seed=4)  # fewer samples than dimensions: singular covariance
    assert np.isfinite(fi.fd(x, _gauss(10, 32, seed=5)))


def test_fd_agrees_with_torchmetrics_custom_extractor():
    torch = pytest.importorskip("torch")
    fid_mod = pytest.importorskip("torchmetrics.image.fid")
    d = 8

    class Take(torch.nn.Module):  # "images" are the features themselves
        def forward(self, x):
            return x.reshape(len(x), -1)[:, :d].double()

    x, y = _gauss(200, d, seed=6), _gauss(150, d, shift=0.5, seed=7)
    metric = fid_mod.FrechetInceptionDistance(feature=Take(), normalize=False)
    metric.update(torch.from_numpy(x), real=True)
    metric.update(torch.from_numpy(y), real=False)
    assert float(metric.compute()) == pytest.approx(fi.fd(x, y), rel=1e-4)


def _mmd2_loops(x, y):
    k = lambda a, b: (a @ b / len(a) + 1) ** 3  # noqa: E731
    m, n = len(x), len(y)
    sxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    syy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    sxy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return sxx + syy - 2 * sxy


def test_kid_is_the_unbiased_mmd_with_cubic_kernel():
    x, y = _gauss(30, 5, seed=8), _gauss(30, 5, shift=0.4, seed=9)
    # one subset of the full size is a permutation of the sets: the statistic itself
    mean, std = fi.kid(x, y, subsets=3, subset_size=30)
    assert mean == pytest.approx(_mmd2_loops(x, y), rel=1e-9)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_kid_is_unbiased_for_equal_distributions():
    rng = np.random.default_rng(0)
    vals = [fi.kid(rng.normal(size=(40, 4)), rng.normal(size=(40, 4)), subsets=1, subset_size=40)[0]
            for _ in range(300)]
    vals = np.asarray(vals)
    # the biased estimator would be clearly positive; the unbiased one centres on 0
    assert abs(vals.mean()) < 3 * vals.std() / np.sqrt(len(vals))


def _pr_loops(real, fake, k):
    def radius(s, i):
        d = sorted(np.linalg.norm(s[i] - s[j]) for j in range(len(s)) if j != i)
        return d[k - 1]

    rr = [radius(real, i) for i in range(len(real))]
    rf = [radius(fake, i) for i in range(len(fake))]
    p = np.mean([any(np.linalg.norm(f - real[j]) <= rr[j] for j in range(len(real))) for f in fake])
    r = np.mean([any(np.linalg.norm(r_ - fake[j]) <= rf[j] for j in range(len(fake))) for r_ in real])
    return p, r


def test_precision_recall_matches_loops_and_extremes():
    real, fake = _gauss(40, 3, seed=10), _gauss(35, 3, shift=0.8, seed=11)
    assert fi.precision_recall(real, fake, k=3) == pytest.approx(_pr_loops(real, fake, 3))
    assert fi.precision_recall(real, real, k=3) == (1.0, 1.0)
    assert fi.precision_recall(real, real + 100.0, k=3) == (0.0, 0.0)


def test_blockwise_computation_does_not_change_results(monkeypatch):
    real, fake = _gauss(40, 3, seed=14), _gauss(35, 3, shift=0.5, seed=15)
    whole = fi.precision_recall(real, fake), fi.cmmd(real, fake)
    monkeypatch.setattr(fi, "CHUNK", 7)
    assert fi.precision_recall(real, fake) == whole[0]
    assert fi.cmmd(real, fake) == pytest.approx(whole[1], rel=1e-12)


def test_cmmd_matches_loops():
    x, y = _gauss(20, 4, seed=12), _gauss(25, 4, shift=0.5, seed=13)
    g = lambda a, b: np.exp(-np.sum((a - b) ** 2) / (2 * 10.0 ** 2))  # noqa: E731
    kxx = np.mean([[g(a, b) for b in x] for a in x])
    kyy = np.mean([[g(a, b) for b in y] for a in y])
    kxy = np.mean([[g(a, b) for b in y] for a in x])
    assert fi.cmmd(x, y) == pytest.approx(1000 * (kxx + kyy - 2 * kxy), rel=1e-9)
    assert abs(fi.cmmd(x, x)) < 1e-9


def test_bootstrap_interval_covers_the_mean():
    v = np.random.default_rng(0).normal(5.0, 1.0, size=400)
    lo, hi = fi.bootstrap_ci(np.mean, v, n_boot=300)
    assert lo < v.mean() < hi
    assert hi - lo == pytest.approx(2 * 1.96 / np.sqrt(400), rel=0.3)


@pytest.mark.parametrize("n, m, k, neighbours", [(300, 80, 3, 32), (12, 9, 3, 32), (200, 200, 1, 32),
                                                   (100, 60, 3, 2)])  # last: lists too short → exact rows
def test_fast_fidelity_bootstrap_equals_the_plain_one(n, m, k, neighbours, monkeypatch):
    monkeypatch.setattr(fi, "NEIGHBOURS", neighbours)
    rng = np.random.default_rng(n)
    real, fake = rng.normal(size=(n, 8)), rng.normal(size=(m, 8)) + 0.3
    fake[:5] = real[:5]  # exact copies: zero distances and ties in the k-NN radii

    def metric(r, f):
        return (fi.fd(r, f), fi.kid(r, f, 10, 1000, 3)[0], *fi.precision_recall(r, f, k), fi.cmmd(r, f, 10.0))

    plain = fi.bootstrap(metric, real, fake, n_boot=12, seed=3)
    fast = fi.bootstrap_fidelity(real, fake, 12, seed=3, pr_k=k, cmmd_sigma=10.0, kid_subsets=10)
    assert fast.shape == (12, 5)
    np.testing.assert_allclose(fast, plain, rtol=1e-9, atol=1e-9)


# -- alignment ------------------------------------------------------------------------------------


def test_alignment_functions():
    img = np.array([[1.0, 0.0], [0.0, 1.0], [np.sqrt(0.5), np.sqrt(0.5)]])
    txt = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert al.clip_scores(img, txt) == pytest.approx([100.0, 0.0, 100 * np.sqrt(0.5)])
    assert al.clip_scores(img, -txt) == pytest.approx([0.0, 0.0, 0.0])  # negative cosines clip at 0
    prompts = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert al.retrieval_hits(img[:2], prompts, np.array([0, 0])).tolist() == [1.0, 0.0]
    proba = np.array([[0.2, 0.8], [0.9, 0.1]])
    assert al.conditional_hits(proba, np.array([1, 1])).tolist() == [1.0, 0.0]


# -- memorisation ---------------------------------------------------------------------------------


def test_nearest_neighbours_match_brute_force():
    rng = np.random.default_rng(1)
    base, q = rng.normal(size=(50, 6)), rng.normal(size=(20, 6))
    d, idx = mem.nearest_neighbours(q, base, k=2, space="cosine", chunk=7)
    bn, qn = base / np.linalg.norm(base, axis=1, keepdims=True), q / np.linalg.norm(q, axis=1, keepdims=True)
    full = np.linalg.norm(qn[:, None] - bn[None], axis=2)
    assert np.array_equal(idx, np.argsort(full, axis=1)[:, :2])
    assert d == pytest.approx(np.sort(full, axis=1)[:, :2], rel=1e-12)
    d, idx = mem.nearest_neighbours(q, base, k=2, space="pixel")
    full = np.sqrt(((q[:, None] - base[None]) ** 2).mean(axis=2))
    assert np.array_equal(idx, np.argsort(full, axis=1)[:, :2])
    assert d == pytest.approx(np.sort(full, axis=1)[:, :2], rel=1e-12)


def test_near_copy_distances_are_exact_where_the_float32_expansion_cancels():
    """Memoriser-like near-copies: pixel RMS ≈ 0.005 and chords ≈ 0.001. faiss alone scores them
    through ‖x‖² + ‖y‖² − 2⟨x, y⟩ in float32 (off by ~0.3 %, CPU-dependent); the re-ranked distances
    equal the float64 brute force to 1e-12."""
    import faiss

    rng = np.random.default_rng(3)
    base = rng.uniform(0.2, 0.9, size=(1260, 2352))  # 28 × 28 × 3 pixels in [0, 1]; the smoke train split's size
    pick = rng.integers(0, 1260, 420)  # enough queries for faiss's BLAS path (nq · nb > 128,000)
    q = np.clip(base[pick] + rng.normal(0, 0.005, size=(420, 2352)), 0, 1)
    from scipy.spatial.distance import cdist  # direct differences in float64

    d, idx = mem.nearest_neighbours(q, base, k=2, space="pixel")
    full = cdist(q, base) / np.sqrt(2352)
    assert np.array_equal(idx[:, 0], pick)
    assert np.allclose(d, np.sort(full, axis=1)[:, :2], rtol=1e-12, atol=0)
    index = faiss.IndexFlatL2(2352)  # what faiss alone would have reported
    index.add(base.astype(np.float32))
    s, _ = index.search(q.astype(np.float32), 1)
    raw = np.sqrt(np.maximum(s[:, 0].astype(np.float64), 0) / 2352)
    assert np.max(np.abs(raw / d[:, 0] - 1)) > 1e-3  # the cancellation the re-ranking removes

    feats = rng.normal(size=(1260, 64))
    qf = feats[pick] + rng.normal(0, 1e-3, size=(420, 64))
    d, idx = mem.nearest_neighbours(qf, feats, k=2, space="cosine")
    bn, qn = feats / np.linalg.norm(feats, axis=1, keepdims=True), qf / np.linalg.norm(qf, axis=1, keepdims=True)
    chords = cdist(qn, bn)
    assert np.array_equal(idx[:, 0], pick)
    assert np.allclose(d, np.sort(chords, axis=1)[:, :2], rtol=1e-12, atol=0)


def test_memorisation_statistics():
    held = np.linspace(1.0, 2.0, 101)
    assert mem.near_copy_threshold(held, 1.0) == pytest.approx(1.01)
    assert mem.near_copy_rate(np.array([0.5, 1.005, 1.5, 3.0]), 1.01) == 0.5
    assert mem.distance_ratio(held * 0.5, held) == pytest.approx(0.5)
    assert mem.carlini_ratios(np.array([0.1, 1.0, 0.0]), np.array([1.0, 1.0, 0.0])).tolist() == [0.1, 1.0, 0.0]
    assert mem.carlini_rate(np.array([0.1, 0.9]), np.array([1.0, 1.0])) == 0.5


# -- sanity ordering on the smoke suite (one shared run of the baselines) -------------------------


@pytest.mark.slow
def test_sanity_ordering_on_smoke(smoke_baselines):
    m = {g: r["metrics"] for g, r in smoke_baselines.items()}
    fd = {g: m[g]["fidelity"]["pooled"]["fd"] for g in m}
    assert fd["holdout"] * 5 < fd["noise"], fd
    for key in ("clip_score", "conditional_accuracy", "retrieval_top1"):
        assert m["holdout"]["alignment"]["pooled"][key] > m["noise"]["alignment"]["pooled"][key], key
    assert m["memoriser"]["memorisation"]["pooled"]["near_copy_rate"] >= 0.95
    assert m["holdout"]["memorisation"]["pooled"]["near_copy_rate"] <= 0.05
    assert m["memoriser"]["memorisation"]["pooled"]["pixel_near_copy_rate"] >= 0.95
    assert m["memoriser"]["memorisation"]["pooled"]["distance_ratio"] < 0.5 < m["holdout"]["memorisation"]["pooled"]["distance_ratio"]


@pytest.mark.slow
def test_task_outputs_follow_the_convention(smoke_baselines):
    res = smoke_baselines["holdout"]
    keys = {"fidelity": ("fd", "kid", "precision", "recall", "cmmd"),
            "alignment": ("clip_score", "retrieval_top1", "conditional_accuracy"),
            "memorisation": ("near_copy_rate", "distance_ratio", "carlini_rate")}
    for task, names in keys.items():
        out = res["metrics"][task]
        for name in names:
            assert isinstance(out["pooled"][name], float), (task, name)
        assert set(out["per_modality"]) == {"bloodmnist", "organamnist", "breastmnist"}
        assert out["reference"]["feature_extractor"]["sha256"] == res["reference"]["clip"]
        assert out["reference"]["n_real"]["pooled"] > 0
    assert len(res["metrics"]["fidelity"]["pooled"]["fd_ci"]) == 2
    pairs = res["metrics"]["memorisation"]["closest_pairs"]
    assert pairs and {"synthetic", "train", "distance"} <= set(pairs[0])
