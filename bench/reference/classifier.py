"""A ``timm`` image classifier trained on uint8 arrays with a fixed number of optimisation steps.

Shared by the reference label classifier and the utility experiments. The recipe: AdamW, cosine
learning-rate decay, batches drawn with a seeded generator, inputs scaled to [-1, 1] and resized to
``input_size`` (bilinear) so ImageNet-style stems keep enough resolution at 28 px; model selection on
a validation split (balanced accuracy) when one is given. Deterministic on CPU for a given seed.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm
from bench.errors import check_loss


class ImageClassifier(nn.Module):
    """uint8-range float input (N, 3, S, S) in [0, 255] → logits; resizing and scaling inside."""

    def __init__(self, arch: str, num_classes: int, input_size: int = 0):
        super().__init__()
        import timm

        self.arch, self.input_size = arch, input_size
        self.net = timm.create_model(arch, pretrained=False, num_classes=num_classes, in_chans=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x / 127.5 - 1.0
        if self.input_size and x.shape[-1] != self.input_size:
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)
        return self.net(x)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, S, S, 3) → float32 (N, 3, S, S) in [0, 255]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Standard cheap augmentation: random horizontal flip and a random shift of up to 2 pixels."""
    flip = torch.rand(x.shape[0], generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    dx, dy = (int(v) for v in torch.randint(-2, 3, (2,), generator=gen))
    return torch.roll(x, shifts=(dy, dx), dims=(-2, -1))


@dataclass
class TrainInfo:
    steps: int
    best_step: int
    best_val_balanced_accuracy: float | None
    final_loss: float


@torch.no_grad()
def predict_proba(model: nn.Module, images: np.ndarray, batch_size: int = 256, device: str = "cpu") -> np.ndarray:
    """Class probabilities (N, K), float64."""
    model.eval()
    out = []
    for i in range(0, len(images), batch_size):
        x = to_tensor(images[i:i + batch_size]).to(device)
        out.append(torch.softmax(model(x).float(), dim=1).cpu().double().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0))


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    classes = np.unique(y_true)
    return float(np.mean([(y_pred[y_true == c] == c).mean() for c in classes]))


def train_classifier(images: np.ndarray, labels: np.ndarray, num_classes: int, *, arch: str = "resnet18",
                     input_size: int = 0, steps: int = 500, batch_size: int = 128, lr: float = 1e-3,
                     weight_decay: float = 0.05, seed: int = 0, device: str = "cpu",
                     val: tuple[np.ndarray, np.ndarray] | None = None, eval_every: int = 100,
                     use_augment: bool = False, desc: str = "classifier") -> tuple[ImageClassifier, TrainInfo]:
    """Train for exactly ``steps`` steps; keep the weights with the best validation balanced accuracy."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = ImageClassifier(arch, num_classes, input_size).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(steps, 1))
    x_all = to_tensor(images)
    y_all = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    best_state, best_bacc, best_step, loss_v = None, -1.0, steps, float("nan")
    bar = tqdm(range(1, steps + 1), desc=desc, unit="step", leave=False, mininterval=1.0)
    for step in bar:
        model.train()
        idx = torch.randint(0, len(x_all), (min(batch_size, max(len(x_all), 1)),), generator=gen)
        x, y = x_all[idx], y_all[idx]
        if use_augment:
            x = augment(x, gen)
        loss = F.cross_entropy(model(x.to(device)), y.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        loss_v = check_loss(float(loss), desc, step, steps)
        if val is not None and (step % eval_every == 0 or step == steps):
            pred = predict_proba(model, val[0], device=device).argmax(1)
            bacc = balanced_accuracy(np.asarray(val[1]), pred)
            if bacc > best_bacc:
                best_bacc, best_step, best_state = bacc, step, copy.deepcopy(model.state_dict())
            bar.set_postfix(loss=f"{loss_v:.3f}", val_bacc=f"{bacc:.3f}")
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return model, TrainInfo(steps, best_step, best_bacc if val is not None else None, loss_v)
