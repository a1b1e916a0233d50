"""The utility task: statistics against scipy/scikit-learn, the real-data equivalent on known cases, the
strong augmentation, the training-length rule, pretrain→finetune weights, the sanity baselines on
`smoke`, paired subsets, specialist coverage and cell-by-cell resume."""

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
from bench.metrics.utility import (MEDMNIST_RESNET18_28, UtilityTask, classification_metrics, equivalent_summary,
                                   real_data_equivalent)

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
                                arms=["real", "synthetic", "mixed"], sanity_seeds=0)
    hold = smoke_dataset.splits["holdout"]
    reqs = smoke_dataset.prompt_requests()
    samples = Samples(hold.images, [reqs[c] for c in hold.classes])

    def gen(name, modalities=None):
        return SimpleNamespace(entry=SimpleNamespace(name=name, modalities=modalities, role="generalist"),
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
    ladder = len(ctx.budgets)  # the real arm runs at every budget of the suite
    assert len(shared) == 3 * 2 * ladder and len(own) == 3 * 2 * 2  # modalities × seeds × (arms at one budget)
    # the plan `medsyn-bench perf` projects from is what ran
    from bench.metrics.utility import generator_cells

    assert len(own) == 2 * sum(len(generator_cells(params.arms, [1], [3], 3, len(m.class_names)))
                               for m in ctx.dataset.modalities)

    # a "killed" run: one cell's marker is missing; only that cell is trained again
    lost = "utility-organamnist-mixed-n1-k3-s1.json"
    (g.folder / "utility" / "stages" / lost).unlink()
    import bench.reference.classifier as clf

    calls = []
    real_train = clf.train_classifier
    monkeypatch.setattr(clf, "train_classifier", lambda *a, **k: calls.append(k["desc"]) or real_train(*a, **k))
    again = UtilityTask(params, ctx)
    again.prepare()
    second = again.evaluate(g)
    assert calls == ["organamnist mixed n=1 k=3 s1"]
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


# -- the real-data equivalent ------------------------------------------------------------------------


def test_real_data_equivalent_interpolates_in_log_n():
    n, acc = [1, 2, 5, 10, 20], [0.30, 0.45, 0.60, 0.70, 0.75]
    # 0.65 lies halfway between budgets 5 (0.60) and 10 (0.70): the geometric midpoint sqrt(50)
    assert real_data_equivalent(n, acc, 0.65) == (pytest.approx(np.sqrt(50)), "within")
    # on a ladder point exactly: that budget
    assert real_data_equivalent(n, acc, 0.45) == (pytest.approx(2.0), "within")
    assert real_data_equivalent(n, acc, 0.80) == (20.0, "beyond")
    assert real_data_equivalent(n, acc, 0.30) == (1.0, "below")
    # a dip in the ladder is pooled first (isotonic regression: 0.60 and 0.50 become 0.55 each)
    dipped = [0.30, 0.45, 0.60, 0.50, 0.75]
    t = (0.56 - 0.55) / (0.75 - 0.55)
    assert real_data_equivalent(n, dipped, 0.56)[0] == pytest.approx(np.exp(np.log(10) + t * np.log(2)))
    with pytest.raises(ValueError, match="ascending"):
        real_data_equivalent([5, 2], [0.1, 0.2], 0.15)


def test_equivalent_summary_is_a_geometric_mean_with_a_log_t_interval():
    per_seed = [(4.0, "within"), (9.0, "within"), (6.0, "within")]
    s = equivalent_summary(per_seed, budget=2)
    logs = np.log([4.0, 9.0, 6.0])
    lo, hi = sps.t.interval(0.95, 2, loc=logs.mean(), scale=sps.sem(logs))
    assert s["n_real"] == pytest.approx(np.exp(logs.mean())) and s["multiplier"] == pytest.approx(s["n_real"] / 2)
    assert s["ci"] == pytest.approx([np.exp(lo), np.exp(hi)]) and s["status"] == "within"
    assert equivalent_summary([(20.0, "beyond"), (9.0, "within")], 1)["status"] == "beyond"
    assert equivalent_summary([(20.0, "beyond"), (1.0, "below")], 1)["status"] == "both"


# -- the recipe ----------------------------------------------------------------------------------------


def test_strong_augment_is_seeded_by_the_callers_generator_and_gives_soft_targets():
    import torch
    from bench.augment import strong_augment

    x = torch.rand(16, 3, 28, 28) * 255
    y = torch.randint(0, 5, (16,))
    state = torch.get_rng_state()
    a, ta = strong_augment(x, y, 5, torch.Generator().manual_seed(3))
    assert torch.equal(torch.get_rng_state(), state)  # torch's global generator is left as it was
    b, tb = strong_augment(x, y, 5, torch.Generator().manual_seed(3))
    c, _ = strong_augment(x, y, 5, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and torch.equal(ta, tb) and not torch.equal(a, c)
    assert a.shape == x.shape and 0 <= float(a.min()) and float(a.max()) <= 255
    assert ta.shape == (16, 5) and torch.allclose(ta.sum(1), torch.ones(16))
    assert not torch.equal(ta, torch.nn.functional.one_hot(y, 5).float())  # MixUp/CutMix mixed the labels


def test_training_length_scales_with_the_training_set(tiny):
    ctx, params, _ = tiny
    task = UtilityTask(replace(params, steps=0, epochs=10, batch_size=64, min_steps=20, min_per_class=800,
                               max_steps=3000, evals=5, eval_every=0), ctx)
    assert task.steps_for(8, 8) == 100  # every class drawn 800 times: ceil(800 x 8 / 64)
    assert task.steps_for(8, 11) == 138  # ceil(800 x 11 / 64)
    assert task.steps_for(2, 2) == 25  # ceil(800 x 2 / 64)
    assert task.steps_for(2, 1) == 20  # at least min_steps
    assert task.steps_for(1600, 8) == 250  # ceil(10 x 1600 / 64)
    assert task.steps_for(1601, 8) == 251
    assert task.steps_for(34561, 11) == 3000  # at most max_steps
    assert UtilityTask(replace(params, steps=7), ctx).steps_for(1600, 8) == 7  # the fixed-length protocol
    assert task.eval_every_for(250) == 50  # 5 evenly spaced checks


def test_pretrain_finetune_starts_from_the_synthetic_arms_weights(tiny, monkeypatch):
    import torch
    import bench.reference.classifier as clf

    ctx, params, gen = tiny
    params = replace(params, arms=["real", "synthetic", "pretrain+finetune"])
    g = gen("holdout", [2])
    seen = []
    real_train = clf.train_classifier
    monkeypatch.setattr(clf, "train_classifier",
                        lambda *a, **k: seen.append((k["desc"], k.get("init_state"))) or real_train(*a, **k))
    out = UtilityTask(params, ctx).evaluate(g)
    weights = torch.load(g.folder / "utility" / "weights" / "utility-breastmnist-synthetic-all-k3-s1.pt",
                         weights_only=True)
    init = dict(seen)["breastmnist pretrain+finetune n=1 k=3 s1"]
    assert init is not None and all(torch.equal(init[k], weights[k]) for k in weights)
    assert dict(seen)["breastmnist synthetic n=None k=3 s1"] is None  # pretraining starts from scratch
    assert "pretrain+finetune" in out["gains"]["1"]["breastmnist"]

    # weights lost but the marker kept: the synthetic cell is trained again (same bytes), not skipped
    (g.folder / "utility" / "weights" / "utility-breastmnist-synthetic-all-k3-s1.pt").unlink()
    seen.clear()
    again = UtilityTask(params, ctx).evaluate(g)
    assert [d for d, _ in seen] == ["breastmnist synthetic n=None k=3 s1"] and again == out


def test_refuses_pretrain_finetune_without_the_synthetic_arm(tiny):
    from bench.errors import BenchError

    ctx, params, _ = tiny
    with pytest.raises(BenchError, match="fine-tunes the synthetic arm"):
        UtilityTask(replace(params, arms=["real", "pretrain+finetune"]), ctx)


def test_quantity_curve_and_sanity_row(tiny, monkeypatch):
    import bench.metrics.utility as ut

    ctx, params, gen = tiny
    params = replace(params, arms=["real", "synthetic", "mixed"], synthetic_counts=[1, 3], sanity_seeds=2)
    out = UtilityTask(params, ctx).evaluate(gen("holdout", [2]))
    q = out["quantity"]
    assert q["budget"] == 1 and q["counts"] == [1, 3]
    assert set(q["per_modality"]["breastmnist"]["synthetic"]) == {"1", "3"}
    # the quantity curve's default count is the synthetic arm itself
    assert (q["per_modality"]["breastmnist"]["synthetic"]["3"]["accuracy"]
            == out["cells"]["1"]["breastmnist"]["synthetic"]["accuracy"])
    assert (q["per_modality"]["breastmnist"]["mixed"]["3"]["accuracy"]
            == out["cells"]["1"]["breastmnist"]["mixed"]["accuracy"])
    # the embedded sample is not MedMNIST's training split: no published figure to hold it to
    s = out["sanity"]["breastmnist"]
    assert s["official_train_images"] == 546 and s["medmnist_resnet18_28"] is None and s["within_bar"] is None
    # on the official split the bar is MedMNIST v2's figure minus 5 points
    monkeypatch.setattr(ut, "official_train_size", lambda subset: int((ctx.dataset.splits["train"].modality == 2).sum()))
    out = UtilityTask(params, ctx).evaluate(gen("holdout", [2]))
    s = out["sanity"]["breastmnist"]
    assert s["n_train"] == int((ctx.dataset.splits["train"].modality == 2).sum()) and len(s["accuracy"]["values"]) == 2
    assert s["medmnist_resnet18_28"] == MEDMNIST_RESNET18_28["breastmnist"]
    assert s["within_bar"] == (s["accuracy"]["mean"] >= MEDMNIST_RESNET18_28["breastmnist"] - 0.05)
    assert s["gap_points"] == pytest.approx(100 * (0.863 - s["accuracy"]["mean"]))
    # every ladder budget is reported, with its training-set size
    assert set(out["ladder"]["breastmnist"]) == {str(n) for n in ctx.budgets}
