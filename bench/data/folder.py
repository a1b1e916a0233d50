"""A folder of images plus a CSV (``path,prompt,label,modality[,split]``): any other corpus.

This is how users bring MIMIC-CXR, ISIC or their own data. ``path`` is relative to the folder;
``split`` (train / val / test), when present, fixes the split, otherwise a seeded stratified
70 / 10 / 20 split is drawn. ``prompt`` is the image's text; a class's canonical prompt (the one
generators are asked to draw) is its most frequent prompt.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bench.data.images import read_image, safe_path, to_array
from bench.errors import BenchError

REQUIRED_COLUMNS = ("path", "prompt", "label", "modality")


def read_csv_rows(csv_path: Path, required=REQUIRED_COLUMNS) -> list[dict[str, str]]:
    if not csv_path.is_file():
        raise BenchError("CSV file not found", where=str(csv_path),
                         fix=f"create it with the columns {','.join(required)}")
    try:
        with open(csv_path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            columns = [c.strip() for c in (reader.fieldnames or [])]
            missing = [c for c in required if c not in columns]
            if missing:
                raise BenchError(f"missing column(s) {', '.join(missing)} (found: {', '.join(columns) or 'none'})",
                                 where=str(csv_path), fix=f"the header must include {','.join(required)}")
            rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in reader]
    except UnicodeDecodeError as exc:
        raise BenchError(f"CSV is not UTF-8 text ({exc})", where=str(csv_path)) from exc
    if not rows:
        raise BenchError("CSV has a header but no rows", where=str(csv_path), fix="list at least one image")
    for i, row in enumerate(rows, start=2):
        empty = [c for c in required if not row.get(c)]
        if empty:
            raise BenchError(f"line {i}: empty {', '.join(empty)}", where=str(csv_path))
    return rows


def load_folder(root: Path, csv_name: str, size: int, seed: int):
    """Read the corpus; returns modalities, per-split arrays and per-class canonical prompts."""
    if not root.is_dir():
        raise BenchError("corpus folder not found", where=str(root),
                         fix="set [data] root in the suite or pass --data-root")
    csv_path = root / csv_name
    rows = read_csv_rows(csv_path)
    modality_names = sorted({r["modality"] for r in rows})
    labels_by_mod = {m: sorted({r["label"] for r in rows if r["modality"] == m}) for m in modality_names}
    images, channels_seen = [], {m: set() for m in modality_names}
    for i, row in enumerate(tqdm(rows, desc=f"reading {csv_path.name}", unit="img", leave=False)):
        where = f"{csv_path} line {i + 2}"
        path = safe_path(root, row["path"], where)
        arr, ch = to_array(read_image(path, where), size, where)
        images.append(arr)
        channels_seen[row["modality"]].add(ch)
    channels = {m: (3 if 3 in channels_seen[m] else 1) for m in modality_names}
    mod_idx = np.array([modality_names.index(r["modality"]) for r in rows], dtype=np.int64)
    lab_idx = np.array([labels_by_mod[r["modality"]].index(r["label"]) for r in rows], dtype=np.int64)
    has_split = any(r.get("split") for r in rows)
    if has_split:
        bad = sorted({r.get("split", "") for r in rows} - {"train", "val", "test"})
        if bad:
            raise BenchError(f"unknown split value {bad[0]!r}", where=str(csv_path),
                             fix="split must be train, val or test (or leave the column out)")
        split_of = np.array([r["split"] for r in rows])
    else:
        split_of = _random_split(mod_idx * 10_000 + lab_idx, seed)
    prompts = {}
    for m, mod in enumerate(modality_names):
        for l, lab in enumerate(labels_by_mod[mod]):
            texts = [r["prompt"] for r in rows if r["modality"] == mod and r["label"] == lab]
            prompts[(m, l)] = Counter(texts).most_common(1)[0][0]
    stacked = np.stack(images)
    arrays = {}
    for s in ("train", "val", "test"):
        idx = np.flatnonzero(split_of == s)
        arrays[s] = (stacked[idx], lab_idx[idx], mod_idx[idx], idx, [rows[j]["prompt"] for j in idx])
    return modality_names, labels_by_mod, channels, arrays, prompts, str(csv_path)


def _random_split(strata: np.ndarray, seed: int, fractions=(0.7, 0.1, 0.2)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty(len(strata), dtype=object)
    for s in np.unique(strata):
        idx = np.flatnonzero(strata == s)
        idx = idx[rng.permutation(len(idx))]
        n_train = max(1, int(round(fractions[0] * len(idx))))
        n_val = int(round(fractions[1] * len(idx)))
        out[idx[:n_train]] = "train"
        out[idx[n_train:n_train + n_val]] = "val"
        out[idx[n_train + n_val:]] = "test"
    return out.astype(str)
