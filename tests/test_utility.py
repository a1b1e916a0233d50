"""The utility task: statistics against scipy/scikit-learn, the sanity baselines on `smoke`, paired
subsets, specialist coverage and cell-by-cell resume."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats as sps

from bench.data.samples import Samples
from bench.stats import paired_test, t_interval
from bench.metrics.utility import UtilityTask, classification_metrics

# -- statistics -----------------------------------------------------------------------------------


@pytest.mark.parametrize("values", [[0.61, 0.64, 0.58], [0.1, 0.5, 0.3, 0.2, 0.9], [2.0, 3.0]])
def test_t_interval_matches_scipy(values):
    x = np.asarray(values)
    mean, (lo, hi) = t_interval(values, 0.95)
    ref = sps.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=sps.sem(x))
    assert mean == pytest.approx(x.mean())
    assert (lo, hi) == pytest.approx(ref, rel=1e-12)


def test_t_interval_edge_cases():
    assert np.isnan(t_interval([0.5])[1][0])  # one seed: no interval
    assert t_interval([0.3, 0.3, 0.3]) == (pytest.approx(0.3), (pytest.approx(0.3), pytest.approx(0.3)))


def test_paired_tests_match_scipy():
    a, b = np.array([0.71, 0.66, 0.69, 0.74, 0.70]), np.array([0.60, 0.62, 0.66, 0.61, 0.64])
    assert paired_test(a, b, "ttest_rel") == pytest.approx(sps.ttest_rel(a, b).pvalue)
    assert paired_test(a, b, "wilcoxon") == pytest.approx(sps.wilcoxon(a, b).pvalue)
    # with 3 seeds the exact Wilcoxon test cannot go below 2/2^3: why the t-test is the default
    assert paired_test(a[:3], b[:3], "wilcoxon") == pytest.approx(0.25)
    assert paired_test(a, a, "ttest_rel") == 1.0


def test_auroc_matches_sklearn_one_vs_rest():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 10)
    p = rng.dirichlet(np.ones(4), size=len(y)) + np.eye(4)[y] * 0.3
    p /= p.sum(1, keepdims=True)
    m = classification_metrics(y, p)
    assert m["auroc"] == pytest.approx(roc_auc_score(y, p, multi_class="ovr", average="macro"))
    y2 = y % 2
    p2 = np.stack([1 - p[:, 0], p[:, 0]], 1)
    assert classification_metrics(y2, p2)["auroc"] == pytest.approx(roc_auc_score(y2, p2[:, 1]))


# -- sanity on the smoke suite (the shared baseline run) -------------------------------------------


def _utility(result: dict) -> dict:
    return result["metrics"]["utility"]


def test_holdout_mixed_beats_real_at_the_smallest_budget(smoke_baselines):
    u = _utility(smoke_baselines["holdout"])
    n = str(min(int(b) for b in u["cells"]))
    gain = u["gains"][n]["pooled"]["mixed"]["accuracy"]
    assert gain["mean"] > 0.05, gain  # real held-out images must help a 1-image-per-class classifier
    assert u["pooled"]["gain_mixed_acc"] == gain["mean"] and u["pooled"]["budget"] == int(n)
    assert u["pooled"]["gain_mixed_acc_ci"] == gain["ci"]


def test_noise_synthetic_arm_is_near_chance(smoke_baselines, smoke_dataset):
    u = _utility(smoke_baselines["noise"])
    n = str(min(int(b) for b in u["cells"]))
    for mod in smoke_dataset.modalities:
        cell = u["cells"][n][mod.key]["synthetic"]
        chance = 1.0 / len(mod.class_names)
        assert abs(cell["balanced_accuracy"]["mean"] - chance) < 0.12, (mod.key, cell["balanced_accuracy"])
        assert abs(cell["auroc"]["mean"] - 0.5) < 0.2, (mod.key, cell["auroc"])


def test_gains_are_paired_on_the_same_real_subsets(smoke_runs, smoke_baselines, smoke_dataset):
    suite = smoke_runs / "smoke"
    us = {g: _utility(r) for g, r in smoke_baselines.items()}
    # every generator reports the same real subsets, and they are the suite's budget subsets
    assert us["holdout"]["subset_hashes"] == us["noise"]["subset_hashes"] == us["memoriser"]["subset_hashes"]
    markers = {}
    for folder in (suite / "_shared" / "utility", suite / "holdout" / "utility"):
        for f in (folder / "stages").glob("*.json"):
            out = json.loads(f.read_text())["output"]
            markers[(out["arm"], out["modality"], out["budget"], out["seed"])] = out
    for n, by_mod in us["holdout"]["subset_hashes"].items():
        for key, h in by_mod.items():
            for seed in us["holdout"]["protocol"]["seeds"]:
                for arm in ("real", "real+augment", "mixed"):
                    assert markers[(arm, key, int(n), seed)]["real_sha256"] == h
    # a gain is the per-seed difference of the two arms
    cells, gains = us["holdout"]["cells"]["1"]["bloodmnist"], us["holdout"]["gains"]["1"]["bloodmnist"]
    diff = np.subtract(cells["mixed"]["accuracy"]["values"], cells["real"]["accuracy"]["values"])
    assert gains["mixed"]["accuracy"]["values"] == pytest.approx(diff.tolist())
    # the real arm is shared: identical for every generator
    assert us["noise"]["cells"]["5"]["organamnist"]["real"] == us["holdout"]["cells"]["5"]["organamnist"]["real"]


# -- resume and coverage on a tiny context (2 steps per classifier, one budget) -----------------------


@pytest.fixture
def tiny(tmp_path, smoke_dataset):
    from bench.specs import load_suite
    from bench.stages import SuiteContext

    spec = load_suite("smoke")
    ctx = SuiteContext(spec, smoke_dataset, tmp_path / "smoke", log=lambda m: None)
    ctx.data_hashes = smoke_dataset.hashes()
    ctx.budgets = smoke_dataset.budget_indices(spec.splits.budgets, spec.splits.seed)
    params = UtilityTask.Params(steps=2, eval_every=2, seeds=2, budgets=[1], synthetic_per_class=3,
                                arms=["real", "synthetic", "mixed"])
    hold = smoke_dataset.splits["holdout"]
    reqs = smoke_dataset.prompt_requests()
    samples = Samples(hold.images, [reqs[c] for c in hold.classes])

    def gen(name, modalities=None):
        return SimpleNamespace(entry=SimpleNamespace(name=name, modalities=modalities),
                               folder=tmp_path / "smoke" / name, samples=samples)

    return ctx, params, gen


def _markers(folder: Path) -> dict[str, int]:
    return {f.name: f.stat().st_mtime_ns for f in (folder / "utility" / "stages").glob("*.json")}


def test_resumes_cell_by_cell(tiny, monkeypatch):
    ctx, params, gen = tiny
    g = gen("holdout")
    task = UtilityTask(params, ctx)
    task.prepare()
    first = task.evaluate(g)
    shared, own = _markers(ctx.shared_dir), _markers(g.folder)
    assert len(shared) == 3 * 2 and len(own) == 3 * 2 * 2  # modalities × seeds × arms (one budget)

    # a "killed" run: one cell's marker is missing; only that cell is trained again
    lost = "utility-organamnist-mixed-n1-s1.json"
    (g.folder / "utility" / "stages" / lost).unlink()
    import bench.reference.classifier as clf

    calls = []
    real_train = clf.train_classifier
    monkeypatch.setattr(clf, "train_classifier", lambda *a, **k: calls.append(k["desc"]) or real_train(*a, **k))
    again = UtilityTask(params, ctx)
    again.prepare()
    second = again.evaluate(g)
    assert calls == ["organamnist mixed n=1 s1"]
    assert _markers(ctx.shared_dir) == shared
    assert {k: v for k, v in _markers(g.folder).items() if k != lost} == {k: v for k, v in own.items() if k != lost}
    assert second == first  # deterministic on CPU: the redone cell gives the same numbers

    calls.clear()
    UtilityTask(params, ctx).evaluate(g)
    assert calls == []  # nothing left to do


def test_specialist_is_evaluated_on_its_modality_only(tiny):
    ctx, params, gen = tiny
    params = replace(params, arms=["real", "synthetic"])
    task = UtilityTask(params, ctx)
    generalist = task.evaluate(gen("holdout"))
    specialist = task.evaluate(gen("holdout@breastmnist", [2]))
    assert list(specialist["per_modality"]) == ["breastmnist"]
    assert set(generalist["per_modality"]) == {"bloodmnist", "organamnist", "breastmnist"}
    assert specialist["cells"]["1"]["breastmnist"]["real"] == generalist["cells"]["1"]["breastmnist"]["real"]
    assert specialist["pooled"]["real_acc"] == specialist["per_modality"]["breastmnist"]["real_acc"]


def test_unknown_budget_is_refused(tiny):
    from bench.errors import BenchError

    ctx, params, _ = tiny
    with pytest.raises(BenchError, match="budget 7"):
        UtilityTask(replace(params, budgets=[7]), ctx)
