"""Generated images as the tasks see them (``Samples``) and their folder format: one PNG per image
(native channels) plus ``manifest.csv`` with the columns ``path,prompt,label,modality,seed``.

Every generator's ``sample()`` returns ``Samples``; a run writes them with :func:`write_samples` and
reads them back with :func:`read_samples` (after the PNG round trip, which is what every task scores).
External image folders use the same manifest (``path,prompt`` are required; ``medsyn-bench prompts``
writes the template with :func:`manifest_template`).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.data.dataset import Dataset, PromptRequest
from bench.data.folder import read_csv_rows
from bench.data.images import read_image, safe_path, to_array, write_png
from bench.errors import BenchError
from bench.io import atomic_write_text

MANIFEST_COLUMNS = ("path", "prompt", "label", "modality", "seed")

def image_path(dataset: Dataset, req: PromptRequest, k: int) -> str:
    """The manifest path of image ``k`` of a prompt: ``<modality>/class<label>_<k>.png``."""
    return f"{dataset.modalities[req.modality].key}/class{req.label:02d}_{k:05d}.png"


def _manifest_text(rows: list[dict], columns=None) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns or MANIFEST_COLUMNS, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def manifest_template(dataset: Dataset, n: int) -> str:
    """The manifest an external generator fills in: ``n`` rows (paths to write) for every suite prompt."""
    rows = []
    for req in dataset.prompt_requests():
        mod = dataset.modalities[req.modality]
        rows += [{"path": image_path(dataset, req, k), "prompt": req.text, "label": mod.class_names[req.label],
                  "modality": mod.key} for k in range(n)]
    return _manifest_text(rows, MANIFEST_COLUMNS[:4])


@dataclass
class Samples:
    """Generated images (uint8, (N, S, S, 3)) and, per image, the prompt it was asked for."""

    images: np.ndarray
    requests: list[PromptRequest]
    seeds: list[int] = field(default_factory=list)
    info: dict = field(default_factory=dict)  # how they were made (sampler, steps, FLOPs, wall time), if known

    def __post_init__(self):
        if len(self.images) != len(self.requests):
            raise BenchError(f"{len(self.images)} images for {len(self.requests)} prompts")
        if not self.seeds:
            self.seeds = [0] * len(self.requests)

    @property
    def classes(self) -> np.ndarray:
        return np.array([r.cls for r in self.requests], dtype=np.int64)

    @property
    def modality(self) -> np.ndarray:
        return np.array([r.modality for r in self.requests], dtype=np.int64)

    @property
    def labels(self) -> np.ndarray:
        return np.array([r.label for r in self.requests], dtype=np.int64)

    @property
    def texts(self) -> list[str]:
        return [r.text for r in self.requests]



def write_samples(folder: Path, samples: Samples, dataset: Dataset) -> Path:
    """Write one PNG per image (native channels) and ``manifest.csv``; returns the manifest path."""
    from tqdm import tqdm

    rows = []
    counters: dict[int, int] = {}
    for img, req, seed in tqdm(list(zip(samples.images, samples.requests, samples.seeds)),
                               desc="writing PNGs", unit="img", leave=False):
        mod = dataset.modalities[req.modality]
        k = counters.get(req.cls, 0)
        counters[req.cls] = k + 1
        rel = image_path(dataset, req, k)
        write_png(folder / rel, img, mod.channels)
        rows.append({"path": rel, "prompt": req.text, "label": mod.class_names[req.label],
                     "modality": mod.key, "seed": seed})
    return atomic_write_text(folder / "manifest.csv", _manifest_text(rows))


def read_samples(folder: Path, dataset: Dataset) -> Samples:
    """Read back what :func:`write_samples` wrote (after the PNG round trip)."""
    manifest = folder / "manifest.csv"
    rows = read_csv_rows(manifest, required=("path", "prompt"))
    lookup = dataset.prompt_lookup()
    images, reqs, seeds = [], [], []
    for i, row in enumerate(rows, start=2):
        where = f"{manifest} line {i}"
        if row["prompt"] not in lookup:
            raise BenchError(f"unknown prompt {row['prompt']!r}", where=where,
                             fix="use the prompts listed by: medsyn-bench prompts --suite SUITE")
        path = safe_path(folder, row["path"], where)
        arr, _ = to_array(read_image(path, where), dataset.image_size, where)
        images.append(arr)
        reqs.append(lookup[row["prompt"]])
        seeds.append(int(row["seed"]) if row.get("seed", "").lstrip("-").isdigit() else 0)
    return Samples(np.stack(images), reqs, seeds)
