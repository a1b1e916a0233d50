"""The suite of specialists: one row per model and budget rule, each prompt answered by its modality's
specialist. Its images are the specialists' own, its per-modality numbers theirs (its utility cells are
reused, not retrained), its compute their sum, and it is ranked in the pooled table beside the
generalist while the per-modality tables keep the specialists."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from bench.data.sample_set import read_sample_set
from bench.errors import BenchError
from bench.results import read_result

MODS = ("bloodmnist", "organamnist", "breastmnist")


@pytest.fixture
def suite_spec(spec_home):
    """Smoke with fidelity and a 2-step utility task; noise as the specialists' model, and no other row
    (a classifier's progress label names its modality, arm, budget and seed, not its generator)."""
    path = spec_home / "tasks" / "smoke.toml"
    text = path.read_text().split("\n[overrides.")[0]
    text = re.sub(r"^tasks = \[.*?\]", 'tasks = ["fidelity", "utility"]', text, flags=re.M)
    text = re.sub(r"^models = .*$", 'models = []', text, flags=re.M)
    text = re.sub(r"^specialists = .*$", 'specialists = ["noise"]', text, flags=re.M)
    text = re.sub(r"^specialist_suites = .*$", "specialist_suites = true", text, flags=re.M)
    text = re.sub(r"^specialist_budgets = .*$", 'specialist_budgets = ["equal-steps"]', text, flags=re.M)
    text = re.sub(r"^budgets = .*$", "budgets = [1, 5]", text, flags=re.M)  # a short real ladder
    text += ('\n[overrides.utility]\nsteps = 2\neval_every = 2\nseeds = 2\nbudgets = [1]\nsynthetic_per_class = 3\n'
             'arms = ["real", "synthetic", "mixed"]\nsanity_seeds = 0\n')
    path.write_text(text)
    return spec_home


def test_a_suite_of_specialists_is_its_specialists_together(suite_spec, tmp_path, monkeypatch):
    import bench.reference.classifier as clf
    from bench.report import render_all
    from bench.run import RunOptions, run_suite

    trained, real_train = [], clf.train_classifier
    monkeypatch.setattr(clf, "train_classifier", lambda *a, **k: trained.append(k["desc"]) or real_train(*a, **k))
    boards = tmp_path / "lb"
    paths = run_suite("smoke", RunOptions(tmp_path / "runs", device="cpu", publish_dir=boards), log=lambda m: None)
    names = [p.parent.name for p in paths if p.parent.name != "results"]
    assert names == [*(f"noise@{m}" for m in MODS), "noise@specialists"]  # members before their suite
    assert len(trained) == len(set(trained))  # no classifier trained twice: the suite reused its members' cells

    res = {n: read_result(tmp_path / "runs" / "smoke" / n / "result.json") for n in names}
    suite = res["noise@specialists"]
    assert suite["generator"]["role"] == "specialist-suite" and suite["generator"]["modalities"] == list(MODS)
    assert sorted(suite["compute"]["fit"]["members"]) == sorted(f"noise@{m}" for m in MODS)
    images, texts, seeds, _ = read_sample_set(boards / "smoke" / suite["samples"]["file"], suite["samples"]["sha256"])
    for m in MODS:
        mi, mt, ms, _ = read_sample_set(boards / "smoke" / f"samples/noise@{m}.npz")
        rows = [i for i, t in enumerate(texts) if t in set(mt)]
        assert np.array_equal(images[rows], mi) and [texts[i] for i in rows] == mt and [seeds[i] for i in rows] == ms
        member = res[f"noise@{m}"]["metrics"]
        for task in ("fidelity", "utility"):  # per modality, the suite's numbers are its specialist's
            if task == "utility":
                mine = json.dumps(suite["metrics"][task]["cells"]["1"][m], sort_keys=True)
                assert mine == json.dumps(member[task]["cells"]["1"][m], sort_keys=True)
            else:
                assert suite["metrics"][task]["per_modality"][m]["fd"] == pytest.approx(
                    member[task]["per_modality"][m]["fd"], rel=1e-9)
    pooled = np.mean([res[f"noise@{m}"]["metrics"]["utility"]["gains"]["1"][m]["mixed"]["accuracy"]["mean"]
                      for m in MODS])
    assert suite["metrics"]["utility"]["gains"]["1"]["pooled"]["mixed"]["accuracy"]["mean"] == pytest.approx(pooled)

    render_all("smoke", boards, out=lambda m: None)
    md = (boards / "smoke" / "README.md").read_text()
    pooled_table = md.split("## Leaderboard")[1].split("\n## ")[0]
    assert "| noise@specialists | suite of specialists (equal-steps) | noise |" in pooled_table  # members' family
    assert "| noise@bloodmnist |" not in pooled_table
    blood = md.split("## Modality: bloodmnist")[1].split("\n## ")[0]
    assert "noise@bloodmnist" in blood and "noise@specialists" not in blood

    # resumed: nothing is redone, the suite's samples are the same file
    trained.clear()
    again = run_suite("smoke", RunOptions(tmp_path / "runs", device="cpu", publish_dir=boards), log=lambda m: None)
    assert trained == [] and len(again) == len(paths)
    assert read_result(tmp_path / "runs" / "smoke" / "noise@specialists" / "result.json")["samples"] == suite["samples"]

    # --fit-only on the suite row fits (here: finds fitted) its members and samples nothing
    sample_dirs = {n: (tmp_path / "runs" / "smoke" / n / "samples").stat().st_mtime_ns for n in names}
    said = []
    run_suite("smoke", RunOptions(tmp_path / "runs", device="cpu", only=["noise@specialists"], fit_only=True),
              log=said.append)
    assert any("noise@specialists] fit: its 3 members' fits" in m for m in said)
    assert not any("] sample " in m for m in said)
    assert {n: (tmp_path / "runs" / "smoke" / n / "samples").stat().st_mtime_ns for n in names} == sample_dirs


def test_a_suite_whose_member_is_not_a_row_of_the_suite_is_refused(suite_spec, smoke_dataset):
    import dataclasses

    from bench.run import generator_entries, member_entries
    from bench.specs import load_suite
    from bench.stages import SuiteContext

    spec = load_suite("smoke")
    entry = next(e for e in generator_entries(spec, smoke_dataset) if e.role == "specialist-suite")
    bad = dataclasses.replace(entry, model=dataclasses.replace(entry.model, params={"members": ["noise@chestmnist"]}))
    with pytest.raises(BenchError, match="noise@chestmnist"):
        member_entries(bad, SuiteContext(spec, smoke_dataset, suite_spec / "runs"))


def test_a_model_can_have_its_own_budget_rules(spec_home, smoke_dataset):
    """`[generators.specialist_budgets_by_model]`: another family trained only as equal-compute specialists
    beside the generalist's two rules; its suite of specialists follows its own rules; bad tables are refused."""
    from bench.errors import BenchError
    from bench.run import generator_entries
    from bench.specs import load_suite

    path = spec_home / "tasks" / "smoke.toml"
    base = path.read_text()
    text = re.sub(r"^specialists = .*$", 'specialists = ["ldm-tiny", "pixel-diffusion-tiny"]', base, flags=re.M)
    text = re.sub(r"^specialist_budgets = .*$", 'specialist_budgets = ["equal-steps", "equal-compute"]', text, flags=re.M)
    text = re.sub(r"^specialist_suites = .*$", "specialist_suites = true", text, flags=re.M)
    by_model = '\n[generators.specialist_budgets_by_model]\npixel-diffusion-tiny = ["equal-compute"]\n'
    path.write_text(text.replace("\n[overrides.", by_model + "\n[overrides.", 1))
    names = [e.name for e in generator_entries(load_suite("smoke"), smoke_dataset)]
    mods = [m.key for m in smoke_dataset.modalities]
    assert [n for n in names if n.startswith("pixel-diffusion-tiny@")] == \
        [f"pixel-diffusion-tiny@{m}-eqcompute" for m in mods] + ["pixel-diffusion-tiny@specialists-eqcompute"]
    assert {f"ldm-tiny@{m}{s}" for m in mods for s in ("", "-eqcompute")} <= set(names)
    assert {"ldm-tiny@specialists", "ldm-tiny@specialists-eqcompute"} <= set(names)
    assert load_suite("smoke").generators.row_names(mods) == names  # the report's list of declared rows is the run's
    for table, message in (('\n[generators.specialist_budgets_by_model]\nlatent-flow-tiny = ["equal-compute"]\n',
                            "not in specialists"),
                           ('\n[generators.specialist_budgets_by_model]\npixel-diffusion-tiny = ["equal-flops"]\n',
                            "distinct budget rules")):
        path.write_text(text.replace("\n[overrides.", table + "\n[overrides.", 1))
        with pytest.raises(BenchError, match=message):
            load_suite("smoke")
