"""Turn a suite's ``[data]`` spec into a :class:`~bench.data.dataset.Dataset` with fixed splits.

Splits: MedMNIST's official train / val / test, with the official test split cut (stratified by class,
fixed seed) into ``test`` (evaluation) and ``holdout`` (real images no model trains on: the ``holdout``
generator draws from it). The held-out share is ``[splits] holdout_fraction``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.data import medmnist as mm
from bench.data.dataset import Dataset, Modality, Split
from bench.data.images import RESIZE_RULE
from bench.errors import BenchError
from bench.specs import SuiteSpec


def _cut_holdout(classes: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split indices of the official test split into (test, holdout), stratified by class."""
    rng = np.random.default_rng(seed + 7919)
    test, hold = [], []
    for c in np.unique(classes):
        idx = np.flatnonzero(classes == c)
        idx = idx[rng.permutation(len(idx))]
        k = int(round(fraction * len(idx)))
        hold.append(idx[:k])
        test.append(idx[k:])
    return np.sort(np.concatenate(test)), np.sort(np.concatenate(hold))


def _to_rgb(images: np.ndarray) -> np.ndarray:
    return np.repeat(images[..., None], 3, axis=3) if images.ndim == 3 else images


def _cap(labels: np.ndarray, cap: int, seed: int) -> np.ndarray:
    if cap <= 0:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    keep = [np.sort(rng.permutation(np.flatnonzero(labels == c))[:cap]) for c in np.unique(labels)]
    return np.sort(np.concatenate(keep))


def load_dataset(spec: SuiteSpec, data_root: str | None = None) -> Dataset:
    d = spec.data
    where = f"{spec.path} [data]"
    if d.source == "folder":
        return _load_folder(spec, data_root)
    if d.source == "embedded" and d.image_size != 28:
        raise BenchError(f"the embedded sample is 28 px, not {d.image_size}", where=where,
                         fix="set image_size = 28 or use source = \"medmnist\"")
    modalities, parts, warnings, prov = [], {s: [] for s in ("train", "val", "test")}, [], {}
    for m, subset in enumerate(d.subsets):
        meta = mm.info(subset)
        names = mm.class_names(subset)
        modalities.append(Modality(subset, mm.MODALITY_PHRASES[subset], int(meta["n_channels"]), names,
                                   meta["license"], "MedMNIST v2 (Yang et al. 2023)"))
        if d.source == "embedded":
            arrays, index = mm.load_embedded(subset)
            prov[subset] = {"file": "bench/data/embedded/" + mm.EMBEDDED_FILE.name, "note": "embedded stratified sample"}
        else:
            arrays, w, prov[subset] = mm.load_subset(subset, d.image_size, data_root or d.root or None)
            warnings += w
            index = {s: np.arange(len(arrays[s][1])) for s in arrays}
        for s in ("train", "val", "test"):
            images, labels = arrays[s]
            if images.shape[1] != d.image_size:
                raise BenchError(f"{subset} {s} images are {images.shape[1]} px, the suite asks for "
                                 f"{d.image_size}", where=where)
            if labels.size and labels.max() >= len(names):
                raise BenchError(f"{subset} {s} has label {labels.max()} but only {len(names)} classes",
                                 where=where)
            keep = _cap(labels, d.max_per_class if s == "train" else 0, spec.splits.seed)
            parts[s].append((_to_rgb(images[keep]), labels[keep], np.full(len(keep), m), index[s][keep]))
    ds = Dataset(spec.name, modalities, {}, list(spec.prompts.templates), d.image_size,
                 {"source": d.source, "subsets": prov, "resize_rule": RESIZE_RULE}, warnings)
    for s, chunks in parts.items():
        images = np.concatenate([c[0] for c in chunks])
        labels = np.concatenate([c[1] for c in chunks]).astype(np.int64)
        mods = np.concatenate([c[2] for c in chunks]).astype(np.int64)
        src = np.concatenate([c[3] for c in chunks]).astype(np.int64)
        classes = np.array([ds.class_index(int(m), int(l)) for m, l in zip(mods, labels)], dtype=np.int64)
        ds.splits[s] = Split(images, labels, mods, classes, src)
    _finish(ds, spec, where)
    return ds


def _finish(ds: Dataset, spec: SuiteSpec, where: str) -> None:
    test, hold = _cut_holdout(ds.splits["test"].classes, spec.splits.holdout_fraction, spec.splits.seed)
    full_test = ds.splits["test"]
    ds.splits["test"] = full_test.subset(test)
    ds.splits["holdout"] = full_test.subset(hold)
    ds.splits = {s: ds.splits[s] for s in ("train", "val", "holdout", "test")}
    ds.validate(where)


def _load_folder(spec: SuiteSpec, data_root: str | None) -> Dataset:
    from bench.data.folder import load_folder

    d = spec.data
    root = Path(data_root or d.root or "")
    where = f"{spec.path} [data]"
    if not (data_root or d.root):
        raise BenchError("a folder corpus needs a root", where=where,
                         fix="set root = \"/path/to/folder\" in [data] or pass --data-root")
    mod_names, labels_by_mod, channels, arrays, prompts, csv_path = load_folder(
        root, d.csv, d.image_size, spec.splits.seed)
    modalities = [Modality(m, m, channels[m], tuple(labels_by_mod[m]), "", csv_path) for m in mod_names]
    ds = Dataset(spec.name, modalities, {}, list(spec.prompts.templates), d.image_size,
                 {"source": "folder", "csv": Path(csv_path).name, "resize_rule": "PIL Lanczos to the suite size"})
    ds.class_prompts = [prompts[(m, l)] for m, l in ds.class_table()]
    for s, (images, labels, mods, src, _texts) in arrays.items():
        classes = np.array([ds.class_index(int(m), int(l)) for m, l in zip(mods, labels)], dtype=np.int64)
        ds.splits[s] = Split(images.reshape(-1, d.image_size, d.image_size, 3), labels, mods, classes, src)
    _finish(ds, spec, where)
    return ds
