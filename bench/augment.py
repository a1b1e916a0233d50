"""The one data augmentation of the suite's trainers: a random horizontal flip per item and one random
shift of up to ``max_shift`` pixels for the whole batch (``torch.roll``, wrapping at the border).

Used for images (N, C, H, W) by the reference classifier, the domain CLIP and the utility task's
``real+augment`` arm, and for sequences (N, T, C, H, W; every frame of a sequence alike) by the
foundation encoder and its fine-tuning probes. Random numbers come from the caller's generator, in a
fixed order (flips, then the shift), so a seeded trainer stays reproducible.
"""

from __future__ import annotations

import torch


def flip_and_shift(x: torch.Tensor, gen: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """``x`` with each item flipped left-right with probability 1/2, then all rolled by (dy, dx), each
    uniform in [-max_shift, max_shift]."""
    flip = torch.rand(x.shape[0], generator=gen) < 0.5
    x = torch.where(flip.view(-1, *([1] * (x.ndim - 1))), x.flip(-1), x)
    dx, dy = (int(v) for v in torch.randint(-max_shift, max_shift + 1, (2,), generator=gen))
    return torch.roll(x, shifts=(dy, dx), dims=(-2, -1))
