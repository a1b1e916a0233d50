"""``quality_vs_compute``: FD against training compute (checkpoints where recorded; the specialists'
summed cost beside the generalist's).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.report.collection import Entry
from bench.report.figures.style import COLUMN_IN, palette, plain, pyplot, save, series, Skip
from bench.report.values import metric, number, training_compute


def _checkpoints(fit: dict) -> list[dict]:
    """Checkpoint entries of a fit record: dicts under a key naming checkpoints (list or mapping)."""
    for k, v in fit.items():
        if "checkpoint" not in str(k).lower():
            continue
        items = list(v.values()) if isinstance(v, dict) else v if isinstance(v, list) else []
        items = [x for x in items if isinstance(x, dict)]
        if items:
            return items
    return []


def fig_quality_compute(entries: list[Entry], folder: Path) -> list[Path]:
    plt, sns = pyplot()
    pts = []  # (entry or series, compute, fd)
    for e in entries:
        if e.role == "baseline":
            continue
        flops, wall = training_compute(e.result)
        per = [metric(e.result, "fd", m)[0] for m in e.modalities]
        per = [v for v in per if v is not None]
        fd = float(np.mean(per)) if per else metric(e.result, "fd")[0]
        if fd is not None and (flops or wall):
            pts.append((e, flops, wall, fd))
    if not pts:
        raise Skip("no generator with both training compute and FD")
    use_flops = all(p[1] for p in pts)
    scale, unit = (1e12, "training compute (TFLOP)") if use_flops else (60.0, "training wall time (min)")
    colours = palette(entries)
    fig, ax = plt.subplots(figsize=(COLUMN_IN, 2.6))
    totals: dict[str, list] = {}
    for e, flops, wall, fd in pts:
        x = (flops if use_flops else wall) / scale
        s = series(e)
        ckpts = _checkpoints(e.result["compute"]["fit"])
        cx = [number(c.get("flops") if use_flops else c.get("wall_s")) for c in ckpts]
        cy = [number(c.get("fd")) for c in ckpts]
        line = [(a / scale, b) for a, b in zip(cx, cy) if a is not None and b is not None]
        if line:
            line = sorted(line + [(x, fd)])
            ax.plot([a for a, _ in line], [b for _, b in line], "-", color=colours.get(s), lw=0.8, alpha=0.7,
                    marker=".", ms=3, label=f"{plain(e.name)}, checkpoints")
        if e.role == "specialist":
            totals.setdefault(s, []).append((x, fd))
            ax.scatter([x], [fd], s=10, color=colours.get(s), alpha=0.5, lw=0,
                       label=f"{s}, one modality each" if len(totals[s]) == 1 else None)
        else:
            ax.scatter([x], [fd], s=22, color=colours.get(s), label=s, zorder=3)
    for s, v in totals.items():
        ax.scatter([sum(a for a, _ in v)], [float(np.mean([b for _, b in v]))], s=30, marker="D",
                   color=colours.get(s), label=f"{s}, all together", zorder=3, edgecolor="k", lw=0.4)
    xs_all = [(p[1] if use_flops else p[2]) / scale for p in pts]
    if max(xs_all) / max(min(xs_all), 1e-12) > 10:
        ax.set_xscale("log")
    ax.set_xlim(left=0 if ax.get_xscale() == "linear" else None)
    ax.set_xlabel(unit)
    ax.set_ylabel("FD, mean over modalities ↓")
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles, labels, frameon=False, fontsize=6, loc="upper left", bbox_to_anchor=(-0.2, -0.3),
              ncol=1)
    sns.despine(ax=ax)
    fig.tight_layout()
    return save(fig, folder, "quality_vs_compute")
