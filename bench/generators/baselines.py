"""Sanity generators that make every metric falsifiable.

- ``holdout``: real held-out images of the requested class (the ceiling for fidelity and alignment);
- ``memoriser``: training images of the requested class with light Gaussian pixel noise
  (looks perfect to fidelity metrics; memorisation must flag it);
- ``noise``: per-pixel Gaussian matched to each modality's training mean and std (the floor);
- ``mean``: each modality's mean training image, for every prompt (a floor with no variety).
"""

from __future__ import annotations


import numpy as np

from bench.data.dataset import PromptRequest
from bench.data.samples import Samples
from bench.generators.base import Generator
from bench.io import atomic_save_npz
from bench.recipes import MemoriserParams
from bench.registry import register_generator


def _seeds(seed: int, n_prompts: int, n: int) -> list[int]:
    return [seed] * (n_prompts * n)


@register_generator("holdout")
class HoldoutGenerator(Generator):
    """Real images from the held-out split, drawn without replacement per class (cycled if too few)."""

    role = "baseline"

    def sample(self, prompts: list[PromptRequest], n: int, seed: int) -> Samples:
        self.check_prompts(prompts)
        pool = self.dataset.splits["holdout"]
        rng = np.random.default_rng(seed)
        images, reqs = [], []
        for p in prompts:
            idx = np.flatnonzero(pool.classes == p.cls)
            if len(idx) == 0:
                raise ValueError(f"no held-out image of class {p.text!r}")
            idx = idx[rng.permutation(len(idx))]
            take = np.resize(idx, n)  # cycles when the pool is smaller than n
            images.append(pool.images[take])
            reqs += [p] * n
        return Samples(np.concatenate(images), reqs, _seeds(seed, len(prompts), n))


@register_generator("memoriser")
class MemoriserGenerator(Generator):
    """Training images of the requested class plus Gaussian pixel noise of ``sigma`` grey levels."""

    role = "baseline"

    Params = MemoriserParams

    def sample(self, prompts: list[PromptRequest], n: int, seed: int) -> Samples:
        self.check_prompts(prompts)
        train = self.train_split()
        rng = np.random.default_rng(seed)
        images, reqs = [], []
        for p in prompts:
            idx = np.flatnonzero(train.classes == p.cls)
            take = np.resize(idx[rng.permutation(len(idx))], n)
            x = train.images[take].astype(np.float32)
            x += rng.normal(0.0, self.params.sigma, size=x.shape).astype(np.float32)
            images.append(np.clip(x.round(), 0, 255).astype(np.uint8))
            reqs += [p] * n
        return Samples(np.concatenate(images), reqs, _seeds(seed, len(prompts), n))


class _ModalityStatsGenerator(Generator):
    """Shared by ``noise`` and ``mean``: per-modality per-pixel mean and std of the training images."""

    role = "baseline"

    def fit(self) -> dict:
        train = self.train_split()
        stats = {}
        for m in self.modalities:
            x = train.images[train.modality == m].astype(np.float64)
            stats[f"mean{m}"] = x.mean(axis=0)
            stats[f"std{m}"] = x.std(axis=0)
        atomic_save_npz(self.workdir / "stats.npz", **stats)
        self.stats = stats
        return {"images_seen": int(len(train))}

    def load(self) -> None:
        with np.load(self.workdir / "stats.npz") as z:
            self.stats = {k: z[k] for k in z.files}


@register_generator("noise")
class NoiseGenerator(_ModalityStatsGenerator):
    def sample(self, prompts: list[PromptRequest], n: int, seed: int) -> Samples:
        self.check_prompts(prompts)
        rng = np.random.default_rng(seed)
        images, reqs = [], []
        for p in prompts:
            mu, sd = self.stats[f"mean{p.modality}"], self.stats[f"std{p.modality}"]
            x = rng.normal(mu, sd, size=(n,) + mu.shape)
            if self.dataset.modalities[p.modality].channels == 1:  # grey noise stays grey
                x = np.repeat(x.mean(axis=3, keepdims=True), 3, axis=3)
            images.append(np.clip(x.round(), 0, 255).astype(np.uint8))
            reqs += [p] * n
        return Samples(np.concatenate(images), reqs, _seeds(seed, len(prompts), n))


@register_generator("mean")
class MeanGenerator(_ModalityStatsGenerator):
    def sample(self, prompts: list[PromptRequest], n: int, seed: int) -> Samples:
        self.check_prompts(prompts)
        images, reqs = [], []
        for p in prompts:
            mu = np.clip(self.stats[f"mean{p.modality}"].round(), 0, 255).astype(np.uint8)
            images.append(np.repeat(mu[None], n, axis=0))
            reqs += [p] * n
        return Samples(np.concatenate(images), reqs, _seeds(seed, len(prompts), n))
