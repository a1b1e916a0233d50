"""Figure captions (the leaderboard shows them under each figure) and figure-name helpers.
"""

from __future__ import annotations

import re


CAPTIONS = {
    "metric_validity": "Which metric predicts utility? Spearman correlation of each metric (signed so that higher "
                       "is better) with the accuracy gain of synthetic-only and real + synthetic training at the "
                       "smallest real-data budget, over (generator, modality) cells, with 95% bootstrap intervals "
                       "over generators; right of the dotted line: the metric ranks generators the way their "
                       "images' utility does.",
    "metric_sensitivity": "Does each metric get worse as the images do? Spearman correlation of each metric with "
                          "the severity of each controlled degradation of the held-out real images (severity 0: "
                          "the holdout baseline), signed so that + means worse. Boxed: the metrics that ladder "
                          "must worsen (✓ ρ ≥ 0.9, ~ 0.5–0.9, ✗ does not move or moves the wrong way).",
    "samples": "Samples for each prompt of modality {m}: real held-out images (left) beside each generator's.",
    "fd_per_modality": "Fréchet distance per modality in the reference encoder's feature space (lower is "
                       "better): generalist vs per-modality specialists, with the baselines as bounds.",
    "utility_gain": "Accuracy gain over real-only training vs the number of real images per class: "
                    "real + synthetic (solid) and synthetic only (dashed), 95% CI bands.",
    "utility_regimes": "The generalist's test accuracy vs the number of real images per class: real-only "
                       "training over the whole real ladder (black, 95% CI band) beside weak and strong "
                       "augmentation, synthetic only, real + synthetic and synthetic pretraining with real "
                       "fine-tuning at the generator budgets (95% CI bars, clipped to [0, 1]; synthetic only uses "
                       "no real image, so it is the same at every budget).",
    "utility_quantity": "Test accuracy vs the number of synthetic images per class: synthetic only (dashed) and "
                        "real + synthetic at a fixed real budget (solid), 95% CI bands; dotted: real only at "
                        "that budget.",
    "utility_equivalent": "Real-data equivalent of real + synthetic training: the real images per class that "
                          "real-only training needs to match its accuracy, as a multiple of the real budget "
                          "(log-log; 95% CI bars clipped to what the real ladder can measure). Lines at 1× (no "
                          "gain) and 2× (MediSyn's reported gain); ▲: beyond the ladder's largest rung (a lower "
                          "bound), ▼: below its smallest (an upper bound), ◆: seeds on both sides.",
    "memorisation_distances": "Distance from each image to its nearest training image: synthetic vs "
                              "held-out real. Mass left of the held-out curve means copying; dotted red "
                              "lines: the near-copy threshold of each modality.",
    "memorisation_closest_pairs": "Each generator's closest pairs: synthetic image (top) and its nearest "
                                  "training image (bottom), with their distance.",
    "quality_vs_compute": "Fidelity (FD, lower is better) vs denoiser training compute. Left: each generator's test "
                          "FD (mean over its modalities; large dots), each specialist (small dots) and the "
                          "specialists of a budget rule all together (diamonds: summed compute, mean FD). Right: "
                          "each family's training curve at its kept checkpoints (FD of the curve's samples against "
                          "the validation split, pooled over modalities: another quantity than the left panel's).",
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
