"""``utility_quantity``: test accuracy vs synthetic images per class, one panel per modality (pooled
last), one colour per generator: synthetic only (dashed) and real + synthetic at the quantity budget
(solid), 95% CI bands; the real-only accuracy at that budget dotted for reference.
"""

from __future__ import annotations

from pathlib import Path

from bench.report.collection import Entry
from bench.report.figures.style import in_plot_order, palette, plain, pyplot, save, series, Skip
from bench.report.figures.utility_regimes import (budget_key, grid, log_budget_axis, mean_ci, panel_order,
                                                   place_legend, utility_output)
from bench.report.values import dig, number


def _quantity(e: Entry) -> dict:
    q = utility_output(e).get("quantity")
    return q if isinstance(q, dict) and isinstance(q.get("per_modality"), dict) and q["per_modality"] else {}


def _real_at(e: Entry, mod: str, budget: float) -> tuple[float, float | None, float | None] | None:
    """The real-only accuracy of ``mod`` at ``budget`` real images per class (ladder, else cells)."""
    u, b = utility_output(e), f"{budget:g}"
    for cell in (dig(u, "ladder", mod, b, "accuracy"), dig(u, "cells", b, mod, "real", "accuracy")):
        if (p := mean_ci(cell, 0, 1)) is not None:
            return p
    return None


def fig_utility_quantity(entries: list[Entry], folder: Path) -> list[Path]:
    data = {e.name: q for e in entries if (q := _quantity(e))}
    if not data:
        raise Skip("no synthetic-quantity sweep in the results (utility protocol before version 2?)")
    panels = panel_order(m for q in data.values() for m, v in q["per_modality"].items() if isinstance(v, dict))
    budgets = sorted({b for q in data.values() if (b := number(q.get("budget"))) is not None})
    plt, sns = pyplot()
    from matplotlib.lines import Line2D

    colours = palette(entries)
    fig, axes = grid(plt, len(panels))
    handles: dict[str, Line2D] = {}
    ticks: set[float] = set()
    reference = False
    for ax, mod in zip(axes.flat, panels):
        for e in in_plot_order(entries):
            q = data.get(e.name)
            if not q or (mod == "pooled" and e.role == "specialist"):  # a specialist's "pooled" is its one modality
                continue
            colour = colours.get(series(e), "#333")
            for arm, style in (("mixed", "-"), ("synthetic", "--")):
                curve = dig(q, "per_modality", mod, arm)
                if not isinstance(curve, dict):
                    continue
                pts = sorted((k, p) for c, cell in curve.items()
                             if (k := budget_key(c)) is not None and (p := mean_ci(dig(cell, "accuracy"), 0, 1)))
                if not pts:
                    continue
                xs = [k for k, _ in pts]
                ticks |= set(xs)
                (line,) = ax.plot(xs, [p[0] for _, p in pts], style, color=colour, marker="o", ms=2.5)
                handles.setdefault(series(e), line)
                if all(p[1] is not None for _, p in pts):
                    ax.fill_between(xs, [p[1] for _, p in pts], [p[2] for _, p in pts], color=colour,
                                    alpha=0.03 if e.role == "baseline" else 0.07, lw=0)
        if len(budgets) == 1:  # one real-only reference line: every result shares the real subsets
            real = next((p for e in in_plot_order(entries) if e.name in data
                         if (p := _real_at(e, mod, budgets[0]))), None)
            if real is not None:
                ax.axhline(real[0], color="#555", ls=":", lw=0.9, zorder=0)
                reference = True
        ax.set_title(plain(mod))
        ax.set_ylim(0, 1)
    if not handles:
        plt.close(fig)
        raise Skip("the synthetic-quantity sweep holds no accuracy means")
    for ax in axes.flat[:len(panels)]:
        log_budget_axis(ax, sorted(ticks), "synthetic images per class")
    for ax in axes[:, 0]:
        ax.set_ylabel("test accuracy")
    b = "/".join(f"{x:g}" for x in budgets) or "?"
    per = "image" if budgets == [1.0] else "images"
    legend = [Line2D([], [], color="#777", ls="-", label=f"real ({b} per class) + synthetic"),
              Line2D([], [], color="#777", ls="--", label="synthetic only")]
    if reference:
        legend.append(Line2D([], [], color="#555", ls=":", lw=0.9, label=f"real only ({b} per class)"))
    legend += [Line2D([], [], color=h.get_color(), ls="-", label=n) for n, h in handles.items()]
    place_legend(fig, axes, len(panels), legend,
                 title=f"Accuracy vs synthetic quantity (real + synthetic: {b} real {per} per class)")
    return save(fig, folder, "utility_quantity")
