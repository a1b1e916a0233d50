"""Variant rows ([generators] variants: kept checkpoints, guidance scales, training seeds) and the
generator-seed spread that claims 1 and 5 use."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import cut_smoke_spec, with_columns
from scipy import stats

from bench.errors import BenchError
from bench.report import findings as fd
from bench.report.collection import Entry, Group
from bench.report.spread import distinguishable, seed_replicas, spread

MODS = ("bloodmnist", "organamnist")


def entry(name, role="generalist", seed=None, variant_of=None, mods=MODS, budget=None, metrics=None, params=None):
    params = dict(params or {"steps": 100})
    if seed is not None:
        params["seed"] = seed
    g = {"name": name, "role": role, "kind": "ldm", "modalities": list(mods), "budget": budget,
         "spec": {"name": name.split("+")[0].split("@")[0], "kind": "ldm", "params": params}}
    if variant_of:
        g["variant_of"] = variant_of
    return Entry(Path(f"{name}.json"), {
        "generator": g, "compute": {"fit": {"wall_s": 1.0}},
        "suite": {"tasks": {t: {"task": t} for t in ("fidelity", "alignment", "utility")}},
        "metrics": with_columns(metrics or {})})


def gains(mixed: float, ci: tuple[float, float]) -> dict:
    return {"utility": {"gains": {"1": {"pooled": {"mixed": {"accuracy": {"mean": mixed, "ci": list(ci), "p_value": 0.01}},
                                                   "synthetic": {"accuracy": {"mean": mixed, "ci": list(ci)}}}}}}}


def test_seed_spread_is_a_t_interval_over_training_seeds():
    values = [0.10, 0.02, 0.06]
    runs = [entry("g", metrics=gains(values[0], (0.08, 0.12)))] + [
        entry(f"g+seed={s}", "variant", seed=s, variant_of="g", metrics=gains(v, (v - 0.02, v + 0.02)))
        for s, v in ((2, values[2]), (1, values[1]))]
    other = entry("g+guidance_scale=5", "variant", variant_of="g", params={"steps": 100, "guidance_scale": 5})
    reps = seed_replicas([runs[0]], runs[1:] + [other])
    assert [e.name for e in reps["g"]] == ["g", "g+seed=1", "g+seed=2"]  # not the guidance variant
    sp = spread(reps["g"], lambda e: fd.utility_gain(e.result, "mixed", "pooled", budget="1")[0])
    assert sp.seeds == [0, 1, 2] and sp.values == [0.10, 0.02, 0.06]
    mean, sd = np.mean(values), np.std(values, ddof=1)
    half = stats.t.ppf(0.975, 2) * sd / np.sqrt(3)
    assert sp.mean == pytest.approx(mean) and sp.ci == pytest.approx((mean - half, mean + half))
    assert spread(reps["g"][:1], lambda e: 1.0).ci is None  # one seed: no interval, no verdict
    assert distinguishable(sp, spread(reps["g"][:1], lambda e: 1.0)) is None


def test_seed_spread_follows_the_declared_unit():
    """A multiple is averaged on the log scale (geometric mean, interval of the logs exponentiated: it
    stays positive); a share's interval is clipped to [0, 1], a Fréchet distance's to [0, ∞); a unit
    without a range keeps the plain t interval."""
    runs = [entry("g")] + [entry(f"g+seed={s}", "variant", seed=s, variant_of="g") for s in (1, 2)]
    multiples = [30.0, 5.0, 12.0]
    sp = spread(runs, lambda e: multiples[runs.index(e)], "×")
    logs = np.log(multiples)
    half = stats.t.ppf(0.975, 2) * np.std(logs, ddof=1) / np.sqrt(3)
    assert sp.mean == pytest.approx(stats.gmean(multiples))
    assert sp.ci == pytest.approx((np.exp(logs.mean() - half), np.exp(logs.mean() + half)))
    assert sp.ci[0] > 0 and spread(runs, lambda e: multiples[runs.index(e)]).ci[0] < 0  # plain t: below 0
    shares = [0.95, 0.40, 0.99]
    share = spread(runs, lambda e: shares[runs.index(e)], "share")
    plain = spread(runs, lambda e: shares[runs.index(e)])
    assert plain.ci[1] > 1 and share.ci == pytest.approx((max(plain.ci[0], 0.0), 1.0)) and share.mean == pytest.approx(plain.mean)
    fds = [0.01, 0.30, 0.02]
    assert spread(runs, lambda e: fds[runs.index(e)], "squared chord units").ci[0] == 0.0
    assert spread(runs, lambda e: fds[runs.index(e)], "fraction points").ci[0] < 0  # a gain may be negative


def test_pooled_seed_sd_and_the_distinguishable_difference():
    """s² pools the within-row sums of squares over Σ (n − 1) degrees of freedom (checked against a one-way
    ANOVA's within-group mean square); the threshold is t · s · √(1/n₁ + 1/n₂)."""
    from bench.report.spread import SeedSpread, difference_threshold, pooled_seed_sd

    groups = [[0.30, 0.28, 0.33], [0.44, 0.46], [0.10]]
    spreads = [SeedSpread("r", list(range(len(v))), v, float(np.mean(v)), None) for v in groups]
    sd, df = pooled_seed_sd(spreads)
    within = sum(((np.asarray(v) - np.mean(v)) ** 2).sum() for v in groups) / (3 + 2 - 2)
    assert df == 3 and sd == pytest.approx(np.sqrt(within))
    assert pooled_seed_sd(spreads[2:]) is None  # one seed: nothing to pool
    assert difference_threshold(0.01, 4) == pytest.approx(stats.t.ppf(0.975, 4) * 0.01 * np.sqrt(2))
    assert difference_threshold(0.01, 4, 2, 1) == pytest.approx(stats.t.ppf(0.975, 4) * 0.01 * np.sqrt(1.5))


def test_the_pooled_table_says_which_rows_the_training_noise_separates():
    from bench.report.leaderboard import _training_noise, columns

    def headline(v):  # the utility task's pooled headline column
        return {"utility": {"pooled": {"gain_mixed_acc": v, "gain_mixed_acc_ci": [v - 0.02, v + 0.02]}}}

    g = entry("g", metrics=headline(0.30))
    reps = [entry(f"g+seed={s}", "variant", seed=s, variant_of="g", metrics=headline(v)) for s, v in ((1, 0.32), (2, 0.31))]
    close, far = entry("close", metrics=headline(0.29)), entry("far", metrics=headline(0.10))
    group = Group(("v",), [g, close, far], variants=reps)
    para = _training_noise(group, [g, close, far], columns([g, close, far]))
    words = "".join(t for _, t in para.spans)
    sd = np.std([0.30, 0.32, 0.31], ddof=1)
    assert f"standard deviation of {sd:.3f}" in words and "(2 degrees of freedom" in words
    assert "first row, g (+0.310)" in words  # its mean over its three seeds
    assert "Not distinguishable from the first row, g (+0.310): close (+0.290); distinguishable from it: far (+0.100)." in words
    assert _training_noise(Group(("v",), [g, close, far]), [g, close, far], columns([g, close, far])) is None  # no replicas


def test_claim_5_takes_the_interval_over_training_seeds():
    """Each run's classifier-seed interval lies above 0, but the gain moves from run to run: over the
    three training seeds the interval contains 0, and the verdict says so."""
    gen = entry("g", metrics=gains(0.10, (0.08, 0.12)))
    reps = [entry(f"g+seed={s}", "variant", seed=s, variant_of="g", metrics=gains(v, (v - 0.01, v + 0.01)))
            for s, v in ((1, 0.01), (2, 0.05))]
    alone = fd.claim_utility(gen)
    assert alone[0].verdict == fd.SUPPORTED
    group = Group(("v",), [gen], variants=reps)
    five = [f for f in fd.findings(group) if f.number.startswith("5")]
    assert five[0].verdict == fd.INCONCLUSIVE and "over 3 training seeds +0.053" in five[0].measured
    assert five[0].why == "interval over training seeds contains 0"


def per_mod(fd_vals, acc_vals, mods=MODS):
    return {"fidelity": {"per_modality": {m: {"fd": v} for m, v in zip(mods, fd_vals)}},
            "alignment": {"per_modality": {m: {"conditional_accuracy": v} for m, v in zip(mods, acc_vals)}}}


def test_claim_1_counts_a_difference_inside_the_seed_spread_as_a_match():
    """On blood the generalist's FD is higher than the specialist's in the seed-0 runs, but the training
    seeds overlap: not distinguishable, so it matches; on organ it is distinguishably lower."""
    gen = entry("g", seed=0, metrics=per_mod((1.2, 1.0), (0.5, 0.5)))
    gen_reps = [entry(f"g+seed={s}", "variant", seed=s, variant_of="g", metrics=per_mod((f, o), (0.5, 0.5)))
                for s, f, o in ((1, 0.9, 1.01), (2, 1.05, 0.99))]
    specs, spec_reps = [], []
    for m, f0, fs in (("bloodmnist", 1.0, (1.1, 0.95)), ("organamnist", 2.0, (2.1, 1.95))):
        name = f"g@{m}-eqcompute"
        specs.append(entry(name, "specialist", mods=(m,), budget="equal-compute", metrics=per_mod((f0,), (0.5,), (m,))))
        spec_reps += [entry(f"{name}+seed={s}", "specialist", seed=s, variant_of=name, mods=(m,),
                            budget="equal-compute", metrics=per_mod((f,), (0.5,), (m,))) for s, f in zip((1, 2), fs)]
    for e in spec_reps:
        e.result["generator"]["role"] = "variant"
    without = fd.claim_specialists([gen] + specs, gen)
    assert without.verdict == fd.INCONCLUSIVE  # seed 0 alone: worse on blood, better on organ
    f = fd.claim_specialists([gen] + specs, gen, gen_reps + spec_reps)
    assert f.verdict == fd.SUPPORTED, f.why
    assert "over 3 / 3 training seeds: not distinguishable" in f.measured
    assert "over 3 / 3 training seeds: distinguishable" in f.measured  # organ: 1.0 vs 2.0
    assert "in 2 by the means over training seeds" in f.why


def test_suite_variants_become_rows(spec_home, smoke_dataset):
    from bench.run import entry_tasks, generator_entries
    from bench.specs import load_suite

    path = spec_home / "tasks" / "smoke.toml"
    text = path.read_text()
    anchor = 'specialist_suites = true'

    def with_variants(*names: str) -> None:
        path.write_text(text.replace(anchor, anchor + "\nvariants = [" + ", ".join(f'"{n}"' for n in names) + "]"))

    with_variants("ldm-tiny+guidance_scale=5", "ldm-tiny@bloodmnist-eqcompute+seed=1+steps=20", "memoriser+sigma=8")
    spec = load_suite("smoke")
    rows = {e.name: e for e in generator_entries(spec, smoke_dataset)}
    v = rows["ldm-tiny@bloodmnist-eqcompute+seed=1+steps=20"]
    base = rows["ldm-tiny@bloodmnist-eqcompute"]
    assert v.role == "variant" and v.variant_of == base.name and v.modalities == base.modalities
    assert v.budget_scale == base.budget_scale and v.model.params == {**base.model.params, "seed": 1, "steps": 20}
    assert rows["ldm-tiny+guidance_scale=5"].model.params["guidance_scale"] == 5
    assert rows["memoriser+sigma=8"].model.params == {"sigma": 8}

    class T:
        def __init__(self, name):
            self.spec = type("S", (), {"name": name, "task": name})

    assert [t.spec.name for t in entry_tasks(v, spec, [T(n) for n in spec.tasks])] == \
        [n for n in spec.tasks if n != "foundation"]

    for bad, message in (("ldm-tiny+guidance=5", "'guidance' is not a parameter of 'ldm-tiny'"),
                         ("ldm-big+seed=1", "'ldm-big', which is not a generalist"),
                         ("ldm-tiny@specialists+seed=1", "a suite of specialists varies through its members"),
                         ("ldm-tiny seed=1", "distinct names ROW\\+KEY=VALUE")):
        with_variants(bad)
        with pytest.raises(BenchError, match=message):
            load_suite("smoke")
    with_variants("ldm-tiny@dermamnist+seed=1")  # the modality is known only with the data
    with pytest.raises(BenchError, match="'ldm-tiny@dermamnist', which is not a row of this suite"):
        generator_entries(load_suite("smoke"), smoke_dataset)


def test_variants_run_publish_and_render_their_section(spec_home, tmp_path):
    """A variant row (the memoriser with 10x the pixel noise) runs the suite's tasks, is published with
    role "variant" and the row it varies, stays out of the ranked tables and is a cell of metric validity."""
    from bench.io import read_json
    from bench.report import render_all
    from bench.report.collection import load_collection
    from bench.run import RunOptions, run_suite

    cut_smoke_spec(spec_home, ["fidelity"], 'models = ["holdout", "memoriser"]\nvariants = ["memoriser+sigma=20"]')
    runs, pub = tmp_path / "runs", tmp_path / "pub"
    run_suite("smoke", RunOptions(runs, publish_dir=pub, device="cpu"), log=lambda m: None)
    r = read_json(pub / "smoke" / "results" / "memoriser+sigma=20.json")
    assert r["generator"]["role"] == "variant" and r["generator"]["variant_of"] == "memoriser"
    assert r["generator"]["spec"]["params"]["sigma"] == 20
    base = read_json(pub / "smoke" / "results" / "memoriser.json")
    fd_of = lambda x: x["metrics"]["fidelity"]["pooled"]["fd"]  # noqa: E731
    assert fd_of(r) > fd_of(base)  # 10x the noise is further from the real images
    coll = load_collection("smoke", pub)
    assert sorted(e.name for e in coll.main.entries) == ["holdout", "memoriser"]
    assert [e.name for e in coll.main.variants] == ["memoriser+sigma=20"]
    render_all("smoke", pub, out=lambda m: None)
    readme = (pub / "smoke" / "README.md").read_text()
    ranked, variants = readme.split("## Variants and generator-seed spread")
    assert "memoriser+sigma=20" not in ranked and "memoriser+sigma=20" in variants
    assert "Generator-seed spread" not in variants  # no seed replicas
    assert 'id="variants"' in (pub / "smoke" / "index.html").read_text()
