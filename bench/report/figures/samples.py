"""``samples_<modality>``: the gallery of every prompt, real held-out images beside each generator.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from bench.report import log
from bench.report.collection import Entry
from bench.report.figures.captions import slug
from bench.report.figures.style import COLUMN_IN, decode_png, in_plot_order, plain, pyplot, save, Skip, tile_row, WIDE_IN


MAX_PROMPTS = 12  # rows of a sample grid


PER_CELL = 2  # images per generator and prompt in a sample grid


def prompt_modalities(entries: list[Entry]) -> dict[str, str]:
    """prompt text → modality key, from the results' ``data.prompt_modality`` (or single-modality
    generators' galleries)."""
    out: dict[str, str] = {}
    for e in entries:
        pm = e.result["data"].get("prompt_modality")
        if isinstance(pm, dict):
            out.update({str(k): str(v) for k, v in pm.items()})
    for e in entries:
        if len(e.modalities) == 1:
            for p in e.result.get("gallery") or {}:
                out.setdefault(p, e.modalities[0])
    return out


def modalities(entries: list[Entry]) -> list[str]:
    out: list[str] = []
    for e in entries:
        out += [m for m in e.modalities if m not in out]
    return out


def short_labels(prompts: list[str]) -> list[str]:
    """Prompts without their common prefix ("a blood cell microscopy image of "), for axis labels."""
    if len(prompts) > 1:
        pre = os.path.commonprefix(prompts)
        pre = pre[: pre.rfind(" ") + 1] if " " in pre else ""
    else:
        pre = ""
    out = []
    for p in prompts:
        s = p[len(pre):] or p
        out.append(s if len(s) <= 30 else s[:29] + "…")
    return out


def fig_samples(entries: list[Entry], folder: Path) -> dict[str, list[Path]]:
    plt, _ = pyplot()
    pm = prompt_modalities(entries)
    with_gallery = [e for e in in_plot_order(entries) if e.result.get("gallery")]
    if not with_gallery:
        raise Skip("no result has a gallery of sample images")
    real = next((e for e in with_gallery if e.kind == "holdout"), None)
    if real is None:
        log.info("samples: no holdout result, so no real column")
    written: dict[str, list[Path]] = {}
    mods = modalities(entries)
    if not any(pm.get(p) in mods for e in with_gallery for p in e.result["gallery"]):
        log.info("samples: results do not say which modality each prompt is; one grid for all")
        mods = []
    for m in mods or ["all"]:
        ordered = [e for e in with_gallery if m == "all" or m in e.modalities]
        if real in ordered:
            ordered.remove(real)
            ordered.insert(0, real)
        prompt_list: list[str] = []
        for e in ordered:
            prompt_list += [p for p in (e.result["data"].get("prompts") or e.result["gallery"])
                            if p not in prompt_list and (m == "all" or pm.get(p) == m)]
        prompt_list = [p for p in prompt_list if any(p in e.result["gallery"] for e in ordered)][:MAX_PROMPTS]
        if not prompt_list or not ordered:
            log.info("samples %s: no gallery images for this modality", m)
            continue
        tiles = {(e.name, p): [x for x in (decode_png(b) for b in e.result["gallery"].get(p, [])) if x is not None]
                 for e in ordered for p in prompt_list}
        sizes = [t.shape[0] for ts in tiles.values() for t in ts]
        if not sizes:
            continue
        size = max(sizes)
        gap, block_gap = 1, max(4, size // 4)
        block_w = PER_CELL * size + (PER_CELL - 1) * gap
        rows = []
        for p in prompt_list:
            blocks = []
            for e in ordered:
                blocks.append(tile_row(tiles[(e.name, p)], size, PER_CELL, gap))
                blocks.append(np.full((size, block_gap, 3), 255, np.uint8))
            rows.append(np.concatenate(blocks[:-1], axis=1))
            rows.append(np.full((gap * 2, rows[-1].shape[1], 3), 255, np.uint8))
        mosaic = np.concatenate(rows[:-1], axis=0)
        n_cols = len(ordered) * PER_CELL
        width = COLUMN_IN if n_cols <= 10 else WIDE_IN
        img_w = width - 1.1  # room for the prompt labels
        height = img_w * mosaic.shape[0] / mosaic.shape[1] + 0.55
        fig, ax = plt.subplots(figsize=(width, height))
        ax.imshow(mosaic, interpolation="nearest")
        centres = [i * (block_w + block_gap) + block_w / 2 for i in range(len(ordered))]
        ax.set_xticks(centres)
        ax.set_xticklabels(["real (held-out)" if e is real else plain(e.name) for e in ordered], rotation=35,
                           ha="left", rotation_mode="anchor")
        ax.xaxis.tick_top()
        ax.set_yticks([i * (size + 2 * gap) + size / 2 for i in range(len(prompt_list))])
        ax.set_yticklabels([plain(x) for x in short_labels(prompt_list)])
        ax.tick_params(length=0, pad=2)
        for s in ax.spines.values():
            s.set_visible(False)
        ax.set_xlabel(plain(m), labelpad=4)
        if real is not None and len(ordered) > 1:
            ax.axvline(block_w + block_gap / 2 - 0.5, color="#444", lw=0.6)
        written[f"samples_{slug(m)}"] = save(fig, folder, f"samples_{slug(m)}")
    if not written:
        raise Skip("no decodable gallery images")
    return written
