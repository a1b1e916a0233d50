"""The end-to-end run of the smoke suite: every generator scored on every task, published, rendered."""

from __future__ import annotations

import pytest

from bench.results import read_result

GENERATORS = ["holdout", "memoriser", "noise", "ldm-tiny"] + [
    f"ldm-tiny@{m}{s}" for m in ("bloodmnist", "organamnist", "breastmnist") for s in ("", "-eqcompute")]
TASKS = {"fidelity", "alignment", "memorisation", "diversity", "utility", "foundation"}


@pytest.fixture(scope="module")
def published(smoke_runs):
    boards = smoke_runs.parent / "leaderboards" / "smoke"
    return boards, {g: read_result(boards / "results" / f"{g}.json") for g in GENERATORS}


def test_every_generator_has_every_task(published):
    _, results = published
    for name, r in results.items():
        assert set(r["metrics"]) == set(TASKS), name
        assert set(r["reference"]) == {"clip", "classifier"}
        assert r["metrics"]["fidelity"]["pooled"]["fd"] >= 0
    assert {r["reference"]["clip"] for r in results.values()} == {results["holdout"]["reference"]["clip"]}
    assert "probes" in results["ldm-tiny"]["metrics"]["foundation"]
    assert "skipped" in results["noise"]["metrics"]["foundation"]
    dist = results["noise"]["metrics"]["memorisation"]["distances"]
    assert len(dist["synthetic"]) == 21 * 20 and len(dist["heldout"]) == 420


def test_compute_is_measured_generalist_vs_specialists(published):
    _, results = published
    gen = results["ldm-tiny"]["compute"]["fit"]
    assert gen["train_flops"] > 0 and gen["steps"] > 0 and gen["unet_parameters"] > 0
    eq_compute = sum(results[f"ldm-tiny@{m}-eqcompute"]["compute"]["fit"]["train_flops"]
                     for m in ("bloodmnist", "organamnist", "breastmnist"))
    eq_steps = sum(results[f"ldm-tiny@{m}"]["compute"]["fit"]["train_flops"]
                   for m in ("bloodmnist", "organamnist", "breastmnist"))
    assert eq_compute == pytest.approx(gen["train_flops"], rel=0.05)  # equal total compute, by construction
    assert eq_steps == pytest.approx(3 * gen["train_flops"], rel=0.05)
    assert results["ldm-tiny"]["compute"]["sample"]["flops"] > 0
    assert results["ldm-tiny@bloodmnist"]["generator"]["modalities"] == ["bloodmnist"]


def test_leaderboard_and_figures_are_rendered(published):
    boards, _ = published
    table = (boards / "README.md").read_text()
    for g in GENERATORS:
        assert g in table
    html = (boards / "index.html").read_text()
    assert "<table" in html and "ldm-tiny@breastmnist-eqcompute" in html
    figures = {p.stem for p in (boards / "figures").glob("*.png")}
    assert {"fd_per_modality", "utility_gain", "memorisation_distances", "alignment_per_modality", "foundation_probes",
            "samples_bloodmnist", "memorisation_closest_pairs", "training_curve"} <= figures
