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
from bench.augment import flip_and_shift, strong_augment
from bench.training import every, train_steps


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


AUGMENTS = ("none", "weak", "strong")


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
                     augment: str = "none", init_state: dict | None = None,
                     desc: str = "classifier") -> tuple[ImageClassifier, TrainInfo]:
    """Train for exactly ``steps`` steps; keep the weights with the best validation balanced accuracy.

    ``augment``: ``"none"``, ``"weak"`` (:func:`bench.augment.flip_and_shift`) or ``"strong"``
    (:func:`bench.augment.strong_augment`: TrivialAugmentWide, then MixUp or CutMix, soft targets).
    ``init_state``: start from these weights (a fine-tuning phase) instead of a fresh initialisation.
    """
    if augment not in AUGMENTS:
        raise ValueError(f"augment must be one of {AUGMENTS}, not {augment!r}")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = ImageClassifier(arch, num_classes, input_size).to(device)
    if init_state is not None:
        model.load_state_dict(init_state)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(steps, 1))
    x_all = to_tensor(images)
    y_all = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    best = {"state": None, "bacc": -1.0, "step": steps}
    bar = tqdm(total=steps, desc=desc, unit="step", leave=False, mininterval=1.0)

    def loss_of(step: int, micro: int) -> torch.Tensor:
        idx = torch.randint(0, len(x_all), (min(batch_size, max(len(x_all), 1)),), generator=gen)
        x, y = x_all[idx], y_all[idx]
        if augment == "weak":
            x = flip_and_shift(x, gen)
        elif augment == "strong":
            x, y = strong_augment(x, y, num_classes, gen)  # y: soft targets
        return F.cross_entropy(model(x.to(device)), y.to(device))

    def evaluate(done: int, loss: float) -> None:
        pred = predict_proba(model, val[0], device=device).argmax(1)
        bacc = balanced_accuracy(np.asarray(val[1]), pred)
        if bacc > best["bacc"]:
            best.update(state=copy.deepcopy(model.state_dict()), bacc=bacc, step=done)
        bar.set_postfix(loss=f"{loss:.3f}", val_bacc=f"{bacc:.3f}")

    def progress(done: int, loss: float) -> None:
        bar.update(1)

    hooks = [progress] + ([every(eval_every, evaluate, last=steps)] if val is not None else [])
    trained = train_steps(model, opt, loss_of, steps, what=desc, scheduler=sched, hooks=hooks)
    bar.close()
    best_state, best_bacc, best_step, loss_v = best["state"], best["bacc"], best["step"], trained.loss
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return model, TrainInfo(steps, best_step, best_bacc if val is not None else None, loss_v)
