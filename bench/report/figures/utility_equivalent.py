"""``utility_equivalent``: the real-data-equivalent multiplier of real + synthetic training (real images
per class the real-only ladder needs to match it, over the real budget) vs the real budget, log-log,
one panel per modality (pooled last), one colour per generator, 95% CI bars; reference lines at 1×
and 2×; a point beyond the ladder's top is a lower bound (▲), one below its bottom an upper bound (▼).
"""

from __future__ import annotations

from pathlib import Path

from bench.report.collection import Entry
from bench.report.figures.style import in_plot_order, palette, plain, pyplot, save, series, Skip
from bench.report.figures.utility_regimes import (budget_key, clip, grid, log_budget_axis, panel_order, place_legend,
                                                   utility_output)
from bench.report.values import dig, interval, number


ARM = "mixed"

MARKERS = {"within": "o", "beyond": "^", "below": "v", "both": "D"}

STATUS_TEXT = {"within": "within the real ladder", "beyond": "beyond the ladder (lower bound)",
               "below": "below the ladder (upper bound)", "both": "seeds beyond and below the ladder"}


def _equivalent(e: Entry) -> dict:
    eq = utility_output(e).get("equivalent")
    return eq if isinstance(eq, dict) and eq else {}


def _rungs(entries: list[Entry]) -> tuple[float, float] | None:
    """The smallest and largest rung (real images per class) of the results' real ladders, or None."""
    rungs = [k for e in entries for lad in (utility_output(e).get("ladder") or {}).values() if isinstance(lad, dict)
             for r in lad if (k := budget_key(r)) is not None]
    return (min(rungs), max(rungs)) if rungs else None


def fig_utility_equivalent(entries: list[Entry], folder: Path) -> list[Path]:
    data = {e.name: eq for e in entries if (eq := _equivalent(e))}
    if not data:
        raise Skip("no real-data equivalents in the results (utility protocol before version 2?)")
    panels = panel_order(m for eq in data.values() for cell in eq.values() if isinstance(cell, dict)
                         for m, v in cell.items() if isinstance(dig(v, ARM), dict))
    if not panels:
        raise Skip(f"the real-data equivalents hold no {ARM} arm")
    budgets = sorted({k for eq in data.values() for b in eq if (k := budget_key(b)) is not None})
    rungs = _rungs([e for e in entries if e.name in data])

    def measurable(b: float) -> tuple[float | None, float | None]:
        """The multipliers the ladder can tell apart at budget ``b`` (intervals are clipped to them)."""
        return (rungs[0] / b, rungs[1] / b) if rungs else (None, None)

    plt, sns = pyplot()
    from matplotlib.lines import Line2D

    colours = palette(entries)
    fig, axes = grid(plt, len(panels))
    shown = [e for e in in_plot_order(entries) if e.name in data]
    handles: dict[str, Line2D] = {}
    statuses: set[str] = set()
    for ax, mod in zip(axes.flat, panels):
        for i, e in enumerate(shown):
            if mod == "pooled" and e.role == "specialist":  # a specialist's "pooled" is its one modality
                continue
            eq = data[e.name]
            colour = colours.get(series(e), "#333")
            shift = 1.07 ** (i - (len(shown) - 1) / 2)  # generators side by side around each budget
            pts = []
            for b in eq:
                cell, k = dig(eq, b, mod, ARM), budget_key(b)
                m = number(dig(cell, "multiplier"))
                if k is None or m is None or m <= 0:
                    continue
                ci = interval(dig(cell, "multiplier_ci"))
                status = dig(cell, "status") if dig(cell, "status") in MARKERS else "within"
                pts.append((k * shift, m, ci, status, measurable(k)))
            if not pts:
                continue
            pts.sort(key=lambda p: p[0])
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "-", color=colour, lw=0.8,
                    alpha=0.6 if e.role == "baseline" else 0.9)
            for x, y, ci, status, (lo_lim, hi_lim) in pts:
                err = None
                if ci is not None:
                    lo, hi = (clip(v, lo_lim, hi_lim) for v in ci)
                    err = [[max(y - lo, 0)], [max(hi - y, 0)]]
                ax.errorbar([x], [y], yerr=err, fmt=MARKERS[status], color=colour, ms=3.5 if status != "within" else 3,
                            elinewidth=0.7, capsize=1.5, zorder=4)
                statuses.add(status)
            handles.setdefault(series(e), Line2D([], [], color=colour, marker="o", ms=3, lw=0.8, label=series(e)))
        ax.axhline(1, color="#888", lw=0.7, zorder=0)
        ax.axhline(2, color="#888", lw=0.8, ls="--", zorder=0)
        ax.set_yscale("log")
        ax.set_title(plain(mod))
    if not handles:
        plt.close(fig)
        raise Skip(f"the real-data equivalents hold no {ARM} multipliers")
    if rungs and budgets:  # the whole measurable range, the same in every panel
        axes.flat[0].set_ylim(rungs[0] / max(budgets) / 1.4, rungs[1] / min(budgets) * 1.4)
    for ax in axes.flat[:len(panels)]:
        log_budget_axis(ax, budgets, "real images per class")
        ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}×"))
    for ax in axes[:, 0]:
        ax.set_ylabel("real-data equivalent (× budget)")
    legend = list(handles.values())
    legend += [Line2D([], [], color="#888", lw=0.7, label="1× (no gain)"),
               Line2D([], [], color="#888", lw=0.8, ls="--", label="2× (MediSyn)")]
    legend += [Line2D([], [], color="#333", marker=MARKERS[s], ls="none", ms=3.5, label=STATUS_TEXT[s])
               for s in MARKERS if s in statuses and s != "within"]
    place_legend(fig, axes, len(panels), legend, title="Real-data equivalent of real + synthetic training")
    return save(fig, folder, "utility_equivalent")
