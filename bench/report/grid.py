"""A PNG sample grid of one generator's run: one row per prompt, real training images of the asked-for
class on the left, generated images on the right, the prompt written above each row.

Unlike the rest of ``bench.report`` this reads a run folder (``runs/<suite>/<generator>/samples``) and the
suite's dataset, because the real images are not in result files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from bench.errors import BenchError
from bench.data.samples import read_samples

LABEL_H = 14  # px of text above each row
GAP = 12  # px between the real and the generated block


def sample_grid(samples, dataset, n_real: int = 4, n_gen: int = 8, zoom: int = 2, seed: int = 0) -> Image.Image:
    """The grid as a PIL image; images are enlarged ``zoom`` times (nearest neighbour)."""
    train = dataset.splits["train"]
    rng = np.random.default_rng(seed)
    prompts = list(dict.fromkeys(r.text for r in samples.requests))
    by_prompt = {t: [i for i, r in enumerate(samples.requests) if r.text == t] for t in prompts}
    s = dataset.image_size * zoom
    width = (n_real + n_gen) * s + GAP
    grid = Image.new("RGB", (width, len(prompts) * (s + LABEL_H)), "white")
    draw = ImageDraw.Draw(grid)

    def paste(img: np.ndarray, x: int, y: int) -> None:
        grid.paste(Image.fromarray(img).resize((s, s), Image.NEAREST), (x, y))

    for row, text in enumerate(prompts):
        y = row * (s + LABEL_H)
        req = samples.requests[by_prompt[text][0]]
        draw.text((2, y + 1), f"{text}   (real | generated)", fill="black")
        real = np.flatnonzero(train.classes == req.cls)
        for k, i in enumerate(rng.choice(real, size=min(n_real, len(real)), replace=False)):
            paste(train.images[i], k * s, y + LABEL_H)
        for k, i in enumerate(by_prompt[text][:n_gen]):
            paste(samples.images[i], n_real * s + GAP + k * s, y + LABEL_H)
    return grid


def write_grid(run_folder: Path, dataset, out: Path | None = None, **kwargs) -> Path:
    """Write ``sample_grid`` of ``run_folder/samples`` to ``out`` (default ``run_folder/grid.png``)."""
    from bench.io import atomic_write_bytes
    import io

    folder = Path(run_folder) / "samples"
    if not (folder / "manifest.csv").is_file():
        raise BenchError("no samples in this run folder (samples/manifest.csv missing)", where=str(folder),
                         fix="run the suite for this generator first: medsyn-bench run --suite S --generators NAME")
    grid = sample_grid(read_samples(folder, dataset), dataset, **kwargs)
    buf = io.BytesIO()
    grid.save(buf, format="PNG")
    return atomic_write_bytes(Path(out) if out else Path(run_folder) / "grid.png", buf.getvalue())
