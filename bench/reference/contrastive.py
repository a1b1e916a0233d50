"""Contrastive image–text training (CLIP-style), shared by the domain CLIP and the foundation sequence
encoder: open_clip's offline tokenizer, the symmetric InfoNCE loss with a learned temperature, the
warm-up + cosine learning-rate schedule and the training steps themselves.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from bench.training import train_steps


def tokenize(texts: list[str], context_length: int) -> torch.Tensor:
    """open_clip's BPE tokenizer (offline: the vocabulary ships with the package) → (N, context_length)."""
    from open_clip.tokenizer import tokenize as _tokenize

    return _tokenize(list(texts), context_length=context_length)


def cosine_lr(step: int, steps: int, warmup: int) -> float:
    """Learning-rate factor: linear warm-up over ``warmup`` steps, then cosine decay to 0 at ``steps``."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(steps - warmup, 1)))


def info_nce(img: torch.Tensor, txt: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE of matched rows of normalised ``img`` and ``txt`` (N, D) at temperature 1/s."""
    logits = logit_scale.exp().clamp(max=100.0) * img @ txt.t()
    target = torch.arange(len(img), device=img.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))


def decay_groups(model: torch.nn.Module, no_decay: Callable[[str, torch.nn.Parameter], bool],
                 weight_decay: float) -> list[dict]:
    """AdamW parameter groups: weight decay on every parameter except those ``no_decay`` names."""
    decay = [p for n, p in model.named_parameters() if not no_decay(n, p)]
    ids = {id(p) for p in decay}
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": [p for p in model.parameters() if id(p) not in ids], "weight_decay": 0.0}]


def train_contrastive(model: torch.nn.Module, inputs: torch.Tensor, tokens: torch.Tensor, *, steps: int,
                      batch_size: int, lr: float, warmup_steps: int, param_groups: list[dict],
                      gen: torch.Generator, augment: Callable, device: str, what: str,
                      on_step: Callable[[int, float], None] | None = None) -> float:
    """Train ``model`` (``encode_image``, ``encode_text``, ``logit_scale``) on matched rows of ``inputs``
    and ``tokens``: ``steps`` AdamW steps on random batches (drawn from ``gen``, then ``augment(x, gen)``),
    warm-up + cosine schedule. Returns the last loss; a non-finite loss is :class:`NonFiniteLoss`."""
    opt = torch.optim.AdamW(param_groups, lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: cosine_lr(step, steps, warmup_steps))

    def loss_of(step: int, micro: int) -> torch.Tensor:
        idx = torch.randperm(len(inputs), generator=gen)[:batch_size]
        x = augment(inputs[idx], gen).to(device)
        return info_nce(model.encode_image(x), model.encode_text(tokens[idx].to(device)), model.logit_scale)

    hooks = [lambda done, loss: on_step(done - 1, loss)] if on_step is not None else []
    loss_v = train_steps(model, opt, loss_of, steps, what=what, scheduler=sched, hooks=hooks).loss
    model.eval()
    return loss_v
