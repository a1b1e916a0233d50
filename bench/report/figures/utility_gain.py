"""``utility_gain``: accuracy gain over real-only vs the real-data budget, one line per generator and
arm (real+synthetic solid, synthetic only dashed), 95% CI bands.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.report.collection import Entry
from bench.report.figures.style import COLUMN_IN, in_plot_order, palette, plain, pyplot, save, series, Skip, WIDE_IN
from bench.report.values import dig, number, utility_gains


def _budget_key(b: str) -> float:
    return float(b) if str(b).replace(".", "", 1).isdigit() else float("inf")


def fig_utility(entries: list[Entry], folder: Path) -> list[Path]:
    plt, sns = pyplot()
    data = {e.name: utility_gains(e.result) for e in entries}
    data = {k: v for k, v in data.items() if v}
    if not data:
        raise Skip("no utility gains in the results (utility task not run?)")
    panels: list[str] = []
    metric = "accuracy"
    for g in data.values():
        for b in g.values():
            if isinstance(b, dict):
                panels += [m for m in b if m not in panels]
    panels = sorted(panels, key=lambda m: (m in ("pooled", "all"), m))
    if not panels:
        raise Skip("utility gains hold no per-modality cells")
    colours = palette(entries)
    ncol = min(len(panels), 3)
    nrow = -(-len(panels) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(WIDE_IN if ncol > 1 else COLUMN_IN, 1.9 * nrow + 0.5),
                             squeeze=False, sharey=True)
    handles = {}
    for ax, mod in zip(axes.flat, panels):
        for e in in_plot_order(entries):
            g = data.get(e.name)
            if not g:
                continue
            for arm, style in (("mixed", "-"), ("synthetic", "--")):
                pts = []
                for b in sorted(g, key=_budget_key):
                    cell = dig(g, b, mod, arm, metric)
                    if not isinstance(cell, dict) or number(cell.get("mean")) is None:
                        continue
                    ci = cell.get("ci") if isinstance(cell.get("ci"), list) and len(cell.get("ci")) == 2 else None
                    lo = number(ci[0]) if ci else None
                    hi = number(ci[1]) if ci else None
                    pts.append((_budget_key(b), number(cell["mean"]), lo, hi))
                if not pts or any(np.isinf(p[0]) for p in pts):
                    continue
                xs, ys = [p[0] for p in pts], [p[1] for p in pts]
                colour = colours.get(series(e), "#333")
                (line,) = ax.plot(xs, ys, style, color=colour, marker="o", ms=2.5, label=series(e))
                handles.setdefault(series(e), line)
                if all(p[2] is not None and p[3] is not None for p in pts):
                    ax.fill_between(xs, [p[2] for p in pts], [p[3] for p in pts], color=colour,
                                    alpha=0.05 if e.role == "baseline" else 0.12, lw=0)
        ax.axhline(0, color="#888", lw=0.6, zorder=0)
        ax.set_xscale("log")
        ax.set_title(plain(mod))
        ax.set_xlabel("real images per class")
        budgets = sorted({_budget_key(b) for g in data.values() for b in g if not np.isinf(_budget_key(b))})
        ax.set_xticks(budgets)
        ax.set_xticklabels([f"{b:g}" for b in budgets])
        ax.minorticks_off()
    spare = list(axes.flat[len(panels):])
    for ax in spare:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("accuracy gain over real-only")
    if not handles:
        plt.close(fig)
        raise Skip("utility gains hold no accuracy means per budget")
    from matplotlib.lines import Line2D

    arm_handles = [Line2D([], [], color="#333", ls="-", label="real + synthetic"),
                   Line2D([], [], color="#333", ls="--", label="synthetic only")]
    gen_handles = [Line2D([], [], color=h.get_color(), ls="-", label=n) for n, h in handles.items()]
    if spare:  # an empty grid cell holds the legend
        spare[0].set_visible(True)
        spare[0].axis("off")
        spare[0].legend(handles=arm_handles + gen_handles, frameon=False, loc="center")
        fig.tight_layout()
    else:
        fig.legend(handles=arm_handles + gen_handles, frameon=False, loc="lower center",
                   ncol=min(4, len(arm_handles + gen_handles)),
                   bbox_to_anchor=(0.5, -0.02 - 0.04 * (len(gen_handles) // 4)))
        fig.tight_layout(rect=(0, 0.12, 1, 1))
    return save(fig, folder, "utility_gain")
