"""``degraded``: controlled-degradation ladders built from the held-out real images (no training).

A rung is a degradation and a severity in [0, 1]; severity 0 returns exactly the ``holdout`` baseline's
images (the same draw from the same seed), so every ladder starts at the real-image ceiling and each
metric's movement with severity can be checked against the direction ``bench.recipes.DEGRADATIONS``
writes down for it. What severity 1 means, per degradation (``DEGRADATIONS[...].what``):

- ``blur``: Gaussian blur, sigma = 2 px x severity (per channel, spatial axes only);
- ``noise``: additive Gaussian noise, sigma = 64 grey levels x severity (the same noise on every
  channel of a grey modality, so grey images stay grey);
- ``jpeg``: a JPEG round trip at quality round(95 - 90 x severity) (Pillow, 4:2:0 for colour);
- ``mode-drop``: only max(1, round(K x (1 - severity))) of a modality's K classes exist (a seeded
  choice); prompts of the dropped classes get held-out images of the kept ones;
- ``label-swap``: each image, with probability = severity, is replaced by a held-out image of another
  class of the same modality (so it answers the wrong prompt);
- ``collapse``: max(1, round(n^(1 - severity))) distinct images per prompt, repeated to n;
- ``memorised``: each image, with probability = severity, is replaced by an exact copy of a training
  image of the requested class.

The degradation draws from its own random stream (``default_rng([seed, 1])``), so the base draw is the
holdout baseline's whatever the degradation.
"""

from __future__ import annotations

import io

import numpy as np

from bench.data.dataset import PromptRequest
from bench.data.samples import Samples
from bench.generators.baselines import HoldoutGenerator
from bench.recipes import DegradedParams
from bench.registry import register_generator


def blur(images: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of ``sigma`` px over the spatial axes of uint8 (N, H, W, C) images."""
    from scipy.ndimage import gaussian_filter

    if sigma <= 0:
        return images
    x = gaussian_filter(images.astype(np.float32), sigma=(0, sigma, sigma, 0), mode="reflect")
    return np.clip(x.round(), 0, 255).astype(np.uint8)


def add_noise(images: np.ndarray, sigma: float, rng: np.random.Generator, grey: bool) -> np.ndarray:
    """Additive Gaussian noise of ``sigma`` grey levels (one draw shared by the channels when ``grey``)."""
    if sigma <= 0:
        return images
    shape = images.shape[:3] + ((1,) if grey else images.shape[3:])
    x = images.astype(np.float32) + rng.normal(0.0, sigma, size=shape).astype(np.float32)
    return np.clip(x.round(), 0, 255).astype(np.uint8)


def jpeg(images: np.ndarray, quality: int, grey: bool) -> np.ndarray:
    """A JPEG round trip of every image at ``quality`` (1-95); grey images are coded as one channel."""
    from PIL import Image

    out = np.empty_like(images)
    for i, im in enumerate(images):
        buf = io.BytesIO()
        Image.fromarray(im[..., 0] if grey else im).save(buf, format="JPEG", quality=int(quality))
        buf.seek(0)
        dec = np.asarray(Image.open(buf).convert("L" if grey else "RGB"))
        out[i] = dec[..., None] if grey else dec
    return out


@register_generator("degraded")
class DegradedGenerator(HoldoutGenerator):
    """The holdout baseline's images, degraded by ``params.degradation`` at ``params.severity``."""

    role = "ladder"
    Params = DegradedParams
    regenerable = True  # seeded numpy, PIL and scipy on the held-out images: 28 rungs would be ~80 MB per version

    def sample(self, prompts: list[PromptRequest], n: int, seed: int) -> Samples:
        base = super().sample(prompts, n, seed)
        p = self.params
        if p.severity == 0:
            return base
        rng = np.random.default_rng([seed, 1])
        images = base.images.copy()
        pool = self.dataset.splits["holdout"]
        for m in sorted({q.modality for q in prompts}):
            rows = np.flatnonzero(base.modality == m)
            grey = self.dataset.modalities[m].channels == 1
            x = images[rows]
            if p.degradation == "blur":
                x = blur(x, 2.0 * p.severity)
            elif p.degradation == "noise":
                x = add_noise(x, 64.0 * p.severity, rng, grey)
            elif p.degradation == "jpeg":
                x = jpeg(x, round(95 - 90 * p.severity), grey)
            elif p.degradation in ("mode-drop", "label-swap"):
                x = self._wrong_classes(x, [base.requests[r] for r in rows], m, pool, rng)
            elif p.degradation == "collapse":
                x = self._collapse(x, [base.requests[r] for r in rows], n)
            elif p.degradation == "memorised":
                x = self._memorised(x, [base.requests[r] for r in rows], rng)
            images[rows] = x
        return Samples(images, base.requests, base.seeds,
                       info={"degradation": p.degradation, "severity": p.severity})

    def _wrong_classes(self, x, reqs, m, pool, rng) -> np.ndarray:
        """``mode-drop`` and ``label-swap``: images of other classes of modality ``m`` in place of some."""
        p = self.params
        labels = sorted({int(c) for c in np.unique(pool.labels[pool.modality == m])})
        cls_of = {int(lab): int(c) for lab, c in zip(pool.labels[pool.modality == m], pool.classes[pool.modality == m])}
        by_class = {c: np.flatnonzero(pool.classes == c) for c in cls_of.values()}
        out = x.copy()
        if p.degradation == "mode-drop":
            k = max(1, round(len(labels) * (1.0 - p.severity)))
            kept = [cls_of[labels[i]] for i in rng.permutation(len(labels))[:k]]
            kept_idx = np.concatenate([by_class[c] for c in kept])
            for i, q in enumerate(reqs):
                if q.cls not in kept:
                    out[i] = pool.images[kept_idx[rng.integers(len(kept_idx))]]
            return out
        swap = rng.random(len(reqs)) < p.severity
        for i, q in enumerate(reqs):
            others = [c for c in cls_of.values() if c != q.cls]
            if swap[i] and others:
                c = others[rng.integers(len(others))]
                out[i] = pool.images[by_class[c][rng.integers(len(by_class[c]))]]
        return out

    def _collapse(self, x, reqs, n) -> np.ndarray:
        """``collapse``: each prompt's first m images, repeated to its n (the prompts' rows are contiguous)."""
        m_distinct = max(1, round(n ** (1.0 - self.params.severity)))
        out = x.copy()
        for start in range(0, len(reqs), n):
            block = x[start:start + n]
            out[start:start + n] = np.resize(block[:m_distinct], block.shape)
        return out

    def _memorised(self, x, reqs, rng) -> np.ndarray:
        """``memorised``: exact training copies of the requested class in place of a share of the images."""
        train = self.train_split()
        out = x.copy()
        copy = rng.random(len(reqs)) < self.params.severity
        for i, q in enumerate(reqs):
            idx = np.flatnonzero(train.classes == q.cls)
            if copy[i] and len(idx):
                out[i] = train.images[idx[rng.integers(len(idx))]]
        return out
