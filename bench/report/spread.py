"""Generator-seed spread: how much of a difference between two rows is the generators' own training noise?

Every other interval on the page covers samples or classifier seeds of *one* training run per row. A
*seed replica* of a row is a variant (``[generators] variants``, role "variant") whose model differs from
the row's only in ``seed`` — initialisation, data order and sampling noise, e.g. ``ldm-small+seed=1``.
The seed is the denoiser's: a latent family's autoencoder is the suite's shared one (its own ``vae_seed``),
so the spread is the denoiser's training noise on fixed latents, as the families are compared.
For a row with replicas and a value (a declared column, pooled or per modality, or a utility gain), the
values over its training seeds (the row's own seed included) give a mean and a 95 % Student-t interval
over seeds (:func:`bench.stats.t_interval`: n − 1 degrees of freedom, so three seeds give a wide one).
The unit the value's column declares says how: a multiple (unit ``×`` or ``ratio``) is averaged on the log
scale — the geometric mean, and the t interval of the logs exponentiated, so it stays positive — and a
bounded value's interval is clipped to its range (a share to [0, 1], a Fréchet distance to [0, ∞)); with
two seeds t's 12.7 otherwise gives intervals such as [0.17, 1.63] for an accuracy. Two rows are
*distinguishable* on a value when their seed intervals do not overlap; with fewer than two seeds each
there is no interval and no verdict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from bench.report.collection import Entry
from bench.report.values import declared, metric
from bench.stats import t_interval

LOG_UNITS = frozenset({"×", "ratio"})  # multiples: averaged on the log scale
UNIT_RANGE = {"share": (0.0, 1.0), "squared chord units": (0.0, math.inf), "100·max(cos, 0)": (0.0, 100.0)}


@dataclass
class SeedSpread:
    """One value of one row over its training seeds."""

    row: str
    seeds: list[int]  # the row's own seed first, then its replicas' in ascending order
    values: list[float]
    mean: float
    ci: tuple[float, float] | None  # None with one seed

    @property
    def n(self) -> int:
        return len(self.values)


def seed_of(e: Entry) -> int:
    return int((e.result["generator"].get("spec") or {}).get("params", {}).get("seed", 0))


def is_seed_replica(variant: Entry, row: Entry) -> bool:
    """``variant`` is ``row`` trained with another seed: same kind, same parameters but ``seed``."""
    if variant.result["generator"].get("variant_of") != row.name or variant.kind != row.kind:
        return False
    a = dict((variant.result["generator"].get("spec") or {}).get("params", {}))
    b = dict((row.result["generator"].get("spec") or {}).get("params", {}))
    a.pop("seed", None)
    b.pop("seed", None)
    return a == b and seed_of(variant) != seed_of(row)


def seed_replicas(rows: list[Entry], variants: list[Entry]) -> dict[str, list[Entry]]:
    """Row name → the row and then its seed replicas (ascending seed), for the rows that have any."""
    out = {}
    for row in rows:
        reps = sorted((v for v in variants if is_seed_replica(v, row)), key=seed_of)
        if reps:
            out[row.name] = [row] + reps
    return out


def spread(runs: list[Entry], value: Callable[[Entry], float | None], unit: str = "") -> SeedSpread | None:
    """``value`` over the training seeds ``runs`` (a row, then its replicas); None when no run has it.
    Runs without the value are left out (their seed is not listed). ``unit``: the value's declared unit
    (module docstring: log scale for multiples, the interval clipped to a bounded unit's range)."""
    got = [(seed_of(e), v) for e in runs if (v := value(e)) is not None and math.isfinite(v)]
    if not got:
        return None
    values = [v for _, v in got]
    if unit in LOG_UNITS and all(v > 0 for v in values):
        log_mean, (lo, hi) = t_interval([math.log(v) for v in values])
        mean, ci = math.exp(log_mean), (math.exp(lo), math.exp(hi))
    else:
        mean, (lo, hi) = t_interval(values)
        low, high = UNIT_RANGE.get(unit, (-math.inf, math.inf))
        ci = (max(lo, low), min(hi, high))
    return SeedSpread(runs[0].name, [s for s, _ in got], values, mean, ci if len(got) > 1 else None)


def metric_spread(runs: list[Entry], key: str, modality: str | None = None) -> SeedSpread | None:
    """The declared column ``key`` (pooled, or of one modality) over the training seeds ``runs``, in the
    way its declared unit asks for (:func:`spread`)."""
    found = declared(runs[0].result, key)
    return spread(runs, lambda e: metric(e.result, key, modality)[0], found[1].unit if found else "")


def distinguishable(a: SeedSpread | None, b: SeedSpread | None) -> bool | None:
    """True when the two seed intervals do not overlap, False when they do, None without both intervals."""
    if a is None or b is None or a.ci is None or b.ci is None:
        return None
    return a.ci[1] < b.ci[0] or b.ci[1] < a.ci[0]


def pooled_seed_sd(spreads: list[SeedSpread]) -> tuple[float, int] | None:
    """The training-seed standard deviation pooled over rows, and its degrees of freedom:
    s² = Σᵢ Σⱼ (xᵢⱼ − x̄ᵢ)² / Σᵢ (nᵢ − 1) over the rows i with at least two seeds j (the arithmetic values,
    whatever the unit). None without any row of two seeds."""
    rows = [sp.values for sp in spreads if sp is not None and sp.n > 1]
    df = sum(len(v) - 1 for v in rows)
    if df == 0:
        return None
    ss = sum(sum((x - sum(v) / len(v)) ** 2 for x in v) for v in rows)
    return math.sqrt(ss / df), df


def difference_threshold(sd: float, df: int, n_a: int = 1, n_b: int = 1, level: float = 0.95) -> float:
    """The smallest difference between two rows' means over ``n_a`` and ``n_b`` training seeds that is
    distinguishable given a common training-seed standard deviation ``sd`` (estimated with ``df`` degrees
    of freedom): the half-width t(level, df) · sd · √(1/n_a + 1/n_b) of the difference's interval (two
    single runs: t · √2 · sd)."""
    from scipy import stats

    return float(stats.t.ppf((1.0 + level) / 2.0, df)) * sd * math.sqrt(1.0 / n_a + 1.0 / n_b)

