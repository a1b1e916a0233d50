"""Numbers picked out of one result, defensively: a metric that is absent or malformed is ``None``.

Metric tasks write ``metrics[task] = {"pooled": {key: v, key + "_ci": [lo, hi]}, "per_modality":
{modality: {key: v}}, ...}``. A key is looked up first in the tasks of its family (by task kind or
name: fidelity, alignment, memorisation, utility), then in any task, so renaming a task in a suite
does not empty a column.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator

FAMILY_HINTS = {"fidelity": ("fidel", "fid"), "alignment": ("align", "clip"),
                "memorisation": ("memor",), "utility": ("util",), "foundation": ("foundation",),
                "reader_study": ("reader",)}


@dataclass(frozen=True)
class Column:
    """One metric column of the leaderboard."""

    key: str
    label: str
    family: str
    better: str | None = None  # "lower" | "higher" | None
    ci: bool = False  # show the confidence interval next to the value
    signed: bool = False  # show a + sign (gains)
    help: str = ""
    optional: bool = False  # shown only when some result has a value (e.g. a published reader study)

    @property
    def arrow(self) -> str:
        return {"lower": " ↓", "higher": " ↑"}.get(self.better or "", "")


METRIC_COLUMNS = [
    Column("gain_mixed_acc", "utility gain, real+synthetic", "utility", "higher", ci=True, signed=True,
           help="test accuracy of a classifier trained on real + synthetic minus real-only, at the smallest "
                "real-data budget (95% CI)"),
    Column("gain_synthetic_acc", "utility gain, synthetic only", "utility", "higher", ci=True, signed=True,
           help="test accuracy of a classifier trained on synthetic images only minus real-only, at the "
                "smallest real-data budget (95% CI)"),
    Column("near_copy_rate", "near-copy rate", "memorisation", "lower",
           help="share of synthetic images closer to a training image than the calibrated threshold"),
    Column("fd", "FD", "fidelity", "lower", help="Fréchet distance in the reference encoder's feature space"),
    Column("kid", "KID", "fidelity", "lower", help="kernel inception distance in the same feature space"),
    Column("precision", "precision", "fidelity", "higher", help="share of synthetic images on the real manifold"),
    Column("recall", "recall", "fidelity", "higher", help="share of real images on the synthetic manifold"),
    Column("cmmd", "CMMD", "fidelity", "lower", help="MMD between domain-CLIP image embeddings"),
    Column("clip_score", "CLIP score", "alignment", "higher", help="domain-CLIP image-prompt similarity"),
    Column("retrieval_top1", "retrieval top-1", "alignment", "higher",
           help="share of images whose own prompt is the domain CLIP's top match"),
    Column("conditional_accuracy", "conditional accuracy", "alignment", "higher",
           help="accuracy of a real-trained classifier against the class each prompt asked for"),
    Column("reader_auc", "reader AUC", "reader_study", "lower",
           help="published reader study: ROC AUC of clinicians telling this generator's images from real ones "
                "(0.5 = indistinguishable)", optional=True),
    Column("human_alignment", "human alignment (1–5)", "reader_study", "higher", ci=True,
           help="published reader study: mean 'does the image match the text?' rating, 1-5 (95% CI over items)",
           optional=True),
    Column("synthetic:linear_accuracy@1%", "foundation probe, synthetic-pretrained", "foundation", "higher", ci=True,
           help="test accuracy of a linear probe with 1% of the labels on an encoder pretrained contrastively on "
                "the generator's image-prompt pairs (95% CI); compare with real-pretrained in the figure"),
]


def number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def interval(v: Any) -> tuple[float, float] | None:
    if isinstance(v, (list, tuple)) and len(v) == 2:
        lo, hi = number(v[0]), number(v[1])
        if lo is not None and hi is not None:
            return lo, hi
    return None


def dig(d: Any, *keys: Any) -> Any:
    """``d[k1][k2]...`` or None when any level is missing or not a dict."""
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def task_kinds(result: dict) -> dict[str, str]:
    tasks = dig(result, "suite", "tasks")
    return {str(n): str(dig(t, "task") or "") for n, t in tasks.items()} if isinstance(tasks, dict) else {}


def tasks_of(result: dict, family: str | None) -> Iterator[tuple[str, dict]]:
    """``(task name, metrics dict)`` of the family's tasks first, then of every other task."""
    metrics = result.get("metrics") or {}
    kinds = task_kinds(result)
    hints = FAMILY_HINTS.get(family or "", ())

    def is_family(name: str) -> bool:
        text = f"{name} {kinds.get(name, '')}".lower()
        return any(h in text for h in hints)

    names = [n for n in metrics if isinstance(metrics[n], dict)]
    for n in sorted(names, key=lambda n: (not is_family(n), n)):
        yield n, metrics[n]


def family_task(result: dict, family: str) -> dict | None:
    """The metrics dict of the first task of a family, or None."""
    hints = FAMILY_HINTS[family]
    kinds = task_kinds(result)
    for name, m in tasks_of(result, family):
        if any(h in f"{name} {kinds.get(name, '')}".lower() for h in hints):
            return m
    return None


def pooled(result: dict, key: str, family: str | None = None) -> tuple[float | None, tuple[float, float] | None]:
    """The pooled value of ``key`` and its CI (either may be None)."""
    for _, m in tasks_of(result, family):
        p = m.get("pooled")
        if isinstance(p, dict) and key in p:
            return number(p.get(key)), interval(p.get(f"{key}_ci"))
    return None, None


def per_modality(result: dict, key: str, modality: str, family: str | None = None
                 ) -> tuple[float | None, tuple[float, float] | None]:
    for _, m in tasks_of(result, family):
        pm = m.get("per_modality")
        if isinstance(pm, dict) and isinstance(pm.get(modality), dict) and key in pm[modality]:
            return number(pm[modality].get(key)), interval(pm[modality].get(f"{key}_ci"))
    return None, None


def utility_gains(result: dict) -> dict:
    """``gains[budget][modality][arm][metric] = {"mean", "ci", "p_value"}`` of the utility task, or {}."""
    m = family_task(result, "utility") or {}
    g = m.get("gains")
    return g if isinstance(g, dict) else {}


def utility_gain(result: dict, arm: str, modality: str, metric: str = "accuracy", budget: str | None = None
                 ) -> tuple[float | None, tuple[float, float] | None]:
    gains = utility_gains(result)
    budget = budget or (min(gains, key=lambda b: int(b) if str(b).isdigit() else 1 << 30) if gains else None)
    cell = dig(gains, budget, modality, arm, metric)
    if not isinstance(cell, dict):
        return None, None
    return number(cell.get("mean")), interval(cell.get("ci"))


def training_compute(result: dict) -> tuple[float | None, float | None]:
    """(FLOPs, wall seconds) of the fit, either None when not recorded. The wall time is the training
    time summed over every process that trained the model (``train_wall_s``: resumed and adopted
    checkpoints included, checkpoint evaluation excluded) when recorded, else the fit call's own."""
    fit = (result.get("compute") or {}).get("fit") or {}
    flops = number(fit.get("flops"))
    if flops is None:
        flops = number(fit.get("train_flops"))
    wall = number(fit.get("train_wall_s"))
    return flops, wall if wall is not None else number(fit.get("wall_s"))


# -- formatting -----------------------------------------------------------------------------------

DASH = "—"


def fmt(v: float | None, signed: bool = False, scale: float | None = None) -> str:
    """A number for a table: precision by magnitude (of ``scale`` when given, so a CI's bounds are
    written like its value), a real minus sign, and ``+`` on request."""
    if v is None:
        return DASH
    a = abs(v if scale is None else scale)
    if v == 0 and scale is None:
        s = "0"
    elif a >= 1000:
        s = f"{v:.3g}" if a >= 1e6 else f"{v:.0f}"
    elif a >= 100:
        s = f"{v:.1f}"
    elif a >= 1:
        s = f"{v:.2f}"
    elif a >= 0.001 or scale is not None:
        s = f"{v:.3f}"
    else:
        s = f"{v:.2e}"
    if s.lstrip("-").strip("0.") == "":
        s = s.lstrip("-")  # no "−0.000"
    if signed and v > 0:
        s = "+" + s
    return s.replace("-", "−")


def fmt_ci(ci: tuple[float, float] | None, like: float | None = None) -> str:
    """``[lo, hi]``, written with the precision of the value ``like`` (or of the bounds)."""
    if ci is None:
        return ""
    scale = max(abs(like or 0.0), abs(ci[0]), abs(ci[1]))
    return f"[{fmt(ci[0], scale=scale)}, {fmt(ci[1], scale=scale)}]"


def fmt_flops(f: float | None) -> str:
    if f is None:
        return DASH
    for unit, scale in (("EFLOP", 1e18), ("PFLOP", 1e15), ("TFLOP", 1e12), ("GFLOP", 1e9), ("MFLOP", 1e6)):
        if f >= scale:
            return f"{f / scale:.3g} {unit}"
    return f"{f:.3g} FLOP"


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return DASH
    if s < 1:
        return f"{s:.1f} s"
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


def fmt_compute(result: dict) -> str:
    flops, wall = training_compute(result)
    if flops is None and wall is None:
        return DASH
    if flops is None:
        return fmt_seconds(wall)
    return f"{fmt_flops(flops)} · {fmt_seconds(wall)}"


def short_hashes(reference: dict[str, str], n: int = 8) -> str:
    return ", ".join(f"{k}:{v[:n]}" for k, v in sorted(reference.items())) or DASH
