"""Paper figures of one suite, from its comparable result files alone (PNG and PDF, one style).

Every figure is sized for a paper column (3.5 in; 7.16 in for the wide ones) and skips cleanly, with
the reason logged, when the results hold no data for it:

- ``samples_<modality>``: the gallery of every prompt, real held-out images beside each generator;
- ``fd_per_modality``: Fréchet distance per modality, generalist vs specialists (baselines as bounds);
- ``utility_gain``: accuracy gain over real-only vs the real-data budget, one line per generator and
  arm (real+synthetic solid, synthetic only dashed), 95% CI bands;
- ``memorisation_distances``: nearest-training-image distances of synthetic vs held-out real images;
- ``memorisation_closest_pairs``: each generator's closest synthetic/training pairs;
- ``quality_vs_compute``: FD against training compute (checkpoints where recorded; the specialists'
  summed cost beside the generalist's);
- ``alignment_per_modality``: CLIP score and conditional accuracy per modality;
- ``foundation_probes``: linear-probe accuracy vs label budget of encoders pretrained contrastively on
  real, synthetic and real + synthetic pairs, and trained from scratch (fine-tuned), with 95% CIs.
"""

from __future__ import annotations

import base64
import io
import os
import re
from pathlib import Path
from typing import Any, Callable

import numpy as np

from bench.io import atomic_write_bytes
from bench.report import log
from bench.report.collection import Entry, load_collection
from bench.report.values import (dig, family_task, number, per_modality, pooled, training_compute, utility_gains)

COLUMN_IN = 3.5  # single paper column
WIDE_IN = 7.16  # two columns
DPI = 200
BASELINE_COLOURS = {"holdout": "#262626", "memoriser": "#7a7a7a", "noise": "#b8b8b8", "mean": "#d5d5d5"}
MAX_PROMPTS = 12  # rows of a sample grid
PER_CELL = 2  # images per generator and prompt in a sample grid

CAPTIONS = {
    "samples": "Samples for each prompt of modality {m}: real held-out images (left) beside each generator's.",
    "fd_per_modality": "Fréchet distance per modality in the reference encoder's feature space (lower is "
                       "better): generalist vs per-modality specialists, with the baselines as bounds.",
    "utility_gain": "Accuracy gain over real-only training vs the number of real images per class: "
                    "real + synthetic (solid) and synthetic only (dashed), 95% CI bands.",
    "memorisation_distances": "Distance from each image to its nearest training image: synthetic vs "
                              "held-out real. Mass left of the held-out curve means copying.",
    "memorisation_closest_pairs": "Each generator's closest pairs: synthetic image (top) and its nearest "
                                  "training image (bottom), with their distance.",
    "quality_vs_compute": "Fidelity (FD, lower is better) vs UNet training compute: each specialist (small "
                          "dots) and the specialists of a budget rule all together (diamonds: summed compute, "
                          "mean FD) beside the generalist.",
    "alignment_per_modality": "Text alignment per modality: domain-CLIP score and the accuracy of a "
                              "real-trained classifier against the class each prompt asked for.",
    "foundation_probes": "Foundation encoder task: test accuracy vs label budget of a linear probe on encoders "
                         "pretrained contrastively on real, synthetic or both image–prompt pairs, and of the "
                         "same architecture trained from scratch (95% CI bars).",
    "training_curve": "Training curves on CPU time: the reference classifier's validation accuracy on the "
                      "autoencoder's reconstructions (left; dashed: on the originals), then per modality the "
                      "conditional accuracy of the generalist's and that modality's specialists' samples at "
                      "each kept checkpoint vs autoencoder + UNet training minutes.",
    "reader_study": "Published reader study: how well clinicians told each generator's images from real ones "
                    "(AUC; 0.5 = indistinguishable), and their mean image–text match rating (1–5, 95% CI) "
                    "against the domain-CLIP score.",
}


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "x"


def caption(stem: str) -> str:
    if stem.startswith("samples_"):
        return CAPTIONS["samples"].format(m=stem[len("samples_"):])
    return CAPTIONS.get(stem, stem.replace("_", " "))


def modality_of_figure(stem: str) -> str | None:
    """The modality slug a figure belongs to (sample grids), or None for suite-wide figures."""
    return stem[len("samples_"):] if stem.startswith("samples_") else None


# -- style ----------------------------------------------------------------------------------------

def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(context="paper", style="ticks", font_scale=0.85, rc={
        "font.size": 7, "axes.titlesize": 7.5, "axes.labelsize": 7, "xtick.labelsize": 6.5,
        "ytick.labelsize": 6.5, "legend.fontsize": 6.5, "legend.title_fontsize": 7, "axes.linewidth": 0.6,
        "lines.linewidth": 1.2, "pdf.fonttype": 42, "ps.fonttype": 42, "savefig.bbox": "tight",
        "savefig.pad_inches": 0.03, "axes.spines.top": False, "axes.spines.right": False,
        "svg.hashsalt": "medsyn-bench"})
    return plt, sns


def plain(text: Any) -> str:
    """User text (names, prompts, modalities) shown literally: no mathtext from a ``$``."""
    return str(text).replace("$", r"\$")


def series(e: Entry) -> str:
    """The legend entry of a result: specialists of one model and budget rule share one series."""
    if e.role == "specialist":
        model = (e.result["generator"].get("spec") or {}).get("name") or e.name.split("@")[0]
        budget = e.result["generator"].get("budget")
        return plain(f"{model} specialists" + (f" ({budget})" if budget and budget != "equal-steps" else ""))
    return plain(e.name)


def palette(entries: list[Entry]) -> dict[str, Any]:
    """One colour per series, the same in every figure of a suite."""
    import seaborn as sns

    names = []
    for e in sorted(entries, key=lambda e: ({"generalist": 0, "specialist": 1, "external": 2}.get(e.role, 3), e.name)):
        s = series(e)
        if s not in names and e.role != "baseline":
            names.append(s)
    colours = sns.color_palette("colorblind", max(len(names), 1))
    out = {n: colours[i % len(colours)] for i, n in enumerate(names)}
    grey = iter(["#7f7f7f", "#9a9a9a", "#c2c2c2"])
    for e in entries:
        if e.role == "baseline":
            out.setdefault(series(e), BASELINE_COLOURS.get(e.kind) or BASELINE_COLOURS.get(e.name) or next(grey, "#999"))
    return out


def _order(entries: list[Entry]) -> list[Entry]:
    rank = {"generalist": 0, "specialist": 1, "external": 2, "baseline": 3}
    return sorted(entries, key=lambda e: (rank.get(e.role, 4), e.kind != "holdout", e.name))


def save(fig, folder: Path, stem: str) -> list[Path]:
    import matplotlib.pyplot as plt

    paths = []
    for ext, meta in (("png", {"Software": None}), ("pdf", {"CreationDate": None, "Producer": None})):
        buf = io.BytesIO()
        fig.savefig(buf, format=ext, dpi=DPI, metadata=meta, bbox_inches="tight", pad_inches=0.03)
        paths.append(atomic_write_bytes(folder / f"{stem}.{ext}", buf.getvalue()))
    plt.close(fig)
    return paths


class Skip(Exception):
    """A figure has no data in these results (the message says which)."""


# -- data helpers ---------------------------------------------------------------------------------

def decode_png(b64: Any) -> np.ndarray | None:
    """A base64 PNG as an RGB uint8 array, or None when it is not one (never raises)."""
    if not isinstance(b64, str) or len(b64) > 4_000_000:
        return None
    try:
        from PIL import Image

        raw = base64.b64decode(b64, validate=True)
        with Image.open(io.BytesIO(raw)) as im:
            if im.format != "PNG" or im.width * im.height > 1024 * 1024:
                return None
            return np.asarray(im.convert("RGB"))
    except Exception:  # noqa: BLE001 - a bad thumbnail only loses its tile
        return None


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


def tile_row(images: list[np.ndarray], size: int, n: int, gap: int = 1) -> np.ndarray:
    """``n`` images side by side (blank where missing), each resized to ``size``."""
    from PIL import Image

    row = np.full((size, n * size + (n - 1) * gap, 3), 255, np.uint8)
    for i, img in enumerate(images[:n]):
        if img.shape[:2] != (size, size):
            img = np.asarray(Image.fromarray(img).resize((size, size), Image.NEAREST))
        row[:, i * (size + gap): i * (size + gap) + size] = img
    return row


# -- figures --------------------------------------------------------------------------------------

def fig_samples(entries: list[Entry], folder: Path) -> dict[str, list[Path]]:
    plt, _ = _plt()
    pm = prompt_modalities(entries)
    with_gallery = [e for e in _order(entries) if e.result.get("gallery")]
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


def _bars(ax, sns, rows: list[dict], x: str, y: str, hue: str, colours: dict, order_hue: list[str]):
    import pandas as pd

    df = pd.DataFrame(rows)
    sns.barplot(data=df, x=x, y=y, hue=hue, hue_order=order_hue, palette=colours, ax=ax, errorbar=None,
                width=0.8, linewidth=0)


def fig_fd(entries: list[Entry], folder: Path) -> list[Path]:
    plt, sns = _plt()
    rows, hue_order = [], []
    for e in _order(entries):
        for m in e.modalities:
            v, _ = per_modality(e.result, "fd", m, "fidelity")
            if v is not None:
                rows.append({"modality": plain(m), "FD": v, "generator": series(e)})
                if series(e) not in hue_order:
                    hue_order.append(series(e))
    if not rows:
        raise Skip("no per-modality FD in the results (fidelity task not run?)")
    mods = list(dict.fromkeys(r["modality"] for r in rows))
    fig, ax = plt.subplots(figsize=(COLUMN_IN, 2.3))
    _bars(ax, sns, rows, "modality", "FD", "generator", palette(entries), hue_order)
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


def _budget_key(b: str) -> float:
    return float(b) if str(b).replace(".", "", 1).isdigit() else float("inf")


def fig_utility(entries: list[Entry], folder: Path) -> list[Path]:
    plt, sns = _plt()
    data = {e.name: utility_gains(e.result) for e in entries}
    data = {k: v for k, v in data.items() if v}
    if not data:
        raise Skip("no utility gains in the results (utility task not run?)")
    panels: list[str] = []
    metric = "accuracy"
    for g in data.values():
        for b in g.values():
            if isinstance(b, dict):
                panels += [m for m in b if m not in panels]
    panels = sorted(panels, key=lambda m: (m in ("pooled", "all"), m))
    if not panels:
        raise Skip("utility gains hold no per-modality cells")
    colours = palette(entries)
    ncol = min(len(panels), 3)
    nrow = -(-len(panels) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(WIDE_IN if ncol > 1 else COLUMN_IN, 1.9 * nrow + 0.5),
                             squeeze=False, sharey=True)
    handles = {}
    for ax, mod in zip(axes.flat, panels):
        for e in _order(entries):
            g = data.get(e.name)
            if not g:
                continue
            for arm, style in (("mixed", "-"), ("synthetic", "--")):
                pts = []
                for b in sorted(g, key=_budget_key):
                    cell = dig(g, b, mod, arm, metric)
                    if not isinstance(cell, dict) or number(cell.get("mean")) is None:
                        continue
                    ci = cell.get("ci") if isinstance(cell.get("ci"), list) and len(cell.get("ci")) == 2 else None
                    lo = number(ci[0]) if ci else None
                    hi = number(ci[1]) if ci else None
                    pts.append((_budget_key(b), number(cell["mean"]), lo, hi))
                if not pts or any(np.isinf(p[0]) for p in pts):
                    continue
                xs, ys = [p[0] for p in pts], [p[1] for p in pts]
                colour = colours.get(series(e), "#333")
                (line,) = ax.plot(xs, ys, style, color=colour, marker="o", ms=2.5, label=series(e))
                handles.setdefault(series(e), line)
                if all(p[2] is not None and p[3] is not None for p in pts):
                    ax.fill_between(xs, [p[2] for p in pts], [p[3] for p in pts], color=colour,
                                    alpha=0.05 if e.role == "baseline" else 0.12, lw=0)
        ax.axhline(0, color="#888", lw=0.6, zorder=0)
        ax.set_xscale("log")
        ax.set_title(plain(mod))
        ax.set_xlabel("real images per class")
        budgets = sorted({_budget_key(b) for g in data.values() for b in g if not np.isinf(_budget_key(b))})
        ax.set_xticks(budgets)
        ax.set_xticklabels([f"{b:g}" for b in budgets])
        ax.minorticks_off()
    spare = list(axes.flat[len(panels):])
    for ax in spare:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("accuracy gain over real-only")
    if not handles:
        plt.close(fig)
        raise Skip("utility gains hold no accuracy means per budget")
    from matplotlib.lines import Line2D

    arm_handles = [Line2D([], [], color="#333", ls="-", label="real + synthetic"),
                   Line2D([], [], color="#333", ls="--", label="synthetic only")]
    gen_handles = [Line2D([], [], color=h.get_color(), ls="-", label=n) for n, h in handles.items()]
    if spare:  # an empty grid cell holds the legend
        spare[0].set_visible(True)
        spare[0].axis("off")
        spare[0].legend(handles=arm_handles + gen_handles, frameon=False, loc="center")
        fig.tight_layout()
    else:
        fig.legend(handles=arm_handles + gen_handles, frameon=False, loc="lower center",
                   ncol=min(4, len(arm_handles + gen_handles)),
                   bbox_to_anchor=(0.5, -0.02 - 0.04 * (len(gen_handles) // 4)))
        fig.tight_layout(rect=(0, 0.12, 1, 1))
    return save(fig, folder, "utility_gain")


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


def fig_memorisation_hist(entries: list[Entry], folder: Path) -> list[Path]:
    plt, sns = _plt()
    found = []
    for e in _order(entries):
        d = distance_samples(family_task(e.result, "memorisation"))
        if d:
            found.append((e, d))
    if not found:
        raise Skip("no nearest-distance samples in the memorisation results")
    ncol = min(len(found), 4)
    nrow = -(-len(found) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(WIDE_IN if ncol > 2 else COLUMN_IN, 1.45 * nrow + 0.35),
                             squeeze=False, sharex=True)
    allv = np.concatenate([np.r_[s, r] for _, (s, r) in found])
    bins = np.histogram_bin_edges(allv, bins=30)
    for ax, (e, (syn, real)) in zip(axes.flat, found):
        ax.hist(real, bins=bins, density=True, color="#888", alpha=0.55, label="held-out real")
        ax.hist(syn, bins=bins, density=True, histtype="step", lw=1.1, color=palette(entries).get(series(e), "C0"),
                label="synthetic")
        ax.set_title(plain(e.name))
        ax.set_yticks([])
        m = family_task(e.result, "memorisation") or {}
        thr = number(m.get("threshold")) or number(dig(m, "pooled", "threshold"))
        if thr is not None:
            ax.axvline(thr, color="#c0392b", lw=0.7, ls=":")
    for ax in axes.flat[len(found):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("distance to nearest training image")
    axes.flat[0].legend(frameon=False, loc="upper right")
    fig.tight_layout()
    return save(fig, folder, "memorisation_distances")


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
    plt, _ = _plt()
    found = []
    for e in _order(entries):
        m = family_task(e.result, "memorisation") or {}
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
            ax.text(c * pair_w + size / 2, r * row_h + text_h - 1, "—" if dist is None else f"{dist:.3g}",
                    ha="center", va="bottom", fontsize=5.5)
    ax.set_yticks([r * row_h + text_h + size for r in range(len(found))])
    ax.set_yticklabels([plain(e.name) for e, _ in found])
    ax.set_xticks([])
    ax.tick_params(length=0, pad=2)
    for sp in ax.spines.values():
        sp.set_visible(False)
    return save(fig, folder, "memorisation_closest_pairs")


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
    plt, sns = _plt()
    pts = []  # (entry or series, compute, fd)
    for e in entries:
        if e.role == "baseline":
            continue
        flops, wall = training_compute(e.result)
        per = [per_modality(e.result, "fd", m, "fidelity")[0] for m in e.modalities]
        per = [v for v in per if v is not None]
        fd = float(np.mean(per)) if per else pooled(e.result, "fd", "fidelity")[0]
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


def fig_alignment(entries: list[Entry], folder: Path) -> list[Path]:
    plt, sns = _plt()
    panels = [("clip_score", "CLIP score ↑"), ("conditional_accuracy", "conditional accuracy ↑")]
    data = {k: [] for k, _ in panels}
    hue_order: list[str] = []
    for e in _order(entries):
        for m in e.modalities:
            for k, _ in panels:
                v, _ = per_modality(e.result, k, m, "alignment")
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
        _bars(ax, sns, data[k], "modality", "value", "generator", colours, hue_order)
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


FOUNDATION_SOURCES = (("real", "linear_accuracy", "-"), ("synthetic", "linear_accuracy", "--"),
                      ("both", "linear_accuracy", ":"), ("scratch", "finetune_accuracy", "-."))


def fig_foundation(entries: list[Entry], folder: Path) -> list[Path]:
    plt, sns = _plt()
    data = {e.name: dig(e.result, "metrics", "foundation", "probes") for e in _order(entries)}
    data = {k: v for k, v in data.items() if isinstance(v, dict)}
    if not data:
        raise Skip("no foundation probes in the results (foundation task not run, or skipped for every generator)")
    fig, axes = plt.subplots(1, len(data), figsize=(min(WIDE_IN, 2.4 * len(data) + 0.6), 2.4), squeeze=False,
                             sharey=True)
    for ax, (name, probes) in zip(axes.flat, data.items()):
        for source, metric, style in FOUNDATION_SOURCES:
            budgets = [b for b in probes.get(source, {}) if b.endswith("%")]
            budgets.sort(key=lambda b: float(b[:-1]))
            pts = [(float(b[:-1]), dig(probes, source, b, metric)) for b in budgets]
            pts = [(x, c) for x, c in pts if isinstance(c, dict) and number(c.get("mean")) is not None]
            if not pts:
                continue
            xs = [x for x, _ in pts]
            ys = [c["mean"] for _, c in pts]
            err = [[y - (c.get("ci") or [y, y])[0] for y, (_, c) in zip(ys, pts)],
                   [(c.get("ci") or [y, y])[1] - y for y, (_, c) in zip(ys, pts)]]
            label = f"{source} ({'linear' if metric.startswith('linear') else 'fine-tune'})"
            ax.errorbar(xs, ys, yerr=err, ls=style, marker="o", ms=2.5, capsize=2, lw=1, label=label)
        chance = dig(probes, "real", "zero-shot", "chance_accuracy", "mean")
        if number(chance) is not None:
            ax.axhline(chance, color="#888", lw=0.6, zorder=0)
        ax.set_xscale("log")
        ticks = sorted({float(b[:-1]) for src in probes.values() if isinstance(src, dict) for b in src
                        if b.endswith("%")})
        ax.set_xticks(ticks)
        ax.set_xticklabels([f"{t:g}" for t in ticks])
        ax.minorticks_off()
        ax.set_title(plain(name))
        ax.set_xlabel("labels used (%)")
        sns.despine(ax=ax)
    axes.flat[0].set_ylabel("probe test accuracy")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, frameon=False, loc="lower center", ncol=min(4, len(labels)))
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    return save(fig, folder, "foundation_probes")


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
    plt, sns = _plt()
    ae_rows, gate_points = [], None
    unet_rows: dict[str, list] = {}  # modality -> [(entry, [(minutes, accuracy)])]
    for e in _order(entries):
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


def fig_reader_study(entries: list[Entry], folder: Path) -> list[Path]:
    plt, sns = _plt()
    rows = []
    for e in _order(entries):
        auc, _ = pooled(e.result, "reader_auc", "reader_study")
        human, ci = pooled(e.result, "human_alignment", "reader_study")
        clip, _ = pooled(e.result, "clip_score", "alignment")
        if auc is not None or human is not None:
            rows.append((e, auc, human, ci, clip))
    if not rows:
        raise Skip("no published reader study rates these generators "
                   "(medsyn-bench reader-study analyse STUDY --publish)")
    colours = palette(entries)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(WIDE_IN * 0.8, 2.4))
    names = [plain(e.name) for e, *_ in rows]
    ax1.barh(range(len(rows)), [a if a is not None else 0 for _, a, *_ in rows],
             color=[colours.get(series(e)) for e, *_ in rows])
    ax1.axvline(0.5, color="#888", lw=0.8, ls="--")
    ax1.set_yticks(range(len(rows)))
    ax1.set_yticklabels(names)
    ax1.invert_yaxis()
    ax1.set_xlim(0, 1)
    ax1.set_xlabel("reader AUC, real vs synthetic ↓")
    for e, _, human, ci, clip in rows:
        if human is None or clip is None:
            continue
        err = [[human - ci[0]], [ci[1] - human]] if ci else None
        ax2.errorbar([clip], [human], yerr=err, fmt="o", ms=4, capsize=2, color=colours.get(series(e)))
        ax2.annotate(plain(e.name), (clip, human), xytext=(3, 3), textcoords="offset points", fontsize=6)
    ax2.set_xlabel("domain-CLIP score ↑")
    ax2.set_ylabel("human alignment (1–5) ↑")
    ax2.set_ylim(0.8, 5.3)
    sns.despine(fig=fig)
    fig.tight_layout()
    return save(fig, folder, "reader_study")


FIGURES: list[tuple[str, Callable]] = [
    ("samples", fig_samples),
    ("fd_per_modality", fig_fd),
    ("utility_gain", fig_utility),
    ("memorisation_distances", fig_memorisation_hist),
    ("memorisation_closest_pairs", fig_closest_pairs),
    ("quality_vs_compute", fig_quality_compute),
    ("alignment_per_modality", fig_alignment),
    ("foundation_probes", fig_foundation),
    ("training_curve", fig_training_curve),
    ("reader_study", fig_reader_study),
]


def render_figures(suite: str, leaderboards_dir: str | Path = "leaderboards", out=print) -> list[Path]:
    """Write every figure the comparable results have data for; remove stale ones; return the paths."""
    coll = load_collection(suite, leaderboards_dir)
    folder = coll.folder / "figures"
    written: list[Path] = []
    if coll.main is None:
        out("figures: no comparable results")
        return written
    entries = coll.main.entries
    for name, fn in FIGURES:
        try:
            res = fn(entries, folder)
        except Skip as exc:
            out(f"  figure {name}: skipped ({exc})")
            log.info("figure %s skipped: %s", name, exc)
            continue
        except Exception as exc:  # noqa: BLE001 - one unexpected result layout must not cost the others
            import matplotlib.pyplot as plt

            plt.close("all")
            out(f"  figure {name}: FAILED ({type(exc).__name__}: {exc}); the other figures are unaffected")
            log.warning("figure %s failed", name, exc_info=True)
            continue
        paths = [p for ps in res.values() for p in ps] if isinstance(res, dict) else res
        written += paths
    keep = {p.name for p in written}
    if folder.is_dir():
        for f in folder.iterdir():
            if f.suffix in (".png", ".pdf") and f.name not in keep and _is_ours(f.stem):
                f.unlink()
    out(f"figures: {len({p.stem for p in written})} written → {folder}")
    return written


def _is_ours(stem: str) -> bool:
    return stem.startswith("samples_") or stem in CAPTIONS
