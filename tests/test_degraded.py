"""Controlled-degradation ladders: each rung does what its definition says, checked on the image bytes
(which pool image, which class, how many distinct) or against an independent computation."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter

from bench.errors import BenchError
from conftest import cut_smoke_spec
from bench.generators.degraded import DegradedGenerator
from bench.recipes import DEGRADATIONS, DegradedParams
from bench.registry import generator_class

N = 6


def _gen(dataset, tmp_path, degradation: str, severity: float) -> DegradedGenerator:
    return DegradedGenerator("d", DegradedParams(degradation, severity), dataset, tmp_path / "fit")


def _sample(dataset, tmp_path, degradation: str, severity: float, seed: int = 0):
    return _gen(dataset, tmp_path, degradation, severity).sample(dataset.prompt_requests(), N, seed)


def _holdout(dataset, tmp_path, seed: int = 0):
    return generator_class("holdout")("h", None, dataset, tmp_path / "h").sample(dataset.prompt_requests(), N, seed)


def _class_of_bytes(split) -> dict[bytes, set[int]]:
    out: dict[bytes, set[int]] = {}
    for im, c in zip(split.images, split.classes):
        out.setdefault(im.tobytes(), set()).add(int(c))
    return out


@pytest.mark.parametrize("degradation", sorted(DEGRADATIONS))
def test_severity_zero_is_the_holdout_draw(smoke_dataset, tmp_path, degradation):
    h = _holdout(smoke_dataset, tmp_path, seed=3)
    s = _sample(smoke_dataset, tmp_path, degradation, 0.0, seed=3)
    assert np.array_equal(h.images, s.images) and [r.text for r in h.requests] == [r.text for r in s.requests]


def test_blur_is_gaussian_filter_of_the_holdout_images(smoke_dataset, tmp_path):
    h = _holdout(smoke_dataset, tmp_path)
    s = _sample(smoke_dataset, tmp_path, "blur", 0.5)
    # independent: per image and channel, scipy's 2-D filter with sigma 1 px
    i = 7
    want = np.stack([gaussian_filter(h.images[i, :, :, c].astype(np.float64), 1.0, mode="reflect")
                     for c in range(3)], axis=-1)
    assert np.abs(s.images[i].astype(float) - want).max() <= 0.5 + 1e-6
    sharp = [np.abs(np.diff(_sample(smoke_dataset, tmp_path, "blur", v).images.astype(float), axis=1)).mean()
             for v in (0.0, 0.25, 0.5, 1.0)]
    assert sharp == sorted(sharp, reverse=True) and sharp[-1] < 0.6 * sharp[0]


def test_noise_has_the_stated_sigma_and_grey_stays_grey(smoke_dataset, tmp_path):
    h = _holdout(smoke_dataset, tmp_path)
    s = _sample(smoke_dataset, tmp_path, "noise", 0.25)  # sigma 16: little clipping
    d = s.images.astype(float) - h.images.astype(float)
    assert 14.0 < d.std() < 16.5
    grey = [i for i, r in enumerate(s.requests) if smoke_dataset.modalities[r.modality].channels == 1]
    assert grey and all(np.array_equal(s.images[i, ..., 0], s.images[i, ..., 2]) for i in grey)


def test_jpeg_is_a_pillow_round_trip_at_the_stated_quality(smoke_dataset, tmp_path):
    h = _holdout(smoke_dataset, tmp_path)
    s = _sample(smoke_dataset, tmp_path, "jpeg", 0.5)  # quality 50
    i = next(i for i, r in enumerate(s.requests) if smoke_dataset.modalities[r.modality].channels == 3)
    buf = io.BytesIO()
    Image.fromarray(h.images[i]).save(buf, format="JPEG", quality=50)
    assert np.array_equal(s.images[i], np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")))
    err = [np.abs(_sample(smoke_dataset, tmp_path, "jpeg", v).images.astype(float) - h.images).mean()
           for v in (0.25, 0.5, 1.0)]
    assert err == sorted(err) and err[0] > 0


def test_mode_drop_keeps_only_some_classes(smoke_dataset, tmp_path):
    ds = smoke_dataset
    who = _class_of_bytes(ds.splits["holdout"])
    s = _sample(ds, tmp_path, "mode-drop", 1.0)
    for m, mod in enumerate(ds.modalities):
        shown = set().union(*(who[im.tobytes()] for im, r in zip(s.images, s.requests) if r.modality == m))
        assert len(shown) == 1, mod.key  # severity 1: one class per modality
    half = _sample(ds, tmp_path, "mode-drop", 0.5)
    blood = next(m for m, mod in enumerate(ds.modalities) if mod.key == "bloodmnist")
    k = len(ds.modalities[blood].class_names)
    shown = set().union(*(who[im.tobytes()] for im, r in zip(half.images, half.requests) if r.modality == blood))
    assert len(shown) == max(1, round(k * 0.5))


def test_label_swap_answers_the_wrong_prompt(smoke_dataset, tmp_path):
    ds = smoke_dataset
    who = _class_of_bytes(ds.splits["holdout"])
    wrong = lambda s: np.mean([r.cls not in who[im.tobytes()] for im, r in zip(s.images, s.requests)])  # noqa: E731
    assert wrong(_sample(ds, tmp_path, "label-swap", 1.0)) == 1.0
    assert 0.35 < wrong(_sample(ds, tmp_path, "label-swap", 0.5)) < 0.65
    assert wrong(_sample(ds, tmp_path, "label-swap", 0.0)) == 0.0


def test_collapse_repeats_few_distinct_images_per_prompt(smoke_dataset, tmp_path):
    ds = smoke_dataset
    for sev, distinct in ((1.0, 1), (0.5, round(N ** 0.5))):
        s = _sample(ds, tmp_path, "collapse", sev)
        for start in range(0, len(s.requests), N):
            block = s.images[start:start + N]
            assert len({im.tobytes() for im in block}) <= distinct
            assert len({r.text for r in s.requests[start:start + N]}) == 1


def test_memorised_share_is_exact_training_copies(smoke_dataset, tmp_path):
    ds = smoke_dataset
    train = _class_of_bytes(ds.splits["train"])
    share = lambda s: np.mean([r.cls in train.get(im.tobytes(), set()) for im, r in zip(s.images, s.requests)])  # noqa: E731
    assert share(_sample(ds, tmp_path, "memorised", 1.0)) == 1.0
    assert 0.35 < share(_sample(ds, tmp_path, "memorised", 0.5)) < 0.65


def test_severity_outside_the_unit_interval_is_refused(spec_home):
    from bench.specs import build_dataclass

    with pytest.raises(BenchError, match=r"severity.*\[0, 1\]"):
        build_dataclass(DegradedParams, {"degradation": "blur", "severity": 1.5}, "models/x.toml [params]")
    with pytest.raises(BenchError, match="allowed values"):
        build_dataclass(DegradedParams, {"degradation": "smudge"}, "models/x.toml [params]")


def test_suite_ladders_become_rows_that_run_their_tasks(spec_home, smoke_dataset):
    from bench.run import entry_tasks, generator_entries
    from bench.specs import load_suite

    path = spec_home / "tasks" / "smoke.toml"
    text = path.read_text().replace('specialist_budgets = ["equal-steps", "equal-compute"]',
                                    'specialist_budgets = ["equal-steps", "equal-compute"]\n'
                                    'ladders = ["blur", "label-swap"]\nladder_severities = [0.5, 1.0]\n'
                                    'ladder_tasks = ["fidelity", "utility"]')
    path.write_text(text)
    spec = load_suite("smoke")
    ladder = [e for e in generator_entries(spec, smoke_dataset) if e.role == "ladder"]
    assert [e.name for e in ladder] == ["degraded-blur@0.50", "degraded-blur@1.00",
                                        "degraded-label-swap@0.50", "degraded-label-swap@1.00"]
    assert ladder[3].model.params == {"degradation": "label-swap", "severity": 1.0}

    class T:
        def __init__(self, name):
            self.spec = type("S", (), {"name": name})

    tasks = [T(n) for n in spec.tasks]
    assert [t.spec.name for t in entry_tasks(ladder[0], spec, tasks)] == ["fidelity", "utility"]
    path.write_text(text.replace('ladder_tasks = ["fidelity", "utility"]', 'ladder_tasks = ["fidelty"]'))
    with pytest.raises(BenchError, match="ladder_tasks names 'fidelty'"):
        load_suite("smoke")


@pytest.fixture
def ladder_suite(spec_home):
    """The smoke suite with the holdout baseline and one ladder of two rungs, two cheap tasks."""
    return cut_smoke_spec(spec_home, ["fidelity", "alignment"],
                          'models = ["holdout"]\nladders = ["label-swap"]\nladder_severities = [0.5, 1.0]\n'
                          'ladder_tasks = ["fidelity", "alignment"]')


def test_ladders_run_publish_and_render_their_section(ladder_suite, tmp_path):
    from bench.io import read_json
    from bench.report import render_all
    from bench.report.collection import load_collection
    from bench.report.sensitivity import PASS, sensitivity
    from bench.run import RunOptions, run_suite

    runs, pub = tmp_path / "runs", tmp_path / "pub"
    run_suite("smoke", RunOptions(runs, publish_dir=pub, device="cpu"), log=lambda m: None)
    r = read_json(pub / "smoke" / "results" / "degraded-label-swap@1.00.json")
    assert r["generator"]["role"] == "ladder" and r["generator"]["spec"]["params"]["severity"] == 1.0
    coll = load_collection("smoke", pub)
    assert [e.name for e in coll.main.entries] == ["holdout"] and len(coll.main.ladders) == 2
    table = {d: {c.qualified: c for c in cells} for d, cells in sensitivity(coll.main.entries, coll.main.ladders).items()}
    # known case: images of the wrong class must cost conditional accuracy, monotonically
    swap = table["label-swap"]["alignment.conditional_accuracy"]
    assert swap.severities == [0.0, 0.5, 1.0] and swap.rho_worse == 1.0 and swap.verdict == PASS
    assert swap.values[0] > 0.5 > swap.values[2]
    render_all("smoke", pub, out=lambda m: None)
    # a rung's sample set is not published (no training: regenerated), and rescoring regenerates exactly it
    assert r["samples"]["published"] is False and r["samples"]["meta"]["generator"] == "degraded-label-swap@1.00"
    assert not (pub / "smoke" / "samples" / "degraded-label-swap@1.00.npz").exists()
    assert (pub / "smoke" / "samples" / "holdout.npz").is_file()
    from bench.rescore import rescore_suite

    (new,) = rescore_suite("smoke", pub, tmp_path / "rescore-runs", only=["degraded-label-swap@1.00"], device="cpu",
                           publish=False, log=lambda m: None)
    assert new["metrics"] == r["metrics"] and new["samples"] == r["samples"]
    readme = (pub / "smoke" / "README.md").read_text()
    assert "## Metric sensitivity: controlled degradations" in readme
    assert "degraded-label-swap" not in readme.split("## Metric sensitivity")[0]  # ladder rows stay out of the tables
    assert (pub / "smoke" / "figures" / "metric_sensitivity.png").is_file()


def test_sensitivity_verdicts_follow_their_thresholds():
    from bench.report.sensitivity import FLAT, PASS, WEAK, WRONG, spearman, verdict

    assert [verdict(v) for v in (1.0, 0.9, 0.7, 0.5, 0.49, -0.49, -0.5, -1.0, None)] == \
        [PASS, PASS, WEAK, WEAK, FLAT, FLAT, WRONG, WRONG, FLAT]
    assert spearman([0, 0.25, 0.5, 0.75, 1], [3, 3, 3, 3, 3]) is None  # a constant metric does not move
    assert spearman([0, 0.5, 1], [1.0, 2.0, 1.5]) == pytest.approx(0.5)  # ranks 1, 3, 2 against 1, 2, 3
    assert spearman([0, 0.5, 1], [5.0, 4.0, 1.0]) == pytest.approx(-1.0)


def test_a_ladder_with_two_points_gets_no_verdict(tmp_path):
    """Holdout plus one rung is too few points for a rank correlation: no verdict, and not a failure."""
    from bench.report.collection import Entry
    from bench.report.sensitivity import FEW, failures, sensitivity

    from test_report import make_result, metrics_for

    hold = Entry(tmp_path / "h.json", make_result("holdout", role="baseline", kind="holdout", q=1.0))
    rung = make_result("degraded-blur@0.50", role="ladder", kind="degraded", q=0.5, metrics=metrics_for(0.5))
    rung["generator"]["spec"]["params"] = {"degradation": "blur", "severity": 0.5}
    table = sensitivity([hold], [Entry(tmp_path / "r.json", rung)])
    fd = next(c for c in table["blur"] if c.qualified == "fidelity.fd")
    assert fd.verdict == FEW and fd.severities == [0.0, 0.5] and not failures(table)


def test_a_five_point_rho_of_nine_tenths_is_a_pass():
    """One adjacent swap on five points is rho = 0.9 exactly in theory; scipy gives 0.8999999999999999."""
    from bench.report.sensitivity import PASS, spearman, verdict

    rho = spearman([0, 0.25, 0.5, 0.75, 1], [1.0, 3.0, 2.0, 4.0, 5.0])
    assert rho == pytest.approx(0.9) and verdict(rho) == PASS
