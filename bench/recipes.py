"""The reference networks' recipes as plain dataclasses (no torch): what a suite's ``[reference.*]``
tables change, what the networks' cards record, and the profile defaults.

``bench.specs.reference_recipe`` merges a suite's tables into its profile's recipe; ``bench.reference``
trains and loads the networks from these recipes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

NAMES = ("clip", "classifier")  # the two reference networks of every suite
SHA256_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass
class ClipRecipe:
    """Architecture and training recipe of the domain CLIP (recorded in its card and hashed)."""

    embed_dim: int = 128
    vision_width: int = 128
    vision_layers: int = 4
    vision_head_width: int = 32
    patch_size: int = 4
    text_width: int = 128
    text_layers: int = 3
    text_heads: int = 4
    context_length: int = 32
    steps: int = 400
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.1
    warmup_steps: int = 40
    seed: int = 0


@dataclass
class ClassifierRecipe:
    """The label classifier's recipe (see :func:`bench.reference.classifier.train_classifier`)."""

    arch: str = "resnet10t"
    input_size: int = 0
    steps: int = 150
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.05
    eval_every: int = 50
    augment: bool = True
    seed: int = 0


@dataclass
class ReferenceRecipe:
    classifier: ClassifierRecipe = field(default_factory=ClassifierRecipe)
    clip: ClipRecipe = field(default_factory=ClipRecipe)
    pinned: dict[str, str] = field(default_factory=dict)  # name -> sha256 of the shipped weights

    @classmethod
    def for_profile(cls, profile: str, seed: int = 0) -> "ReferenceRecipe":
        if profile == "gpu":
            clf = ClassifierRecipe(arch="resnet18", input_size=64, steps=4000, batch_size=256, lr=1e-3,
                                   eval_every=500, seed=seed)
            clip = ClipRecipe(embed_dim=256, vision_width=256, vision_layers=6, vision_head_width=64,
                              text_width=256, text_layers=4, text_heads=4, steps=4000, batch_size=512,
                              lr=5e-4, warmup_steps=200, seed=seed)
        else:
            clf = ClassifierRecipe(seed=seed)
            clip = ClipRecipe(embed_dim=64, vision_width=64, vision_layers=2, vision_head_width=32,
                              text_width=64, text_layers=2, text_heads=2, context_length=16,
                              steps=150, batch_size=128, lr=1e-3, warmup_steps=15, seed=seed)
        return cls(clf, clip)
