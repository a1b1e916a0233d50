"""The domain CLIP: a small ``open_clip.CLIP`` trained contrastively on real image–prompt pairs.

Architecture: built from an ``open_clip`` model config (``CLIPVisionCfg`` / ``CLIPTextCfg``): a small
ViT image tower at the suite's native resolution and a small causal text transformer over open_clip's
own BPE tokenizer (``SimpleTokenizer``; its vocabulary file ships inside the package, so nothing is
downloaded). Nothing is pretrained.

Recipe (the cardiac-MRI foundation system's, at toy scale): symmetric InfoNCE over a batch of
``B`` pairs, ``L = ½·[CE(s·I·Tᵀ, diag) + CE(s·T·Iᵀ, diag)]`` with L2-normalised embeddings ``I``, ``T``
and a learned temperature ``s = exp(logit_scale)`` (clamped at 100 as in CLIP); AdamW with linear
warm-up then cosine decay; flip/shift augmentation; a fixed number of steps drawn with a seeded
generator. Deterministic on CPU for a given seed.
"""

from __future__ import annotations

import math
from dataclasses import asdict

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from bench.recipes import ClipRecipe
from bench.reference.classifier import augment, to_tensor


def model_config(recipe: ClipRecipe, image_size: int) -> dict:
    """The open_clip model config dict (the form of ``open_clip/model_configs/*.json``)."""
    return {
        "embed_dim": recipe.embed_dim,
        "vision_cfg": {"image_size": image_size, "patch_size": recipe.patch_size, "width": recipe.vision_width,
                       "layers": recipe.vision_layers, "head_width": recipe.vision_head_width},
        "text_cfg": {"context_length": recipe.context_length, "vocab_size": 49408, "width": recipe.text_width,
                     "heads": recipe.text_heads, "layers": recipe.text_layers},
    }


class DomainClip(torch.nn.Module):
    """An ``open_clip.CLIP`` plus the input convention of this suite: uint8-range (N, 3, S, S) images."""

    def __init__(self, config: dict):
        super().__init__()
        import open_clip
        from open_clip.model import CLIPTextCfg, CLIPVisionCfg

        self.config = config
        self.clip = open_clip.CLIP(config["embed_dim"], CLIPVisionCfg(**config["vision_cfg"]),
                                   CLIPTextCfg(**config["text_cfg"]))

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        """x: float (N, 3, S, S) in [0, 255] → L2-normalised embeddings (N, D)."""
        return F.normalize(self.clip.encode_image(x / 127.5 - 1.0), dim=-1)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.clip.encode_text(tokens), dim=-1)

    @property
    def logit_scale(self) -> torch.Tensor:
        return self.clip.logit_scale


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


@torch.no_grad()
def encode_images(model: DomainClip, images: np.ndarray, batch_size: int = 256, device: str = "cpu") -> np.ndarray:
    """uint8 (N, S, S, 3) → float32 (N, D), L2-normalised; processed in chunks of ``batch_size``."""
    model.eval()
    out = [model.encode_image(to_tensor(images[i:i + batch_size]).to(device)).float().cpu().numpy()
           for i in range(0, len(images), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, model.config["embed_dim"]), np.float32)


@torch.no_grad()
def encode_texts(model: DomainClip, texts: list[str], batch_size: int = 256, device: str = "cpu") -> np.ndarray:
    """Prompts → float32 (N, D), L2-normalised."""
    model.eval()
    n_ctx = model.config["text_cfg"]["context_length"]
    out = [model.encode_text(tokenize(texts[i:i + batch_size], n_ctx).to(device)).float().cpu().numpy()
           for i in range(0, len(texts), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, model.config["embed_dim"]), np.float32)


def train_clip(images: np.ndarray, texts: list[str], recipe: ClipRecipe, device: str = "cpu",
               desc: str = "domain CLIP") -> tuple[DomainClip, dict]:
    """Train a :class:`DomainClip` on matched ``images`` (uint8 (N, S, S, 3)) and ``texts`` (N prompts)."""
    torch.manual_seed(recipe.seed)
    gen = torch.Generator().manual_seed(recipe.seed)
    model = DomainClip(model_config(recipe, images.shape[1])).to(device)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": recipe.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=recipe.lr)

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: cosine_lr(step, recipe.steps, recipe.warmup_steps))
    x_all = to_tensor(images)
    tok_all = tokenize(texts, recipe.context_length)
    loss_v = float("nan")
    bar = tqdm(range(recipe.steps), desc=desc, unit="step", leave=False, mininterval=1.0)
    for step in bar:
        model.train()
        idx = torch.randperm(len(x_all), generator=gen)[:recipe.batch_size]
        x = augment(x_all[idx], gen).to(device)
        loss = info_nce(model.encode_image(x), model.encode_text(tok_all[idx].to(device)), model.logit_scale)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        loss_v = float(loss.detach())
        if not np.isfinite(loss_v):
            raise FloatingPointError(f"{desc}: loss became {loss_v} at step {step}")
        bar.set_postfix(loss=f"{loss_v:.3f}")
    model.eval()
    return model, {"final_loss": loss_v, "temperature": float(1.0 / model.logit_scale.exp().clamp(max=100.0)),
                   "recipe": asdict(recipe), "config": model.config}
