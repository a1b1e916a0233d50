"""``alignment_per_modality``: CLIP score and conditional accuracy per modality.
"""

from __future__ import annotations

from pathlib import Path

from bench.report.collection import Entry
from bench.report.figures.fd_per_modality import grouped_bars
from bench.report.figures.style import COLUMN_IN, in_plot_order, palette, plain, pyplot, save, series, Skip, WIDE_IN
from bench.report.values import columns_of, metric


def fig_alignment(entries: list[Entry], folder: Path) -> list[Path]:
    plt, sns = pyplot()
    declared = {c.key: c for c in columns_of([e.result for e in entries])}
    panels = [(k, declared[k].label + declared[k].arrow) for k in ("clip_score", "conditional_accuracy")
              if k in declared]
    data = {k: [] for k, _ in panels}
    hue_order: list[str] = []
    for e in in_plot_order(entries):
        for m in e.modalities:
            for k, _ in panels:
                v, _ = metric(e.result, k, m)
                if v is not None:
                    data[k].append({"modality": plain(m), "value": v, "generator": series(e)})
                    if series(e) not in hue_order:
                        hue_order.append(series(e))
    panels = [(k, lab) for k, lab in panels if data[k]]
    if not panels:
        raise Skip("no per-modality CLIP score or conditional accuracy (alignment task not run?)")
    fig, axes = plt.subplots(1, len(panels), figsize=(WIDE_IN if len(panels) > 1 else COLUMN_IN, 2.3), squeeze=False)
    colours = palette(entries)
    for ax, (k, lab) in zip(axes.flat, panels):
        grouped_bars(ax, sns, data[k], "modality", "value", "generator", colours, hue_order)
        ax.set_ylabel(lab)
        ax.set_xlabel("")
        ax.get_legend().remove() if ax.get_legend() else None
        sns.despine(ax=ax)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if not handles:
        from matplotlib.patches import Patch

        handles = [Patch(color=colours.get(h), label=h) for h in hue_order]
        labels = hue_order
    fig.legend(handles, labels, frameon=False, loc="lower center", ncol=min(5, len(labels)))
    fig.tight_layout(rect=(0, 0.08 + 0.05 * (len(labels) // 5), 1, 1))
    return save(fig, folder, "alignment_per_modality")
