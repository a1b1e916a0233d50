"""The one interface every generator implements: ``fit()`` then ``sample(prompts, n, seed)``.

A generator is built with its validated parameters, the suite's dataset, a work folder it owns
(``runs/<suite>/<generator>/fit``) and the modalities it covers (all for a generalist, one for a
specialist). ``fit`` trains and saves its state to the work folder and returns compute facts;
``load`` restores that state in a later process, so a finished fit is never redone.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from bench.data.dataset import Dataset, PromptRequest
from bench.data.images import read_image, to_array, write_png
from bench.errors import BenchError
from bench.io import atomic_write_text


@dataclass
class Samples:
    """Generated images (uint8, (N, S, S, 3)) and, per image, the prompt it was asked for."""

    images: np.ndarray
    requests: list[PromptRequest]
    seeds: list[int] = field(default_factory=list)

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


MANIFEST_COLUMNS = ("path", "prompt", "label", "modality", "seed")


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
        rel = f"{mod.key}/class{req.label:02d}_{k:05d}.png"
        write_png(folder / rel, img, mod.channels)
        rows.append({"path": rel, "prompt": req.text, "label": mod.class_names[req.label],
                     "modality": mod.key, "seed": seed})
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return atomic_write_text(folder / "manifest.csv", buf.getvalue())


def read_samples(folder: Path, dataset: Dataset) -> Samples:
    """Read back what :func:`write_samples` wrote (after the PNG round trip)."""
    from bench.data.folder import read_csv_rows
    from bench.data.images import safe_path

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


class Generator:
    """Base class. Subclasses set ``Params`` (a dataclass) and implement ``fit``/``load``/``sample``."""

    kind: ClassVar[str] = ""
    role: ClassVar[str] = "baseline"  # baseline | generalist | specialist | external
    budget_scale: float = 1.0  # specialists under "equal-compute" train for a fraction of the steps

    @dataclass
    class Params:
        pass

    def __init__(self, name: str, params, dataset: Dataset, workdir: Path,
                 modalities: list[int] | None = None, device: str = "cpu"):
        self.name = name
        self.params = params
        self.dataset = dataset
        self.workdir = Path(workdir)
        self.modalities = list(range(len(dataset.modalities))) if modalities is None else list(modalities)
        self.device = device
        self.shared_dir = self.workdir.parent.parent / "_shared"  # suite-level cache (set by the run)

    def train_split(self):
        """The real training images this generator may learn from (its modalities only)."""
        train = self.dataset.splits["train"]
        return train.subset(np.flatnonzero(np.isin(train.modality, self.modalities)))

    def fit(self) -> dict:
        """Learn from the training split; save state into ``self.workdir``; return compute facts."""
        return {}

    def load(self) -> None:
        """Restore the state that ``fit`` saved."""

    def sample(self, prompts: list[PromptRequest], n: int, seed: int) -> Samples:
        raise NotImplementedError

    def check_prompts(self, prompts: list[PromptRequest]) -> None:
        for p in prompts:
            if p.modality not in self.modalities:
                raise BenchError(f"{self.name} does not cover modality "
                                 f"{self.dataset.modalities[p.modality].key!r} (prompt {p.text!r})")
