"""``memorisation_distances``: nearest-training-image distances of synthetic vs held-out real images,
with each modality's near-copy threshold.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bench.report.collection import Entry
from bench.report.figures.style import COLUMN_IN, in_plot_order, palette, plain, pyplot, save, series, Skip, WIDE_IN
from bench.report.values import number, task_of_kind


SYNTH_KEYS = ("synthetic", "synth", "generated", "samples", "sample")


REAL_KEYS = ("holdout", "held_out", "heldout", "held-out", "real", "reference", "test")


def _numbers(v: Any) -> list[float] | None:
    if isinstance(v, list) and len(v) >= 2 and all(number(x) is not None for x in v):
        return [float(x) for x in v]
    return None


def distance_samples(m: Any, depth: int = 0) -> tuple[list[float], list[float]] | None:
    """Find (synthetic, held-out) nearest-distance samples anywhere (3 levels deep) in a metrics dict."""
    if not isinstance(m, dict) or depth > 3:
        return None
    syn = next((_numbers(v) for k, v in m.items() if str(k).lower() in SYNTH_KEYS and _numbers(v)), None)
    real = next((_numbers(v) for k, v in m.items() if str(k).lower() in REAL_KEYS and _numbers(v)), None)
    if syn and real:
        return syn, real
    for k, v in m.items():
        if k in ("per_modality", "closest_pairs"):
            continue
        found = distance_samples(v, depth + 1)
        if found:
            return found
    return None


def near_copy_thresholds(m: Any) -> dict[str, float]:
    """modality → the near-copy threshold of the CLIP space (where the histogram's distances are), as
    the memorisation task writes it: ``thresholds[space][modality]``."""
    th = m.get("thresholds") if isinstance(m, dict) else None
    clip = th.get("clip") if isinstance(th, dict) else None
    return {k: float(v) for k, v in (clip or {}).items() if number(v) is not None and np.isfinite(v)}


def memorisation_hist_data(entries: list[Entry]) -> list[tuple[Entry, list[float], list[float], dict[str, float]]]:
    """(entry, synthetic distances, held-out distances, near-copy threshold of each modality it covers)
    for every generator whose memorisation result has nearest-distance samples: what the histogram draws."""
    out = []
    for e in in_plot_order(entries):
        m = task_of_kind(e.result, "memorisation")
        d = distance_samples(m)
        if d:
            thresholds = near_copy_thresholds(m)  # a specialist's panel shows its own modality's only
            out.append((e, d[0], d[1], {k: v for k, v in thresholds.items() if k in (e.modalities or thresholds)}))
    return out


def fig_memorisation_hist(entries: list[Entry], folder: Path) -> list[Path]:
    plt, sns = pyplot()
    found = [(e, (syn, real), thr) for e, syn, real, thr in memorisation_hist_data(entries)]
    if not found:
        raise Skip("no nearest-distance samples in the memorisation results")
    ncol = min(len(found), 4)
    nrow = -(-len(found) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(WIDE_IN if ncol > 2 else COLUMN_IN, 1.45 * nrow + 0.35),
                             squeeze=False, sharex=True)
    allv = np.concatenate([np.r_[s, r] for _, (s, r), _ in found])
    bins = np.histogram_bin_edges(allv, bins=30)
    for ax, (e, (syn, real), thresholds) in zip(axes.flat, found):
        ax.hist(real, bins=bins, density=True, color="#888", alpha=0.55, label="held-out real")
        ax.hist(syn, bins=bins, density=True, histtype="step", lw=1.1, color=palette(entries).get(series(e), "C0"),
                label="synthetic")
        ax.set_title(plain(e.name))
        ax.set_yticks([])
        for i, thr in enumerate(sorted(thresholds.values())):  # one near-copy threshold per modality
            ax.axvline(thr, color="#c0392b", lw=0.7, ls=":", label="near-copy thresholds" if i == 0 else None)
    for ax in axes.flat[len(found):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("distance to nearest training image")
    axes.flat[0].legend(frameon=False, loc="upper right")
    fig.tight_layout()
    return save(fig, folder, "memorisation_distances")
