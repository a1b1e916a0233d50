"""``fd_per_modality``: Fréchet distance per modality, generalist vs specialists (baselines as bounds).
"""

from __future__ import annotations

from pathlib import Path

from bench.report.collection import Entry
from bench.report.figures.style import COLUMN_IN, in_plot_order, palette, plain, pyplot, save, series, Skip
from bench.report.values import metric


def grouped_bars(ax, sns, rows: list[dict], x: str, y: str, hue: str, colours: dict, order_hue: list[str]):
    import pandas as pd

    df = pd.DataFrame(rows)
    sns.barplot(data=df, x=x, y=y, hue=hue, hue_order=order_hue, palette=colours, ax=ax, errorbar=None,
                width=0.8, linewidth=0)


def fig_fd(entries: list[Entry], folder: Path) -> list[Path]:
    plt, sns = pyplot()
    rows, hue_order = [], []
    for e in in_plot_order(entries):
        for m in e.modalities:
            v, _ = metric(e.result, "fd", m)
            if v is not None:
                rows.append({"modality": plain(m), "FD": v, "generator": series(e)})
                if series(e) not in hue_order:
                    hue_order.append(series(e))
    if not rows:
        raise Skip("no per-modality FD in the results (fidelity task not run?)")
    mods = list(dict.fromkeys(r["modality"] for r in rows))
    fig, ax = plt.subplots(figsize=(COLUMN_IN, 2.3))
    grouped_bars(ax, sns, rows, "modality", "FD", "generator", palette(entries), hue_order)
    vals = [r["FD"] for r in rows if r["FD"] > 0]
    if vals and max(vals) / max(min(vals), 1e-12) > 50:
        ax.set_yscale("log")
    ax.set_xlabel("")
    ax.set_ylabel("FD (reference features) ↓")
    ax.set_xticks(range(len(mods)))
    ax.set_xticklabels([plain(x) for x in mods])
    ax.legend(title=None, frameon=False, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    sns.despine(ax=ax)
    return save(fig, folder, "fd_per_modality")
