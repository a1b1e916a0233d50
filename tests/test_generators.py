"""Sanity baselines and the external ``images`` generator (validation of hostile folders)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from bench.errors import BenchError
from bench.data.samples import read_samples, write_samples
from bench.registry import generator_class


def _make(kind, ds, tmp_path, params=None, modalities=None):
    cls = generator_class(kind)
    p = cls.Params(**(params or {}))
    gen = cls(kind, p, ds, tmp_path / kind, modalities)
    gen.fit()
    return gen


def test_holdout_returns_held_out_images_of_the_class(smoke_dataset, tmp_path):
    ds = smoke_dataset
    gen = _make("holdout", ds, tmp_path)
    prompts = ds.prompt_requests()[:3]
    s = gen.sample(prompts, 5, seed=0)
    assert s.images.shape == (15, 28, 28, 3)
    hold = ds.splits["holdout"]
    for img, req in zip(s.images, s.requests):
        pool = hold.images[hold.classes == req.cls]
        assert any(np.array_equal(img, x) for x in pool)
    assert np.array_equal(gen.sample(prompts, 5, 0).images, s.images)
    assert not np.array_equal(gen.sample(prompts, 5, 1).images, s.images)


def test_memoriser_is_close_to_training_images(smoke_dataset, tmp_path):
    ds = smoke_dataset
    gen = _make("memoriser", ds, tmp_path, {"sigma": 2.0})
    s = gen.sample(ds.prompt_requests()[:2], 4, seed=0)
    train = ds.splits["train"].images.astype(np.float32)
    for img in s.images.astype(np.float32):
        nearest = np.abs(train - img).mean(axis=(1, 2, 3)).min()
        assert 0 < nearest < 3.0


def test_noise_matches_modality_statistics(smoke_dataset, tmp_path):
    ds = smoke_dataset
    gen = _make("noise", ds, tmp_path)
    blood = [p for p in ds.prompt_requests() if p.modality == 0][:1]
    s = gen.sample(blood, 200, seed=0)
    real = ds.splits["train"].images[ds.splits["train"].modality == 0]
    assert abs(s.images.mean() - real.mean()) < 5
    # reload from the saved statistics gives identical samples
    gen2 = generator_class("noise")("noise", None, ds, tmp_path / "noise", None)
    gen2.load()
    assert np.array_equal(gen2.sample(blood, 10, 3).images, gen.sample(blood, 10, 3).images)
    grey = [p for p in ds.prompt_requests() if p.modality == 1][:1]
    g = gen.sample(grey, 3, 0).images
    assert np.array_equal(g[..., 0], g[..., 1])


def test_specialist_refuses_other_modalities(smoke_dataset, tmp_path):
    ds = smoke_dataset
    gen = _make("holdout", ds, tmp_path, modalities=[2])
    with pytest.raises(BenchError, match="does not cover modality 'bloodmnist'"):
        gen.sample(ds.prompt_requests()[:1], 1, 0)


def test_write_read_samples_round_trip_native_channels(smoke_dataset, tmp_path):
    ds = smoke_dataset
    s = _make("holdout", ds, tmp_path).sample(ds.prompt_requests(), 2, 0)
    write_samples(tmp_path / "out", s, ds)
    grey_png = next((tmp_path / "out" / "organamnist").glob("*.png"))
    assert Image.open(grey_png).mode == "L"
    assert Image.open(next((tmp_path / "out" / "bloodmnist").glob("*.png"))).mode == "RGB"
    back = read_samples(tmp_path / "out", ds)
    assert np.array_equal(back.images, s.images) and back.texts == s.texts


def _submission(tmp_path, ds, rows_extra=(), n=2):
    folder = tmp_path / "sub"
    s = _make("holdout", ds, tmp_path).sample(ds.prompt_requests(), n, 0)
    write_samples(folder, s, ds)
    if rows_extra:
        with open(folder / "manifest.csv", "a") as fh:
            fh.writelines(r + "\n" for r in rows_extra)
    return folder


def _images_gen(ds, folder, tmp_path):
    cls = generator_class("images")
    return cls("ext", cls.Params(folder=str(folder)), ds, tmp_path / "ext", None)


def test_images_generator_accepts_valid_folder(smoke_dataset, tmp_path):
    ds = smoke_dataset
    gen = _images_gen(ds, _submission(tmp_path, ds), tmp_path)
    info = gen.fit()
    assert info["images_submitted"] == 2 * ds.n_classes
    assert gen.sample(ds.prompt_requests(), 5, 0).images.shape[0] == 2 * ds.n_classes


@pytest.mark.parametrize("row,match", [
    ("missing.png,a blood cell microscopy image of basophil", "not found"),
    ("../escape.png,a blood cell microscopy image of basophil", "outside the folder"),
    ("/etc/passwd,a blood cell microscopy image of basophil", "must be relative"),
    ("bloodmnist/class00_00000.png,a photo of a cat", "unknown prompt"),
    ("bad.png,a blood cell microscopy image of basophil", "does not decode"),
    ("link.png,a blood cell microscopy image of basophil", "outside the folder"),
])
def test_images_generator_refuses_hostile_manifests(smoke_dataset, tmp_path, row, match):
    ds = smoke_dataset
    folder = _submission(tmp_path, ds, [row])
    (folder / "bad.png").write_bytes(b"\x89PNG garbage")
    outside = tmp_path / "secret.png"
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(outside)
    os.symlink(outside, folder / "link.png")
    with pytest.raises(BenchError, match=match) as exc:
        _images_gen(ds, folder, tmp_path).fit()
    assert "manifest.csv line" in str(exc.value)


def test_images_generator_refuses_huge_images(smoke_dataset, tmp_path):
    ds = smoke_dataset
    folder = _submission(tmp_path, ds, ["huge.png,a blood cell microscopy image of basophil"])
    Image.new("L", (5000, 5000)).save(folder / "huge.png")
    with pytest.raises(BenchError, match="pixel cap|decompression bomb"):
        _images_gen(ds, folder, tmp_path).fit()


def test_images_generator_empty_folder(smoke_dataset, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(BenchError, match="manifest.csv not found"):
        _images_gen(smoke_dataset, tmp_path / "empty", tmp_path).fit()
