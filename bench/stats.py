"""Statistics over repeated runs (seeds): Student-t confidence intervals and paired tests; the Wilson
interval of a share of samples.

Used where a number is the mean of a few independent repetitions (the utility task's seeds), so the
interval must account for the small sample: ``mean ± t_{(1+level)/2, n-1} · s / sqrt(n)`` with the
sample standard deviation ``s`` (ddof = 1). Bootstrap intervals over images live with the metrics that
use them (``bench.metrics.fidelity``).
"""

from __future__ import annotations

import math

import numpy as np

PAIRED_TESTS = ("ttest_rel", "wilcoxon")
EXACT_TOL = 1e-12  # differences this small are float round-off (metrics are fractions k/N)


def t_interval(values, level: float = 0.95) -> tuple[float, tuple[float, float]]:
    """Mean of ``values`` and its two-sided ``level`` Student-t confidence interval.

    One value gives an interval of (nan, nan) (no spread to estimate); identical values give a
    zero-width interval.
    """
    from scipy import stats

    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return float("nan"), (float("nan"), float("nan"))
    mean = float(x.mean())
    if x.size < 2:
        return mean, (float("nan"), float("nan"))
    se = float(x.std(ddof=1)) / math.sqrt(x.size)
    half = float(stats.t.ppf((1.0 + level) / 2.0, x.size - 1)) * se
    return mean, (mean - half, mean + half)


def wilson_interval(hits: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Two-sided ``level`` Wilson score interval of a binomial proportion hits / n (scipy's
    ``binomtest``); no samples give (nan, nan)."""
    from scipy.stats import binomtest

    if n <= 0:
        return (float("nan"), float("nan"))
    ci = binomtest(int(hits), int(n)).proportion_ci(confidence_level=level, method="wilson")
    return (float(ci.low), float(ci.high))


def paired_test(a, b, test: str = "ttest_rel") -> float:
    """Two-sided p-value of a paired test that ``a`` and ``b`` (same order of pairs) differ.

    ``ttest_rel``: paired Student t-test (assumes roughly normal differences; usable with 3 pairs).
    ``wilcoxon``: exact Wilcoxon signed-rank test (no normality assumption, but with n pairs its
    smallest possible two-sided p-value is 2 / 2**n: 0.25 for 3 seeds, 0.0625 for 5).
    All differences zero (within round-off) give p = 1; a constant non-zero difference gives p = 0
    with the t-test (t is infinite); fewer than two pairs give nan.
    """
    from scipy import stats

    if test not in PAIRED_TESTS:
        raise ValueError(f"unknown paired test {test!r}; known: {', '.join(PAIRED_TESTS)}")
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired samples differ in shape: {a.shape} vs {b.shape}")
    d = a - b
    if d.size < 2:
        return float("nan")
    if np.all(np.abs(d) <= EXACT_TOL):
        return 1.0
    if test == "wilcoxon":
        return float(stats.wilcoxon(a, b, zero_method="wilcox", alternative="two-sided").pvalue)
    if np.all(np.abs(d - d[0]) <= EXACT_TOL):  # constant non-zero difference: t is infinite
        return 0.0
    return float(stats.ttest_rel(a, b).pvalue)
