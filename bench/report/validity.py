"""Metric validity across generators: does a metric rank generators the way their images' utility does?

The points are (generator, modality) cells: every row of the comparable group — generators, baselines
and controlled-degradation rungs — on each modality it covers. For each declared column with a
direction, its *better-signed* value (x, or −x when lower is better) is rank-correlated with each
utility gain the results hold (synthetic only and real + synthetic, at each real-data budget; accuracy,
fraction points) over the cells that have both:

- Spearman's ρ and Kendall's τ-b (scipy.stats; ties share ranks);
- a 95 % percentile bootstrap interval of ρ over *generators* (rows resampled with replacement, each
  keeping all its modality cells; 2,000 resamples, seed 0), since a row's modalities are not independent.

+1: the better the metric says a generator is, the more its images help a classifier. A metric
"predicts" a gain when the interval's lower end is above 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.columns import MetricColumn
from bench.report.collection import Entry
from bench.report.sensitivity import spearman
from bench.report.values import columns_of, metric, task_kinds, utility_gain, utility_gains

TARGET_ARMS = ("synthetic", "mixed")
BOOTSTRAP = 2000


@dataclass
class Correlation:
    column: MetricColumn
    target: str  # e.g. "mixed@1"
    n_cells: int
    n_generators: int
    spearman: float | None
    kendall: float | None
    ci: tuple[float, float] | None  # bootstrap over generators, of Spearman's rho


def targets(rows: list[Entry]) -> list[tuple[str, str]]:
    """(arm, budget) of every utility gain the rows hold, budgets ascending, synthetic before mixed."""
    budgets = sorted({b for e in rows for b in utility_gains(e.result)}, key=lambda b: int(b) if b.isdigit() else 1 << 30)
    have = {(a, b) for e in rows for b, by_mod in utility_gains(e.result).items() if isinstance(by_mod, dict)
            for arms in by_mod.values() if isinstance(arms, dict) for a in arms}
    return [(a, b) for b in budgets for a in TARGET_ARMS if (a, b) in have]


def cells(rows: list[Entry], col: MetricColumn, arm: str, budget: str) -> list[tuple[str, float, float]]:
    """(generator, better-signed metric, gain) of every (generator, modality) cell that has both."""
    sign = 1.0 if col.better == "higher" else -1.0
    out = []
    for e in rows:
        for m in e.modalities:
            x, _ = metric(e.result, col.key, m)
            y, _ = utility_gain(e.result, arm, m, budget=budget)
            if x is not None and y is not None:
                out.append((e.name, sign * x, y))
    return out


def correlate(points: list[tuple[str, float, float]], seed: int = 0) -> tuple[float | None, float | None,
                                                                          tuple[float, float] | None]:
    """Spearman's rho, Kendall's tau-b and the generator-bootstrap 95 % interval of rho (module doc)."""
    from scipy.stats import kendalltau

    if len(points) < 3:
        return None, None, None
    names = sorted({p[0] for p in points})
    x = np.array([p[1] for p in points])
    y = np.array([p[2] for p in points])
    rho = spearman(x, y)
    if rho is None:
        return None, None, None
    tau = float(kendalltau(x, y).statistic)
    if len(names) < 3:
        return rho, tau, None
    rows = {n: np.flatnonzero([p[0] == n for p in points]) for n in names}
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(BOOTSTRAP):
        idx = np.concatenate([rows[names[i]] for i in rng.integers(len(names), size=len(names))])
        r = spearman(x[idx], y[idx])
        if r is not None:
            boot.append(r)
    ci = (float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))) if len(boot) >= BOOTSTRAP // 2 else None
    return rho, tau, ci


def validity(rows: list[Entry]) -> tuple[list[MetricColumn], list[str], dict[tuple[str, str], Correlation]]:
    """(metric columns, target labels, {(column key, target): Correlation}) over the rows (module doc).
    Utility columns themselves are left out (they are the targets)."""
    tgs = targets(rows)
    utility_tasks = {n for e in rows for n, k in task_kinds(e.result).items() if k == "utility"}
    cols = [c for c in columns_of([e.result for e in rows]) if c.better is not None and c.task not in utility_tasks]
    out = {}
    for c in cols:
        for arm, b in tgs:
            pts = cells(rows, c, arm, b)
            rho, tau, ci = correlate(pts)
            label = f"{arm}@{b}"
            out[(c.key, label)] = Correlation(c, label, len(pts), len({p[0] for p in pts}), rho, tau, ci)
    return cols, [f"{a}@{b}" for a, b in tgs], out


@dataclass
class OverAlignment:
    """A generator whose alignment exceeds the held-out real images' while its coverage is far below."""

    name: str
    clip_score: float
    clip_score_real: float
    recall: float | None
    recall_real: float | None
    diversity_ratio: float | None


OVER_ALIGNMENT_SHARE = 0.5  # "far below": recall under half the real images', or diversity under half


def over_alignment(rows: list[Entry]) -> list[OverAlignment]:
    """Rows (not baselines) whose pooled CLIP score is above the holdout baseline's while their recall is
    below half of the holdout's or their within-prompt diversity below half of real images': guidance
    making prototypical images, which alignment metrics reward."""
    holdout = next((e for e in rows if e.kind == "holdout" and e.role == "baseline"), None)
    if holdout is None:
        return []
    clip_real, _ = metric(holdout.result, "clip_score")
    recall_real, _ = metric(holdout.result, "recall")
    if clip_real is None:
        return []
    out = []
    for e in rows:
        if e.role in ("baseline", "ladder"):
            continue
        clip, _ = metric(e.result, "clip_score")
        recall, _ = metric(e.result, "recall")
        div, _ = metric(e.result, "diversity_ratio")
        low_recall = recall is not None and recall_real is not None and recall < OVER_ALIGNMENT_SHARE * recall_real
        low_div = div is not None and div < OVER_ALIGNMENT_SHARE
        if clip is not None and clip > clip_real and (low_recall or low_div):
            out.append(OverAlignment(e.name, clip, clip_real, recall, recall_real, div))
    return out
