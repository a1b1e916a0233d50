"""Published suite-level stages (``leaderboards/<suite>/shared/stages.json``): a run seeds the real-data
arms from them instead of recomputing, redoes a stage whose inputs differ, never lets a published marker
replace one of its own, and republishes what it computed."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from bench.data.samples import Samples
from bench.errors import BenchError
from bench.io import read_json
from bench.metrics.utility import UtilityTask
from bench.run import prepare_tasks, read_shared_stages, shared_stages_path
from bench.stages import SuiteContext, seed_stage_records, stage, stage_records


def test_seeded_markers_are_used_only_when_their_inputs_match(tmp_path):
    calls = []

    def work(x):
        return lambda: calls.append(x) or {"value": x}

    stage(tmp_path / "a", "s1", {"x": 1}, work(1), log=lambda m: None)
    stage(tmp_path / "a", "s2", {"x": 2}, work(2), log=lambda m: None)
    records = stage_records(tmp_path / "a")
    assert sorted(records) == ["s1", "s2"] and records["s1"]["output"] == {"value": 1}
    (tmp_path / "b" / "stages").mkdir(parents=True)
    (tmp_path / "b" / "stages" / "s2.json").write_text(json.dumps({"input_hash": "mine", "output": {"value": -2}}))
    assert seed_stage_records(tmp_path / "b", records) == 1  # s2 is the folder's own: kept
    assert read_json(tmp_path / "b" / "stages" / "s2.json")["output"] == {"value": -2}
    calls.clear()
    assert stage(tmp_path / "b", "s1", {"x": 1}, work(1), log=lambda m: None)["skipped"] and calls == []
    assert stage(tmp_path / "b", "s1", {"x": 9}, work(9), log=lambda m: None)["output"] == {"value": 9}
    assert calls == [9]  # other inputs: the seeded marker is not trusted


@pytest.fixture
def utility(smoke_dataset, tmp_path):
    """A utility task of 2-step classifiers on the smoke data, and a holdout generator run, per run folder."""
    from bench.specs import load_suite

    spec = load_suite("smoke")
    params = UtilityTask.Params(steps=2, eval_every=2, seeds=1, budgets=[1], synthetic_per_class=3,
                                arms=["real", "synthetic", "mixed"], sanity_seeds=0)
    hold = smoke_dataset.splits["holdout"]
    reqs = smoke_dataset.prompt_requests()
    samples = Samples(hold.images, [reqs[c] for c in hold.classes])

    def make(folder):
        ctx = SuiteContext(spec, smoke_dataset, tmp_path / folder / "smoke", log=lambda m: None)
        ctx.data_hashes = smoke_dataset.hashes()
        ctx.budgets = smoke_dataset.budget_indices(spec.splits.budgets, spec.splits.seed)
        task = UtilityTask(params, ctx)
        task.spec = SimpleNamespace(name="utility")
        gen = SimpleNamespace(entry=SimpleNamespace(name="holdout", modalities=None, role="baseline"),
                              folder=ctx.suite_dir / "holdout", samples=samples)
        return ctx, task, gen

    return spec, make


def test_a_run_on_another_machine_reuses_the_published_real_arms(utility, tmp_path, monkeypatch):
    spec, make = utility
    boards = tmp_path / "leaderboards"
    ctx, task, gen = make("machine-a")
    prepare_tasks([task], ctx, boards, log=lambda m: None)
    first = task.evaluate(gen)
    path = shared_stages_path(boards, spec)
    published = read_shared_stages(path, spec)
    assert len(published["utility"]) == 3 * len(ctx.budgets)  # modalities × the real ladder (1 seed)
    assert published["utility"] == stage_records(ctx.shared_dir / "utility")

    import bench.reference.classifier as clf

    calls, real_train = [], clf.train_classifier
    monkeypatch.setattr(clf, "train_classifier", lambda *a, **k: calls.append(k["desc"]) or real_train(*a, **k))
    ctx_b, task_b, gen_b = make("machine-b")  # an empty run folder
    before = path.read_bytes()
    prepare_tasks([task_b], ctx_b, boards, log=lambda m: None)
    assert calls == []  # no real arm trained again
    same = json.dumps(task_b.evaluate(gen_b)["cells"], sort_keys=True) == json.dumps(first["cells"], sort_keys=True)
    assert same  # the generator's arms, paired with the same real ones (NaN intervals: 1 seed)
    assert not any(" real " in c for c in calls) and calls
    assert path.read_bytes() == before  # nothing new to publish: the file is not rewritten

    # a published cell whose inputs are not this stage's (another recipe) is recomputed and republished
    obj = read_json(path)
    name = sorted(obj["stages"]["utility"])[0]
    obj["stages"]["utility"][name]["input_hash"] = "0" * 64
    path.write_text(json.dumps(obj))
    calls.clear()
    ctx_c, task_c, _ = make("machine-c")
    prepare_tasks([task_c], ctx_c, boards, log=lambda m: None)
    assert len(calls) == 1 and " real " in calls[0]
    assert read_json(path)["stages"]["utility"][name]["input_hash"] == published["utility"][name]["input_hash"]

    # an unpublished run or rescore (--no-publish) still seeds from the file but never writes it
    obj["stages"]["utility"][name]["input_hash"] = "0" * 64
    path.write_text(json.dumps(obj))
    stale, calls[:] = path.read_bytes(), []
    ctx_d, task_d, _ = make("machine-d")
    prepare_tasks([task_d], ctx_d, boards, log=lambda m: None, write=False)
    assert len(calls) == 1 and " real " in calls[0]  # only the stale cell; the others came from the file
    assert path.read_bytes() == stale


def test_published_stages_of_another_version_are_ignored_and_a_broken_file_is_named(utility, tmp_path):
    spec, make = utility
    boards = tmp_path / "leaderboards"
    ctx, task, _ = make("a")
    prepare_tasks([task], ctx, boards, log=lambda m: None)
    path = shared_stages_path(boards, spec)
    obj = read_json(path)
    path.write_text(json.dumps({**obj, "suite_version": spec.version + 1}))
    said = []
    assert read_shared_stages(path, spec, said.append) == {} and "not used" in said[0]
    path.write_text("{ not json")
    with pytest.raises(BenchError, match="do not parse") as e:
        read_shared_stages(path, spec)
    assert str(path) in str(e.value) and "git checkout" in str(e.value)
