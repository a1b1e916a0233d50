"""Text-alignment metrics: plain functions over embeddings and classifier outputs.

Each returns per-image values (so the caller can average per modality and bootstrap); the metric is
their mean.

- CLIP score (Hessel et al. 2021, as torchmetrics reports it): 100 · max(cos(image, its prompt), 0) in
  the domain CLIP;
- prompt-retrieval top-1: 1 if the image's own prompt has the highest cosine among all candidate
  prompts of the suite, else 0;
- conditional accuracy: 1 if the label classifier's most probable class is the class the prompt
  asked for, else 0.
"""

from __future__ import annotations

import numpy as np


def clip_scores(image_emb: np.ndarray, text_emb: np.ndarray) -> np.ndarray:
    """Per-image CLIP score from matched rows of L2-normalised image and prompt embeddings (N, D)."""
    cos = (np.asarray(image_emb, np.float64) * np.asarray(text_emb, np.float64)).sum(axis=1)
    return 100.0 * np.maximum(cos, 0.0)


def retrieval_hits(image_emb: np.ndarray, prompt_emb: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-image top-1 hit: ``argmax_j cos(image_i, prompt_j) == target_i``; ``prompt_emb`` (P, D)
    holds every candidate prompt, ``target`` (N,) the row of each image's own prompt."""
    sims = np.asarray(image_emb, np.float64) @ np.asarray(prompt_emb, np.float64).T
    return (sims.argmax(axis=1) == np.asarray(target)).astype(np.float64)


def conditional_hits(proba: np.ndarray, asked: np.ndarray) -> np.ndarray:
    """Per-image hit: the classifier's most probable class (``proba`` (N, K)) equals the asked class."""
    return (np.asarray(proba).argmax(axis=1) == np.asarray(asked)).astype(np.float64)
