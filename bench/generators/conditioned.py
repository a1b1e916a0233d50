"""What every prompt-conditioned generator the suite trains shares, whatever its family.

The prompt table (each prompt's frozen text-encoder token embeddings, cached in the suite's shared
folder), the training rows (this generator's modalities, one prompt per image drawn with the spec's
seed), and the training curve's point: the reference classifier's verdict on a few samples per prompt.
Denoisers (:mod:`bench.generators.denoiser`) and the GAN (:mod:`bench.generators.gan`) build on it.
"""

from __future__ import annotations

import numpy as np

from bench.generators.base import Generator
from bench.generators.text_encoder import PromptTable, encode_prompts, resolve_encoder


class TextConditionedGenerator(Generator):
    """Base of the trained text-conditioned families. Subclasses implement ``_sample_with(model, codec,
    table, prompts, n, seed) -> Samples`` (the curve samples through it) and ``params`` carries
    ``text_encoder``, ``max_tokens``, ``seed`` and ``curve_samples``."""

    role = "generalist"
    judged = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        resolve_encoder(self.params.text_encoder)  # a missing local folder fails here, before any work
        # the run's judge (reference classifier), its hash, the curve's FD scorer
        self.judge, self.judge_sha256 = self.context.judge, self.context.judge_sha256
        self.fd_to = self.context.fd_to
        self.stop_after: int | None = None  # tests: simulate a kill after this many steps

    def _prompt_table(self) -> PromptTable:
        texts = list(self.dataset.prompt_lookup())
        return encode_prompts(self.params.text_encoder, texts, self.params.max_tokens, self.shared_dir)

    def _train_rows(self):
        """Indices into the train split of this generator's modalities, and their prompts."""
        train = self.dataset.splits["train"]
        texts = self.dataset.prompts_for("train", seed=self.params.seed)
        idx = np.flatnonzero(np.isin(train.modality, self.modalities))
        return idx, [texts[i] for i in idx]

    def _sample_with(self, model, codec, table, prompts, n: int, seed: int):
        raise NotImplementedError

    def _conditional_accuracy(self, model, codec, table, prompts, fd_val=None) -> dict:
        """Share of ``curve_samples`` samples per prompt (fixed noise) that the judge puts in the asked-for
        class, overall and per modality, and (``modality_accuracy``) in any class of the asked-for
        modality (a sample of the right modality but the wrong class counts there only); with ``fd_val``
        (images → their FD to the validation images) also that FD (``fd_val``: few samples, so biased
        upwards; comparable between checkpoints and runs of the same spec size)."""
        n = self.params.curve_samples
        samples = self._sample_with(model, codec, table, prompts, n, seed=10_007 + self.params.seed)
        pred = np.asarray(self.judge(samples.images))
        hit = pred == samples.classes
        modality_of = np.array([m for m, _ in self.dataset.class_table()])
        in_modality = (pred >= 0) & (modality_of[np.clip(pred, 0, None)] == samples.modality)
        names = np.array([self.dataset.modalities[m].key for m in samples.modality])
        out = {"conditional_accuracy": float(hit.mean()), "n_samples": int(len(hit)),
               "per_modality": {k: float(hit[names == k].mean()) for k in dict.fromkeys(names)},
               "modality_accuracy": float(in_modality.mean()),
               "per_modality_modality_accuracy": {k: float(in_modality[names == k].mean())
                                                  for k in dict.fromkeys(names)}}
        if fd_val is not None:
            out["fd_val"] = float(fd_val(samples.images))
        return out

    def _validation_fd(self):
        """The curve's FD scorer against this generator's modalities' validation images (None: none)."""
        if self.fd_to is None or not self.params.curve_samples:
            return None
        val = self.dataset.splits["val"]
        return self.fd_to(val.images[np.isin(val.modality, self.modalities)])
