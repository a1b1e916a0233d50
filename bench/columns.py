"""Column declarations: what each reported metric of a result is, written by the task beside its numbers.

A task's metrics in a result (``metrics[<task>]``) hold, besides the numbers, ``columns``: one
declaration per metric the leaderboard reports, with its label, which direction is better, its unit,
a one-line definition, and where its value, its 95 % interval and its per-modality values sit in the
task's metrics (paths of keys, ``{modality}`` standing for a modality key). The leaderboard, the
figures and the findings read these declarations; none of them knows a metric's name, label or
direction, so a new metric is one task change.

``show_ci`` asks the tables to write the interval beside the value; ``order`` places a column in the tables (lowest first, across tasks); ``rank`` (1, 2, ...) makes it
a key of the row order (lower rank first; "higher is better" sorts descending).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

BETTER = ("higher", "lower", None)


@dataclass(frozen=True)
class MetricColumn:
    """One reported metric of a task, as its result declares it."""

    key: str  # the metric's name, unique within its task
    label: str  # the table header
    better: str | None  # "higher" | "lower" | None (no direction)
    unit: str  # e.g. "fraction points", "share", "squared chord units"; "" when unitless
    help: str  # its definition in one line
    value: list[str]  # where the pooled value sits in the task's metrics, e.g. ["pooled", "fd"]
    ci: list[str] | None = None  # where its [lo, hi] 95 % interval sits (None: not reported)
    per_modality: list[str] | None = None  # where one modality's value sits, "{modality}" as placeholder
    per_modality_ci: list[str] | None = None
    show_ci: bool = False  # the tables write the interval beside the value (the headline columns)
    signed: bool = False  # written with a + sign (gains)
    order: int = 100  # place in the tables, lowest first
    rank: int | None = None  # row-order key: 1 first, then 2, ...
    optional: bool = False  # shown only when some result has a value (e.g. from a published reader study)
    task: str = field(default="", compare=False)  # the task (metrics key) it was declared by; set on reading

    def __post_init__(self):
        if self.better not in BETTER:
            raise ValueError(f"column {self.key!r}: better must be 'higher', 'lower' or None, not {self.better!r}")

    @property
    def arrow(self) -> str:
        return {"lower": " ↓", "higher": " ↑"}.get(self.better or "", "")

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("task")
        return d

    @classmethod
    def from_dict(cls, d: dict, task: str = "") -> "MetricColumn":
        names = {f for f in cls.__dataclass_fields__ if f != "task"}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown column field(s) {sorted(unknown)}")
        return cls(**d, task=task)


def pooled_column(key: str, label: str, better: str | None, unit: str, help: str, *, ci: bool = False,
                  per_modality: bool = True, per_modality_ci: bool = False, **kw) -> MetricColumn:
    """The common layout: ``pooled[key]``, ``pooled[key + "_ci"]`` and ``per_modality[m][key]``."""
    return MetricColumn(key, label, better, unit, help, value=["pooled", key],
                        ci=["pooled", f"{key}_ci"] if ci else None,
                        per_modality=["per_modality", "{modality}", key] if per_modality else None,
                        per_modality_ci=["per_modality", "{modality}", f"{key}_ci"] if per_modality_ci else None,
                        **kw)


def declare(columns: list[MetricColumn]) -> list[dict]:
    """The ``columns`` entry a task writes beside its metrics."""
    keys = [c.key for c in columns]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate column keys: {keys}")
    return [c.as_dict() for c in columns]


def held(columns: list[MetricColumn], output: dict) -> list[MetricColumn]:
    """The columns whose value ``output`` (a task's metrics) holds: a row that runs fewer arms than its task
    declares (a controlled-degradation rung), or a task that skipped the row, declares only those."""
    def holds(path: list[str]) -> bool:
        node = output
        for key in path:
            if not isinstance(node, dict) or key not in node:
                return False
            node = node[key]
        return True

    return [c for c in columns if holds(c.value)]


def _at(d: Any, path: list[str] | None, modality: str | None = None) -> Any:
    if path is None:
        return None
    for k in path:
        if k == "{modality}":
            k = modality
        if not isinstance(d, dict) or k is None:
            return None
        d = d.get(k)
    return d


def number(v: Any) -> float | None:
    """``v`` as a finite float, else None (bools, strings, NaN and infinities are not numbers here)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def interval(v: Any) -> tuple[float, float] | None:
    """``[lo, hi]`` as a pair of finite floats, else None."""
    if isinstance(v, (list, tuple)) and len(v) == 2:
        lo, hi = number(v[0]), number(v[1])
        if lo is not None and hi is not None:
            return lo, hi
    return None


def read_value(task_metrics: dict, col: MetricColumn, modality: str | None = None
               ) -> tuple[float | None, tuple[float, float] | None]:
    """The column's value and 95 % interval in one task's metrics: pooled, or of one modality (either
    may be None: not measured, not finite, or not reported per modality)."""
    if modality is None:
        return number(_at(task_metrics, col.value)), interval(_at(task_metrics, col.ci))
    return (number(_at(task_metrics, col.per_modality, modality)),
            interval(_at(task_metrics, col.per_modality_ci, modality)))


def declared_columns(result: dict) -> list[MetricColumn]:
    """Every column a result's tasks declare, in table order; ``task`` set to the metrics key."""
    out = []
    for task, m in (result.get("metrics") or {}).items():
        if isinstance(m, dict) and isinstance(m.get("columns"), list):
            out += [MetricColumn.from_dict(c, task) for c in m["columns"]]
    return sorted(out, key=lambda c: c.order)
