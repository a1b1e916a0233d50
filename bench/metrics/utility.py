"""The utility task: when real data is scarce, do a generator's images help a classifier?

For every low-data budget ``n`` (real training images per class: the suite's nested subsets, the same
for every generator), every modality a generator covers and every seed, one ``timm`` classifier over
that modality's classes is trained in each arm:

- ``real``: the budget's real training images of the modality;
- ``real+augment``: the same images with random flips and shifts of up to 2 px (the cheap alternative
  that "synthetic helps" must beat);
- ``synthetic``: only the generator's images of the modality, the first ``synthetic_per_class`` of each
  class. It uses no real training images, so it is trained once per modality and seed and reported
  at every budget;
- ``mixed``: the budget's real images plus those synthetic images.

One recipe for every arm (:func:`bench.reference.classifier.train_classifier`, ``pretrained=False``):
exactly ``steps`` optimisation steps of ``batch_size`` images drawn with replacement, so no arm gets
more updates because its training set is larger; the weights kept are those with the best balanced
accuracy on the modality's real **validation** split (checked every ``eval_every`` steps); metrics on
the modality's real **test** split only: accuracy, balanced accuracy and macro one-vs-rest AUROC
(scikit-learn), all fractions in [0, 1].

Reported per budget, modality and arm: the mean over seeds with a 95 % Student-t interval
(:mod:`bench.stats`). The **gain** of an arm is its metric minus the ``real`` arm's for the same
seed and the same real subset (a paired difference, in fraction points: +0.05 = 5 percentage points),
with its t-interval and a paired test. ``pooled`` averages the evaluated modalities within each seed
first, then proceeds the same way. A generator is evaluated only on the modalities it covers, so a
specialist's row lines up with the generalist's row of the same modality.

The real arms do not depend on the generator: :meth:`UtilityTask.prepare` trains them once under
``runs/<suite>/_shared/utility`` and every generator reuses them; the generator's own arms live under
``runs/<suite>/<generator>/utility``. Every cell (arm × modality × budget × seed) is its own resumable
stage whose marker holds its metrics, so a killed run redoes only unfinished cells.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bench.columns import MetricColumn, pooled_column
from bench.errors import BenchError
from bench.io import sha256_array, sha256_json
from bench.metrics.base import Task
from bench.stats import PAIRED_TESTS, paired_test, t_interval
from bench.registry import register_task

ARMS = ("real", "synthetic", "mixed", "real+augment")
REAL_ARMS = ("real", "real+augment")  # generator-independent, shared by all generators
GAIN_ARMS = ("synthetic", "mixed", "real+augment")  # compared with "real"
METRICS = ("accuracy", "balanced_accuracy", "auroc")
SHORT = {"accuracy": "acc", "balanced_accuracy": "bacc", "auroc": "auroc",
         "real": "real", "synthetic": "synthetic", "mixed": "mixed", "real+augment": "augment"}
CI_LEVEL = 0.95
POOLED = "pooled"

TEST_RATIONALE = {
    "ttest_rel": "paired t-test over seeds: with 3 seeds the exact Wilcoxon signed-rank test cannot give "
                 "p < 0.25, so it could never flag a gain; the t-test assumes roughly normal seed-to-seed "
                 "differences",
    "wilcoxon": "exact Wilcoxon signed-rank test over seeds: no normality assumption, but its smallest "
                "two-sided p-value is 2/2^n for n seeds (0.0625 for 5)",
}


def classification_metrics(labels: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """Accuracy, balanced accuracy and macro AUROC of class probabilities ``proba`` (N, K).

    AUROC is scikit-learn's one-vs-rest AUROC of each class present in ``labels`` (with K = 2 both
    columns give the same value, the ordinary binary AUROC), averaged over those classes; nan if
    fewer than two classes are present.
    """
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, roc_auc_score

    labels = np.asarray(labels)
    pred = proba.argmax(1)
    present = np.unique(labels)
    auroc = (float(np.mean([roc_auc_score(labels == c, proba[:, c]) for c in present]))
             if len(present) >= 2 else float("nan"))
    return {"accuracy": float(accuracy_score(labels, pred)),
            "balanced_accuracy": float(balanced_accuracy_score(labels, pred)),
            "auroc": auroc}


def summary(values: list[float]) -> dict:
    """``{"mean", "ci", "values"}`` of per-seed values (CI: 95 % Student-t interval)."""
    mean, ci = t_interval(values, CI_LEVEL)
    return {"mean": mean, "ci": list(ci), "values": list(values)}


def format_gains(out: dict, metric: str = "accuracy") -> str:
    """A plain-text table of the task's output: per budget, modality and arm, the arm's ``metric`` and
    its paired gain over ``real`` (mean over seeds, 95 % CI, p-value). Budgets ascend, ``pooled`` last."""

    def num(x, fmt: str) -> str:
        return f"{'nan':>6}" if x is None or x != x else format(x, fmt)

    rows = [f"utility ({metric}; mean over seeds, 95% t-interval; gain = arm - real, paired by seed)",
            f"{'budget':>6}  {'modality':<12} {'arm':<13} {'real':>6} {'arm':>6}  {'gain':>6} {'95% CI':^18} {'p':>6}"]
    for n in sorted(out["gains"], key=int):
        by_mod = out["gains"][n]
        for key in sorted(by_mod, key=lambda k: (k == POOLED, k)):
            cells = out["cells"][n][key]
            for arm in (a for a in GAIN_ARMS if a in by_mod[key]):
                g = by_mod[key][arm][metric]
                lo, hi = g["ci"]
                rows.append(f"{n:>6}  {key:<12} {arm:<13} {num(cells['real'][metric]['mean'], '6.3f')} "
                            f"{num(cells[arm][metric]['mean'], '6.3f')}  {num(g['mean'], '+6.3f')} "
                            f"[{num(lo, '+6.3f')}, {num(hi, '+6.3f')}] {num(g['p_value'], '6.3f')}")
    return "\n".join(rows)


@contextlib.contextmanager
def torch_threads(n: int):
    """Run the block with ``n`` torch CPU threads (0: leave as is). Small classifiers gain little from
    intra-op threads, and on a shared CPU extra threads spin and slow every process (measured: one
    60-step cell took 30-70 s with 2 threads under load, 2-4 s with 1)."""
    import torch

    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@dataclass
class TrainingSet:
    """The images and labels (within the modality) of one arm's training set, and what they are."""

    images: np.ndarray  # uint8 (N, S, S, 3)
    labels: np.ndarray  # int64 (N,)
    real_sha256: str | None = None  # the real subset (None: no real images)
    synthetic_sha256: str | None = None  # the synthetic images (None: none)

    def __add__(self, other: "TrainingSet") -> "TrainingSet":
        return TrainingSet(np.concatenate([self.images, other.images]), np.concatenate([self.labels, other.labels]),
                           self.real_sha256 or other.real_sha256, self.synthetic_sha256 or other.synthetic_sha256)


@register_task("utility")
class UtilityTask(Task):
    """Real / synthetic / mixed / augmented classifier training per budget, modality and seed (module doc)."""

    @dataclass
    class Params:
        """``tasks/utility.toml [params]``. Sizes in pixels, ``lr`` the AdamW peak (cosine decay to 0),
        ``seeds`` a count (seeds 0 .. seeds-1), ``synthetic_per_class`` images per class."""

        arch: str = "test_resnet"  # timm architecture, trained from scratch
        input_size: int = field(default=0, metadata={"check": lambda v: v >= 0, "why": "pixels; 0 = native size"})
        steps: int = field(default=60, metadata={"check": lambda v: v > 0, "why": "must be > 0"})
        batch_size: int = field(default=16, metadata={"check": lambda v: v > 0, "why": "must be > 0"})
        lr: float = field(default=3e-3, metadata={"check": lambda v: v > 0, "why": "must be > 0"})
        eval_every: int = field(default=20, metadata={"check": lambda v: v > 0, "why": "must be > 0"})
        seeds: int = field(default=3, metadata={"check": lambda v: v >= 2,
                                                "why": "need at least 2 seeds (0 .. seeds-1) for an interval"})
        synthetic_per_class: int = field(default=20, metadata={"check": lambda v: v > 0, "why": "must be > 0"})
        arms: list[str] = field(default_factory=lambda: list(ARMS),
                                metadata={"choices": ARMS, "check": lambda v: "real" in v,
                                          "why": "gains are measured against the 'real' arm, which must be run"})
        budgets: list[int] = field(default_factory=list)  # empty = every budget of the suite
        paired_test: str = field(default="ttest_rel", metadata={"choices": PAIRED_TESTS})
        threads: int = field(default=1, metadata={"check": lambda v: v >= 0,
                                                  "why": "CPU threads per classifier; 0 = torch's default"})

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        known = sorted(ctx.budgets)
        unknown = sorted(set(params.budgets) - set(known))
        if unknown:
            raise BenchError(f"utility budget {unknown[0]} is not a budget of suite {ctx.spec.name!r}",
                             where=f"{ctx.spec.path} / tasks/utility.toml [params] budgets",
                             fix=f"use some of the suite's [splits] budgets: {known}")
        self.budgets = sorted(params.budgets) if params.budgets else known
        self.seeds = list(range(params.seeds))

    # -- recipe and data -----------------------------------------------------------------------
    def recipe(self) -> dict:
        """What decides a cell's training, besides its data and seed (the keys of its stage hash)."""
        p = self.params
        return {"arch": p.arch, "pretrained": False, "input_size": p.input_size, "steps": p.steps,
                "batch_size": p.batch_size, "lr": p.lr, "eval_every": p.eval_every,
                "selection": "best balanced accuracy on the modality's real val split",
                "evaluation": "the modality's real test split"}

    @classmethod
    def columns(cls, params) -> list[MetricColumn]:
        """The headline gains (accuracy, at the smallest real-data budget) of the mixed and synthetic arms."""
        labels = {"mixed": ("utility gain, real+synthetic", "real + synthetic"),
                  "synthetic": ("utility gain, synthetic only", "synthetic images only")}
        return [pooled_column(f"gain_{SHORT[arm]}_acc", label, "higher", "fraction points",
                              f"test accuracy of a classifier trained on {what} minus real-only (same seed and real "
                              "subset), at the smallest real-data budget (95% CI over seeds)",
                              ci=True, per_modality_ci=True, show_ci=True, signed=True, order=10 + i,
                              rank=1 if arm == "mixed" else None)
                for i, (arm, (label, what)) in enumerate(labels.items()) if arm in params.arms]

    def real_set(self, n: int, m: int) -> TrainingSet:
        """Budget ``n``'s real training images of modality ``m`` (the suite's nested subset)."""
        train = self.ctx.dataset.splits["train"]
        idx = self.ctx.budgets[n]
        sub = train.subset(idx[train.modality[idx] == m])
        return TrainingSet(sub.images, sub.labels, real_sha256=sha256_json(sub.hash()))

    def synthetic_set(self, samples, m: int) -> tuple[TrainingSet, list[int]]:
        """The first ``synthetic_per_class`` images of each class of modality ``m``; and the count per class."""
        k = self.params.synthetic_per_class
        n_cls = len(self.ctx.dataset.modalities[m].class_names)
        mod, lab = samples.modality, samples.labels
        take = [np.flatnonzero((mod == m) & (lab == c))[:k] for c in range(n_cls)]
        idx = np.concatenate(take)
        images, labels = samples.images[idx], lab[idx]
        h = sha256_json({"images": sha256_array(images), "labels": sha256_array(labels)})
        return TrainingSet(images, labels, synthetic_sha256=h), [len(t) for t in take]

    # -- one cell ------------------------------------------------------------------------------
    def cell(self, folder: Path, arm: str, m: int, n: int | None, seed: int, data: TrainingSet) -> dict:
        """Train and test one classifier (resumable stage); returns its marker's output.

        ``n`` is None for the synthetic arm, which does not depend on the budget.
        """
        key = self.ctx.dataset.modalities[m].key
        name = f"utility-{key}-{arm.replace('+', '-')}-{'n' + str(n) if n is not None else 'all'}-s{seed}"
        inputs = {"recipe": self.recipe(), "arm": arm, "modality": key, "budget": n, "seed": seed,
                  "real_sha256": data.real_sha256, "synthetic_sha256": data.synthetic_sha256,
                  "data": self.ctx.data_hashes.get("dataset_sha256")}

        def train() -> dict:
            from bench.reference.classifier import predict_proba, train_classifier

            ds, p = self.ctx.dataset, self.params
            val, test = (ds.splits[s].subset(np.flatnonzero(ds.splits[s].modality == m)) for s in ("val", "test"))
            with torch_threads(p.threads):
                model, info = train_classifier(
                    data.images, data.labels, len(ds.modalities[m].class_names), arch=p.arch,
                    input_size=p.input_size, steps=p.steps, batch_size=p.batch_size, lr=p.lr, seed=seed,
                    device=self.ctx.device, val=(val.images, val.labels), eval_every=p.eval_every,
                    use_augment=arm == "real+augment", desc=f"{key} {arm} n={n} s{seed}")
                proba = predict_proba(model, test.images, device=self.ctx.device)
            return {"arm": arm, "modality": key, "budget": n, "seed": seed, "n_train": int(len(data.labels)),
                    "real_sha256": data.real_sha256, "synthetic_sha256": data.synthetic_sha256,
                    "n_test": len(test), "best_step": info.best_step,
                    "best_val_balanced_accuracy": info.best_val_balanced_accuracy,
                    "final_loss": info.final_loss, "metrics": classification_metrics(test.labels, proba)}

        return self.ctx.stage(folder / "utility", name, inputs, train)["output"]

    def real_cell(self, arm: str, m: int, n: int, seed: int) -> dict:
        return self.cell(self.ctx.shared_dir, arm, m, n, seed, self.real_set(n, m))

    # -- suite level ---------------------------------------------------------------------------
    def prepare(self) -> None:
        """Train the generator-independent arms (``real``, ``real+augment``) of every cell once."""
        arms = [a for a in REAL_ARMS if a in self.params.arms]
        todo = [(a, m, n, s) for n in self.budgets for m in range(len(self.ctx.dataset.modalities))
                for a in arms for s in self.seeds]
        for a, m, n, s in tqdm(todo, desc="utility: real arms", unit="cell", mininterval=1.0):
            self.real_cell(a, m, n, s)

    # -- one generator -------------------------------------------------------------------------
    def modalities(self, gen) -> tuple[list[int], list[str]]:
        """The modalities to evaluate (covered by the generator and present in its samples), and notes."""
        covered = gen.entry.modalities
        covered = list(range(len(self.ctx.dataset.modalities))) if covered is None else list(covered)
        present = set(np.unique(gen.samples.modality).tolist())
        notes = [f"{self.ctx.dataset.modalities[m].key}: covered but no samples; not evaluated"
                 for m in covered if m not in present]
        return [m for m in covered if m in present], notes

    def evaluate(self, gen) -> dict:
        ds, arms = self.ctx.dataset, self.params.arms
        mods, notes = self.modalities(gen)
        if not mods:
            raise BenchError(f"generator {gen.entry.name!r} has no samples of any modality it covers",
                             where=str(gen.folder / "samples"))
        # values[n][modality key][arm][metric] = per-seed list (seed order)
        values: dict[int, dict[str, dict[str, dict[str, list[float]]]]] = {}
        subset_hashes: dict[str, dict[str, str]] = {}
        synthetic_info: dict[str, dict] = {}
        per_budget = [a for a in arms if a != "synthetic"]
        total = len(mods) * len(self.seeds) * (("synthetic" in arms) + len(self.budgets) * len(per_budget))
        bar = tqdm(total=total, desc=f"utility: {gen.entry.name}", unit="cell", mininterval=1.0)
        for m in mods:
            key = ds.modalities[m].key
            syn, counts = self.synthetic_set(gen.samples, m)
            synthetic_info[key] = {"per_class": counts, "sha256": syn.synthetic_sha256}
            if min(counts) < self.params.synthetic_per_class:
                notes.append(f"{key}: fewer than {self.params.synthetic_per_class} synthetic images for some "
                             f"class (per class: {counts})")
            for seed in self.seeds:
                out = {}
                if "synthetic" in arms:
                    out["synthetic"] = self.cell(gen.folder, "synthetic", m, None, seed, syn)
                    bar.update()
                for n in self.budgets:
                    real = self.real_set(n, m)
                    for arm in per_budget:
                        if arm in REAL_ARMS:
                            out[arm] = self.real_cell(arm, m, n, seed)
                        else:
                            out[arm] = self.cell(gen.folder, arm, m, n, seed, real + syn)
                        bar.update()
                    # the paired comparison must use the very same real images in every real-based arm
                    hashes = {out[a]["real_sha256"] for a in per_budget}
                    if hashes != {real.real_sha256}:
                        raise BenchError(f"utility {key} budget {n} seed {seed}: arms were trained on different "
                                         f"real subsets", where=str(gen.folder / "utility"),
                                         fix="delete the utility stage markers and rerun")
                    subset_hashes.setdefault(str(n), {})[key] = real.real_sha256
                    for arm in arms:
                        for metric in METRICS:
                            (values.setdefault(n, {}).setdefault(key, {}).setdefault(arm, {})
                             .setdefault(metric, []).append(out[arm]["metrics"][metric]))
        bar.close()
        for n in values:  # pooled: the mean over evaluated modalities, seed by seed
            per_mod = list(values[n].values())
            values[n][POOLED] = {arm: {metric: np.mean([v[arm][metric] for v in per_mod], axis=0).tolist()
                                       for metric in METRICS} for arm in arms}
        return self.report(values, subset_hashes, synthetic_info, notes)

    # -- aggregation ---------------------------------------------------------------------------
    def report(self, values: dict, subset_hashes: dict, synthetic_info: dict, notes: list[str]) -> dict:
        """Turn per-seed values into cells, paired gains and the headline numbers (see module doc)."""
        arms, test = self.params.arms, self.params.paired_test
        cells, gains = {}, {}
        for n, by_mod in values.items():
            for key, by_arm in by_mod.items():
                cells.setdefault(str(n), {})[key] = {
                    arm: {metric: summary(by_arm[arm][metric]) for metric in METRICS} for arm in arms}
                g = {}
                for arm in (a for a in GAIN_ARMS if a in arms):
                    g[arm] = {}
                    for metric in METRICS:
                        a, r = np.asarray(by_arm[arm][metric]), np.asarray(by_arm["real"][metric])
                        g[arm][metric] = {**summary((a - r).tolist()), "p_value": paired_test(a, r, test),
                                          "test": test}
                gains.setdefault(str(n), {})[key] = g
        smallest = str(min(values))

        def headline(key: str) -> dict:
            h = {"budget": int(smallest)}
            for arm in arms:
                for metric in METRICS:
                    c = cells[smallest][key][arm][metric]
                    h[f"{SHORT[arm]}_{SHORT[metric]}"], h[f"{SHORT[arm]}_{SHORT[metric]}_ci"] = c["mean"], c["ci"]
            for arm, by_metric in gains[smallest][key].items():
                for metric, c in by_metric.items():
                    base = f"gain_{SHORT[arm]}_{SHORT[metric]}"
                    h[base], h[f"{base}_ci"], h[f"{base}_p"] = c["mean"], c["ci"], c["p_value"]
            return h

        return {
            POOLED: headline(POOLED),
            "per_modality": {key: headline(key) for key in cells[smallest] if key != POOLED},
            "cells": cells,
            "gains": gains,
            "subset_hashes": subset_hashes,
            "synthetic": synthetic_info,
            "protocol": {**self.recipe(), "arms": list(arms), "budgets": self.budgets, "seeds": self.seeds,
                         "synthetic_per_class": self.params.synthetic_per_class,
                         "synthetic_arm": "no real training images: trained once per modality and seed, "
                                          "the same values shown at every budget",
                         "gain": "arm minus real, same seed and same real subset; fraction points",
                         "ci": f"{CI_LEVEL:.0%} Student-t interval over seeds",
                         "pooled": "mean over the evaluated modalities within each seed",
                         "paired_test": test, "paired_test_why": TEST_RATIONALE[test],
                         "headline_budget": int(smallest)},
            "notes": notes,
        }
