"""``utility_regimes``: the generalist's test accuracy vs real images per class, one panel per
modality (pooled last): the real-only ladder (black line, 95% CI band) and every other arm at the
generator budgets (95% CI bars).

The helpers here (accuracy cells, budget keys, panel order) are shared by ``utility_quantity`` and
``utility_equivalent``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bench.report.collection import Entry, generalist
from bench.report.figures.style import COLUMN_IN, plain, pyplot, save, series, Skip, WIDE_IN
from bench.report.values import dig, number, task_of_kind


ARMS = {  # arm → (legend text, colour, marker); real-only is the ladder
    "real+augment": ("real + weak augmentation", "#56b4e9", "s"),
    "real+strong": ("real + strong augmentation", "#0072b2", "D"),
    "synthetic": ("synthetic only", "#e69f00", "v"),
    "mixed": ("real + synthetic", "#d55e00", "o"),
    "pretrain+finetune": ("synthetic pretraining, real fine-tuning", "#009e73", "^"),
}


def budget_key(b: Any) -> float | None:
    """A budget or count key (``"5"``) as a positive number, or None."""
    v = number(b) if not isinstance(b, str) else (float(b) if b.replace(".", "", 1).isdigit() else None)
    return v if v is not None and v > 0 else None


def panel_order(mods) -> list[str]:
    """Modalities alphabetically, the pooled panel last."""
    return sorted({str(m) for m in mods}, key=lambda m: (m in ("pooled", "all"), m))


def utility_output(e: Entry) -> dict:
    out = task_of_kind(e.result, "utility")
    return out if isinstance(out, dict) else {}


def clip(v: float, lo: float | None, hi: float | None) -> float:
    """``v`` within [lo, hi], either bound None for none."""
    v = max(v, lo) if lo is not None else v
    return float(min(v, hi) if hi is not None else v)


def mean_ci(cell: Any, lo: float | None = None, hi: float | None = None
            ) -> tuple[float, float | None, float | None] | None:
    """(mean, CI low, CI high) of a ``{"mean", "ci"}`` cell, the CI clipped to [lo, hi]; None without a
    mean. A missing or malformed CI is (None, None)."""
    if not isinstance(cell, dict) or number(cell.get("mean")) is None:
        return None
    ci = cell.get("ci")
    a, b = (number(ci[0]), number(ci[1])) if isinstance(ci, list) and len(ci) == 2 else (None, None)
    if a is not None and b is not None:
        a, b = clip(a, lo, hi), clip(b, lo, hi)
    else:
        a = b = None
    return float(number(cell["mean"])), a, b


def grid(plt, n: int, height: float = 1.9):
    """A panel grid of up to three columns (wide when more than one), sharing y."""
    ncol = min(n, 3)
    nrow = -(-n // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(WIDE_IN if ncol > 1 else COLUMN_IN, height * nrow + 0.5),
                             squeeze=False, sharey=True)
    return fig, axes


def place_legend(fig, axes, n_panels: int, handles: list, title: str | None = None) -> None:
    """The legend in the first empty grid cell, or below the panels when none is empty."""
    spare = list(axes.flat[n_panels:])
    for ax in spare:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=7.5)
    if spare:
        spare[0].set_visible(True)
        spare[0].axis("off")
        spare[0].legend(handles=handles, frameon=False, loc="center")
        fig.tight_layout()
    else:
        ncol = min(3, len(handles))
        rows = -(-len(handles) // ncol)
        fig.legend(handles=handles, frameon=False, loc="lower center", ncol=ncol, bbox_to_anchor=(0.5, 0.0))
        fig.tight_layout(rect=(0, 0.05 + 0.045 * rows, 1, 1))


def log_budget_axis(ax, ticks: list[float], label: str) -> None:
    ax.set_xscale("log")
    ax.set_xlabel(label)
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t:g}" for t in ticks])
    ax.minorticks_off()


def fig_utility_regimes(entries: list[Entry], folder: Path) -> list[Path]:
    gen = generalist(entries)
    if gen is None:
        raise Skip("no generalist among the results")
    u = utility_output(gen)
    ladder, cells = u.get("ladder"), u.get("cells")
    if not isinstance(ladder, dict) or not ladder:
        raise Skip(f"{gen.name}'s utility output has no real-data ladder (utility protocol before version 2?)")
    cells = cells if isinstance(cells, dict) else {}
    panels = panel_order(m for m, v in ladder.items() if isinstance(v, dict))
    if not panels:
        raise Skip("the real-data ladder holds no modality")
    plt, sns = pyplot()
    from matplotlib.lines import Line2D

    fig, axes = grid(plt, len(panels))
    budgets = sorted({k for b in cells if (k := budget_key(b)) is not None})
    bkeys = {budget_key(b): b for b in cells}
    drawn = False
    seen_arms: list[str] = []
    ticks: set[float] = set(budgets)
    for ax, mod in zip(axes.flat, panels):
        pts = sorted((k, p) for n, c in ladder[mod].items()
                     if (k := budget_key(n)) is not None and (p := mean_ci(dig(c, "accuracy"), 0, 1)))
        if pts:
            xs = [k for k, _ in pts]
            ticks |= set(xs)
            ax.plot(xs, [p[0] for _, p in pts], "-", color="black", marker="o", ms=2, lw=1.1, zorder=3)
            if all(p[1] is not None for _, p in pts):
                ax.fill_between(xs, [p[1] for _, p in pts], [p[2] for _, p in pts], color="black", alpha=0.1, lw=0)
            drawn = True
        arms = [a for a in ARMS if any(isinstance(dig(cells, bkeys[b], mod, a), dict) for b in budgets)]
        for i, arm in enumerate(arms):
            text, colour, marker = ARMS[arm]
            shift = 1.09 ** (i - (len(arms) - 1) / 2)  # side by side around each budget
            apts = [(b * shift, p) for b in budgets if (p := mean_ci(dig(cells, bkeys[b], mod, arm, "accuracy"), 0, 1))]
            if not apts:
                continue
            xs, ys = [x for x, _ in apts], [p[0] for _, p in apts]
            err = np.array([[max(p[0] - p[1], 0) if p[1] is not None else 0 for _, p in apts],
                            [max(p[2] - p[0], 0) if p[2] is not None else 0 for _, p in apts]])
            bars = ax.errorbar(xs, ys, yerr=err, fmt=marker, color=colour, ms=3, lw=0.8, elinewidth=0.7,
                               capsize=1.5, ls=":", zorder=4)
            for part in (*bars[1], *bars[2]):  # caps and bars lighter than the points
                part.set_alpha(0.55)
            if arm not in seen_arms:
                seen_arms.append(arm)
            drawn = True
        ax.set_title(plain(mod))
        ax.set_ylim(0, 1)
    if not drawn:
        plt.close(fig)
        raise Skip(f"{gen.name}'s utility output holds no accuracy means")
    for ax in axes.flat[:len(panels)]:
        log_budget_axis(ax, sorted(ticks), "real images per class")
    for ax in axes[:, 0]:
        ax.set_ylabel("test accuracy")
    handles = [Line2D([], [], color="black", marker="o", ms=2, label="real only (ladder)")]
    handles += [Line2D([], [], color=ARMS[a][1], marker=ARMS[a][2], ms=3, ls=":", lw=0.8, label=ARMS[a][0])
                for a in seen_arms]
    place_legend(fig, axes, len(panels), handles, title=f"{series(gen)}: accuracy by training regime")
    return save(fig, folder, "utility_regimes")
