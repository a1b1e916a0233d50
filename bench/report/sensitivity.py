"""Metric sensitivity on controlled-degradation ladders: does each metric move the way it should?

A ladder is one degradation of the held-out real images at rising severity (``degraded`` rows, role
``ladder``); the ``holdout`` baseline is its severity 0. For every ladder and every declared column
with a direction, the *worse-direction Spearman correlation* is

    rho_worse = s x Spearman(severity, value),   s = +1 if lower is better, -1 if higher is better,

so rho_worse = +1 means the metric gets monotonically worse as the images do. ``bench.recipes.
DEGRADATIONS`` writes down which metrics must get worse on each ladder; for those the verdict is

- ``worse`` (rho_worse >= 0.9: monotone up to one adjacent swap on five points),
- ``weakly worse`` (0.5 <= rho_worse < 0.9),
- ``does not move`` (|rho_worse| < 0.5, or the value is the same at every severity),
- ``wrong way`` (rho_worse <= -0.5),

and a metric with no stated expectation is shown with its rho_worse and no verdict (nor is one with
fewer than three severities: ``too few rungs``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.columns import MetricColumn
from bench.recipes import DEGRADATIONS
from bench.report.collection import Entry
from bench.report.values import columns_of, dig, metric, task_kinds

PASS, WEAK, FLAT, WRONG = "worse", "weakly worse", "does not move", "wrong way"
FEW = "too few rungs"  # fewer than three severities with a value: no verdict


@dataclass
class LadderCell:
    """One metric on one ladder: severities and values (holdout first), rho_worse and the verdict."""

    column: MetricColumn
    qualified: str  # "<task kind>.<column key>", as DEGRADATIONS names it
    severities: list[float]
    values: list[float]
    rho_worse: float | None  # None: fewer than three points, or a constant value
    expected: bool  # DEGRADATIONS says it must get worse
    verdict: str  # PASS / WEAK / FLAT / WRONG for expected metrics; "" otherwise


def degradation_of(e: Entry) -> tuple[str, float] | None:
    """(degradation, severity) of a ladder row, from its recorded model spec; None for other rows."""
    params = dig(e.result, "generator", "spec", "params") or {}
    if e.role != "ladder" or params.get("degradation") not in DEGRADATIONS:
        return None
    return str(params["degradation"]), float(params.get("severity", 0.0))


def spearman(x: list[float], y: list[float]) -> float | None:
    """Spearman's rank correlation (average ranks for ties); None when either side is constant."""
    from scipy.stats import spearmanr

    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(spearmanr(x, y).statistic)


EPS = 1e-9  # Spearman on five points is k/10: 0.9 may arrive as 0.8999999999999999


def verdict(rho_worse: float | None) -> str:
    if rho_worse is None or abs(rho_worse) < 0.5 - EPS:
        return FLAT
    if rho_worse <= -0.5 + EPS:
        return WRONG
    return PASS if rho_worse >= 0.9 - EPS else WEAK


def ladders(entries: list[Entry], ladder_entries: list[Entry]) -> dict[str, list[tuple[float, Entry]]]:
    """degradation → [(severity, row)], severity 0 the holdout baseline (when there is one), ascending."""
    holdout = next((e for e in entries if e.kind == "holdout" and e.role == "baseline"), None)
    out: dict[str, list[tuple[float, Entry]]] = {}
    for e in ladder_entries:
        d = degradation_of(e)
        if d is not None:
            out.setdefault(d[0], []).append((d[1], e))
    for d, rungs in out.items():
        if holdout is not None and all(s != 0 for s, _ in rungs):
            rungs.append((0.0, holdout))
        rungs.sort(key=lambda t: t[0])
    return {d: out[d] for d in DEGRADATIONS if d in out}


def sensitivity(entries: list[Entry], ladder_entries: list[Entry], modality: str | None = None
                ) -> dict[str, list[LadderCell]]:
    """degradation → one :class:`LadderCell` per declared column with a direction (table order)."""
    out: dict[str, list[LadderCell]] = {}
    for d, rungs in ladders(entries, ladder_entries).items():
        cols = [c for c in columns_of([e.result for _, e in rungs]) if c.better is not None]
        cells = []
        for c in cols:
            pts = [(s, metric(e.result, c.key, modality)[0]) for s, e in rungs]
            pts = [(s, v) for s, v in pts if v is not None]
            if len(pts) < 2:
                continue
            sev, vals = [p[0] for p in pts], [p[1] for p in pts]
            rho = spearman(sev, vals)
            rho_w = None if rho is None else rho * (1 if c.better == "lower" else -1)
            kind = next((task_kinds(e.result).get(c.task, c.task) for _, e in rungs), c.task)
            q = f"{kind}.{c.key}"
            expected = q in DEGRADATIONS[d].expect_worse
            judged = verdict(rho_w) if len(pts) >= 3 else FEW
            cells.append(LadderCell(c, q, sev, vals, rho_w, expected, judged if expected else ""))
        out[d] = cells
    return out


def failures(table: dict[str, list[LadderCell]]) -> list[tuple[str, LadderCell]]:
    """(degradation, cell) of every expected metric that did not get (at least weakly) worse."""
    return [(d, c) for d, cells in table.items() for c in cells if c.expected and c.verdict in (FLAT, WRONG)]
