"""``training_curve``: conditional accuracy of the LDMs' kept checkpoints against training minutes,
one panel per modality.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.report.collection import Entry
from bench.report.figures.samples import modalities
from bench.report.figures.style import in_plot_order, palette, plain, pyplot, save, series, Skip, WIDE_IN
from bench.report.values import dig, number


def _curve_linestyle(e: Entry) -> tuple[str, str]:
    """(line style, marker) of a training curve: the generalist solid, specialists dotted (equal steps)
    or dashed (equal compute)."""
    if e.role != "specialist":
        return "-", "o"
    return ("--", "s") if e.result["generator"].get("budget") == "equal-compute" else (":", ".")


def fig_training_curve(entries: list[Entry], folder: Path) -> list[Path]:
    """Left: the autoencoder gate curve. Then one panel per modality: conditional accuracy (reference
    classifier, fixed-noise validation prompts) of the generalist's samples of that modality and of that
    modality's specialists, against autoencoder + UNet training minutes."""
    plt, sns = pyplot()
    ae_rows, gate_points = [], None
    unet_rows: dict[str, list] = {}  # modality -> [(entry, [(minutes, accuracy)])]
    for e in in_plot_order(entries):
        fit = dig(e.result, "compute", "fit") or {}
        ae = fit.get("autoencoder") or {}
        ae_min = (number(ae.get("train_wall_s")) or 0.0) / 60
        gate = [c for c in ae.get("gate_curve") or [] if isinstance(c, dict)]
        if gate and not ae_rows:  # shared by a generalist and its specialists: plot it once
            gate_points = number(dig(fit, "autoencoder_gate", "gate_points"))
            ae_rows = [(number(c.get("train_wall_s")), number(dig(c, "accuracy", "reconstructions")),
                        number(dig(c, "accuracy", "originals")), number(c.get("step"))) for c in gate]
        curve = [c for c in fit.get("curve") or [] if isinstance(c, dict)]
        for m in e.modalities:
            # the modality's share; a single-modality fit's pooled accuracy is that share
            pts = [(ae_min + (number(c.get("train_wall_s")) or 0.0) / 60,
                    number(dig(c, "per_modality", m)) if len(e.modalities) > 1
                    else number(dig(c, "per_modality", m) or c.get("conditional_accuracy"))) for c in curve]
            pts = [(x, y) for x, y in pts if y is not None]
            if pts:
                unet_rows.setdefault(m, []).append((e, pts))
    if not unet_rows and not ae_rows:
        raise Skip("no training curves in the results (LDM fits record them when a reference classifier exists)")
    colours = palette(entries)
    known = modalities(entries)
    mods = [m for m in known if m in unet_rows] + [m for m in unet_rows if m not in known]
    n = 1 + len(mods)
    fig, axes = plt.subplots(1, n, figsize=(WIDE_IN if n > 2 else WIDE_IN * 0.85, 2.5), sharey=True,
                             squeeze=False)
    ax1, panels = axes[0][0], axes[0][1:]
    ae_rows = [r for r in ae_rows if r[0] is not None and r[1] is not None]
    if ae_rows:
        ax1.plot([r[0] / 60 for r in ae_rows], [r[1] for r in ae_rows], "o-", ms=3, lw=1, color="#1f77b4",
                 label="reconstructions")
        if ae_rows[-1][2] is not None:
            ax1.axhline(ae_rows[-1][2], color="#888", ls="--", lw=0.8, label="originals")
            if gate_points is not None:
                ax1.axhline(ae_rows[-1][2] - gate_points / 100, color="#c0392b", ls=":", lw=0.8,
                            label=f"gate ({gate_points:g} points)")
        ax1.legend(frameon=False, loc="best", fontsize=6)
    ax1.set_xlim(left=0)
    ax1.set_title("autoencoder", fontsize=7)
    ax1.set_xlabel("training (CPU min)")
    ax1.set_ylabel("reference classifier accuracy")
    ax1.set_ylim(0, 1)
    chance = None
    for e in entries:
        k = len((e.result.get("data") or {}).get("prompts") or [])
        if e.role == "generalist" and k:
            chance = 1.0 / k
    handles: dict[str, Any] = {}
    for ax, m in zip(panels, mods):
        for e, pts in unet_rows[m]:
            ls, marker = _curve_linestyle(e)
            label = series(e) if e.role == "specialist" else plain(e.name)
            (h,) = ax.plot([x for x, _ in pts], [y for _, y in pts], ls=ls, marker=marker, ms=2.5, lw=1,
                           color=colours.get(series(e)), label=label)
            handles.setdefault(label, h)
        if chance:
            ax.axhline(chance, color="#888", lw=0.6, zorder=0)
            ax.annotate("chance (all prompts)", (0, chance), xytext=(2, 2), textcoords="offset points", fontsize=5.5,
                        color="#666")
        ax.set_xlim(left=0)
        ax.set_title(plain(m), fontsize=7)
        ax.set_xlabel("autoencoder + UNet (CPU min)")
    if panels.size:
        panels[0].set_ylabel("conditional accuracy ↑")
        fig.legend(list(handles.values()), list(handles.keys()), frameon=False, fontsize=6, loc="lower center",
                   ncol=min(len(handles), 4), bbox_to_anchor=(0.5, 0.0))
    sns.despine(fig=fig)
    fig.tight_layout(rect=(0, 0.1 if handles else 0, 1, 1))
    return save(fig, folder, "training_curve")
