"""The fidelity, alignment and memorisation tasks: the metric functions applied to one generator's samples.

All three look through the suite's pinned reference networks (:mod:`bench.reference.pinned`), trained
in ``prepare`` (once per suite, resumable) and recorded in every result by sha256.

Output of every task (read by the leaderboard)::

    {"pooled": {metric: value, metric + "_ci": [lo, hi], ...},
     "per_modality": {modality_key: {metric: value, ...}},
     "reference": {extractor name + sha256, real split, set sizes}, ...extra keys}

Pooled values use all of the generator's images against the real images of the modalities it covers;
per-modality values restrict both sides to one modality. Intervals are 95 % percentile bootstraps.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.columns import MetricColumn, pooled_column
from bench.data.images import png_bytes
from bench.metrics import alignment as al
from bench.metrics import fidelity as fi
from bench.metrics import memorisation as mem
from bench.metrics.base import Task
from bench.reference.classifier import predict_proba
from bench.reference.clip import encode_texts
from bench.reference.features import ClipImageFeatures, PixelFeatures, real_features
from bench.reference.pinned import ensure_references
from bench.registry import register_task

HELD_OUT_SPLITS = ("val", "test")
# the range of each fidelity metric (bias-corrected bootstrap intervals are clipped to it)
FIDELITY_RANGES = {"fd": (0.0, np.inf), "kid": (-np.inf, np.inf), "precision": (0.0, 1.0), "recall": (0.0, 1.0),
                   "cmmd": (0.0, np.inf)}


def _positive(v) -> bool:
    return v > 0


class ReferenceTask(Task):
    """A task that looks through the suite's reference networks."""

    def prepare(self) -> None:
        self.refs = ensure_references(self.ctx)
        self.clip_features = ClipImageFeatures("domain-clip-image", self.refs.hashes["clip"],
                                               model=self.refs.clip, device=self.ctx.device)

    def modality_masks(self, modality: np.ndarray) -> dict[str, np.ndarray]:
        """modality key → boolean mask, for the modalities present in ``modality``."""
        mods = self.ctx.dataset.modalities
        return {mods[m].key: modality == m for m in sorted(set(modality.tolist()))}

    def covered_real(self, name: str, covered: np.ndarray):
        """(split, mask of its images whose modality is in ``covered``)."""
        split = self.ctx.dataset.splits[name]
        return split, np.isin(split.modality, covered)

    def reference_info(self, extractor, real_split: str, real_mod: np.ndarray, syn_mod: np.ndarray) -> dict:
        masks_r, masks_s = self.modality_masks(real_mod), self.modality_masks(syn_mod)
        return {"feature_extractor": extractor.describe(), "real_split": real_split,
                "real_split_pixels_sha256": self.ctx.data_hashes["splits"][real_split]["pixels_sha256"],
                "n_real": {"pooled": int(len(real_mod)), **{k: int(m.sum()) for k, m in masks_r.items()}},
                "n_synthetic": {"pooled": int(len(syn_mod)), **{k: int(m.sum()) for k, m in masks_s.items()}},
                "networks": dict(self.refs.hashes)}


def _mean_with_ci(values: np.ndarray, n_boot: int, seed: int) -> tuple[float, list[float]]:
    return float(np.mean(values)), list(fi.bootstrap_ci(np.mean, values, n_boot=n_boot, seed=seed))


@register_task("fidelity")
class FidelityTask(ReferenceTask):
    """FD, KID, precision/recall and CMMD in the domain CLIP's image space against a real split."""

    @dataclass
    class Params:
        real_split: str = field(default="test", metadata={"choices": HELD_OUT_SPLITS})
        kid_subsets: int = field(default=100, metadata={"check": _positive, "why": "must be > 0"})
        kid_subset_size: int = field(default=1000, metadata={"check": lambda v: v >= 2, "why": "must be >= 2"})
        pr_k: int = field(default=3, metadata={"check": _positive, "why": "must be > 0"})
        cmmd_sigma: float = field(default=10.0, metadata={"check": _positive, "why": "must be > 0"})
        n_boot: int = field(default=100, metadata={"check": lambda v: v >= 0, "why": "must be >= 0 (0 = no CI)"})
        seed: int = 0
        inception_weights: str = ""  # optional local torchvision Inception-v3 state dict: adds fd/kid_inception

    @classmethod
    def columns(cls, params) -> list[MetricColumn]:
        space = "the domain CLIP's L2-normalised image embedding"
        cols = [
            pooled_column("fd", "FD", "lower", "squared chord units", f"Fréchet distance in {space}",
                          ci=True, order=30, rank=2),
            pooled_column("kid", "KID", "lower", "squared chord units",
                          f"kernel inception distance (unbiased MMD², cubic kernel) in {space}", ci=True, order=31),
            pooled_column("precision", "precision", "higher", "share",
                          f"share of synthetic images inside the real images' k-NN manifold (k = {params.pr_k})",
                          ci=True, order=32),
            pooled_column("recall", "recall", "higher", "share",
                          f"share of real images inside the synthetic images' k-NN manifold (k = {params.pr_k})",
                          ci=True, order=33),
            pooled_column("cmmd", "CMMD", "lower", "×1000 MMD²",
                          f"MMD between domain-CLIP image embeddings (Gaussian kernel, σ = {params.cmmd_sigma:g})",
                          ci=True, order=34),
        ]
        if params.inception_weights:
            cols += [pooled_column("fd_inception", "FD (Inception)", "lower", "Inception pool3 units²",
                                   "Fréchet distance in torchvision Inception-v3 pool features", order=35),
                     pooled_column("kid_inception", "KID (Inception)", "lower", "Inception pool3 units²",
                                   "kernel inception distance in torchvision Inception-v3 pool features", order=36)]
        return cols

    def prepare(self) -> None:
        super().prepare()
        self.inception = None
        if self.params.inception_weights:
            from bench.io import sha256_file
            from bench.reference.features import InceptionFeatures

            sha = sha256_file(Path(self.params.inception_weights).expanduser()) \
                if Path(self.params.inception_weights).expanduser().is_file() else None
            self.inception = InceptionFeatures("inception-v3-torchvision", sha, weights=self.params.inception_weights,
                                               device=self.ctx.device)
            self.ctx.reference_hashes["inception"] = sha

    def _inception_metrics(self, real: np.ndarray, fake: np.ndarray) -> dict:
        if min(len(real), len(fake)) < 2:
            return {}
        p = self.params
        return {"fd_inception": fi.fd(real, fake),
                "kid_inception": fi.kid(real, fake, p.kid_subsets, p.kid_subset_size, p.seed)[0]}

    def _metrics(self, real: np.ndarray, fake: np.ndarray, with_ci: bool) -> dict:
        p = self.params
        if min(len(real), len(fake)) < 2:
            return {}
        kid_mean, kid_std = fi.kid(real, fake, p.kid_subsets, p.kid_subset_size, p.seed)
        precision, recall = fi.precision_recall(real, fake, p.pr_k)
        out = {"fd": fi.fd(real, fake), "kid": kid_mean, "kid_std": kid_std, "precision": precision,
               "recall": recall, "cmmd": fi.cmmd(real, fake, p.cmmd_sigma)}
        if with_ci and p.n_boot > 0:
            values = fi.bootstrap_fidelity(real, fake, p.n_boot, p.seed, p.pr_k, p.cmmd_sigma,
                                           max(p.kid_subsets // 10, 1), p.kid_subset_size)
            estimate = (out["fd"], fi.kid(real, fake, max(p.kid_subsets // 10, 1), p.kid_subset_size, p.seed)[0],
                        precision, recall, out["cmmd"])
            ci = fi.percentile_interval(values, estimate=estimate)
            for (name, (lo_bound, hi_bound)), interval in zip(FIDELITY_RANGES.items(), ci):
                out[f"{name}_ci"] = np.clip(interval, lo_bound, hi_bound).tolist()
        return out

    def evaluate(self, gen) -> dict:
        syn_mod = gen.samples.modality
        split, covered = self.covered_real(self.params.real_split, np.unique(syn_mod))
        real = real_features(self.ctx, self.clip_features, self.params.real_split)[covered]
        real_mod = split.modality[covered]
        fake = self.clip_features(gen.samples.images)
        masks_r, masks_s = self.modality_masks(real_mod), self.modality_masks(syn_mod)
        pooled = self._metrics(real, fake, True)
        per_modality = {k: self._metrics(real[masks_r[k]], fake[m], False) for k, m in masks_s.items()}
        extra = {}
        if self.inception is not None:
            real_i = real_features(self.ctx, self.inception, self.params.real_split)[covered]
            fake_i = self.inception(gen.samples.images)
            pooled.update(self._inception_metrics(real_i, fake_i))
            for k, m in masks_s.items():
                per_modality[k].update(self._inception_metrics(real_i[masks_r[k]], fake_i[m]))
            extra["inception"] = self.inception.describe()
        return {
            "pooled": pooled,
            "per_modality": per_modality,
            "reference": {**self.reference_info(self.clip_features, self.params.real_split, real_mod, syn_mod),
                          **extra},
            "units": "fd: squared chord units of the L2-normalised CLIP embedding; kid: same, ×1; "
                     "cmmd: ×1000 MMD² (Gaussian kernel, σ = cmmd_sigma); precision/recall: shares",
        }


@register_task("diversity")
class DiversityTask(ReferenceTask):
    """Within-prompt diversity (domain-CLIP cosine distance, MS-SSIM) and per-class FD, each beside the
    real images' value (:mod:`bench.metrics.diversity`)."""

    @dataclass
    class Params:
        real_split: str = field(default="test", metadata={"choices": HELD_OUT_SPLITS})
        ms_ssim_per_prompt: int = field(default=10, metadata={"check": lambda v: v >= 2, "why": "must be >= 2"})
        seed: int = 0

    @classmethod
    def columns(cls, params) -> list[MetricColumn]:
        return [
            pooled_column("diversity_ratio", "diversity ÷ real", None, "ratio",
                          "mean pairwise domain-CLIP cosine distance within a prompt, over the same within a class "
                          "of real images (1: as diverse as real; below: collapse)", order=45),
            pooled_column("ms_ssim_ratio", "MS-SSIM ÷ real", None, "ratio",
                          "mean pairwise MS-SSIM within a prompt over the same within a class of real images "
                          "(above 1: less diverse than real)", order=46),
            pooled_column("fd_per_class", "per-class FD", "lower", "squared chord units",
                          "mean over classes of the Fréchet distance between one class's real and synthetic "
                          "domain-CLIP embeddings", order=47),
        ]

    def _stats(self, fake, prompt_id, images, fake_cls, real, real_cls, real_images, sel) -> dict:
        from bench.metrics import diversity as dv

        p = self.params
        d_s, d_r = dv.intra_group_distance(fake, prompt_id), dv.intra_group_distance(real[sel], real_cls[sel])
        m_s = dv.intra_group_ms_ssim(images, prompt_id, p.ms_ssim_per_prompt)
        m_r = dv.intra_group_ms_ssim(real_images[sel], real_cls[sel], p.ms_ssim_per_prompt)
        ratio = lambda a, b: None if a is None or not b else a / b  # noqa: E731
        return {"diversity": d_s, "diversity_real": d_r, "diversity_ratio": ratio(d_s, d_r),
                "ms_ssim": m_s, "ms_ssim_real": m_r, "ms_ssim_ratio": ratio(m_s, m_r),
                "fd_per_class": dv.per_class_fd(real, real_cls, fake, fake_cls)}

    def evaluate(self, gen) -> dict:
        from bench.metrics.diversity import real_groups

        s = gen.samples
        syn_mod, fake_cls = s.modality, s.classes
        _, prompt_id = np.unique(np.array(s.texts), return_inverse=True)
        split, covered = self.covered_real(self.params.real_split, np.unique(syn_mod))
        real = real_features(self.ctx, self.clip_features, self.params.real_split)[covered]
        real_cls, real_mod, real_images = split.classes[covered], split.modality[covered], split.images[covered]
        fake = self.clip_features(s.images)
        n_per = int(np.bincount(prompt_id).max())
        sel = real_groups(real_cls, n_per, self.params.seed)
        masks_r, masks_s = self.modality_masks(real_mod), self.modality_masks(syn_mod)
        pooled = self._stats(fake, prompt_id, s.images, fake_cls, real, real_cls, real_images, sel)
        per_modality = {}
        for k, ms in masks_s.items():
            mr = masks_r[k]
            sel_m = real_groups(real_cls[mr], n_per, self.params.seed)
            per_modality[k] = self._stats(fake[ms], prompt_id[ms], s.images[ms], fake_cls[ms], real[mr], real_cls[mr],
                                          real_images[mr], sel_m)
        return {"pooled": pooled, "per_modality": per_modality,
                "reference": {**self.reference_info(self.clip_features, self.params.real_split, real_mod, syn_mod),
                              "real_per_class": n_per},
                "units": "diversity: mean pairwise cosine distance (1 − cos) of L2-normalised domain-CLIP embeddings "
                         "within a prompt (real: within a class, at most as many images per class as per prompt); "
                         "ms_ssim: the same pairs' MS-SSIM; *_ratio: synthetic over real; fd_per_class: squared "
                         "chord units"}


@register_task("alignment")
class AlignmentTask(ReferenceTask):
    """CLIP score and prompt retrieval in the domain CLIP; conditional accuracy of the label classifier."""

    @dataclass
    class Params:
        n_boot: int = field(default=200, metadata={"check": lambda v: v >= 0, "why": "must be >= 0 (0 = no CI)"})
        real_split: str = field(default="test", metadata={"choices": HELD_OUT_SPLITS})
        seed: int = 0

    @classmethod
    def columns(cls, params) -> list[MetricColumn]:
        return [
            pooled_column("clip_score", "CLIP score", "higher", "100·max(cos, 0)",
                          "domain-CLIP image-prompt similarity", ci=True, order=40),
            pooled_column("retrieval_top1", "retrieval top-1", "higher", "share",
                          "share of images whose own prompt is the domain CLIP's top match among the suite's prompts",
                          ci=True, order=41),
            pooled_column("conditional_accuracy", "conditional accuracy", "higher", "share",
                          "accuracy of the real-trained reference classifier against the class each prompt asked for",
                          ci=True, order=42),
        ]

    def prepare(self) -> None:
        super().prepare()
        ds = self.ctx.dataset
        self.prompts = [p.text for p in ds.prompt_requests()]  # one canonical prompt per global class
        self.prompt_emb = encode_texts(self.refs.clip, self.prompts, device=self.ctx.device)
        real = ds.splits[self.params.real_split]
        self.real_hits = self._hits(real.images, real.classes, [self.prompts[c] for c in real.classes],
                                    real_features(self.ctx, self.clip_features, self.params.real_split))

    def _hits(self, images, classes, texts, image_emb) -> dict[str, np.ndarray]:
        uniq = sorted(set(texts))
        emb = encode_texts(self.refs.clip, uniq, device=self.ctx.device)
        text_emb = emb[[uniq.index(t) for t in texts]]
        proba = predict_proba(self.refs.classifier, images, device=self.ctx.device)
        return {"clip_score": al.clip_scores(image_emb, text_emb),
                "retrieval_top1": al.retrieval_hits(image_emb, self.prompt_emb, classes),
                "conditional_accuracy": al.conditional_hits(proba, classes)}

    def _summary(self, hits: dict[str, np.ndarray], mask: np.ndarray, with_ci: bool) -> dict:
        out = {}
        for name, v in hits.items():
            if with_ci and self.params.n_boot > 0:
                out[name], out[f"{name}_ci"] = _mean_with_ci(v[mask], self.params.n_boot, self.params.seed)
            else:
                out[name] = float(v[mask].mean())
        return out

    def evaluate(self, gen) -> dict:
        s = gen.samples
        hits = self._hits(s.images, s.classes, s.texts, self.clip_features(s.images))
        syn_mod = s.modality
        split, covered = self.covered_real(self.params.real_split, np.unique(syn_mod))
        real_mod = split.modality
        return {
            "pooled": self._summary(hits, np.ones(len(s.images), bool), True),
            "per_modality": {k: self._summary(hits, m, False) for k, m in self.modality_masks(syn_mod).items()},
            "real": {"pooled": self._summary(self.real_hits, covered, False),
                     "per_modality": {k: self._summary(self.real_hits, m, False)
                                      for k, m in self.modality_masks(real_mod).items() if (m & covered).any()}},
            "reference": {**self.reference_info(self.clip_features, self.params.real_split, real_mod[covered], syn_mod),
                          "classifier": {"sha256": self.refs.hashes["classifier"],
                                         "test": self.refs.cards["classifier"]["metrics"].get("test")},
                          "n_prompts": len(self.prompts)},
            "units": "clip_score: 100·max(cos, 0); retrieval_top1 and conditional_accuracy: shares",
        }


@register_task("memorisation")
class MemorisationTask(ReferenceTask):
    """Nearest training images of synthetic vs held-out real images, in CLIP space and pixel space."""

    @dataclass
    class Params:
        heldout_split: str = field(default="test", metadata={"choices": HELD_OUT_SPLITS})
        percentile: float = field(default=1.0, metadata={"check": lambda v: 0 < v < 100, "why": "must be in (0, 100)"})
        carlini_threshold: float = field(default=1.0 / 3.0, metadata={"check": lambda v: 0 < v <= 1,
                                                                      "why": "must be in (0, 1]"})
        n_pairs: int = field(default=6, metadata={"check": lambda v: v >= 0, "why": "must be >= 0"})
        n_boot: int = field(default=200, metadata={"check": lambda v: v >= 0, "why": "must be >= 0 (0 = no CI)"})
        seed: int = 0

    SPACES = {"clip": ("cosine", ""), "pixel": ("pixel", "pixel_")}  # space → (search kind, key prefix)

    @classmethod
    def columns(cls, params) -> list[MetricColumn]:
        return [
            pooled_column("near_copy_rate", "near-copy rate", "lower", "share",
                          "share of synthetic images closer (domain-CLIP chord) to a training image than "
                          f"percentile {params.percentile:g} of the held-out real images' nearest-training distances "
                          "(threshold per modality)", ci=True, order=20),
        ]

    def prepare(self) -> None:
        super().prepare()
        self.extractors = {"clip": self.clip_features, "pixel": PixelFeatures("pixels", None)}
        held = self.ctx.dataset.splits[self.params.heldout_split]
        self.held_mod = held.modality
        self.train_feats, self.held_d, self.thresholds = {}, {}, {}
        for space, (kind, _) in self.SPACES.items():
            fx = self.extractors[space]
            self.train_feats[space] = real_features(self.ctx, fx, "train")
            d, _ = mem.nearest_neighbours(real_features(self.ctx, fx, self.params.heldout_split),
                                          self.train_feats[space], k=2, space=kind)
            self.held_d[space] = d
            self.thresholds[space] = {m: mem.near_copy_threshold(d[held.modality == m, 0], self.params.percentile)
                                      for m in np.unique(held.modality).tolist()}

    def _summary(self, space: str, d: np.ndarray, syn_mod: np.ndarray, mask: np.ndarray, held_mask: np.ndarray,
                 with_ci: bool) -> dict:
        p, prefix = self.params, self.SPACES[space][1]
        thr = np.array([self.thresholds[space].get(int(m), -np.inf) for m in syn_mod[mask]])
        copies = (d[mask, 0] < thr).astype(np.float64)
        carlini = (mem.carlini_ratios(d[mask, 0], d[mask, 1]) < p.carlini_threshold).astype(np.float64)
        out = {f"{prefix}distance_ratio": mem.distance_ratio(d[mask, 0], self.held_d[space][held_mask, 0]),
               f"{prefix}median_distance": float(np.median(d[mask, 0])),
               f"{prefix}heldout_median_distance": float(np.median(self.held_d[space][held_mask, 0]))}
        for name, v in ((f"{prefix}near_copy_rate", copies), (f"{prefix}carlini_rate", carlini)):
            if with_ci and p.n_boot > 0:
                out[name], out[f"{name}_ci"] = _mean_with_ci(v, p.n_boot, p.seed)
            else:
                out[name] = float(v.mean())
        return out

    def _closest_pairs(self, gen, d: dict, idx: dict) -> list[dict]:
        ds, s = self.ctx.dataset, gen.samples
        train = ds.splits["train"]

        def b64(img, m):
            return base64.b64encode(png_bytes(img, ds.modalities[m].channels)).decode()

        pairs = []
        for i in np.argsort(d["clip"][:, 0], kind="stable")[:self.params.n_pairs]:
            j = int(idx["clip"][i, 0])
            pairs.append({"synthetic": b64(s.images[i], s.requests[i].modality),
                          "train": b64(train.images[j], int(train.modality[j])),
                          "distance": float(d["clip"][i, 0]), "pixel_distance": float(
                              np.sqrt(np.mean(((s.images[i].astype(np.float64) - train.images[j]) / 255.0) ** 2))),
                          "prompt": s.requests[i].text, "modality": ds.modalities[s.requests[i].modality].key,
                          "sample_index": int(i), "train_index": j,
                          "train_source_index": int(train.source_index[j])})
        return pairs

    def evaluate(self, gen) -> dict:
        s = gen.samples
        syn_mod = s.modality
        held_cov = np.isin(self.held_mod, np.unique(syn_mod))
        d, idx = {}, {}
        for space, (kind, _) in self.SPACES.items():
            d[space], idx[space] = mem.nearest_neighbours(self.extractors[space](s.images), self.train_feats[space],
                                                          k=2, space=kind)
        all_syn = np.ones(len(syn_mod), bool)
        pooled, per_mod = {}, {}
        for space in self.SPACES:
            pooled.update(self._summary(space, d[space], syn_mod, all_syn, held_cov, True))
            for key, m in self.modality_masks(syn_mod).items():
                mod_idx = int(syn_mod[m][0])
                per_mod.setdefault(key, {}).update(
                    self._summary(space, d[space], syn_mod, m, self.held_mod == mod_idx, False))
        mods = self.ctx.dataset.modalities
        return {
            "pooled": pooled,
            "per_modality": per_mod,
            "closest_pairs": self._closest_pairs(gen, d, idx),
            # nearest-training distances (CLIP space, 4 decimals) for histograms rendered from results alone
            "distances": {"synthetic": np.round(d["clip"][:, 0], 4).tolist(),
                          "heldout": np.round(self.held_d["clip"][held_cov, 0], 4).tolist()},
            "thresholds": {space: {mods[m].key: t for m, t in th.items()} for space, th in self.thresholds.items()},
            "reference": {**self.reference_info(self.clip_features, self.params.heldout_split,
                                                self.held_mod[held_cov], syn_mod),
                          "pixel_space": {"name": "pixels", "sha256": None},
                          "n_train": int(len(self.ctx.dataset.splits["train"]))},
            "units": "distances: CLIP space chord √(2−2cos); pixel space RMS difference of [0, 1] pixels",
        }
