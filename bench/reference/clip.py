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

from dataclasses import asdict

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from bench.recipes import ClipRecipe
from bench.augment import flip_and_shift
from bench.reference.classifier import to_tensor
from bench.reference.contrastive import decay_groups, tokenize, train_contrastive


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
    groups = decay_groups(model, lambda n, p: not (p.ndim >= 2 and "embedding" not in n), recipe.weight_decay)
    bar = tqdm(total=recipe.steps, desc=desc, unit="step", leave=False, mininterval=1.0)

    def progress(step: int, loss: float) -> None:
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.3f}")

    try:
        loss_v = train_contrastive(model, to_tensor(images), tokenize(texts, recipe.context_length),
                                   steps=recipe.steps, batch_size=recipe.batch_size, lr=recipe.lr,
                                   warmup_steps=recipe.warmup_steps, param_groups=groups, gen=gen, augment=flip_and_shift,
                                   device=device, what=desc, on_step=progress)
    finally:
        bar.close()
    return model, {"final_loss": loss_v, "temperature": float(1.0 / model.logit_scale.detach().exp().clamp(max=100.0)),
                   "recipe": asdict(recipe), "config": model.config}
