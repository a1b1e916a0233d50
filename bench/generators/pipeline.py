"""``diffusers-pipeline``: any text-to-image ``DiffusionPipeline`` saved on local disk, as an external generator.

The folder is what ``pipeline.save_pretrained(folder)`` writes (``model_index.json`` and one folder per
component); it is loaded with ``DiffusionPipeline.from_pretrained(folder, local_files_only=True, use_safetensors=True)``. Each
suite prompt is passed as ``prompt`` with ``num_images_per_prompt``; outputs are resized to the suite's
resolution (bicubic) and grey modalities get three equal channels (their channel mean).

A folder written by ``medsyn-bench export`` (a suite LDM; ``medsyn_bench.json`` beside ``model_index.json``)
is sampled as the suite samples it, so that for the same seed it gives the LDM's own images: float32, the
saved scheduler config as is, the prompts' attention mask on the UNet's cross-attention, the suite's
initial noise per image (``latents=``) and per-step generator per batch of ``sample_batch`` images, the
canvas decoded by the pipeline's VAE and centre-cropped (not resized) to the image size; its guidance and
steps are the defaults when the params leave theirs unset. See ``bench/generators/export.py``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bench.data.dataset import PromptRequest
from bench.errors import BenchError
from bench.data.samples import Samples
from bench.generators.base import Generator
from bench.generators.denoiser import initial_noise
from bench.recipes import PipelineParams
from bench.registry import register_generator


@register_generator("diffusers-pipeline")
class DiffusersPipelineGenerator(Generator):
    """Samples the suite's prompts from a local diffusers pipeline; nothing is trained."""

    role = "external"
    Params = PipelineParams

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        folder = Path(self.params.path).expanduser()
        if not (folder / "model_index.json").is_file():
            raise BenchError("diffusers pipeline folder not found (no model_index.json)", where=str(folder),
                             fix="give a folder written by pipeline.save_pretrained(folder)")
        self.folder = folder
        self.export_info = _export_info(folder)  # None for any other pipeline
        self.pipe = None

    def load(self) -> None:
        from diffusers import DiffusionPipeline

        dtype = self.params.dtype
        if dtype == "auto":
            dtype = "bfloat16" if self.device.startswith("cuda") and self.export_info is None else "float32"
        try:
            pipe = DiffusionPipeline.from_pretrained(self.folder, local_files_only=True, use_safetensors=True,
                                                     torch_dtype=getattr(torch, dtype))
        except Exception as exc:
            raise BenchError(f"diffusers pipeline did not load ({type(exc).__name__}: {str(exc)[:300]})",
                             where=str(self.folder)) from exc
        if "prompt" not in inspect.signature(pipe.__call__).parameters:
            raise BenchError(f"{type(pipe).__name__} takes no text prompt", where=str(self.folder),
                             fix="use a text-to-image pipeline")
        if self.export_info is not None:  # StableDiffusionPipeline.__init__ rewrote the saved steps_offset
            pipe.scheduler = type(pipe.scheduler).from_pretrained(self.folder, subfolder="scheduler")
        pipe.set_progress_bar_config(disable=True)
        self.pipe = pipe.to(self.device)

    def fit(self) -> dict:
        self.load()
        return {"trained": False, "parameters": int(sum(
            p.numel() for c in self.pipe.components.values() if isinstance(c, torch.nn.Module)
            for p in c.parameters())), "pipeline": type(self.pipe).__name__}

    @torch.no_grad()
    def sample(self, prompts: list[PromptRequest], n: int, seed: int) -> Samples:
        """``n`` images per prompt; the generator of each batch is seeded by (seed, class, batch start)."""
        self.check_prompts(prompts)
        if self.pipe is None:
            self.load()
        if self.export_info is not None:
            return self._sample_as_suite(prompts, n, seed)
        p, size = self.params, self.dataset.image_size
        accepted = inspect.signature(self.pipe.__call__).parameters
        kwargs = {"num_inference_steps": p.num_inference_steps, "guidance_scale": p.guidance_scale,
                  "output_type": "np", **p.extra}
        if p.height:
            kwargs["height"] = p.height
        if p.width:
            kwargs["width"] = p.width
        kwargs = {k: v for k, v in kwargs.items() if k in accepted}
        images, reqs, t0 = [], [], time.perf_counter()
        for q in prompts:
            grey = self.dataset.modalities[q.modality].channels == 1
            for b in range(0, n, p.batch):
                k = min(p.batch, n - b)
                gen = torch.Generator().manual_seed((seed * 1_000_003 + q.cls) * 100_003 + b)
                out = self.pipe(prompt=q.text, num_images_per_prompt=k, generator=gen, **kwargs).images
                images += [_to_suite(np.asarray(im), size, grey) for im in out]
                reqs += [q] * k
        info = {"pipeline": type(self.pipe).__name__, "sampling_wall_s": time.perf_counter() - t0,
                "num_inference_steps": p.num_inference_steps, "device": self.device}
        return Samples(np.stack(images), reqs, [seed] * len(reqs), info)

    def _sample_as_suite(self, prompts: list[PromptRequest], n: int, seed: int) -> Samples:
        """An exported suite LDM: image k of class c starts from the suite's noise for (seed, c, k), and
        the images go through the pipeline in the suite's batches."""
        from bench.generators.autoencoder import decode

        p, info, pipe = self.params, self.export_info, self.pipe

        def unless_set(name: str, suite_value):
            return suite_value if getattr(p, name) == _DEFAULTS[name] else getattr(p, name)

        steps = unless_set("num_inference_steps", info["num_inference_steps"])
        guidance = unless_set("guidance_scale", info["guidance_scale"])
        height, width = p.height or info["canvas_size"], p.width or info["canvas_size"]
        shape = (pipe.unet.config.in_channels, height // pipe.vae_scale_factor, width // pipe.vae_scale_factor)
        reqs = [q for q in prompts for _ in range(n)]
        noise = torch.stack([initial_noise(seed, q.cls, k, shape) for q in prompts for k in range(n)])
        grey = np.array([self.dataset.modalities[q.modality].channels == 1 for q in reqs])
        dtype = pipe.unet.dtype
        images, t0, batch = [], time.perf_counter(), info["sample_batch"]
        for b in range(0, len(reqs), batch):
            texts = [q.text for q in reqs[b:b + batch]]
            kwargs = {**p.extra, "prompt": texts, "latents": noise[b:b + batch].to(self.device, dtype),
                      "generator": torch.Generator().manual_seed(seed * 7919 + b), "num_inference_steps": steps,
                      "guidance_scale": guidance, "height": height, "width": width, "output_type": "latent"}
            with _cross_attention_mask(pipe, texts):
                latents = pipe(**kwargs).images
            images.append(decode(pipe.vae, latents / pipe.vae.config.scaling_factor, self.dataset.image_size,
                                 grey[b:b + batch]))
        facts = {"pipeline": type(pipe).__name__, "exported_from": info["generator"],
                 "sampling_wall_s": time.perf_counter() - t0, "num_inference_steps": steps,
                 "guidance_scale": guidance, "device": self.device}
        return Samples(np.concatenate(images), reqs, [seed] * len(reqs), facts)


_DEFAULTS = {f.name: f.default for f in dataclasses.fields(PipelineParams)}


def _export_info(folder: Path) -> dict | None:
    """The ``medsyn_bench.json`` of a folder written by ``medsyn-bench export``, or None."""
    from bench.generators.export import FORMAT, SUITE_FILE
    from bench.io import read_json

    if not (folder / SUITE_FILE).is_file():
        return None
    info = read_json(folder / SUITE_FILE)
    if info.get("format") != FORMAT:
        raise BenchError(f"{SUITE_FILE} has format {info.get('format')!r}, this medsyn-bench reads {FORMAT}",
                         where=str(folder), fix="export the generator again with this medsyn-bench")
    return info


@contextlib.contextmanager
def _cross_attention_mask(pipe, texts: list[str]):
    """While inside, the UNet's cross-attention sees only the real tokens of ``texts`` (and of the empty
    negative prompt), as the suite's LDM does; the stock pipeline passes no ``encoder_attention_mask``."""
    def mask(batch):
        return pipe.tokenizer(batch, padding="max_length", max_length=pipe.tokenizer.model_max_length,
                              truncation=True, return_tensors="pt").attention_mask.to(pipe.device)

    cond = mask(texts)
    both = torch.cat([mask([""] * len(texts)), cond])  # the pipeline's order: [negative, prompt]

    def hook(module, args, kwargs):
        rows = kwargs["encoder_hidden_states"].shape[0]
        return args, {**kwargs, "encoder_attention_mask": both if rows == len(both) else cond}

    handle = pipe.unet.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()


def _to_suite(img: np.ndarray, size: int, grey: bool) -> np.ndarray:
    """A pipeline output (H, W, C) float in [0, 1] → uint8 (size, size, 3)."""
    arr = (np.clip(np.nan_to_num(img.astype(np.float32)), 0, 1) * 255).round().astype(np.uint8)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.shape[2] == 1 or grey:
        arr = np.repeat(arr.mean(axis=2, keepdims=True).round().astype(np.uint8), 3, axis=2)
    if arr.shape[0] != size or arr.shape[1] != size:
        arr = np.asarray(Image.fromarray(arr).resize((size, size), Image.BICUBIC))
    return arr[..., :3]
