"""``metric_sensitivity``: each metric's worse-direction Spearman correlation with the severity of each
controlled-degradation ladder (:mod:`bench.report.sensitivity`), as a heatmap; the metrics each ladder
must worsen are boxed, and marked ✓ (worse), ~ (weakly worse) or ✗ (does not move / wrong way).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.report.collection import Entry
from bench.report.figures.style import WIDE_IN, plain, pyplot, save, Skip
from bench.report.sensitivity import FEW, FLAT, PASS, WEAK, WRONG, sensitivity

MARK = {PASS: "✓", WEAK: "~", FLAT: "✗", WRONG: "✗", FEW: "?"}


def fig_metric_sensitivity(entries: list[Entry], folder: Path) -> list[Path]:
    rows = [e for e in entries if e.role != "ladder"]
    table = sensitivity(rows, [e for e in entries if e.role == "ladder"])
    if not table:
        raise Skip("no controlled-degradation ladder results (suite [generators] ladders)")
    labels: list[str] = []
    for cells in table.values():
        for c in cells:
            lab = c.column.label
            if lab not in labels:
                labels.append(lab)
    ladders = list(table)
    grid = np.full((len(ladders), len(labels)), np.nan)
    plt, sns = pyplot()
    fig, ax = plt.subplots(figsize=(WIDE_IN, 0.5 + 0.32 * len(ladders)))
    for i, d in enumerate(ladders):
        for c in table[d]:
            j = labels.index(c.column.label)
            if c.rho_worse is not None:
                grid[i, j] = c.rho_worse
    sns.heatmap(grid, ax=ax, cmap="RdBu_r", vmin=-1, vmax=1, center=0, cbar_kws={"label": "ρ with severity (+: worse)",
                                                                               "shrink": 0.8},
                linewidths=0.4, linecolor="white", xticklabels=[plain(x) for x in labels],
                yticklabels=[plain(d) for d in ladders])
    from matplotlib.patches import Rectangle

    for i, d in enumerate(ladders):
        for c in table[d]:
            j = labels.index(c.column.label)
            txt = "" if c.rho_worse is None else f"{c.rho_worse:+.1f}".replace("-", "−")
            if c.expected:
                ax.add_patch(Rectangle((j, i), 1, 1, fill=False, lw=1.1, ec="black"))
                txt = f"{txt} {MARK[c.verdict]}".strip()
            ax.text(j + 0.5, i + 0.5, txt or "·", ha="center", va="center", fontsize=5.5,
                    color="black" if c.rho_worse is None or abs(c.rho_worse) < 0.7 else "white")
    ax.set_xticklabels(ax.get_xticklabels(), rotation=35, ha="right")
    ax.set_ylabel("")
    fig.tight_layout()
    return save(fig, folder, "metric_sensitivity")
