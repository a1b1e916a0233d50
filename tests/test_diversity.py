"""Diversity metrics against independent computations (scipy's pdist, a per-class loop) and known cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import pdist

from bench.metrics import diversity as dv
from conftest import cut_smoke_spec
from bench.metrics.fidelity import fd


def test_intra_group_distance_is_the_mean_pairwise_cosine_distance():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(30, 8))
    groups = np.repeat([0, 1, 2], 10)
    want = np.mean([pdist(f[groups == g], "cosine").mean() for g in range(3)])
    assert dv.intra_group_distance(f, groups) == pytest.approx(want, rel=1e-10)
    same = np.repeat(f[:1], 5, axis=0)
    assert dv.intra_group_distance(same, np.zeros(5, int)) == pytest.approx(0.0, abs=1e-12)
    assert dv.intra_group_distance(f[:3], np.arange(3)) is None  # no group of two


def test_ms_ssim_known_cases():
    rng = np.random.default_rng(1)
    base = rng.integers(0, 256, size=(28, 28, 1)).astype(np.uint8).repeat(3, axis=2)
    same = np.stack([base] * 4)
    assert dv.intra_group_ms_ssim(same, np.zeros(4, int)) == pytest.approx(1.0, abs=1e-6)
    def noisy(sigma):
        x = base[None].astype(float) + rng.normal(0, sigma, size=(4,) + base.shape)
        return np.clip(x, 0, 255).astype(np.uint8)
    s = [dv.intra_group_ms_ssim(noisy(v), np.zeros(4, int)) for v in (5, 30, 90)]
    assert s == sorted(s, reverse=True) and s[-1] < 0.5


def test_per_class_fd_is_the_mean_of_class_fds():
    rng = np.random.default_rng(2)
    real, fake = rng.normal(size=(40, 4)), rng.normal(0.5, 1.0, size=(30, 4))
    rc, fc = np.repeat([0, 1], 20), np.repeat([0, 1, 2], 10)  # class 2 has no real images: left out
    want = np.mean([fd(real[rc == c], fake[fc == c]) for c in (0, 1)])
    assert dv.per_class_fd(real, rc, fake, fc) == pytest.approx(want)


def test_real_groups_draw_at_most_n_per_class():
    classes = np.array([0] * 7 + [1] * 2 + [2] * 5)
    idx = dv.real_groups(classes, 3, seed=0)
    assert np.bincount(classes[idx]).tolist() == [3, 2, 3]
    assert np.array_equal(idx, dv.real_groups(classes, 3, seed=0))


@pytest.fixture
def diversity_suite(spec_home):
    return cut_smoke_spec(spec_home, ["diversity"], 'models = ["holdout", "noise"]\nladders = ["collapse"]\n'
                                                    'ladder_severities = [1.0]\nladder_tasks = ["diversity"]')


def test_diversity_task_ranks_known_generators(diversity_suite, tmp_path):
    """Held-out real images are about as diverse as real images; a collapsed generator has no diversity
    within a prompt; pixel noise is more diverse than real images and far from each class."""
    from bench.run import RunOptions, run_suite
    from bench.results import read_result

    paths = run_suite("smoke", RunOptions(tmp_path / "runs", device="cpu"), log=lambda m: None)
    got = {p.parent.name: read_result(p)["metrics"]["diversity"] for p in paths}
    hold, noise, flat = got["holdout"]["pooled"], got["noise"]["pooled"], got["degraded-collapse@1.00"]["pooled"]
    assert 0.7 < hold["diversity_ratio"] < 1.3 and 0.7 < hold["ms_ssim_ratio"] < 1.3
    assert flat["diversity"] == pytest.approx(0.0, abs=1e-6) and flat["ms_ssim"] == pytest.approx(1.0, abs=1e-6)
    assert noise["fd_per_class"] > 3 * hold["fd_per_class"]
    assert set(got["holdout"]["per_modality"]) == {"bloodmnist", "organamnist", "breastmnist"}
    assert [c["key"] for c in got["holdout"]["columns"]] == ["diversity_ratio", "ms_ssim_ratio", "fd_per_class"]
