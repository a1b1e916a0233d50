"""``memorisation_closest_pairs``: each generator's closest synthetic/training pairs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bench.report.collection import Entry
from bench.report.figures.style import decode_png, in_plot_order, plain, pyplot, save, Skip, tile_row, WIDE_IN
from bench.report.values import number, task_of_kind


def parse_pair(item: Any) -> tuple[np.ndarray, np.ndarray, float | None] | None:
    """(synthetic image, training image, distance) from one closest-pairs entry: a dict whose image
    fields are named like ``synthetic``/``train`` (and a ``distance``), or a list [synthetic, train, d]."""
    if isinstance(item, dict):
        imgs = {str(k): decode_png(v) for k, v in item.items() if isinstance(v, str)}
        imgs = {k: v for k, v in imgs.items() if v is not None}

        def pick(hints: tuple[str, ...], exclude: str | None = None) -> np.ndarray | None:
            for h in hints:
                for k, v in imgs.items():
                    if k != exclude and h in k.lower():
                        return v
            return None

        syn_k = next((k for h in ("synth", "generated", "sample", "query") for k in imgs if h in k.lower()), None)
        syn = imgs.get(syn_k) if syn_k else None
        tr = pick(("train", "nearest", "neighbour", "neighbor", "real"), exclude=syn_k)
        if syn is None or tr is None:
            rest = list(imgs.values())
            syn, tr = (rest[0], rest[1]) if len(rest) >= 2 else (None, None)
        dist = number(item.get("distance"))
        if dist is None:
            dist = next((number(v) for k, v in item.items() if "dist" in str(k).lower() and number(v) is not None), None)
    elif isinstance(item, (list, tuple)):
        found = [x for x in (decode_png(v) for v in item if isinstance(v, str)) if x is not None]
        syn, tr = (found[0], found[1]) if len(found) >= 2 else (None, None)
        dist = next((number(v) for v in item if number(v) is not None), None)
    else:
        return None
    return (syn, tr, dist) if syn is not None and tr is not None else None


def fig_closest_pairs(entries: list[Entry], folder: Path, per_gen: int = 5, max_gen: int = 8) -> list[Path]:
    plt, _ = pyplot()
    found = []
    for e in in_plot_order(entries):
        m = task_of_kind(e.result, "memorisation") or {}
        pairs = m.get("closest_pairs")
        if isinstance(pairs, list):
            parsed = [p for p in (parse_pair(x) for x in pairs[:per_gen]) if p]
            if parsed:
                found.append((e, parsed))
    if not found:
        raise Skip("no closest pairs in the memorisation results")
    found = found[:max_gen]
    size = max(max(a.shape[0], b.shape[0]) for _, ps in found for a, b, _ in ps)
    ncol = max(len(ps) for _, ps in found)
    gap, row_gap, text_h = 2, max(6, size // 3), max(8, size // 3)
    pair_w = size + 3 * gap
    rows = []
    for _, ps in found:
        row = np.full((text_h + 2 * size + gap, ncol * pair_w, 3), 255, np.uint8)
        for c, (syn, tr, _) in enumerate(ps):
            x0 = c * pair_w
            row[text_h:text_h + size, x0:x0 + size] = tile_row([syn], size, 1)
            row[text_h + size + gap:, x0:x0 + size] = tile_row([tr], size, 1)
        rows += [row, np.full((row_gap, row.shape[1], 3), 255, np.uint8)]
    mosaic = np.concatenate(rows[:-1])
    img_w = min(WIDE_IN - 1.0, 0.42 * ncol)
    fig, ax = plt.subplots(figsize=(img_w + 1.0, img_w * mosaic.shape[0] / mosaic.shape[1] + 0.1))
    ax.imshow(mosaic, interpolation="nearest")
    row_h = text_h + 2 * size + gap + row_gap
    for r, (_, ps) in enumerate(found):
        for c, (_, _, dist) in enumerate(ps):
            ax.text(c * pair_w + size / 2, r * row_h + text_h - 1, "—" if dist is None else f"{dist:.3f}",
                    ha="center", va="bottom", fontsize=5.5)
    ax.set_yticks([r * row_h + text_h + size for r in range(len(found))])
    ax.set_yticklabels([plain(e.name) for e, _ in found])
    ax.set_xticks([])
    ax.tick_params(length=0, pad=2)
    for sp in ax.spines.values():
        sp.set_visible(False)
    return save(fig, folder, "memorisation_closest_pairs")
