"""``metric_validity``: each metric's Spearman correlation with the utility gains at the smallest
real-data budget, over (generator, modality) cells, with 95 % bootstrap intervals over generators
(:mod:`bench.report.validity`).
"""

from __future__ import annotations

from pathlib import Path

from bench.report.collection import Entry
from bench.report.figures.style import COLUMN_IN, plain, pyplot, save, Skip
from bench.report.validity import validity


def fig_metric_validity(entries: list[Entry], folder: Path) -> list[Path]:
    cols, targets, table = validity(entries)
    if not targets:
        raise Skip("no utility gains in the results (utility task not run?)")
    smallest = targets[0].split("@")[1]
    shown = [t for t in targets if t.split("@")[1] == smallest]
    cols = [c for c in cols if any(table[(c.key, t)].spearman is not None for t in shown)]
    if not cols:
        raise Skip("fewer than three (generator, modality) cells with both a metric and a utility gain")
    plt, sns = pyplot()
    fig, ax = plt.subplots(figsize=(COLUMN_IN + 1.3, 0.6 + 0.22 * len(cols)))  # room for the legend
    colours = dict(zip(shown, sns.color_palette("colorblind", len(shown))))
    for k, t in enumerate(shown):
        off = (k - (len(shown) - 1) / 2) * 0.25
        for i, c in enumerate(cols):
            r = table[(c.key, t)]
            if r.spearman is None:
                continue
            err = None if r.ci is None else [[r.spearman - r.ci[0]], [r.ci[1] - r.spearman]]
            ax.errorbar(r.spearman, i + off, xerr=err, fmt="o", ms=3, color=colours[t], capsize=1.5, lw=0.9,
                        label=plain(t) if i == 0 else None)
    ax.axvline(0, color="0.5", lw=0.6, ls=":")
    ax.set_yticks(range(len(cols)), [plain(c.label) for c in cols])
    ax.invert_yaxis()
    ax.set_xlim(-1.05, 1.05)
    ax.set_xlabel("Spearman ρ with the utility gain (metric signed: higher = better)")
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="gain (arm@budget)")
    sns.despine(ax=ax)
    fig.tight_layout()
    return save(fig, folder, "metric_validity")
