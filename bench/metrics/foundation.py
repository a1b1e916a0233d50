"""The foundation encoder task: does contrastive pretraining on a generator's image–prompt pairs give
an encoder as good as pretraining on real pairs? (The cardiac-MRI foundation system, as a task.)

In a suite every image is a sequence of ``frames`` identical frames (``frames = 1``: the 2D case).
``prepare`` pretrains on the real train split (images + their prompts, template drawn per image) and
runs the ``real`` and ``scratch`` probes once per suite; ``evaluate`` pretrains on the generator's
samples (``synthetic``) and on real + synthetic (``both``) and probes those. Probes always train on the
real train split (label budgets inside it) and test on the real test split; labels are the suite's
global classes (one-of-K), zero-shot prompts the classes' canonical prompts, groups the modalities.
With ``phantom = true`` the cardiac cine phantom is run once per suite as well and its probe table is
attached to every result under ``"phantom"``. See :mod:`bench.foundation.experiment` for the output.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.columns import MetricColumn
from bench.foundation.experiment import FoundationParams, run_folder, run_phantom, run_sources, summarise
from bench.foundation.probes import budget_names
from bench.foundation.sequences import SequenceSet
from bench.metrics.base import Task
from bench.registry import register_task
from bench.specs import build_dataclass, load_task


def split_sequences(dataset, name: str, frames: int, texts: list[str] | None = None) -> SequenceSet:
    """A dataset split as a :class:`SequenceSet` of ``frames``-frame sequences (uint8 → [0, 1])."""
    s = dataset.splits[name]
    return images_as_sequences(dataset, s.images, s.classes, s.modality, frames,
                               texts if texts is not None else dataset.prompts_for(name))


def images_as_sequences(dataset, images: np.ndarray, classes: np.ndarray, modality: np.ndarray, frames: int,
                        texts: list[str]) -> SequenceSet:
    x = np.repeat((images.astype(np.float32) / 255.0).transpose(0, 3, 1, 2)[:, None], frames, axis=1)
    table = dataset.class_table()
    labels = np.zeros((len(images), dataset.n_classes), np.uint8)
    labels[np.arange(len(images)), classes] = 1
    names = [f"{dataset.modalities[m].key}: {dataset.modalities[m].class_names[l]}" for m, l in table]
    return SequenceSet(x, list(texts), labels, names, np.zeros((len(images), 0)), [],
                       label_prompts=[dataset.prompt(c) for c in range(dataset.n_classes)],
                       exclusive=list(range(dataset.n_classes)), groups=np.asarray(modality, np.int64),
                       group_names=[m.key for m in dataset.modalities],
                       label_groups=np.array([m for m, _ in table], np.int64))


def core_params(params, **changes) -> FoundationParams:
    """The encoder/probe recipe of the task's parameters (the phantom_* keys left out), with changes."""
    names = {f.name for f in dataclasses.fields(FoundationParams)}
    return FoundationParams(**{k: v for k, v in dataclasses.asdict(params).items() if k in names} | changes)


@register_task("foundation")
class FoundationTask(Task):
    """Contrastive pretraining (real / synthetic / both) then zero-shot, linear, fine-tune and scratch probes."""

    shared_stages = "foundation"  # the real-pretrained and scratch probes (and the phantom): metrics only

    @dataclass
    class Params(FoundationParams):
        phantom: bool = False  # also run the cardiac cine phantom (once per suite)
        phantom_train: int = field(default=300, metadata={"check": lambda v: v >= 6, "why": "must be >= 6"})
        phantom_test: int = field(default=150, metadata={"check": lambda v: v >= 6, "why": "must be >= 6"})
        phantom_frames: int = field(default=16, metadata={"check": lambda v: v >= 1, "why": "must be >= 1"})
        phantom_size: int = field(default=32, metadata={"check": lambda v: v >= 16, "why": "must be >= 16"})
        # the generators to pretrain on (empty = all): contrastive pretraining per generator is the costly
        # part, so a CPU suite can limit it to, e.g., the holdout ceiling and the generalist
        generators: list[str] = field(default_factory=list)

    @classmethod
    def columns(cls, params) -> list[MetricColumn]:
        """The synthetic-pretrained encoder's linear probe at the smallest label fraction."""
        if not params.fractions:
            return []
        budget = budget_names([min(params.fractions)], [])[0]
        key = f"synthetic:linear_accuracy@{budget}"
        return [MetricColumn(key, "foundation probe, synthetic-pretrained", "higher", "share",
                             f"test accuracy of a linear probe with {budget} of the labels on an encoder pretrained "
                             "contrastively on the generator's image-prompt pairs (95% CI over seeds); compare with "
                             "real-pretrained in the figure", value=["pooled", key], ci=["pooled", f"{key}_ci"],
                             show_ci=True, order=60)]

    def core_params(self, **changes) -> FoundationParams:
        return core_params(self.params, **changes)

    @property
    def folder(self) -> Path:
        return self.ctx.shared_dir / self.shared_stages

    def prepare(self) -> None:
        ds, p = self.ctx.dataset, self.core_params()
        self.train = split_sequences(ds, "train", p.frames)
        self.test = split_sequences(ds, "test", p.frames)
        inputs = {"params": dataclasses.asdict(p), "data": self.ctx.data_hashes.get("dataset_sha256")}

        def real() -> dict:
            sources = {"real": (self.train.frames, self.train.texts)}
            if p.finetune and p.scratch:
                sources["scratch"] = None
            by_source, pretraining = run_sources(sources, self.train, self.test, p, self.ctx.device, self.ctx.log)
            return {"by_source": by_source, "pretraining": pretraining}

        self.ctx.log("foundation: real-pretrained and from-scratch probes (once per suite)")
        self.real = self.ctx.stage(self.folder, "real", inputs, real)["output"]
        self.phantom = None
        if self.params.phantom:
            pp = self.core_params(frames=self.params.phantom_frames)

            def phantom() -> dict:
                obj = run_phantom(pp, self.params.phantom_train, self.params.phantom_test, self.params.phantom_size,
                                  self.folder / "phantom.json", self.ctx.device, self.ctx.log)
                return {k: obj[k] for k in ("note", "phantom", "wall_time_s", "metrics")}

            self.ctx.log("foundation: cardiac cine phantom (once per suite)")
            self.phantom = self.ctx.stage(self.folder, "phantom", {"params": dataclasses.asdict(self.params)},
                                          phantom)["output"]

    def evaluate(self, gen) -> dict:
        if self.params.generators and gen.entry.name not in self.params.generators:
            return {"skipped": f"not in this suite's foundation generators ({', '.join(self.params.generators)})"}
        ds, p, s = self.ctx.dataset, self.core_params(), gen.samples
        syn = images_as_sequences(ds, s.images, s.classes, s.modality, p.frames, s.texts)
        both = (np.concatenate([self.train.frames, syn.frames]), self.train.texts + syn.texts)
        by_source, pretraining = run_sources({"synthetic": (syn.frames, syn.texts), "both": both}, self.train,
                                             self.test, p, self.ctx.device, self.ctx.log)
        by_source = {**self.real["by_source"], **by_source}
        order = [k for k in ("real", "synthetic", "both", "scratch") if k in by_source]
        out = summarise({k: by_source[k] for k in order}, {**self.real["pretraining"], **pretraining},
                        {"n": {"real_pairs": len(self.train), "synthetic_pairs": len(syn), "probe_train": len(self.train),
                               "probe_test": len(self.test)},
                         "frames": p.frames,
                         "units": "auroc, accuracy: shares; zero-shot chance accuracy = 1 / number of classes"})
        if self.phantom is not None:
            out["phantom"] = self.phantom
        return out


def task_params(spec=None) -> "FoundationTask.Params":
    """The task's parameters from ``tasks/foundation.toml`` (with a suite's ``[overrides.foundation]``)."""
    tspec = load_task("foundation")
    table = {**tspec.params, **(spec.overrides.get("foundation", {}) if spec is not None else {})}
    return build_dataclass(FoundationTask.Params, table, f"{tspec.path} [params]"), tspec


def run_foundation_phantom(out: Path, device: str = "cpu", log=print) -> dict:
    """The phantom path of ``medsyn-bench foundation --phantom``: the task file's parameters with
    ``frames = phantom_frames``; writes ``out`` (its own JSON, ``kind: foundation-phantom``)."""
    params, _ = task_params()
    p = core_params(params, frames=params.phantom_frames)
    return run_phantom(p, params.phantom_train, params.phantom_test, params.phantom_size, out, device, log)


def run_foundation_folder(folder, out: Path, frames: int | None = None, size: int | None = None,
                          device: str = "cpu", log=print) -> dict:
    """``medsyn-bench foundation --folder``: the task file's parameters on a user's sequence folder."""
    params, _ = task_params()
    p = core_params(params, frames=frames or params.phantom_frames)
    return run_folder(folder, p, size, out=out, device=device, log=log)
