"""Feature extractors (the lens a metric looks through) and the cache of real-split features.

An extractor maps uint8 images (N, S, S, 3) to float32 features (N, D), in chunks so memory does not
grow with N, and is named by ``name`` and the ``sha256`` of its weights (``None`` for pixels). Real
features are cached per suite as ``_shared/features/<name>-<sha12>-<split>-<pixels12>.npy``, keyed (as
clean-fid keys its reference statistics) by extractor, weights and the split's pixel hash.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.io import atomic_write_bytes
from bench.reference.clip import DomainClip, encode_images


@dataclass
class FeatureExtractor:
    name: str
    sha256: str | None

    def __call__(self, images: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def describe(self) -> dict:
        return {"name": self.name, "sha256": self.sha256}


@dataclass
class ClipImageFeatures(FeatureExtractor):
    """The domain CLIP's image tower: L2-normalised embeddings."""

    model: DomainClip = None
    device: str = "cpu"
    batch_size: int = 256

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return encode_images(self.model, images, self.batch_size, self.device)


@dataclass
class PixelFeatures(FeatureExtractor):
    """Raw pixels in [0, 1], flattened (the space of the pixel-level memorisation search)."""

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return (np.asarray(images, np.float32) / 255.0).reshape(len(images), -1)


def real_features(ctx, extractor: FeatureExtractor, split: str) -> np.ndarray:
    """Features of a real split, computed once per suite and cached under ``_shared/features``
    (pixels, which cost nothing to recompute, are not cached)."""
    if extractor.sha256 is None:
        return extractor(ctx.dataset.splits[split].images)
    pixels = ctx.data_hashes["splits"][split]["pixels_sha256"]
    path = Path(ctx.shared_dir) / "features" / f"{extractor.name}-{(extractor.sha256 or 'none')[:12]}-{split}-{pixels[:12]}.npy"
    if path.is_file():
        return np.load(path)
    feats = extractor(ctx.dataset.splits[split].images)
    buf = io.BytesIO()
    np.save(buf, feats)
    atomic_write_bytes(path, buf.getvalue())
    return feats


@dataclass
class InceptionFeatures(FeatureExtractor):
    """Optional, never downloaded: torchvision's Inception-v3 with a local weights file (its state dict,
    e.g. ``inception_v3_google-0cc3c7bd.pth``); 2048-d pool features of images resized to 299 px
    (bilinear) and ImageNet-normalised. An extra column beside the domain features, for comparison
    with published FIDs (which mostly use the TF-ported weights: numbers are close, not identical)."""

    weights: str = ""
    device: str = "cpu"
    batch_size: int = 32

    def __post_init__(self):
        import torch
        import torchvision

        from bench.errors import BenchError

        path = Path(self.weights).expanduser()
        if not path.is_file():
            raise BenchError("Inception-v3 weights file not found", where=str(path),
                             fix="give the path of a local torchvision Inception-v3 state dict, or leave "
                                 "inception_weights empty (the column is optional)")
        net = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
        try:
            net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        except Exception as exc:
            raise BenchError(f"not a torchvision Inception-v3 state dict ({exc})", where=str(path)) from exc
        net.fc = torch.nn.Identity()
        self.net = net.eval().to(self.device)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        from bench.reference.classifier import to_tensor

        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        out = []
        with torch.no_grad():
            for i in range(0, len(images), self.batch_size):
                x = to_tensor(images[i:i + self.batch_size]) / 255.0
                x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
                out.append(self.net(((x - mean) / std).to(self.device)).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 2048), np.float32)
