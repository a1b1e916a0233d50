"""``quality_vs_compute``: FD against training compute. Left panel: each generator's result (test FD, mean
over its modalities, so a generalist and its specialists are on one scale); a suite of specialists (the
members' images together) at its members' summed cost, in their colour. Right panel, where recorded: each
training curve at its kept checkpoints (the FD of the curve's samples against the validation split, pooled
over modalities: a smaller sample and another quantity, so only comparable along the curve and across
families).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.report.collection import Entry, suite_members
from bench.report.figures.style import COLUMN_IN, palette, plain, pyplot, save, series, Skip
from bench.report.values import metric, number, training_compute


def _curve(fit: dict, use_flops: bool) -> list[tuple[float, float]]:
    """(compute, FD) at each kept checkpoint of a fit's training curve (``fit.curve``: the denoising
    families and the GAN record ``fd_val``, the FD of the curve's samples against the validation split):
    compute is the step times the measured FLOPs per step, or the training wall time."""
    per_step = number(fit.get("flops_per_step"))
    out = []
    for c in fit.get("curve") or []:
        if not isinstance(c, dict):
            continue
        x = (number(c.get("step")) or 0) * per_step if use_flops and per_step else number(c.get("train_wall_s"))
        y = number(c.get("fd_val"))
        if x and y is not None:
            out.append((x, y))
    return sorted(out)


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
    colours = palette([e for e in entries if e.role != "specialist-suite"])  # the other figures' colours
    curves = {e.name: [(a / scale, b) for a, b in _curve(e.result["compute"]["fit"], use_flops)]
              for e, *_ in pts if e.role not in ("specialist", "specialist-suite")}
    curves = {k: v for k, v in curves.items() if v}
    # Left: every result's test FD, per-modality mean (comparable between a generalist and specialists).
    # Right, when recorded: the training curves, whose FD is pooled over the validation split's modalities
    # (another quantity: a curve's last point is not its row's dot on the left).
    fig, axes = plt.subplots(1, 2 if curves else 1, figsize=(2 * COLUMN_IN if curves else COLUMN_IN, 2.4),
                             squeeze=False)
    ax = axes[0][0]
    by_name, first = {x.name: x for x in entries}, set()
    for e, flops, wall, fd in pts:
        x = (flops if use_flops else wall) / scale
        if e.role == "specialist-suite":  # its members' images together at their summed compute, their colour
            members = [by_name[m] for m in suite_members(e) if m in by_name]
            s = series(members[0]) if members else series(e)
            ax.scatter([x], [fd], s=30, marker="D", color=colours.get(s), label=f"{s}, all together", zorder=3,
                       edgecolor="k", lw=0.4)
            continue
        s = series(e)
        if e.role == "specialist":
            ax.scatter([x], [fd], s=10, color=colours.get(s), alpha=0.5, lw=0,
                       label=f"{s}, one modality each" if s not in first else None)
            first.add(s)
        else:
            # above the suites' diamonds, which sit at the same compute (equal-compute rule)
            ax.scatter([x], [fd], s=22, color=colours.get(s), label=s, zorder=4, edgecolor="w", lw=0.5)
    xs_all = [(p[1] if use_flops else p[2]) / scale for p in pts]
    log_x = max(xs_all) / max(min(xs_all), 1e-12) > 10
    ax.set_ylabel("test FD, mean over modalities ↓")
    if curves:
        cax = axes[0][1]
        for e, *_ in pts:
            if e.name in curves:
                line = curves[e.name]
                cax.plot([a for a, _ in line], [b for _, b in line], "--", color=colours.get(series(e)), lw=0.8,
                         marker=".", ms=3, label=f"{plain(e.name)}, kept checkpoints")
        cax.set_ylabel("validation FD, pooled ↓")
        cax.set_title("training curves", fontsize=7)
    ax.set_title("results", fontsize=7)
    for a in axes[0]:
        if log_x:
            a.set_xscale("log")
        a.margins(x=0.06)  # a point at the largest compute is drawn whole
        a.set_xlim(left=0 if a.get_xscale() == "linear" else None)
        a.set_xlabel(unit)
        sns.despine(ax=a)
    handles, labels = [], []
    for a in axes[0]:
        h, lab = a.get_legend_handles_labels()
        handles, labels = handles + h, labels + lab
    fig.tight_layout()
    fig.legend(handles, labels, frameon=False, fontsize=6, loc="upper center", bbox_to_anchor=(0.5, 0.0),
               ncol=2 if curves else 1)
    return save(fig, folder, "quality_vs_compute")
