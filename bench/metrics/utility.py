"""The utility task: when real data is scarce, what is a generator's image worth to a classifier?

For every low-data budget ``n`` (real training images per class: the suite's nested subsets, the same
for every generator), every modality a generator covers and every seed, one ``timm`` classifier over
that modality's classes is trained in each arm — the four regimes the field reports, and two cheap
alternatives that "synthetic data helps" must beat:

- ``real``: the budget's real training images of the modality; run at **every** budget of the suite
  (the *real ladder*, e.g. 1 … 500 per class), since it is shared by all generators;
- ``real+augment``: the same images with random flips and 2-px shifts (weak augmentation);
- ``real+strong``: the same images with TrivialAugmentWide and MixUp/CutMix (strong augmentation,
  :func:`bench.augment.strong_augment`);
- ``synthetic``: only the generator's images of the modality, the first ``k`` of each class, for every
  ``k`` of ``synthetic_counts`` (the *quantity curve*). It uses no real training images, so it is trained
  once per modality, count and seed and reported at every budget (at ``k = synthetic_per_class``);
- ``mixed``: the budget's real images plus ``synthetic_per_class`` synthetic images per class (and, at
  the smallest budget, every count of ``synthetic_counts``: the mixed quantity curve);
- ``pretrain+finetune``: the ``synthetic`` arm's classifier (pretraining on ``synthetic_per_class``
  synthetic images per class, with that arm's schedule) fine-tuned on the budget's real images with the
  ``real`` arm's schedule for that budget (RoentGen-v2's regime). Both phases select on the real
  validation split.

The classifier recipe (:func:`bench.reference.classifier.train_classifier`, ``pretrained=False``) scales
training with the training set: ``steps = ceil(epochs × N / batch_size)`` optimisation steps for N
training images of K classes, at least ``max(min_steps, ceil(min_per_class × K / batch_size))`` (every
class drawn about ``min_per_class`` times, so a tiny set is not under-trained) and at most ``max_steps``
(``steps`` > 0 instead fixes every arm's length,
the version-1 protocol); batches are drawn with replacement; the weights kept are those with the best
balanced accuracy on a fixed class-stratified subset of the modality's real **validation** split
(at most ``val_per_class`` per class, checked ``evals`` times, evenly spaced); metrics on the modality's
real **test** split only: accuracy, balanced accuracy and macro one-vs-rest AUROC (scikit-learn), all
fractions in [0, 1]. A **sanity row** trains the ``real`` recipe on the modality's whole training split
and puts its test accuracy beside the MedMNIST v2 ResNet-18 (28 px) figure — when that split is
MedMNIST's official one (not for the embedded sample, whose 60 images per class have no such figure).

Reported per budget, modality and arm: the mean over seeds with a 95 % Student-t interval
(:mod:`bench.stats`). The **gain** of an arm is its metric minus the ``real`` arm's for the same
seed and the same real subset (a paired difference, in fraction points: +0.05 = 5 percentage points),
with its t-interval and a paired test. ``pooled`` averages the evaluated modalities within each seed
first, then proceeds the same way. The **real-data equivalent** of an arm's accuracy is the number of
real images per class the real ladder needs to reach it (:func:`real_data_equivalent`: isotonic in
log n, linear interpolation in log n, per seed), summarised by the geometric mean over seeds with a
t-interval in log n; its **multiplier** is that number over the budget (MediSyn's "2× the real data"
is a multiplier of 2). A generator is evaluated only on the modalities it covers, so a specialist's row
lines up with the generalist's row of the same modality.

The real arms and the sanity row do not depend on the generator: :meth:`UtilityTask.prepare` trains them
once under ``runs/<suite>/_shared/utility`` and every generator reuses them; the generator's own arms
live under ``runs/<suite>/<generator>/utility``. Every cell (arm × modality × budget × count × seed) is
its own resumable stage whose marker holds its metrics, so a killed run redoes only unfinished cells.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bench.columns import MetricColumn, pooled_column
from bench.data.medmnist import MODALITY_PHRASES, info
from bench.errors import BenchError
from bench.io import sha256_array, sha256_json
from bench.metrics.base import Task
from bench.stats import PAIRED_TESTS, paired_test, t_interval
from bench.registry import register_task

ARMS = ("real", "real+augment", "real+strong", "synthetic", "mixed", "pretrain+finetune")
REAL_ARMS = ("real", "real+augment", "real+strong")  # generator-independent, shared by all generators
GENERATOR_ARMS = ("synthetic", "mixed", "pretrain+finetune")
GAIN_ARMS = ("synthetic", "mixed", "pretrain+finetune", "real+augment", "real+strong")  # compared with "real"
AUGMENT_OF = {"real+augment": "weak", "real+strong": "strong"}
METRICS = ("accuracy", "balanced_accuracy", "auroc")
SHORT = {"accuracy": "acc", "balanced_accuracy": "bacc", "auroc": "auroc",
         "real": "real", "synthetic": "synthetic", "mixed": "mixed", "real+augment": "augment",
         "real+strong": "strong", "pretrain+finetune": "pft"}
CI_LEVEL = 0.95
POOLED = "pooled"
# Test accuracy of ResNet-18 at 28 px, trained on the whole official training split: MedMNIST v2
# (Yang et al., Scientific Data 2023, Table 3). The sanity row's bar is this minus SANITY_POINTS.
MEDMNIST_RESNET18_28 = {"bloodmnist": 0.958, "organamnist": 0.935, "breastmnist": 0.863}
SANITY_POINTS = 0.05

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

    rows = [f"utility ({metric}; mean over seeds, 95% t-interval; gain = arm - real, paired by seed; "
            "equiv. = real images per class the real ladder needs to match the arm, over the budget)",
            f"{'budget':>6}  {'modality':<12} {'arm':<17} {'real':>6} {'arm':>6}  {'gain':>6} {'95% CI':^18} {'p':>6}"
            f"  {'equiv.':>7}"]
    equivalent = out.get("equivalent") or {}
    for n in sorted(out["gains"], key=int):
        by_mod = out["gains"][n]
        for key in sorted(by_mod, key=lambda k: (k == POOLED, k)):
            cells = out["cells"][n][key]
            for arm in (a for a in GAIN_ARMS if a in by_mod[key]):
                g = by_mod[key][arm][metric]
                lo, hi = g["ci"]
                e = equivalent.get(n, {}).get(key, {}).get(arm)
                eq = (({"beyond": ">=", "below": "<="}.get(e["status"], "") + f"{e['multiplier']:.2g}x")
                      if e else "")
                rows.append(f"{n:>6}  {key:<12} {arm:<17} {num(cells['real'][metric]['mean'], '6.3f')} "
                            f"{num(cells[arm][metric]['mean'], '6.3f')}  {num(g['mean'], '+6.3f')} "
                            f"[{num(lo, '+6.3f')}, {num(hi, '+6.3f')}] {num(g['p_value'], '6.3f')}  {eq:>7}")
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


def real_data_equivalent(ladder_n, ladder_values, value: float) -> tuple[float, str]:
    """The real images per class the real ladder needs to reach ``value``, and where that lies.

    The ladder (budgets ``ladder_n``, ascending, > 0; the real arm's metric at each) is made monotone by
    isotonic regression in log n (scikit-learn), and ``value`` is read off it by linear interpolation in
    log n between the two budgets around it. Returns ``(n, "within")``; ``(ladder_n[0], "below")`` when
    ``value`` is at most the fitted curve at the smallest budget; ``(ladder_n[-1], "beyond")`` when it is
    above the fitted curve at the largest (the ladder cannot say how many real images it is worth).
    """
    from sklearn.isotonic import IsotonicRegression

    n = np.asarray(ladder_n, dtype=float)
    if len(n) < 2 or np.any(np.diff(n) <= 0) or n[0] <= 0:
        raise ValueError(f"the ladder needs at least two ascending positive budgets, got {list(ladder_n)}")
    x = np.log(n)
    f = IsotonicRegression(increasing=True).fit_transform(x, np.asarray(ladder_values, dtype=float))
    if value <= f[0]:
        return float(n[0]), "below"
    if value > f[-1]:
        return float(n[-1]), "beyond"
    i = int(np.argmax(f >= value))  # first budget at or above value; f[i-1] < value <= f[i]
    t = (value - f[i - 1]) / (f[i] - f[i - 1])
    return float(np.exp(x[i - 1] + t * (x[i] - x[i - 1]))), "within"


def equivalent_summary(per_seed: list[tuple[float, str]], budget: int) -> dict:
    """Per-seed real-data equivalents → geometric mean over seeds with a 95 % t-interval in log n, the
    multiplier (equivalent / ``budget``) and a status: ``within`` when every seed lies on the ladder;
    ``beyond`` / ``below`` when some seed lies past its top / under its bottom (the mean is then a lower /
    upper bound, computed with those seeds at the ladder's end); ``both`` when seeds lie past both ends."""
    values = [v for v, _ in per_seed]
    statuses = {st for _, st in per_seed}
    logs = np.log(values)
    mean_log, (lo, hi) = t_interval(logs.tolist(), CI_LEVEL)
    status = ("within" if statuses == {"within"} else "both" if {"beyond", "below"} <= statuses
              else "beyond" if "beyond" in statuses else "below")
    n_real, ci = float(np.exp(mean_log)), [float(np.exp(lo)), float(np.exp(hi))] if lo == lo else [None, None]
    return {"n_real": n_real, "ci": ci, "multiplier": n_real / budget,
            "multiplier_ci": [c / budget if c is not None else None for c in ci],
            "status": status, "values": values, "statuses": [st for _, st in per_seed]}


def official_train_size(subset: str) -> int | None:
    """MedMNIST's official training-split size of ``subset`` (None if it is not a MedMNIST subset)."""
    return int(info(subset)["n_samples"]["train"]) if subset in MODALITY_PHRASES else None


def generator_cells(arms: list[str], budgets: list[int], counts: list[int], k0: int, n_classes: int) -> list[tuple[str, int]]:
    """The classifiers one generator's arms train per modality and seed: ``(arm, training images)`` for a
    modality of ``n_classes`` classes with at least ``max(budgets)`` real images each (what
    :meth:`UtilityTask.evaluate` runs; ``medsyn-bench perf`` projects the task's cost from it)."""
    cells = [("synthetic", k * n_classes) for k in counts] if "synthetic" in arms else []
    for n in budgets:
        if "mixed" in arms:
            cells.append(("mixed", (n + k0) * n_classes))
        if "pretrain+finetune" in arms:
            cells.append(("pretrain+finetune", n * n_classes))
    if "mixed" in arms:
        cells += [("mixed", (budgets[0] + k) * n_classes) for k in counts if k != k0]
    return cells


@register_task("utility")
class UtilityTask(Task):
    """The utility regimes per budget, modality, count and seed; the real ladder and the sanity row (module doc)."""

    shared_stages = "utility"  # the real ladder, augmentation arms and sanity row: one marker per cell
    modality_stages = "utility"  # a generator's cells: one modality each

    @dataclass
    class Params:
        """``tasks/utility.toml [params]``. Sizes in pixels, ``lr`` the AdamW peak (cosine decay to 0),
        ``seeds`` a count (seeds 0 .. seeds-1), ``synthetic_per_class`` / ``synthetic_counts`` images per class."""

        arch: str = "test_resnet"  # timm architecture, trained from scratch
        input_size: int = field(default=0, metadata={"check": lambda v: v >= 0, "why": "pixels; 0 = native size"})
        epochs: float = field(default=10.0, metadata={"check": lambda v: v > 0, "why": "must be > 0"})
        min_steps: int = field(default=100, metadata={"check": lambda v: v > 0, "why": "must be > 0"})
        min_per_class: int = field(default=800, metadata={"check": lambda v: v >= 0,
                                                          "why": "images drawn per class at least; 0 = no such floor"})
        max_steps: int = field(default=3000, metadata={"check": lambda v: v > 0, "why": "must be > 0"})
        steps: int = field(default=0, metadata={"check": lambda v: v >= 0,
                                                "why": "0 = the epochs rule; > 0 fixes every arm's steps"})
        batch_size: int = field(default=64, metadata={"check": lambda v: v > 0, "why": "must be > 0"})
        lr: float = field(default=3e-3, metadata={"check": lambda v: v > 0, "why": "must be > 0"})
        evals: int = field(default=5, metadata={"check": lambda v: v > 0, "why": "must be > 0"})
        eval_every: int = field(default=0, metadata={"check": lambda v: v >= 0,
                                                     "why": "0 = `evals` evenly spaced checks; > 0 every this many steps"})
        val_per_class: int = field(default=50, metadata={"check": lambda v: v >= 0,
                                                          "why": "validation images per class for selection; 0 = all"})
        seeds: int = field(default=5, metadata={"check": lambda v: v >= 2,
                                                "why": "need at least 2 seeds (0 .. seeds-1) for an interval"})
        synthetic_per_class: int = field(default=100, metadata={"check": lambda v: v > 0, "why": "must be > 0"})
        synthetic_counts: list[int] = field(default_factory=list, metadata={
            "check": lambda v: all(k > 0 for k in v), "why": "images per class, each > 0"})  # empty = [synthetic_per_class]
        arms: list[str] = field(default_factory=lambda: list(ARMS),
                                metadata={"choices": ARMS, "check": lambda v: "real" in v,
                                          "why": "gains are measured against the 'real' arm, which must be run"})
        budgets: list[int] = field(default_factory=list)  # budgets of the arms other than real; empty = every budget
        sanity_seeds: int = field(default=3, metadata={"check": lambda v: v >= 0,
                                                       "why": "seeds of the sanity row; 0 = no sanity row"})
        paired_test: str = field(default="ttest_rel", metadata={"choices": PAIRED_TESTS})
        threads: int = field(default=1, metadata={"check": lambda v: v >= 0,
                                                  "why": "CPU threads per classifier; 0 = torch's default"})
        # controlled-degradation rungs (role "ladder") need only what the metric-validity correlations
        # use: these arms, at the smallest generator budget, with synthetic_per_class images per class
        ladder_arms: list[str] = field(default_factory=lambda: ["real", "synthetic"],
                                       metadata={"choices": ARMS, "check": lambda v: "real" in v,
                                                 "why": "gains are measured against the 'real' arm, which must be run"})

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        known = sorted(ctx.budgets)
        unknown = sorted(set(params.budgets) - set(known))
        if unknown:
            raise BenchError(f"utility budget {unknown[0]} is not a budget of suite {ctx.spec.name!r}",
                             where=f"{ctx.spec.path} / tasks/utility.toml [params] budgets",
                             fix=f"use some of the suite's [splits] budgets: {known}")
        if "pretrain+finetune" in params.arms and "synthetic" not in params.arms:
            raise BenchError("the pretrain+finetune arm fine-tunes the synthetic arm's classifier",
                             where=f"{ctx.spec.path} / tasks/utility.toml [params] arms",
                             fix="add \"synthetic\" to arms, or drop \"pretrain+finetune\"")
        self.ladder = known  # the real arm runs at every budget of the suite
        self.budgets = sorted(params.budgets) if params.budgets else known
        self.seeds = list(range(params.seeds))
        self.counts = sorted(set(params.synthetic_counts) | {params.synthetic_per_class})

    # -- recipe and data -----------------------------------------------------------------------
    def recipe(self) -> dict:
        """What decides a cell's training, besides its data and seed (the keys of its stage hash)."""
        p = self.params
        length = (f"{p.steps} steps for every arm" if p.steps else
                  f"ceil({p.epochs:g} x training images / {p.batch_size}) steps, at least max({p.min_steps}, "
                  f"ceil({p.min_per_class} x classes / {p.batch_size})), at most {p.max_steps}")
        return {"arch": p.arch, "pretrained": False, "input_size": p.input_size, "length": length,
                "batch_size": p.batch_size, "lr": p.lr,
                "checks": f"every {p.eval_every} steps" if p.eval_every else f"{p.evals} evenly spaced",
                "selection": "best balanced accuracy on the modality's real val split"
                             + (f" (a fixed class-stratified subset of at most {p.val_per_class} per class)"
                                if p.val_per_class else ""),
                "evaluation": "the modality's real test split"}

    def steps_for(self, n_train: int, n_classes: int) -> int:
        """Optimisation steps for a training set of ``n_train`` images of ``n_classes`` classes (module doc)."""
        p = self.params
        if p.steps:
            return p.steps
        floor = max(p.min_steps, -(-p.min_per_class * n_classes // p.batch_size))
        return int(min(max(-(-p.epochs * n_train // p.batch_size), floor), p.max_steps))

    def eval_every_for(self, steps: int) -> int:
        p = self.params
        return p.eval_every if p.eval_every else max(1, -(-steps // p.evals))

    @classmethod
    def columns(cls, params) -> list[MetricColumn]:
        """The headline gains (accuracy, at the smallest real-data budget) of the generator arms, and the
        real-data-equivalent multiplier of real + synthetic."""
        labels = {"mixed": ("utility gain, real+synthetic", "real + synthetic"),
                  "synthetic": ("utility gain, synthetic only", "synthetic images only"),
                  "pretrain+finetune": ("utility gain, pretrain→finetune",
                                        "synthetic images, then fine-tuned on the real ones")}
        cols = [pooled_column(f"gain_{SHORT[arm]}_acc", label, "higher", "fraction points",
                              f"test accuracy of a classifier trained on {what} minus real-only (same seed and real "
                              "subset), at the smallest real-data budget (95% CI over seeds)",
                              ci=True, per_modality_ci=True, show_ci=True, signed=True, order=10 + i,
                              rank=1 if arm == "mixed" else None)
                for i, (arm, (label, what)) in enumerate(labels.items()) if arm in params.arms]
        if "mixed" in params.arms and not params.steps:
            cols.append(pooled_column("equiv_mixed_x", "real-data equivalent, real+synthetic", "higher", "×",
                                      "real images per class the real-only ladder needs to match real + synthetic, "
                                      "over the budget, at the smallest budget (geometric mean over seeds, 95% CI; "
                                      "≥ when past the ladder's top)", ci=True, per_modality_ci=True, show_ci=True,
                                      order=14))
        return cols

    def real_set(self, n: int, m: int) -> TrainingSet:
        """Budget ``n``'s real training images of modality ``m`` (the suite's nested subset)."""
        train = self.ctx.dataset.splits["train"]
        idx = self.ctx.budgets[n]
        sub = train.subset(idx[train.modality[idx] == m])
        return TrainingSet(sub.images, sub.labels, real_sha256=sha256_json(sub.hash()))

    def full_set(self, m: int) -> TrainingSet:
        """Every training image of modality ``m`` (the sanity row)."""
        train = self.ctx.dataset.splits["train"]
        sub = train.subset(np.flatnonzero(train.modality == m))
        return TrainingSet(sub.images, sub.labels, real_sha256=sha256_json(sub.hash()))

    def synthetic_set(self, samples, m: int, k: int | None = None) -> tuple[TrainingSet, list[int]]:
        """The first ``k`` (default ``synthetic_per_class``) images of each class of modality ``m``; and the
        count per class."""
        k = self.params.synthetic_per_class if k is None else k
        n_cls = len(self.ctx.dataset.modalities[m].class_names)
        mod, lab = samples.modality, samples.labels
        take = [np.flatnonzero((mod == m) & (lab == c))[:k] for c in range(n_cls)]
        idx = np.concatenate(take)
        images, labels = samples.images[idx], lab[idx]
        h = sha256_json({"images": sha256_array(images), "labels": sha256_array(labels)})
        return TrainingSet(images, labels, synthetic_sha256=h), [len(t) for t in take]

    def selection_split(self, m: int):
        """The real validation images of modality ``m`` that select a classifier's weights: at most
        ``val_per_class`` per class, a fixed seeded draw (the same for every cell)."""
        val = self.ctx.dataset.splits["val"]
        idx = np.flatnonzero(val.modality == m)
        k = self.params.val_per_class
        if k:
            rng = np.random.default_rng(0)
            labels = val.labels[idx]
            idx = np.sort(np.concatenate([rng.permutation(idx[labels == c])[:k] for c in np.unique(labels)]))
        return val.subset(idx)

    # -- one cell ------------------------------------------------------------------------------
    def weights_path(self, folder: Path, name: str) -> Path:
        return folder / "utility" / "weights" / f"{name}.pt"

    def train(self, m: int, seed: int, data: TrainingSet, augment: str = "none", init_state=None,
              steps: int | None = None, desc: str = ""):
        """One classifier of modality ``m`` on ``data``; returns (model, info, test metrics, steps)."""
        from bench.reference.classifier import predict_proba, train_classifier

        ds, p = self.ctx.dataset, self.params
        val = self.selection_split(m)
        test = ds.splits["test"].subset(np.flatnonzero(ds.splits["test"].modality == m))
        n_classes = len(ds.modalities[m].class_names)
        steps = self.steps_for(len(data.labels), n_classes) if steps is None else steps
        with torch_threads(p.threads):
            model, info = train_classifier(
                data.images, data.labels, n_classes, arch=p.arch,
                input_size=p.input_size, steps=steps, batch_size=p.batch_size, lr=p.lr, seed=seed,
                device=self.ctx.device, val=(val.images, val.labels), eval_every=self.eval_every_for(steps),
                augment=augment, init_state=init_state, desc=desc)
            proba = predict_proba(model, test.images, device=self.ctx.device)
        return model, info, {"n_test": len(test), "metrics": classification_metrics(test.labels, proba)}, steps

    def cell(self, folder: Path, arm: str, m: int, n: int | None, seed: int, data: TrainingSet,
             count: int | None = None, init: tuple[str, "Callable[[], dict]"] | None = None,
             steps: int | None = None, save_weights: bool = False) -> dict:
        """Train and test one classifier (resumable stage); returns its marker's output.

        ``n`` is None for the synthetic arm, which does not depend on the budget, and ``"full"`` for the
        sanity row; ``count`` is the synthetic images per class; ``init`` (a name and a function returning
        weights) starts from pretrained weights; ``save_weights`` keeps the weights beside the marker.
        """
        key = self.ctx.dataset.modalities[m].key
        budget = "all" if n is None else n if n == "full" else f"n{n}"
        name = (f"utility-{key}-{arm.replace('+', '-')}-{budget}" + (f"-k{count}" if count is not None else "")
                + f"-s{seed}")
        inputs = {"recipe": self.recipe(), "arm": arm, "modality": key, "budget": n, "seed": seed,
                  "count": count, "steps": steps, "init": init[0] if init else None,
                  "real_sha256": data.real_sha256, "synthetic_sha256": data.synthetic_sha256,
                  "data": self.ctx.data_hashes.get("dataset_sha256")}

        def run() -> dict:
            import torch

            model, info, test, used = self.train(m, seed, data, AUGMENT_OF.get(arm, "none"),
                                                 init_state=init[1]() if init else None, steps=steps,
                                                 desc=f"{key} {arm} n={n} k={count} s{seed}")
            if save_weights:
                path = self.weights_path(folder, name)
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp")
                torch.save(model.state_dict(), tmp)
                tmp.replace(path)
            return {"arm": arm, "modality": key, "budget": n, "seed": seed, "count": count,
                    "n_train": int(len(data.labels)), "steps": used,
                    "real_sha256": data.real_sha256, "synthetic_sha256": data.synthetic_sha256,
                    "n_test": test["n_test"], "best_step": info.best_step,
                    "best_val_balanced_accuracy": info.best_val_balanced_accuracy,
                    "final_loss": info.final_loss, "metrics": test["metrics"], "name": name}

        out = self.ctx.stage(folder / "utility", name, inputs, run)["output"]
        if save_weights and not self.weights_path(folder, name).is_file():  # marker kept, weights lost: redo
            (folder / "utility" / "stages" / f"{name}.json").unlink()
            out = self.ctx.stage(folder / "utility", name, inputs, run)["output"]
        return out

    def real_cell(self, arm: str, m: int, n: int, seed: int) -> dict:
        return self.cell(self.ctx.shared_dir, arm, m, n, seed, self.real_set(n, m))

    def sanity_cell(self, m: int, seed: int) -> dict:
        data = self.full_set(m)
        return self.cell(self.ctx.shared_dir, "real", m, "full", seed, data)

    # -- suite level ---------------------------------------------------------------------------
    def prepare(self) -> None:
        """Train the generator-independent cells once: the real ladder, the augmentation arms at the
        generator budgets and the sanity row."""
        mods = range(len(self.ctx.dataset.modalities))
        todo = [("real", m, n, s) for n in self.ladder for m in mods for s in self.seeds]
        todo += [(a, m, n, s) for n in self.budgets for m in mods for a in REAL_ARMS[1:]
                 if a in self.params.arms for s in self.seeds]
        todo += [("sanity", m, None, s) for m in mods for s in range(self.params.sanity_seeds)]
        for a, m, n, s in tqdm(todo, desc="utility: real arms", unit="cell", mininterval=1.0):
            self.sanity_cell(m, s) if a == "sanity" else self.real_cell(a, m, n, s)

    # -- one generator -------------------------------------------------------------------------
    def plan(self, gen) -> tuple[list[str], list[int], list[int]]:
        """The arms, generator budgets and synthetic counts one generator's evaluation runs: the task's
        own, or for a controlled-degradation rung (role "ladder") ``ladder_arms`` at the smallest budget
        with ``synthetic_per_class`` images per class."""
        if gen.entry.role == "ladder":
            return list(self.params.ladder_arms), self.budgets[:1], [self.params.synthetic_per_class]
        return list(self.params.arms), list(self.budgets), list(self.counts)

    def modalities(self, gen) -> tuple[list[int], list[str]]:
        """The modalities to evaluate (covered by the generator and present in its samples), and notes."""
        covered = gen.entry.modalities
        covered = list(range(len(self.ctx.dataset.modalities))) if covered is None else list(covered)
        present = set(np.unique(gen.samples.modality).tolist())
        notes = [f"{self.ctx.dataset.modalities[m].key}: covered but no samples; not evaluated"
                 for m in covered if m not in present]
        return [m for m in covered if m in present], notes

    def evaluate(self, gen) -> dict:
        import torch

        ds, p = self.ctx.dataset, self.params
        arms, budgets, sizes = self.plan(gen)
        mods, notes = self.modalities(gen)
        if not mods:
            raise BenchError(f"generator {gen.entry.name!r} has no samples of any modality it covers",
                             where=str(gen.folder / "samples"))
        k0, b0 = p.synthetic_per_class, budgets[0]
        # values[n][modality key][arm][metric] = per-seed list (seed order)
        values: dict[int, dict[str, dict[str, dict[str, list[float]]]]] = {}
        ladder: dict[str, dict[int, dict[str, list[float]]]] = {}  # [key][n][metric]
        ladder_n_train: dict[str, dict[int, int]] = {}
        quantity: dict[str, dict[str, dict[int, dict[str, list[float]]]]] = {}  # [key][arm][count][metric]
        sanity: dict[str, list[dict]] = {}
        subset_hashes: dict[str, dict[str, str]] = {}
        synthetic_info: dict[str, dict] = {}
        per_budget = [a for a in arms if a != "synthetic"]
        extra_counts = [k for k in sizes if k != k0] if "mixed" in arms else []
        total = len(mods) * len(self.seeds) * (("synthetic" in arms) * len(sizes) + len(extra_counts)
                                               + len(budgets) * len(per_budget) + len(self.ladder))
        bar = tqdm(total=total, desc=f"utility: {gen.entry.name}", unit="cell", mininterval=1.0)

        def put(d: dict, out: dict) -> None:
            for metric in METRICS:
                d.setdefault(metric, []).append(out["metrics"][metric])

        for m in mods:
            key = ds.modalities[m].key
            syn = {k: self.synthetic_set(gen.samples, m, k) for k in sizes}
            counts = syn[k0][1]
            synthetic_info[key] = {"per_class": counts, "sha256": syn[k0][0].synthetic_sha256,
                                   "counts": {str(k): {"per_class": c, "sha256": t.synthetic_sha256}
                                              for k, (t, c) in syn.items()}}
            if min(syn[max(sizes)][1]) < max(sizes):
                notes.append(f"{key}: fewer than {max(sizes)} synthetic images for some class "
                             f"(per class: {syn[max(sizes)][1]}); the larger counts use what there is")
            for seed in self.seeds:
                out = {}
                if "synthetic" in arms:
                    for k in sizes:
                        o = self.cell(gen.folder, "synthetic", m, None, seed, syn[k][0], count=k,
                                      save_weights=k == k0 and "pretrain+finetune" in arms)
                        put(quantity.setdefault(key, {}).setdefault("synthetic", {}).setdefault(k, {}), o)
                        if k == k0:
                            out["synthetic"] = o
                        bar.update()
                pre_name = out["synthetic"]["name"] if "synthetic" in out else None

                def pretrained(name=pre_name) -> dict:
                    path = self.weights_path(gen.folder, name)
                    return torch.load(path, weights_only=True)

                for n in budgets:
                    real = self.real_set(n, m)
                    for arm in per_budget:
                        if arm in REAL_ARMS:
                            out[arm] = self.real_cell(arm, m, n, seed)
                        elif arm == "mixed":
                            out[arm] = self.cell(gen.folder, arm, m, n, seed, real + syn[k0][0], count=k0)
                        else:  # pretrain+finetune: the real arm's schedule, from the synthetic arm's weights
                            out[arm] = self.cell(gen.folder, arm, m, n, seed,
                                                 TrainingSet(real.images, real.labels, real.real_sha256,
                                                             syn[k0][0].synthetic_sha256),
                                                 count=k0, init=(pre_name, pretrained),
                                                 steps=self.steps_for(len(real.labels), len(ds.modalities[m].class_names)))
                        bar.update()
                    # the paired comparison must use the very same real images in every real-based arm
                    hashes = {out[a]["real_sha256"] for a in per_budget}
                    if hashes != {real.real_sha256}:
                        raise BenchError(f"utility {key} budget {n} seed {seed}: arms were trained on different "
                                         f"real subsets", where=str(gen.folder / "utility"),
                                         fix="delete the utility stage markers and rerun")
                    subset_hashes.setdefault(str(n), {})[key] = real.real_sha256
                    for arm in arms:
                        put(values.setdefault(n, {}).setdefault(key, {}).setdefault(arm, {}), out[arm])
                    if n == b0 and "mixed" in arms:
                        put(quantity[key].setdefault("mixed", {}).setdefault(k0, {}), out["mixed"])
                for k in extra_counts:  # the mixed quantity curve, at the smallest budget
                    o = self.cell(gen.folder, "mixed", m, b0, seed, self.real_set(b0, m) + syn[k][0], count=k)
                    put(quantity.setdefault(key, {}).setdefault("mixed", {}).setdefault(k, {}), o)
                    bar.update()
                for n in self.ladder:
                    o = self.real_cell("real", m, n, seed)
                    put(ladder.setdefault(key, {}).setdefault(n, {}), o)
                    ladder_n_train.setdefault(key, {})[n] = o["n_train"]
                    bar.update()
            if p.sanity_seeds:
                sanity[key] = [self.sanity_cell(m, s) for s in range(p.sanity_seeds)]
        bar.close()
        pooled_of = lambda per_mod: np.mean(per_mod, axis=0).tolist()  # noqa: E731 — seed by seed
        for n in values:  # pooled: the mean over evaluated modalities, seed by seed
            per_mod = list(values[n].values())
            values[n][POOLED] = {arm: {metric: pooled_of([v[arm][metric] for v in per_mod]) for metric in METRICS}
                                 for arm in arms}
        keys = list(ladder)
        ladder[POOLED] = {n: {metric: pooled_of([ladder[k][n][metric] for k in keys]) for metric in METRICS}
                          for n in self.ladder}
        ladder_n_train[POOLED] = {n: sum(ladder_n_train[k][n] for k in keys) for n in self.ladder}
        if quantity:
            quantity[POOLED] = {arm: {k: {metric: pooled_of([quantity[key][arm][k][metric] for key in keys])
                                          for metric in METRICS} for k in quantity[keys[0]][arm]}
                                for arm in quantity[keys[0]]}
        return self.report(values, subset_hashes, synthetic_info, notes, ladder=ladder,
                           ladder_n_train=ladder_n_train, quantity=quantity, sanity=sanity,
                           plan=(arms, budgets, sizes), ladder_row=gen.entry.role == "ladder")

    # -- aggregation ---------------------------------------------------------------------------
    def equivalents(self, values: dict, ladder: dict, ladder_n_train: dict) -> dict:
        """``[budget][modality][arm]`` real-data equivalents of every non-real arm's accuracy (module doc).

        A modality's ladder keeps each budget whose real subset grew over the previous one (a class with
        fewer images than a budget contributes all it has, so large budgets can repeat a subset)."""
        out: dict = {}
        for key, by_n in ladder.items():
            ns, last = [], -1
            for n in sorted(by_n):
                if ladder_n_train[key][n] > last:
                    ns.append(n)
                    last = ladder_n_train[key][n]
            if len(ns) < 2:
                continue
            for n, by_mod in values.items():
                if key not in by_mod:
                    continue
                for arm in (a for a in GAIN_ARMS if a in by_mod[key]):
                    per_seed = []
                    for s, v in enumerate(by_mod[key][arm]["accuracy"]):
                        per_seed.append(real_data_equivalent(ns, [by_n[b]["accuracy"][s] for b in ns], v))
                    out.setdefault(str(n), {}).setdefault(key, {})[arm] = equivalent_summary(per_seed, n)
        return out

    def report(self, values: dict, subset_hashes: dict, synthetic_info: dict, notes: list[str], *,
               ladder: dict | None = None, ladder_n_train: dict | None = None, quantity: dict | None = None,
               sanity: dict | None = None, plan: tuple | None = None, ladder_row: bool = False) -> dict:
        """Turn per-seed values into cells, paired gains, equivalents and the headline numbers (module doc).
        ``plan``: the (arms, budgets, counts) that ran (default: the task's own); ``ladder_row``: a
        controlled-degradation rung, run on the reduced plan the protocol then states."""
        arms, budgets, counts = plan or (self.params.arms, self.budgets, self.counts)
        test = self.params.paired_test
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
        equivalent = self.equivalents(values, ladder, ladder_n_train) if ladder else {}

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
            for arm, e in equivalent.get(smallest, {}).get(key, {}).items():
                base = f"equiv_{SHORT[arm]}_x"
                h[base], h[f"{base}_ci"], h[f"{base}_status"] = e["multiplier"], e["multiplier_ci"], e["status"]
            return h

        out = {
            POOLED: headline(POOLED),
            "per_modality": {key: headline(key) for key in cells[smallest] if key != POOLED},
            "cells": cells,
            "gains": gains,
            "subset_hashes": subset_hashes,
            "synthetic": synthetic_info,
            "protocol": {**self.recipe(), "arms": list(arms), "budgets": list(budgets), "seeds": self.seeds,
                         "synthetic_per_class": self.params.synthetic_per_class,
                         "synthetic_arm": "no real training images: trained once per modality, count and seed, "
                                          "the same values shown at every budget",
                         "gain": "arm minus real, same seed and same real subset; fraction points",
                         "ci": f"{CI_LEVEL:.0%} Student-t interval over seeds",
                         "pooled": "mean over the evaluated modalities within each seed",
                         "paired_test": test, "paired_test_why": TEST_RATIONALE[test],
                         "headline_budget": int(smallest)},
            "notes": notes,
        }
        if ladder_row:
            out["protocol"]["ladder_row"] = ("a controlled-degradation rung: only the arms the metric-validity "
                                             "correlations need, at the smallest generator budget, with "
                                             f"{self.params.synthetic_per_class} synthetic images per class")
        if ladder:
            out["ladder"] = {key: {str(n): {"n_train": ladder_n_train[key][n],
                                            **{metric: summary(v[metric]) for metric in METRICS}}
                                   for n, v in by_n.items()} for key, by_n in ladder.items()}
            out["equivalent"] = equivalent
            out["protocol"].update(
                ladder=self.ladder, pretrain_finetune="pretraining: the synthetic arm's classifier (its own schedule); "
                "fine-tuning: the real arm's schedule for the budget, from those weights; both select on real val",
                equivalent="real images per class the real ladder needs to reach the arm's accuracy: isotonic in "
                           "log n, linear interpolation in log n, per seed; geometric mean and t-interval in log n "
                           "over seeds; multiplier = equivalent / budget")
        if quantity:
            out["quantity"] = {"budget": int(smallest), "counts": list(counts),
                               "per_modality": {key: {arm: {str(k): {metric: summary(v[metric]) for metric in METRICS}
                                                            for k, v in by_k.items()} for arm, by_k in q.items()}
                                                for key, q in quantity.items()}}
        if sanity:
            out["sanity"] = {}
            for key, cells_s in sanity.items():
                acc = summary([c["metrics"]["accuracy"] for c in cells_s])
                ref = MEDMNIST_RESNET18_28.get(key)
                official = official_train_size(key)
                if official is not None and cells_s[0]["n_train"] != official:
                    ref = None  # not MedMNIST's training split (the embedded sample): no bar to compare with
                out["sanity"][key] = {
                    "official_train_images": official,
                    "accuracy": acc, "balanced_accuracy": summary([c["metrics"]["balanced_accuracy"] for c in cells_s]),
                    "n_train": cells_s[0]["n_train"], "steps": cells_s[0]["steps"], "n_test": cells_s[0]["n_test"],
                    "medmnist_resnet18_28": ref,
                    "gap_points": None if ref is None else 100 * (ref - acc["mean"]),
                    "within_bar": None if ref is None else bool(acc["mean"] >= ref - SANITY_POINTS)}
        return out
