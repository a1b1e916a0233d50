"""Findings: each claim's verdict follows its stated rule on crafted results; intervals checked with scipy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import with_columns
from scipy import stats

from bench.report import findings as fd
from bench.report.collection import Entry, Group

MODS = ("bloodmnist", "organamnist")


def entry(name, role, kind="ldm", mods=MODS, budget=None, metrics=None, flops=None, model="ldm-x"):
    return Entry(Path(f"{name}.json"), {
        "generator": {"name": name, "role": role, "kind": kind, "modalities": list(mods), "budget": budget,
                      "spec": {"name": model if kind == "ldm" else name}},
        "suite": {"tasks": {t: {"task": t} for t in ("fidelity", "alignment", "memorisation", "utility", "foundation")}},
        "compute": {"fit": {"train_flops": flops, "wall_s": 10.0}},
        "metrics": with_columns(metrics or {})})


def per_mod(fd_vals, acc_vals, mods=MODS):
    return {"fidelity": {"per_modality": {m: {"fd": v} for m, v in zip(mods, fd_vals)}},
            "alignment": {"per_modality": {m: {"conditional_accuracy": v} for m, v in zip(mods, acc_vals)}}}


def specialists(fd_vals, acc_vals, budget="equal-compute", flops=1.0):
    return [entry(f"ldm-x@{m}", "specialist", mods=(m,), budget=budget, flops=flops,
                  metrics=per_mod([f], [a], (m,))) for m, f, a in zip(MODS, fd_vals, acc_vals)]


@pytest.mark.parametrize("gen_fd, gen_acc, verdict", [
    ((1.0, 2.0), (0.50, 0.60), fd.SUPPORTED),        # lower FD everywhere, accuracy within 0.02
    ((1.0, 2.0), (0.40, 0.60), fd.INCONCLUSIVE),     # lower FD, but accuracy 0.10 below in one modality
    ((3.0, 5.0), (0.90, 0.90), fd.NOT_SUPPORTED),    # higher FD everywhere
    ((1.0, 5.0), (0.90, 0.90), fd.INCONCLUSIVE),     # mixed
])
def test_generalist_vs_specialists(gen_fd, gen_acc, verdict):
    gen = entry("ldm-x", "generalist", metrics=per_mod(gen_fd, gen_acc))
    f = fd.claim_specialists([gen] + specialists((1.5, 2.5), (0.51, 0.60)), gen)
    assert f.verdict == verdict


def test_specialist_claim_gives_conditional_accuracy_a_wilson_interval():
    """The interval comes from the share and the modality's sample count; checked against the closed form
    (p̂ + z²/2n ± z·sqrt(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n)."""
    gen = entry("ldm-x", "generalist", metrics=per_mod((1.0, 2.0), (0.83125, 0.60)))
    gen.result["metrics"]["alignment"]["reference"] = {"n_synthetic": {"bloodmnist": 800}}
    f = fd.claim_specialists([gen] + specialists((1.5, 2.5), (0.51, 0.60)), gen)
    n, p, z = 800, 665 / 800, stats.norm.ppf(0.975)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    lo, hi = [(p + z**2 / (2 * n) + s * half) / (1 + z**2 / n) for s in (-1, 1)]
    assert f"cond. acc. 0.831 [{lo:.3f}, {hi:.3f}] vs 0.510" in f.measured.replace("\\", "")
    assert "organamnist: FD 2.00 vs 2.50 (equal compute) / — (equal steps); cond. acc. 0.600 vs 0.600 / —" in f.measured


def test_compute_claim_sums_the_equal_steps_specialists():
    gen = entry("ldm-x", "generalist", flops=3e12)
    cheap = fd.claim_compute([gen] + specialists((1, 1), (0, 0), "equal-steps", flops=2e12), gen)
    assert cheap.verdict == fd.SUPPORTED and "1.33× the FLOPs" in cheap.measured  # 2 × 2e12 / 3e12
    dear = fd.claim_compute([gen] + specialists((1, 1), (0, 0), "equal-steps", flops=1e12), gen)
    assert dear.verdict == fd.NOT_SUPPORTED
    assert fd.claim_compute([gen], gen).verdict == "not measured"
    one = specialists((1, 1), (0, 0), "equal-steps", flops=2e12)[:1]  # a specialist for one modality only
    partial = fd.claim_compute([gen] + one, gen)
    assert partial.verdict == "not measured" and "no equal-steps specialist yet for" in partial.why
    one_c = specialists((1.5, 2.5), (0.51, 0.60))[:1]
    partial = fd.claim_specialists([gen] + one_c, gen)
    assert partial.verdict == "not measured" and "no equal-compute specialist yet for" in partial.why


def test_compute_wall_time_is_the_training_time_over_every_process():
    """A fit resumed (or adopted from another run's checkpoints) reports its own call's wall_s; the
    training time summed over all processes is train_wall_s, and that is what the claim compares."""
    from bench.report.values import training_compute

    resumed = {"compute": {"fit": {"train_flops": 5.0, "wall_s": 1764.0, "train_wall_s": 2749.0}}}
    assert training_compute(resumed) == (5.0, 2749.0)
    assert training_compute({"compute": {"fit": {"wall_s": 12.0}}}) == (None, 12.0)  # baselines
    assert training_compute({}) == (None, None)
    gen = entry("ldm-x", "generalist", flops=3e12)
    gen.result["compute"]["fit"]["train_wall_s"] = 600.0
    specs = specialists((1, 1), (0, 0), "equal-steps", flops=3e12)
    for s, t in zip(specs, (500.0, 700.0)):
        s.result["compute"]["fit"]["train_wall_s"] = t
    measured = fd.claim_compute([gen] + specs, gen).measured
    assert "10 min" in measured and "20 min" in measured and "· 10 s" not in measured


def pooled(task, key, v, ci):
    return {task: {"pooled": {key: v, f"{key}_ci": list(ci)}}}


@pytest.mark.parametrize("gen_ci, verdict", [((0.30, 0.40), fd.SUPPORTED), ((0.10, 0.30), fd.NOT_SUPPORTED)])
def test_alignment_above_noise(gen_ci, verdict):
    gen = entry("ldm-x", "generalist", metrics=pooled("alignment", "conditional_accuracy", sum(gen_ci) / 2, gen_ci))
    hold = entry("holdout", "baseline", "holdout", metrics=pooled("alignment", "conditional_accuracy", 0.9, (0.85, 0.95)))
    noise = entry("noise", "baseline", "noise", metrics=pooled("alignment", "conditional_accuracy", 0.05, (0.0, 0.2)))
    f = fd.claim_alignment([gen, hold, noise], gen)
    assert f.verdict == verdict
    gap = (sum(gen_ci) / 2 - 0.05) / (0.9 - 0.05)
    assert f"{gap:.0%} of the noise→holdout gap" in f.measured


@pytest.mark.parametrize("gen_ci, mem_ci, verdict", [
    ((0.0, 0.02), (0.9, 1.0), fd.SUPPORTED),
    ((0.0, 0.02), (0.0, 0.02), fd.INCONCLUSIVE),   # the memoriser is not caught: no power
    ((0.2, 0.3), (0.9, 1.0), fd.NOT_SUPPORTED),
])
def test_memorisation(gen_ci, mem_ci, verdict):
    def e(name, role, kind, ci):
        return entry(name, role, kind, metrics=pooled("memorisation", "near_copy_rate", sum(ci) / 2, ci))

    gen = e("ldm-x", "generalist", "ldm", gen_ci)
    f = fd.claim_memorisation([gen, e("holdout", "baseline", "holdout", (0.005, 0.03)),
                               e("memoriser", "baseline", "memoriser", mem_ci)], gen)
    assert f.verdict == verdict


def test_utility_per_budget_and_arm():
    def cell(ci):
        return {"accuracy": {"mean": sum(ci) / 2, "ci": list(ci), "p_value": 0.01}}

    gains = {"1": {"pooled": {"synthetic": cell((0.01, 0.05)), "mixed": cell((-0.01, 0.02))}},
             "20": {"pooled": {"synthetic": cell((-0.05, -0.01)), "mixed": cell((0.0, 0.0))}}}
    gen = entry("ldm-x", "generalist", metrics={"utility": {"gains": gains}})
    got = [(f.number, f.verdict) for f in fd.claim_utility(gen)]
    assert got == [("5a", fd.SUPPORTED), ("5b", fd.INCONCLUSIVE), ("5c", fd.NOT_SUPPORTED), ("5d", fd.INCONCLUSIVE)]
    hold = entry("holdout", "baseline", "holdout", metrics={"utility": {"gains": {
        "1": {"pooled": {"synthetic": {"accuracy": {"mean": 0.25}}}}}}})
    with_ceiling = fd.claim_utility(gen, hold)
    assert "(holdout +0.250)" in with_ceiling[0].measured and "holdout" not in with_ceiling[1].measured


def test_foundation_paired_difference_against_scipy():
    syn, real = [0.50, 0.47, 0.52], [0.49, 0.49, 0.50]
    probes = {"synthetic": {"1%": {"linear_accuracy": {"mean": np.mean(syn), "values": syn}}},
              "real": {"1%": {"linear_accuracy": {"mean": np.mean(real), "values": real}}}}
    gen = entry("ldm-x", "generalist", metrics={"foundation": {"probes": probes}})
    (f,) = fd.claim_foundation(gen)
    d = np.subtract(syn, real)
    lo, hi = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    mean, ci = fd._paired(syn, real)
    assert mean == pytest.approx(d.mean()) and ci == pytest.approx((lo, hi))
    assert f.verdict == (fd.SUPPORTED if lo > -0.02 else fd.NOT_SUPPORTED if hi < -0.02 else fd.INCONCLUSIVE)
    assert fd.claim_foundation(entry("ldm-x", "generalist"))[0].verdict == "not measured"
    hold = entry("holdout", "baseline", "holdout", metrics={"foundation": {"probes": {
        "synthetic": {"1%": {"linear_accuracy": {"mean": 0.61}}}}}})
    (f,) = fd.claim_foundation(gen, hold)
    assert "(holdout: 0.610)" in f.measured


def test_findings_of_a_group_without_a_generalist_say_not_measured():
    out = fd.findings(Group(("1",), [entry("holdout", "baseline", "holdout")]))
    assert out and all(f.verdict == "not measured" for f in out)


def _regime_entry(arms: dict[str, list[float]], equivalent: dict | None = None):
    cells = {"5": {"pooled": {arm: {"accuracy": {"mean": float(np.mean(v)), "values": v}} for arm, v in arms.items()}}}
    u = {"cells": cells, "equivalent": {"5": {"pooled": {"mixed": equivalent}}} if equivalent else {}}
    return entry("ldm-x", "generalist", metrics={"utility": u})


def test_synthetic_against_the_better_augmentation_is_a_paired_t_interval():
    mixed, weak, strong = [0.70, 0.74, 0.72, 0.69, 0.75], [0.60, 0.66, 0.61, 0.62, 0.64], [0.65, 0.70, 0.66, 0.64, 0.71]
    gen = _regime_entry({"real": [0.5] * 5, "real+augment": weak, "real+strong": strong, "mixed": mixed})
    f = next(f for f in fd.claim_regimes(gen) if f.number == "7a")
    d = np.subtract(mixed, strong)  # strong augmentation has the higher mean: the alternative to beat
    lo, hi = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    assert "strong augmentation" in f.claim and f.verdict == (fd.SUPPORTED if lo > 0 else fd.INCONCLUSIVE)
    assert f"{d.mean():+.3f}" in f.measured and f"[{lo:.3f}, {hi:.3f}]" in f.measured.replace("\\", "")
    # an alternative at least as good as mixing: not "supported"
    worse = _regime_entry({"real": [0.5] * 5, "real+augment": weak, "real+strong": [v + 0.1 for v in mixed],
                           "mixed": mixed})
    assert next(f for f in fd.claim_regimes(worse) if f.number == "7a").verdict == fd.NOT_SUPPORTED


@pytest.mark.parametrize("pft, verdict", [([0.80, 0.82, 0.81], fd.SUPPORTED), ([0.60, 0.62, 0.61], fd.NOT_SUPPORTED),
                                          ([0.70, 0.80, 0.66], fd.INCONCLUSIVE)])
def test_pretrain_finetune_against_mixing(pft, verdict):
    gen = _regime_entry({"real": [0.5] * 3, "mixed": [0.70, 0.72, 0.71], "pretrain+finetune": pft})
    assert next(f for f in fd.claim_regimes(gen) if f.number == "8a").verdict == verdict


@pytest.mark.parametrize("eq, verdict", [
    ({"n_real": 15.0, "multiplier": 3.0, "multiplier_ci": [2.2, 4.1], "status": "within"}, fd.SUPPORTED),
    ({"n_real": 7.0, "multiplier": 1.4, "multiplier_ci": [1.1, 1.8], "status": "within"}, fd.NOT_SUPPORTED),
    ({"n_real": 9.0, "multiplier": 1.8, "multiplier_ci": [1.2, 2.6], "status": "within"}, fd.INCONCLUSIVE),
    # past the ladder's top the interval is a lower bound: an upper bound under 2 proves nothing
    ({"n_real": 9.0, "multiplier": 1.8, "multiplier_ci": [1.5, 1.9], "status": "beyond"}, fd.INCONCLUSIVE),
])
def test_real_data_equivalent_of_twice_the_budget(eq, verdict):
    gen = _regime_entry({"real": [0.5] * 3, "mixed": [0.7] * 3}, equivalent=eq)
    f = next(f for f in fd.claim_regimes(gen) if f.number == "9a")
    assert f.verdict == verdict and f"{eq['multiplier']:.2f}×" in f.measured


def _family(name, kind, gains, train_s, ae_s=None, sample_s=0.0):
    ci = list(stats.t.interval(0.95, len(gains) - 1, loc=np.mean(gains), scale=stats.sem(gains)))
    u = {"gains": {"1": {"pooled": {"mixed": {"accuracy": {"mean": float(np.mean(gains)), "ci": ci, "values": gains}}}},
                   "5": {"pooled": {"mixed": {"accuracy": {"mean": 0.0, "ci": [-1, 1], "values": [0.0] * len(gains)}}}}}}
    e = entry(name, "generalist", kind, metrics={"utility": u})
    e.result["compute"] = {"fit": {"train_wall_s": train_s, **({"autoencoder": {"train_wall_s": ae_s}} if ae_s else {})},
                           "sample": {"sampling_wall_s": sample_s}}
    return e


def test_family_per_cpu_hour_is_the_seed_paired_gain_over_the_datas_hours():
    ldm = [0.30, 0.34, 0.31, 0.36, 0.33]
    pix = [0.20, 0.26, 0.22, 0.25, 0.21]
    entries = [_family("ldm-x", "ldm", ldm, 3000.0, ae_s=600.0),  # 3,600 s: 1 h with its autoencoder
               _family("pix-x", "pixel-diffusion", pix, 5400.0, sample_s=1800.0),  # 2 h with sampling
               _family("ldm-x+lr=1", "ldm", [0.9, 0.8, 0.85, 0.95, 0.9], 1.0),  # an ablation variant: not its family's row
               entry("holdout", "baseline", "holdout")]
    f = fd.claim_families(entries)
    d = np.asarray(ldm) / 1.0 - np.asarray(pix) / 2.0
    lo, hi = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    assert f.number == "10" and f.verdict == fd.SUPPORTED and lo > 0
    assert f"by {d.mean():+.3f}/h [{lo:.3f}, {hi:.3f}]" in f.measured.replace("\\", "").replace("−", "-")
    assert "ldm-x (ldm)" in f.measured.split(";")[0] and "1.00 h" in f.measured and "2.00 h" in f.measured
    assert "ldm-x+lr=1" not in f.measured
    # slower per hour but more useful data is not enough: the pixel model would lead per hour if it were 4x faster
    fast_pix = [_family("pix-x", "pixel-diffusion", pix, 450.0)]
    assert fd.claim_families(entries[:1] + fast_pix).measured.split(": ", 1)[1].startswith("pix-x")
    # no family's data helps at the smallest budget: not supported
    hurt = [_family("ldm-x", "ldm", [-0.1, -0.12, -0.09], 3600.0), _family("pix-x", "pixel-diffusion", [-0.2, 0.1, 0.0], 3600.0)]
    assert fd.claim_families(hurt).verdict == fd.NOT_SUPPORTED
    # two families whose per-hour values overlap: inconclusive; one family: not measured
    close = [_family("ldm-x", "ldm", ldm, 3600.0), _family("pix-x", "pixel-diffusion", [0.36, 0.29, 0.35, 0.30, 0.33], 3600.0)]
    assert fd.claim_families(close).verdict == fd.INCONCLUSIVE
    assert fd.claim_families(entries[:1]).verdict == "not measured"


def test_the_generalist_is_the_first_declared_model_not_the_first_name():
    """Another family's generalist whose name sorts first (latent-flow-small before ldm-small) does not
    become the subject of the findings: the suite spec's [generators] models order decides."""
    from bench.report.collection import generalist

    a, b = entry("aa-flow", "generalist", kind="latent-flow"), entry("ldm-x", "generalist")
    variant = entry("ldm-x+seed=1", "generalist")
    for e in (a, b, variant):
        e.result["suite"]["spec"] = {"generators": {"models": ["noise", "ldm-x", "aa-flow"]}}
    assert generalist([a, variant, b]).name == "ldm-x"
    for e in (a, b):  # without the declaration: the first generalist row, as before
        del e.result["suite"]["spec"]
    assert generalist([a, b]).name == "aa-flow"
    assert generalist([entry("noise", "baseline")]) is None
