"""Export a fitted suite LDM as a standard diffusers ``StableDiffusionPipeline`` folder.

The folder is what ``pipe.save_pretrained(out, safe_serialization=True)`` writes: the UNet (EMA weights
unless ``use_ema = false``), the ``AutoencoderKL`` with ``scaling_factor`` = the suite's latent scaling
(no shift), the frozen text encoder (``use_attention_mask = true``, so the stock ``encode_prompt`` gives
the suite's token embeddings) and its tokenizer (``model_max_length`` = the spec's ``max_tokens``), and the
suite's exact sampling scheduler. Beside ``model_index.json``, ``medsyn_bench.json`` records what plain
diffusers cannot know: the suite, the image size and the crop of the mirror-padded canvas, the default
guidance and steps, the seeding rule, the sha256 of every weights file, and the two places where the
stock pipeline differs from the suite's sampler (see ``DIFFERENCES``); the ``diffusers-pipeline``
generator reads it and reproduces the suite's samples exactly.
"""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path

import torch

from bench.errors import BenchError
from bench.generators.ldm import LDMGenerator, _scheduler
from bench.io import atomic_write_json, sha256_file

SUITE_FILE = "medsyn_bench.json"  # beside model_index.json
FORMAT = 1

# Where stock StableDiffusionPipeline.__call__ departs from LDMGenerator._sample_with, and what undoes it.
DIFFERENCES = {
    "cross_attention_mask": (
        "the suite's UNet attends only to the prompt's real tokens (encoder_attention_mask = the tokenizer's "
        "attention mask); the stock pipeline passes no mask, so its cross-attention also sees the padding "
        "tokens' embeddings. To reproduce the suite, pass the mask to the UNet (medsyn-bench's "
        "diffusers-pipeline generator adds it with a forward pre-hook)."),
    "scheduler_steps_offset": (
        "StableDiffusionPipeline.__init__ rewrites the scheduler's steps_offset to 1 (the saved config, the "
        "suite's, has 0), which shifts every 'leading' timestep by one. To reproduce the suite, reload the "
        "scheduler after the pipeline: pipe.scheduler = type(pipe.scheduler).from_pretrained(folder, "
        "subfolder='scheduler')."),
}

SEEDING = {
    "initial_noise": "image k of class c (global class index, k = 0..n-1): torch.randn((C, L, L), "
                     "generator=torch.Generator().manual_seed((seed * 1000003 + c) * 100003 + k)), passed as "
                     "latents=",
    "step_noise": "the (prompt, k) list flattened prompt by prompt, in batches of sample_batch; the batch that "
                  "starts at b is sampled with generator=torch.Generator().manual_seed(seed * 7919 + b) (used by "
                  "stochastic schedulers only, e.g. DDPM)",
}


def _text_encoder(generator: LDMGenerator):
    """(tokenizer, text model, max difference to the suite's prompt table), configured so that the stock
    ``encode_prompt`` gives the token embeddings the suite's LDM was trained and samples on."""
    from transformers import PreTrainedModel

    from bench.generators.text_encoder import load_text_encoder

    p = generator.params
    tokenizer, model = load_text_encoder(p.text_encoder)
    if not isinstance(model, PreTrainedModel):
        raise BenchError(f"text encoder {p.text_encoder!r} loads as {type(model).__name__}, which a diffusers "
                         "pipeline cannot save", fix="use a transformers text model (e.g. the default "
                                                     "all-MiniLM-L6-v2 or a CLIPTextModel folder)")
    tokenizer.model_max_length = p.max_tokens  # the stock pipeline pads and truncates to this
    model.config.use_attention_mask = True  # the stock encode_prompt then passes the mask, as the suite does
    table = generator.table
    with torch.no_grad():
        tok = tokenizer(table.texts, padding="max_length", max_length=p.max_tokens, truncation=True,
                        return_tensors="pt")
        embeds = model(input_ids=tok["input_ids"], attention_mask=tok["attention_mask"])[0].float()
    diff = float((embeds - table.embeds).abs().max())
    if not torch.equal(tok["attention_mask"].long(), table.mask) or diff > 1e-4:
        raise BenchError(f"the text encoder {p.text_encoder!r} no longer gives the token embeddings the LDM was "
                         f"trained on (max difference {diff:.2g})", where=str(generator.shared_dir),
                         fix="reinstall the text encoder the suite was fitted with")
    return tokenizer, model, diff


def export_pipeline(generator: LDMGenerator, out: Path, provenance: dict | None = None) -> Path:
    """Save the fitted (or loaded) ``generator`` as a diffusers pipeline folder at ``out``; returns ``out``.
    ``provenance`` (e.g. the suite's version and sampling seed) goes into ``medsyn_bench.json`` as is."""
    from diffusers import StableDiffusionPipeline

    if not isinstance(generator, LDMGenerator):
        raise BenchError(f"{generator.name!r} is not a latent diffusion model (kind ldm), so it has no diffusers "
                         "pipeline to export", fix="export one of the suite's ldm generators")
    if getattr(generator, "unet", None) is None:
        raise BenchError(f"{generator.name!r} is not fitted or loaded", fix="call fit() or load() first")
    p, ae, canvas, size = generator.params, generator.ae, generator.canvas, generator.dataset.image_size
    if canvas % 8:
        raise BenchError(f"StableDiffusionPipeline needs a canvas divisible by 8; this LDM's is {canvas} px",
                         fix="refit with canvas_size a multiple of 8 (e.g. 32 for 28 px images)")
    if p.guidance_scale < 1:
        raise BenchError(f"guidance_scale = {p.guidance_scale:g}: the stock pipeline applies guidance only above 1, "
                         "the suite's LDM at any value but 1, so the export would sample another model",
                         fix="sample with guidance_scale >= 1")
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not (out / SUITE_FILE).is_file():
        raise BenchError("the output folder is not empty and holds no earlier export", where=str(out),
                         fix="give a new or empty folder")

    tokenizer, text_encoder, text_diff = _text_encoder(generator)
    vae = copy.deepcopy(ae.vae).to("cpu").float()
    vae.register_to_config(scaling_factor=float(ae.scaling), shift_factor=None)  # the suite's latent normalisation
    unet = copy.deepcopy(generator.unet).to("cpu").float()
    scheduler = _scheduler(p, generator._noise_config())
    # __init__ would rewrite steps_offset to 1 (with a warning): build it on such a copy, then save the suite's own
    stand_in = type(scheduler).from_config({**scheduler.config, "steps_offset": 1})
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=stand_in, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.scheduler = scheduler

    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    pipe.save_pretrained(tmp, safe_serialization=True)
    weights = {f.relative_to(tmp).as_posix(): sha256_file(f) for f in sorted(tmp.rglob("*.safetensors"))}
    lo = (canvas - size) // 2
    atomic_write_json(tmp / SUITE_FILE, {
        "format": FORMAT, "suite": generator.dataset.name, "generator": generator.name, "kind": "ldm",
        "pipeline_class": type(pipe).__name__, "modalities": [m.key for m in generator.dataset.modalities],
        "covers_modalities": [generator.dataset.modalities[m].key for m in generator.modalities],
        "image_size": size, "canvas_size": canvas,
        "crop": {"rule": "centre crop of the reflect (mirror) padding, no resize", "top": lo, "left": lo,
                 "size": size, "python": f"image[{lo}:{lo + size}, {lo}:{lo + size}]",
                 "grey_modalities": "three equal channels: the channel mean of the decoded [-1, 1] canvas, "
                                    "then (x + 1) * 127.5 rounded"},
        "guidance_scale": p.guidance_scale, "num_inference_steps": p.sample_steps, "sample_batch": p.sample_batch,
        "sampler": p.sampler, "scheduler": {k: scheduler.config[k] for k in (
            "prediction_type", "timestep_spacing", "steps_offset", "num_train_timesteps", "beta_schedule")},
        "latent_scaling_factor": float(ae.scaling), "latent_shift_factor": 0.0,
        "max_tokens": p.max_tokens, "use_ema": p.use_ema, "text_embeddings_max_abs_diff": text_diff,
        "seeding": SEEDING, "differences_from_stock_pipeline": DIFFERENCES, "weights_sha256": weights,
        **(provenance or {}),
    })
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return out
