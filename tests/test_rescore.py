"""Comparable from any machine: shipped reference networks, published sample sets, rescoring."""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.stats

from bench.data.sample_set import read_sample_set, sample_set_bytes, write_sample_set
from bench.errors import BenchError
from bench.io import read_json, sha256_bytes, sha256_file
from bench.metrics.agreement import (n_test_images, pooled_seed_sd, result_disagreements, utility_disagreements,
                                     utility_tolerance)
from bench.recipes import NAMES
from bench.reference.pinned import References, ensure_references, publish_trained, shipped_dir
from bench.results import read_result
from bench.specs import load_suite, reference_recipe

ROOT = Path(__file__).resolve().parent.parent
BOARDS = ROOT / "leaderboards"
CROSS_MACHINE = ["holdout", "memoriser", "noise", "ldm-tiny"]


def _images(n=6, size=28, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)


def test_sample_set_bytes_are_deterministic_and_round_trip(tmp_path):
    images, texts, seeds = _images(), ["a <b>", "a <b>", "c", "c", "d", "d"], [0, 1, 2, 3, 4, 5]
    first = sample_set_bytes(images, texts, seeds, {"generator": "g"})
    assert sample_set_bytes(images.copy(), list(texts), list(seeds), {"generator": "g"}) == first  # no timestamps
    info = write_sample_set(tmp_path / "g.npz", images, texts, seeds, {"generator": "g"})
    assert info["sha256"] == sha256_bytes(first) == sha256_file(tmp_path / "g.npz")
    got, got_texts, got_seeds, meta = read_sample_set(tmp_path / "g.npz", info["sha256"])
    assert np.array_equal(got, images) and got_texts == texts and got_seeds == seeds
    assert meta["n_images"] == 6 and meta["n_prompts"] == 3 and meta["generator"] == "g"
    with np.load(tmp_path / "g.npz", allow_pickle=False) as z:  # plain numpy reads it
        assert z["images"].shape == (6, 28, 28, 3)
    data = bytearray(first)
    data[-40] ^= 1
    (tmp_path / "bad.npz").write_bytes(bytes(data))
    with pytest.raises(BenchError, match="sha256"):
        read_sample_set(tmp_path / "bad.npz", info["sha256"])


def test_a_run_loads_the_shipped_networks_and_trains_none(spec_home, tmp_path, smoke_dataset):
    from bench.run import suite_context

    spec = load_suite("smoke")
    pinned = reference_recipe(spec).pinned
    assert set(pinned) == set(NAMES)
    ctx = suite_context(spec, smoke_dataset, tmp_path / "runs" / "smoke", "cpu", log=lambda m: None)
    refs = ensure_references(ctx)
    assert ctx.reference_hashes == pinned == refs.hashes
    for name in NAMES:  # the shipped files are the ones behind the committed results
        assert sha256_file(shipped_dir("smoke") / f"{name}.safetensors") == pinned[name]
    assert {read_json(p)["reference"][n] for p in (BOARDS / "smoke" / "results").glob("*.json") for n in NAMES} \
        == set(pinned.values())
    assert not (tmp_path / "runs" / "smoke" / "_shared" / "reference").exists()  # nothing was trained


def test_altered_shipped_weights_and_wrong_pins_are_refused(spec_home, tmp_path, smoke_dataset):
    from bench.run import suite_context

    folder = spec_home / "leaderboards" / "smoke" / "reference"
    data = bytearray((folder / "clip.safetensors").read_bytes())
    data[-1] ^= 1
    (folder / "clip.safetensors").unlink()
    (folder / "clip.safetensors").write_bytes(bytes(data))
    ctx = suite_context(load_suite("smoke"), smoke_dataset, tmp_path / "runs" / "smoke", "cpu", log=lambda m: None)
    with pytest.raises(BenchError, match="sha256") as err:
        ensure_references(ctx)
    assert "git checkout" in err.value.render()
    assert sha256_file(ROOT / "leaderboards" / "smoke" / "reference" / "clip.safetensors") \
        == reference_recipe(load_suite("smoke")).pinned["clip"]  # the repository's file is intact

    toml = spec_home / "tasks" / "small.toml"
    toml.write_text(re.sub(r'^clip = "[0-9a-f]{64}"', f'clip = "{"0" * 64}"', toml.read_text(), flags=re.M))
    ctx = suite_context(load_suite("small"), smoke_dataset, tmp_path / "runs" / "small", "cpu", log=lambda m: None)
    with pytest.raises(BenchError, match="pins"):
        ensure_references(ctx)
    toml.write_text(toml.read_text().replace(f'clip = "{"0" * 64}"', 'clip = "abc"'))
    with pytest.raises(BenchError, match=r"\[reference.pinned\]"):
        load_suite("small")


def test_publishing_new_networks_makes_a_new_suite_version(spec_home, tmp_path):
    trained = tmp_path / "trained"
    trained.mkdir()
    cards = {}
    for name in NAMES:
        data = f"new {name} weights".encode()
        (trained / f"{name}.safetensors").write_bytes(data)
        cards[name] = {"name": name, "sha256": sha256_bytes(data)}
        (trained / f"{name}.json").write_text(json.dumps(cards[name]))
    before = load_suite("smoke").version
    original = sha256_file(ROOT / "leaderboards" / "smoke" / "reference" / "clip.safetensors")
    path, version = publish_trained("smoke", References(trained, None, None, cards))
    spec = load_suite("smoke")
    assert version == spec.version == before + 1
    assert reference_recipe(spec).pinned == {n: cards[n]["sha256"] for n in NAMES}
    shipped = spec_home / "leaderboards" / "smoke" / "reference"
    assert not (shipped / "clip.safetensors").is_symlink()
    assert (shipped / "clip.safetensors").read_bytes() == b"new clip weights"
    assert sha256_file(ROOT / "leaderboards" / "smoke" / "reference" / "clip.safetensors") == original
    assert path.read_text().count("[reference.pinned]") == 1  # replaced, not appended twice
    publish_trained("smoke", References(trained, None, None, cards))
    assert load_suite("smoke").version == before + 2 and path.read_text().count("[reference.pinned]") == 1


def test_every_committed_result_names_its_committed_sample_set():
    for suite in ("smoke",):
        for p in sorted((BOARDS / suite / "results").glob("*.json")):
            r = read_result(p)
            info = r["samples"]
            assert sha256_file(BOARDS / suite / info["file"]) == info["sha256"], p.name
            images, _, _, meta = read_sample_set(BOARDS / suite / info["file"], info["sha256"])
            assert len(images) == info["n_images"] == r["compute"]["sample"]["n_images"]
            assert meta["generator"] == r["generator"]["name"]


def test_a_legacy_result_adopts_only_the_sample_set_it_was_scored_on(tmp_path, smoke_dataset):
    from bench.rescore import samples_of

    board = tmp_path / "lb"
    r = read_result(BOARDS / "smoke" / "results" / "holdout.json")
    info = r.pop("samples")
    (board / "smoke" / "samples").mkdir(parents=True)
    shutil.copy(BOARDS / "smoke" / info["file"], board / "smoke" / "samples" / "holdout.npz")
    samples, sha = samples_of(copy.deepcopy(r), board, smoke_dataset)
    assert sha == info["sha256"] and len(samples.images) == info["n_images"]
    images, texts, seeds, meta = read_sample_set(board / "smoke" / "samples" / "holdout.npz")
    images[0] = 255 - images[0]  # the first image of the first prompt is in the gallery
    write_sample_set(board / "smoke" / "samples" / "holdout.npz", images, texts, seeds, meta)
    with pytest.raises(BenchError, match="gallery"):
        samples_of(copy.deepcopy(r), board, smoke_dataset)


def test_agreement_tolerances_catch_real_changes_and_forgive_boundary_flips():
    old = read_result(BOARDS / "smoke" / "results" / "ldm-tiny.json")
    assert result_disagreements(copy.deepcopy(old), old) == []
    new = copy.deepcopy(old)
    new["metrics"]["fidelity"]["pooled"]["fd"] *= 1.01  # a 1 % change of FD is a real difference
    assert any("fidelity pooled fd" in p for p in result_disagreements(new, old))
    new = copy.deepcopy(old)
    new["metrics"]["fidelity"]["pooled"]["fd"] *= 1 + 1e-5  # float noise is not
    assert result_disagreements(new, old) == []
    n = old["metrics"]["alignment"]["reference"]["n_synthetic"]["pooled"]
    new["metrics"]["alignment"]["pooled"]["conditional_accuracy"] += 2 / n  # two samples flipped: forgiven
    assert result_disagreements(new, old) == []
    new["metrics"]["alignment"]["pooled"]["conditional_accuracy"] += 2 / n  # four: not
    assert any("conditional_accuracy" in p for p in result_disagreements(new, old))
    new = copy.deepcopy(old)
    gains = old["metrics"]["utility"]["gains"]
    cell = new["metrics"]["utility"]["gains"]["5"]["bloodmnist"]["mixed"]["balanced_accuracy"]
    tol = utility_tolerance(gains, "bloodmnist", "balanced_accuracy", len(cell["values"]), n_test_images(old))
    cell["mean"] += 0.9 * tol  # inside what two independent seed sets would differ by: forgiven
    assert result_disagreements(new, old) == []
    cell["mean"] += 0.2 * tol  # beyond it: a real difference
    assert any("utility n=5 bloodmnist mixed balanced_accuracy" in p for p in result_disagreements(new, old))
    # another generator's utility is a real difference: the noise row's gains are not the holdout row's
    holdout, noise = (read_result(BOARDS / "smoke" / "results" / f"{g}.json") for g in ("holdout", "noise"))
    assert len(result_disagreements(noise, holdout, ["utility"])) >= 10


def test_utility_tolerance_is_the_two_seed_set_bound_with_a_pooled_seed_sd():
    """A known case, computed independently with numpy and scipy: two cells of one modality, 3 seeds."""
    gains = {"1": {"m": {"mixed": {"accuracy": {"values": [0.10, 0.20, 0.30], "mean": 0.2}},
                         "synthetic": {"accuracy": {"values": [0.0, 0.0, 0.3], "mean": 0.1}}}},
             "5": {"m": {"mixed": {"accuracy": {"values": [0.5], "mean": 0.5}}}}}  # one seed: no df
    ss = np.sum((np.array([0.1, 0.2, 0.3]) - 0.2) ** 2) + np.sum((np.array([0.0, 0.0, 0.3]) - 0.1) ** 2)
    s, df = pooled_seed_sd(gains, "m", "accuracy")
    assert df == 4 and s == pytest.approx(np.sqrt(ss / 4))
    expected = scipy.stats.t.ppf(0.995, 4) * np.sqrt(ss / 4) * np.sqrt(2 / 3) + 2 / 200
    assert utility_tolerance(gains, "m", "accuracy", 3, {"m": 200}) == pytest.approx(expected)
    assert utility_tolerance(gains, "m", "auroc", 3, {"m": 200}) == pytest.approx(2 / 200)  # no seed spread known
    new = copy.deepcopy({"gains": gains})
    new["gains"]["1"]["m"]["mixed"]["accuracy"]["mean"] = 0.2 + 1.01 * expected
    assert utility_disagreements(new, {"gains": gains}, {"m": 200}) == \
        [f"utility n=1 m mixed accuracy: {0.2 + 1.01 * expected:+.4f} vs committed +0.2000 (tolerance ± {expected:.4f})"]


@pytest.mark.slow
def test_committed_smoke_samples_rescore_to_the_committed_results(smoke_runs):
    """The cross-machine check: the committed sample sets of the sanity baselines and ldm-tiny, scored with
    the shipped reference networks on this machine, agree with the committed results within the stated
    tolerances (bench.metrics.agreement), with no generator fitted. It rescores in the session's smoke run
    folder, so the utility task's real arms (the committed shared stages) are reused.

    So that the check means something on the machine that made the results too (where a rescore is
    exact), it rescores with oneDNN's convolutions switched off: PyTorch's native kernels sum in another
    order, a stand-in for another CPU's float rounding."""
    import torch

    from bench.rescore import rescore_suite

    tasks = ["fidelity", "alignment", "memorisation", "utility"]
    runs = smoke_runs
    onednn = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False  # (its flags() context manager warns about Intel GPUs)
    try:
        new = rescore_suite("smoke", BOARDS, runs, only=CROSS_MACHINE, task_names=tasks, device="cpu",
                            publish=False, log=lambda m: None)
    finally:
        torch.backends.mkldnn.enabled = onednn
    assert [r["generator"]["name"] for r in new] == CROSS_MACHINE
    for r in new:
        old = read_result(BOARDS / "smoke" / "results" / f"{r['generator']['name']}.json")
        assert r["reference"] == old["reference"] and r["samples"] == old["samples"]
        assert r["rescored"]["tasks"] == tasks
        assert result_disagreements(r, old, tasks) == [], r["generator"]["name"]
    rescored = [runs / "smoke" / g / "rescore" for g in CROSS_MACHINE]
    assert all(f.is_dir() for f in rescored)
    assert not [p for f in rescored for p in (*f.rglob("fit.json"), *f.rglob("sample.json"))]  # nothing fitted or sampled
    assert (BOARDS / "smoke" / "results").is_dir()  # publish=False left the committed files as they were


def _absolute_paths(obj, where=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _absolute_paths(v, f"{where}/{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _absolute_paths(v, f"{where}[{i}]")
    elif isinstance(obj, str) and (re.match(r"^(/|~/)[^\s/]+/", obj) or re.match(r"^[A-Za-z]:\\", obj)):
        yield f"{where}: {obj}"


def test_results_carry_no_machine_paths(smoke_runs):
    published = sorted((smoke_runs.parent / "leaderboards" / "smoke" / "results").glob("*.json"))
    committed = sorted(BOARDS.glob("*/results/*.json"))
    assert published and committed
    for p in published + committed:
        assert list(_absolute_paths(read_json(p))) == [], p


@pytest.mark.slow
def test_a_submission_lands_in_the_main_table_of_the_committed_smoke_leaderboard(smoke_runs, tmp_path):
    """A new user's submission is scored with the shipped networks, so it sits beside the committed
    results, not under "not comparable" (the failure the shipped networks fix)."""
    from bench.data.images import write_png
    from bench.report import render_all
    from bench.run import submit_images

    boards = tmp_path / "leaderboards"
    for part in ("results", "samples"):
        shutil.copytree(BOARDS / "smoke" / part, boards / "smoke" / part)
    info = read_result(BOARDS / "smoke" / "results" / "holdout.json")["samples"]
    images, texts, _, _ = read_sample_set(BOARDS / "smoke" / info["file"], info["sha256"])
    sub, rows = tmp_path / "my images", ["path,prompt"]
    for k, (img, text) in enumerate(zip(images, texts)):
        rel = f"img{k:04d}.png"
        write_png(sub / rel, img, 3 if "blood" in text else 1)
        rows.append(f'{rel},"{text}"')
    (sub / "manifest.csv").write_text("\n".join(rows) + "\n")
    submit_images("smoke", sub, "new-user-gen", smoke_runs, boards, device="cpu", log=lambda m: None)
    render_all("smoke", boards, out=lambda m: None)
    md = (boards / "smoke" / "README.md").read_text()
    main_table = md.split("## Not comparable")[0]
    assert "| new-user-gen | external |" in main_table and "| ldm-tiny | generalist |" in main_table
    r = read_result(boards / "smoke" / "results" / "new-user-gen.json")
    assert r["reference"] == read_result(BOARDS / "smoke" / "results" / "holdout.json")["reference"]
    assert r["samples"]["sha256"] == sha256_file(boards / "smoke" / "samples" / "new-user-gen.npz")
    assert list(_absolute_paths(r)) == [] and str(sub) not in json.dumps(r)


def test_a_partial_rescore_through_other_networks_is_refused(tmp_path):
    """Numbers from the old networks must not sit beside the new networks' hashes in one result."""
    from bench.io import atomic_write_json
    from bench.rescore import rescore_suite

    boards = tmp_path / "lb"
    for part in ("results", "samples"):
        shutil.copytree(BOARDS / "smoke" / part, boards / "smoke" / part)
    r = read_json(boards / "smoke" / "results" / "noise.json")
    r["reference"]["clip"] = "e" * 64  # scored through another CLIP
    atomic_write_json(boards / "smoke" / "results" / "noise.json", r)
    with pytest.raises(BenchError, match="every task must be rescored"):
        rescore_suite("smoke", boards, tmp_path / "runs", only=["noise"], task_names=["alignment"], device="cpu",
                      publish=False, log=lambda m: None)
    assert read_json(boards / "smoke" / "results" / "noise.json")["reference"]["clip"] == "e" * 64  # untouched


def test_a_partial_rescore_across_suite_versions_is_refused(tmp_path):
    """A result of an older suite version rescored on some tasks only would carry the old protocol's
    numbers of the other tasks under the new version's label: refused, the file untouched."""
    from bench.io import atomic_write_json
    from bench.rescore import rescore_suite

    boards = tmp_path / "lb"
    for part in ("results", "samples"):
        shutil.copytree(BOARDS / "smoke" / part, boards / "smoke" / part)
    r = read_json(boards / "smoke" / "results" / "noise.json")
    r["suite"]["version"] = r["suite"]["version"] - 1
    atomic_write_json(boards / "smoke" / "results" / "noise.json", r)
    before = (boards / "smoke" / "results" / "noise.json").read_bytes()
    with pytest.raises(BenchError, match="rescore without --tasks"):
        rescore_suite("smoke", boards, tmp_path / "runs", only=["noise"], task_names=["alignment"], device="cpu",
                      publish=False, log=lambda m: None)
    assert (boards / "smoke" / "results" / "noise.json").read_bytes() == before


def test_rescore_no_publish_reports_agreement_with_the_published_results(tmp_path, capsys):
    """`rescore --no-publish` is the user's cross-machine check: it says whether each rescored result agrees
    with the published one under the tolerances, and exits 1 when a number leaves them."""
    from bench.cli import main
    from bench.io import atomic_write_json

    boards = tmp_path / "leaderboards"
    for part in ("results", "samples", "reference", "shared"):
        shutil.copytree(BOARDS / "smoke" / part, boards / "smoke" / part)
    argv = ["rescore", "--suite", "smoke", "--generators", "noise", "--tasks", "fidelity", "--no-publish",
            "--leaderboards-dir", str(boards), "--runs-dir", str(tmp_path / "runs"), "--device", "cpu"]
    assert main(argv) == 0
    assert "  noise: agrees" in capsys.readouterr().out
    published = boards / "smoke" / "results" / "noise.json"
    r = read_json(published)
    r["metrics"]["fidelity"]["pooled"]["fd"] *= 1.05  # a published number 5 % off: the rescore must say so
    atomic_write_json(published, r)
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "noise: 1 numbers outside the tolerances" in out and "fidelity pooled fd" in out
    assert read_json(published)["metrics"]["fidelity"]["pooled"]["fd"] == r["metrics"]["fidelity"]["pooled"]["fd"]
