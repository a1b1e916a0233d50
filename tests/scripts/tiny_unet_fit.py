"""A tiny UNet fit through bench.generators.denoiser_training.train_denoiser, for `accelerate launch` tests.

Usage: accelerate launch --multi_gpu --num_processes N tests/scripts/tiny_unet_fit.py OUT_DIR (CPU: gloo)
Writes OUT_DIR/facts-<process>.json (the fit's facts and the first micro-batch's image indices)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from diffusers import UNet2DConditionModel

from bench.generators.denoiser_training import TrainConfig, train_denoiser
from bench.generators.text_encoder import PromptTable


def main(out: Path) -> None:
    torch.manual_seed(0)
    n, texts = 64, ["", "a", "b"]
    latents = torch.randn(n, 4, 8, 8)
    table = PromptTable(texts, torch.randn(3, 4, 16), torch.ones(3, 4, dtype=torch.long))
    unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(32, 32),
                                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), layers_per_block=1,
                                cross_attention_dim=16, attention_head_dim=8, norm_num_groups=8)
    cfg = TrainConfig(steps=4, batch=8, lr=1e-3, grad_accum=1, mixed_precision="no", ema_decay=0.9,
                      prompt_dropout=0.1, checkpoint_every=2, keep_fractions=[0.5, 1.0], seed=0,
                      noise_scheduler={"num_train_timesteps": 100})
    rows = torch.randint(1, 3, (n,), generator=torch.Generator().manual_seed(1))
    facts = train_denoiser(unet, latents, rows, table, cfg, out, "cpu", log=lambda m: None)["facts"]
    from accelerate import PartialState

    rank = PartialState().process_index
    (out / f"facts-{rank}.json").write_text(json.dumps(
        {k: facts[k] for k in ("steps", "num_processes", "images_seen", "final_loss", "checkpoints")}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
