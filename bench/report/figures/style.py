"""One style for every figure: paper-column sizes, colours per generator, saving PNG + PDF, the
skip signal, and decoding the results' base64 PNGs.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np

from bench.io import atomic_write_bytes
from bench.report.collection import ROLE_ORDER, Entry


COLUMN_IN = 3.5  # single paper column


WIDE_IN = 7.16  # two columns


DPI = 200


BASELINE_COLOURS = {"holdout": "#262626", "memoriser": "#7a7a7a", "noise": "#b8b8b8", "mean": "#d5d5d5"}


def pyplot():
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
    for e in sorted(entries, key=lambda e: (ROLE_ORDER.get(e.role, 5), e.name)):
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


def in_plot_order(entries: list[Entry]) -> list[Entry]:
    return sorted(entries, key=lambda e: (ROLE_ORDER.get(e.role, 5), e.kind != "holdout", e.name))


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


def tile_row(images: list[np.ndarray], size: int, n: int, gap: int = 1) -> np.ndarray:
    """``n`` images side by side (blank where missing), each resized to ``size``."""
    from PIL import Image

    row = np.full((size, n * size + (n - 1) * gap, 3), 255, np.uint8)
    for i, img in enumerate(images[:n]):
        if img.shape[:2] != (size, size):
            img = np.asarray(Image.fromarray(img).resize((size, size), Image.NEAREST))
        row[:, i * (size + gap): i * (size + gap) + size] = img
    return row
