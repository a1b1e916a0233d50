"""The in-memory dataset every generator and metric sees.

Images are ``uint8`` arrays of shape ``(N, S, S, 3)``: grey modalities are replicated to three channels
in memory and written back as single-channel PNGs (``Modality.channels`` keeps the native count).
A class is the pair (modality, label); ``Split.classes`` numbers these pairs globally.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bench.errors import BenchError
from bench.io import sha256_array, sha256_json

SPLITS = ("train", "val", "holdout", "test")


@dataclass(frozen=True)
class Modality:
    """One imaging modality of a suite: its key, prompt phrase, native channels and class names."""

    key: str  # e.g. "bloodmnist"
    phrase: str  # e.g. "blood cell microscopy" (used in prompts)
    channels: int  # 1 (grey) or 3 (RGB) on disk
    class_names: tuple[str, ...]
    licence: str = ""
    source: str = ""


@dataclass(frozen=True)
class PromptRequest:
    """A prompt a generator is asked to draw, with the class it asks for."""

    text: str
    modality: int  # index into Dataset.modalities
    label: int  # class index within that modality
    cls: int  # global class index


@dataclass
class Split:
    images: np.ndarray  # uint8 (N, S, S, 3)
    labels: np.ndarray  # int64 (N,), label within modality
    modality: np.ndarray  # int64 (N,), index into Dataset.modalities
    classes: np.ndarray  # int64 (N,), global class index
    source_index: np.ndarray  # int64 (N,), row in the original file (for provenance)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def subset(self, idx: np.ndarray) -> "Split":
        idx = np.asarray(idx, dtype=np.int64)
        return Split(self.images[idx], self.labels[idx], self.modality[idx], self.classes[idx],
                     self.source_index[idx])

    def hash(self) -> dict[str, object]:
        """Content hashes: the index arrays and the pixel data (sha256), and the count."""
        return {
            "n": len(self),
            "index_sha256": sha256_json({
                "source_index": sha256_array(self.source_index),
                "labels": sha256_array(self.labels),
                "modality": sha256_array(self.modality),
            }),
            "pixels_sha256": sha256_array(self.images),
        }


@dataclass
class Dataset:
    name: str
    modalities: list[Modality]
    splits: dict[str, Split]
    templates: list[str]
    image_size: int
    provenance: dict[str, object] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    class_prompts: list[str] | None = None  # folder corpora: one prompt per class from the CSV

    @property
    def n_templates(self) -> int:
        return 1 if self.class_prompts else len(self.templates)

    # -- classes and prompts ------------------------------------------------------------------
    def class_table(self) -> list[tuple[int, int]]:
        """(modality index, label) for every global class index, in order."""
        return [(m, l) for m, mod in enumerate(self.modalities) for l in range(len(mod.class_names))]

    @property
    def n_classes(self) -> int:
        return sum(len(m.class_names) for m in self.modalities)

    def class_index(self, modality: int, label: int) -> int:
        return sum(len(m.class_names) for m in self.modalities[:modality]) + label

    def prompt(self, cls: int, template: int = 0) -> str:
        if self.class_prompts:
            return self.class_prompts[cls]
        m, l = self.class_table()[cls]
        mod = self.modalities[m]
        return self.templates[template].format(modality=mod.phrase, label=mod.class_names[l])

    def prompt_requests(self, modalities: list[int] | None = None) -> list[PromptRequest]:
        """The canonical prompt (first template) of every class, optionally of some modalities only."""
        out = []
        for cls, (m, l) in enumerate(self.class_table()):
            if modalities is None or m in modalities:
                out.append(PromptRequest(self.prompt(cls), m, l, cls))
        return out

    def prompt_lookup(self) -> dict[str, PromptRequest]:
        """Every prompt text of every template, mapped to the class it asks for."""
        table = {}
        for cls, (m, l) in enumerate(self.class_table()):
            for t in range(self.n_templates):
                table[self.prompt(cls, t)] = PromptRequest(self.prompt(cls, t), m, l, cls)
        return table

    def prompts_for(self, split: str, seed: int = 0) -> list[str]:
        """One prompt per image of a split; the template is drawn per image with a fixed seed."""
        s = self.splits[split]
        rng = np.random.default_rng(seed)
        tpl = rng.integers(0, self.n_templates, size=len(s))
        return [self.prompt(int(c), int(t)) for c, t in zip(s.classes, tpl)]

    # -- hashes and budgets ---------------------------------------------------------------------
    def hashes(self) -> dict[str, object]:
        split_hashes = {name: s.hash() for name, s in self.splits.items()}
        return {"dataset_sha256": sha256_json(split_hashes), "splits": split_hashes}

    def budget_indices(self, budgets: list[int], seed: int) -> dict[int, np.ndarray]:
        """Nested low-data subsets of the train split: ``n`` images per class for each budget.

        One seeded permutation per class; budget ``n`` takes its first ``n`` entries, so a smaller
        budget is always inside a larger one, and every generator sees the same subsets.
        A class with fewer than ``n`` images contributes all it has.
        """
        train = self.splits["train"]
        rng = np.random.default_rng(seed)
        perms = {}
        for c in range(self.n_classes):
            idx = np.flatnonzero(train.classes == c)
            perms[c] = idx[rng.permutation(len(idx))]
        out = {}
        for n in sorted(budgets):
            out[n] = np.sort(np.concatenate([perms[c][:n] for c in range(self.n_classes)]))
        return out

    def validate(self, where: str) -> None:
        for name, s in self.splits.items():
            if s.images.ndim != 4 or s.images.shape[1:] != (self.image_size, self.image_size, 3):
                raise BenchError(f"split {name!r} has images of shape {s.images.shape[1:]}, expected "
                                 f"({self.image_size}, {self.image_size}, 3)", where=where)
            if s.images.dtype != np.uint8:
                raise BenchError(f"split {name!r} has dtype {s.images.dtype}, expected uint8", where=where)
            if not (len(s.labels) == len(s.modality) == len(s.classes) == len(s)):
                raise BenchError(f"split {name!r}: images and labels differ in count", where=where)
        if len(self.splits["train"]) == 0:
            raise BenchError("the train split is empty", where=where)
