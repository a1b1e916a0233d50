"""Numbers picked out of one result, through the declarations the result carries.

A task's metrics declare their columns (:mod:`bench.columns`: label, direction, unit, where the value
sits); the tables and figures read values through those declarations, never by guessing names.
Structured parts of a task's output that are not columns (utility gains per budget, probe tables,
memorisation thresholds) are read from the task of that kind, named exactly in the result's
``suite.tasks``. A value that is absent or malformed is ``None``.
"""

from __future__ import annotations

from typing import Any

from bench.columns import MetricColumn, declared_columns, interval, number, read_value  # noqa: F401 (re-exported)


def columns_of(results: list[dict]) -> list[MetricColumn]:
    """The columns the results declare (the first declaration of each key wins), in table order."""
    seen: dict[str, MetricColumn] = {}
    for r in results:
        for c in declared_columns(r):
            seen.setdefault(c.key, c)
    return sorted(seen.values(), key=lambda c: c.order)


def declared(result: dict, key: str) -> tuple[dict, MetricColumn] | None:
    """(the task's metrics, its declaration) of the column ``key`` in this result, or None."""
    for c in declared_columns(result):
        if c.key == key:
            return result["metrics"][c.task], c
    return None


def metric(result: dict, key: str, modality: str | None = None) -> tuple[float | None, tuple[float, float] | None]:
    """The value and 95 % interval of the declared column ``key`` (pooled, or of one modality)."""
    found = declared(result, key)
    return read_value(found[0], found[1], modality) if found else (None, None)


def task_kinds(result: dict) -> dict[str, str]:
    """metrics key → task kind, as the result's ``suite.tasks`` records them (an attached reader study
    is its own kind)."""
    tasks = dig(result, "suite", "tasks")
    kinds = {str(n): str(dig(t, "task") or "") for n, t in tasks.items()} if isinstance(tasks, dict) else {}
    return kinds | {n: n for n in (result.get("metrics") or {}) if n not in kinds}


def task_of_kind(result: dict, kind: str) -> dict | None:
    """The metrics of the result's (first) task of this kind, or None."""
    metrics = result.get("metrics") or {}
    for name, k in task_kinds(result).items():
        if k == kind and isinstance(metrics.get(name), dict):
            return metrics[name]
    return None


def dig(d: Any, *keys: Any) -> Any:
    """``d[k1][k2]...`` or None when any level is missing or not a dict."""
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def utility_gains(result: dict) -> dict:
    """``gains[budget][modality][arm][metric] = {"mean", "ci", "p_value"}`` of the utility task, or {}."""
    m = task_of_kind(result, "utility") or {}
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
