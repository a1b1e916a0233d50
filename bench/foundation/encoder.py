"""The sequence encoder and its contrastive pretraining against report text.

Vision side: a per-frame 2D tower (a small plain-torch CNN by default, or any ``timm`` model by name)
applied to every frame, then temporal mixing and pooling: ``temporal="attention"`` adds learned frame
position embeddings and one transformer layer over the frames; ``"pool"`` skips it. Either way the
frame tokens are pooled by mean and max (so both the average state and the extremes of the cycle,
e.g. end-diastole and end-systole, reach the embedding) and projected to ``embed_dim``. A single 2D
image is a sequence of one frame. Text side: open_clip's causal text transformer and BPE tokenizer.

Pretraining is the domain CLIP's recipe (:mod:`bench.reference.clip`): symmetric InfoNCE with a learned
temperature (:func:`bench.reference.contrastive.info_nce`), AdamW, warm-up then cosine decay, random shifts
(the same for every frame of a sequence) and flips, a fixed number of seeded steps.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.augment import flip_and_shift
from bench.reference.contrastive import decay_groups, tokenize, train_contrastive


@dataclass
class EncoderConfig:
    in_chans: int = 1
    frames: int = 16
    arch: str = "cnn"  # "cnn" (plain torch) or a timm model name
    width: int = 16
    temporal: str = "attention"  # "attention" | "pool"
    embed_dim: int = 64
    text_width: int = 64
    text_layers: int = 2
    text_heads: int = 4
    context_length: int = 64


class FrameCNN(nn.Module):
    """Three stride-2 3×3 conv blocks with GroupNorm and GELU, global average pooled."""

    def __init__(self, in_chans: int, width: int):
        super().__init__()
        layers, c = [], in_chans
        for k in (1, 2, 4):
            layers += [nn.Conv2d(c, width * k, 3, 2, 1), nn.GroupNorm(min(4, width * k), width * k), nn.GELU(),
                       nn.Conv2d(width * k, width * k, 3, 1, 1), nn.GELU()]
            c = width * k
        self.body = nn.Sequential(*layers)
        self.num_features = c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean((-2, -1))


def frame_tower(cfg: EncoderConfig) -> nn.Module:
    if cfg.arch == "cnn":
        return FrameCNN(cfg.in_chans, cfg.width)
    import timm

    return timm.create_model(cfg.arch, pretrained=False, num_classes=0, in_chans=cfg.in_chans)


class SequenceEncoder(nn.Module):
    """float (B, T, C, H, W) in [0, 1] → embedding (B, embed_dim), not normalised."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.cfg = cfg
        self.tower = frame_tower(cfg)
        d = self.tower.num_features
        if cfg.temporal == "attention":
            self.pos = nn.Parameter(torch.zeros(cfg.frames, d))
            heads = 4 if d % 4 == 0 else 1
            self.mix = nn.TransformerEncoderLayer(d, heads, 2 * d, dropout=0.0, batch_first=True, norm_first=True)
        elif cfg.temporal != "pool":
            raise ValueError(f"unknown temporal mode {cfg.temporal!r}")
        self.proj = nn.Sequential(nn.LayerNorm(2 * d), nn.Linear(2 * d, cfg.embed_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[:2]
        h = self.tower((x.flatten(0, 1) - 0.5) / 0.25).view(b, t, -1)
        if self.cfg.temporal == "attention":
            h = self.mix(h + self.pos[:t])
        return self.proj(torch.cat([h.mean(1), h.amax(1)], dim=1))


class FoundationClip(nn.Module):
    """Sequence encoder + open_clip text tower + learned temperature."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        from open_clip.model import CLIPTextCfg, _build_text_tower

        self.cfg = cfg
        self.visual = SequenceEncoder(cfg)
        self.text = _build_text_tower(cfg.embed_dim, CLIPTextCfg(
            context_length=cfg.context_length, vocab_size=49408, width=cfg.text_width,
            heads=cfg.text_heads, layers=cfg.text_layers))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.visual(x), dim=-1)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text(tokens), dim=-1)


def pretrain(frames: np.ndarray, texts: list[str], cfg: EncoderConfig, *, steps: int, batch_size: int = 64,
             lr: float = 2e-3, weight_decay: float = 0.1, seed: int = 0, device: str = "cpu",
             log=None) -> tuple[FoundationClip, dict]:
    """Contrastive pretraining on matched ``frames`` (N, T, C, H, W) and report ``texts``
    (:func:`bench.reference.contrastive.train_contrastive`, the domain CLIP's loop)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = FoundationClip(cfg).to(device)
    groups = decay_groups(model, lambda n, p: not (p.ndim >= 2 and "embedding" not in n and "pos" not in n),
                          weight_decay)

    def progress(step: int, loss: float) -> None:
        if log and (step + 1) % max(steps // 4, 1) == 0:
            log(f"    pretrain step {step + 1}/{steps}: loss {loss:.3f}")

    loss_v = train_contrastive(model, torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32)),
                               tokenize(texts, cfg.context_length), steps=steps, batch_size=batch_size, lr=lr,
                               warmup_steps=max(steps // 10, 1), param_groups=groups, gen=gen,
                               augment=flip_and_shift, device=device, what="foundation pretraining",
                               on_step=progress)
    return model, {"final_loss": loss_v, "steps": steps, "n_pairs": len(texts),
                   "temperature": float(1.0 / model.logit_scale.detach().exp().clamp(max=100.0)), "config": asdict(cfg)}


@torch.no_grad()
def embed_sequences(encoder: nn.Module, frames: np.ndarray, batch_size: int = 128, device: str = "cpu",
                    normalise: bool = True) -> np.ndarray:
    """(N, T, C, H, W) → float32 (N, D) (L2-normalised unless ``normalise=False``)."""
    encoder.eval()
    out = []
    for i in range(0, len(frames), batch_size):
        z = encoder(torch.from_numpy(np.ascontiguousarray(frames[i:i + batch_size], dtype=np.float32)).to(device))
        out.append((F.normalize(z, dim=-1) if normalise else z).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


@torch.no_grad()
def embed_texts(model: FoundationClip, texts: list[str], device: str = "cpu") -> np.ndarray:
    model.eval()
    return model.encode_text(tokenize(texts, model.cfg.context_length).to(device)).float().cpu().numpy()
