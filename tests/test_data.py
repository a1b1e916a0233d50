"""Data layer: embedded sample, MedMNIST files, CSV folders, splits, budgets and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.data import medmnist as mm
from bench.data.folder import load_folder
from bench.errors import BenchError
from conftest import write_npz


def test_embedded_sample_splits_and_prompts(smoke_dataset):
    ds = smoke_dataset
    assert [m.key for m in ds.modalities] == ["bloodmnist", "organamnist", "breastmnist"]
    assert ds.n_classes == 8 + 11 + 2
    assert {len(ds.splits[s]) for s in ("holdout", "test")} == {420}
    for s in ds.splits.values():
        assert s.images.dtype == np.uint8 and s.images.shape[1:] == (28, 28, 3)
    # grey modalities are replicated to three equal channels
    organ = ds.splits["train"].images[ds.splits["train"].modality == 1]
    assert np.array_equal(organ[..., 0], organ[..., 2])
    assert ds.prompt(ds.class_index(0, 6)) == "a blood cell microscopy image of neutrophil"
    assert "immature granulocytes" in ds.prompt(ds.class_index(0, 3))


def test_holdout_and_test_are_disjoint_and_stratified(smoke_dataset):
    ds = smoke_dataset
    hold, test = ds.splits["holdout"], ds.splits["test"]
    key = lambda s: set(zip(s.modality.tolist(), s.source_index.tolist()))
    assert not key(hold) & key(test)
    assert np.bincount(hold.classes, minlength=ds.n_classes).min() == 20


def test_budgets_are_nested_and_fixed(smoke_dataset):
    ds = smoke_dataset
    b = ds.budget_indices([1, 5, 20], seed=0)
    assert set(b[1]) <= set(b[5]) <= set(b[20])
    counts = np.bincount(ds.splits["train"].classes[b[5]], minlength=ds.n_classes)
    assert (counts == 5).all()
    again = ds.budget_indices([20, 5, 1], seed=0)
    assert all(np.array_equal(b[n], again[n]) for n in b)
    assert not np.array_equal(b[5], ds.budget_indices([5], seed=1)[5])


def test_hashes_track_content(smoke_dataset):
    h = smoke_dataset.hashes()
    assert len(h["dataset_sha256"]) == 64
    tweaked = smoke_dataset.splits["train"].subset(np.arange(len(smoke_dataset.splits["train"])))
    tweaked.images = tweaked.images.copy()
    tweaked.images[0, 0, 0, 0] ^= 1
    assert tweaked.hash()["pixels_sha256"] != h["splits"]["train"]["pixels_sha256"]


def test_medmnist_file_both_label_shapes(tmp_path):
    for shape in ("flat", "column"):
        path = write_npz(tmp_path / f"{shape}.npz", label_shape=shape)
        arrays = mm.read_npz(path)
        assert arrays["train"][1].shape == (12,)


def test_count_and_md5_mismatch_are_warnings(tmp_path):
    write_npz(tmp_path / "breastmnist.npz", classes=2)
    arrays, warnings, prov = mm.load_subset("breastmnist", 28, str(tmp_path))
    assert any("split counts" in w for w in warnings) and any("MD5" in w for w in warnings)
    assert prov["md5_verified"] is False


def test_missing_data_root_and_file(tmp_path, monkeypatch):
    monkeypatch.delenv("MEDSYN_DATA", raising=False)
    with pytest.raises(BenchError, match="--data-root"):
        mm.locate("bloodmnist", 28, None)
    with pytest.raises(BenchError, match="not a folder"):
        mm.locate("bloodmnist", 28, str(tmp_path / "nope"))
    with pytest.raises(BenchError, match="bloodmnist.npz not found") as err:
        mm.locate("bloodmnist", 28, str(tmp_path))
    assert "medsyn-bench data download" in err.value.render()  # loading never downloads: one explicit command does


def test_data_download_is_the_one_network_path(tmp_path, monkeypatch, capsys):
    """`medsyn-bench data download` fetches only the missing files, through the medmnist package (here a
    stand-in that writes the file, as the real one does after its HTTP download); nothing else downloads."""
    import medmnist

    from bench.cli import main

    calls = []

    class FakeDataset:
        def __init__(self, split, download, root, size):
            calls.append((type(self).__name__, split, download, size))
            write_npz(Path(root) / "organamnist.npz", classes=11)

    monkeypatch.setattr(medmnist, "OrganAMNIST", type("OrganAMNIST", (FakeDataset,), {}))
    for subset in ("bloodmnist", "breastmnist"):
        write_npz(tmp_path / f"{subset}.npz")
    assert main(["data", "download", "--suite", "small", "--data-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert calls == [("OrganAMNIST", "train", True, 28)]
    assert "bloodmnist.npz: present" in out and "organamnist.npz: downloading" in out
    assert (tmp_path / "organamnist.npz").is_file()
    assert main(["data", "download", "--suite", "smoke"]) == 2  # the embedded sample: nothing to download


def test_corrupt_npz(tmp_path):
    path = tmp_path / "bloodmnist.npz"
    write_npz(path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(BenchError) as exc:
        mm.read_npz(path)
    assert str(path) in str(exc.value) and "re-download" in str(exc.value)


def test_wrong_shapes_and_nan(tmp_path):
    bad = write_npz(tmp_path / "a.npz", train_images=np.zeros((12, 28, 20), np.uint8))
    with pytest.raises(BenchError, match="expected \\(N, S, S\\)"):
        mm.read_npz(bad)
    nan = np.zeros((12, 28, 28), np.float32)
    nan[0, 0, 0] = np.nan
    with pytest.raises(BenchError, match="NaN"):
        mm.read_npz(write_npz(tmp_path / "b.npz", train_images=nan))
    with pytest.raises(BenchError, match="labels for"):
        mm.read_npz(write_npz(tmp_path / "c.npz", train_labels=np.zeros(5, np.int64)))
    with pytest.raises(BenchError, match="single-label"):
        mm.read_npz(write_npz(tmp_path / "d.npz", train_labels=np.zeros((12, 14), np.int64)))
    np.savez(tmp_path / "f.npz", train_images=np.zeros((1, 28, 28), np.uint8))
    with pytest.raises(BenchError, match="missing arrays"):
        mm.read_npz(tmp_path / "f.npz")


def test_unknown_subset():
    with pytest.raises(BenchError, match="known subsets"):
        mm.info("fakemnist")


def _corpus(tmp_path, rows, header="path,prompt,label,modality"):
    (tmp_path / "index.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    return tmp_path


def test_folder_corpus_grey_and_rgb(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(20):
        grey = i % 2 == 0
        arr = rng.integers(0, 256, (40, 40) if grey else (40, 40, 3), dtype=np.uint8)
        Image.fromarray(arr).save(tmp_path / f"im{i}.png")
        mod, lab = ("cxr", "effusion" if i % 4 == 0 else "normal") if grey else ("derm", "nevus")
        rows.append(f"im{i}.png,a {mod} of {lab},{lab},{mod}")
    names, labels, channels, arrays, prompts, _ = load_folder(_corpus(tmp_path, rows), "index.csv", 28, 0)
    assert names == ["cxr", "derm"] and channels == {"cxr": 1, "derm": 3}
    assert arrays["train"][0].shape[1:] == (28, 28, 3)
    assert prompts[(0, 0)] == "a cxr of effusion"


def test_folder_corpus_bad_input(tmp_path):
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "ok.png")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(BenchError, match="missing column\\(s\\) modality"):
        load_folder(_corpus(tmp_path, ["ok.png,p,l"], "path,prompt,label"), "index.csv", 28, 0)
    with pytest.raises(BenchError, match="does not decode"):
        load_folder(_corpus(tmp_path, ["bad.png,p,l,m"]), "index.csv", 28, 0)
    with pytest.raises(BenchError, match="outside the folder"):
        load_folder(_corpus(tmp_path, ["../ok.png,p,l,m"]), "index.csv", 28, 0)
    with pytest.raises(BenchError, match="not found"):
        load_folder(_corpus(tmp_path, ["missing.png,p,l,m"]), "index.csv", 28, 0)
    with pytest.raises(BenchError, match="no rows"):
        load_folder(_corpus(tmp_path, []), "index.csv", 28, 0)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BenchError, match="CSV file not found"):
        load_folder(empty, "index.csv", 28, 0)


def test_float_image_with_nan_is_refused(tmp_path):
    from bench.data.images import to_array

    arr = np.zeros((8, 8), np.float32)
    arr[1, 1] = np.nan
    with pytest.raises(BenchError, match="NaN"):
        to_array(Image.fromarray(arr, mode="F"), 28, "x.tif")
