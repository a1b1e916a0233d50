"""The data augmentations of the suite's trainers.

:func:`flip_and_shift` (weak): a random horizontal flip per item and one random shift of up to
``max_shift`` pixels for the whole batch (``torch.roll``, wrapping at the border). Used for images
(N, C, H, W) by the reference classifier, the domain CLIP and the utility task's ``real+augment`` arm,
and for sequences (N, T, C, H, W; every frame of a sequence alike) by the foundation encoder and its
fine-tuning probes. :func:`strong_augment` (strong): torchvision's TrivialAugmentWide per image, then
MixUp or CutMix with soft targets — the utility task's ``real+strong`` arm.

Random numbers come from the caller's generator, in a fixed order, so a seeded trainer stays
reproducible.
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


def strong_augment(x: torch.Tensor, y: torch.Tensor, num_classes: int, gen: torch.Generator,
                   mix_alpha: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The strong augmentation: torchvision's ``TrivialAugmentWide`` per image, then for the whole batch
    either ``MixUp`` or ``CutMix`` (torchvision ``transforms.v2``, one of the two at random, ``alpha``
    ``mix_alpha``), as in timm's and torchvision's ImageNet recipes.

    ``x`` is float (N, 3, H, W) in [0, 255], ``y`` class indices (N,); returns the augmented batch (float,
    [0, 255]) and soft targets (N, ``num_classes``), whose rows sum to 1. torchvision draws from torch's
    global generator, so the draws run inside :func:`torch.random.fork_rng` seeded from ``gen``: the
    caller's generator decides them and the global state is left untouched.
    """
    from torchvision.transforms import v2

    seed = int(torch.randint(0, 2 ** 62, (1,), generator=gen))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        trivial = v2.TrivialAugmentWide()
        x8 = x.round().clamp(0, 255).to(torch.uint8)
        x8 = torch.stack([trivial(img) for img in x8])
        mix = v2.RandomChoice([v2.MixUp(alpha=mix_alpha, num_classes=num_classes),
                               v2.CutMix(alpha=mix_alpha, num_classes=num_classes)])
        xf, soft = mix(x8.float(), y)
    return xf, soft
