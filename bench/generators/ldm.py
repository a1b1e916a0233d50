"""``ldm``: the text-guided latent diffusion model (MediSyn-style), generalist or specialist.

    image (S px, padded to a C px canvas) --AutoencoderKL (f = C / latent_size)--> latents (c, L, L)
    prompt --frozen text encoder--> token embeddings (T, D) --cross-attention--> UNet2DConditionModel

Trained with the DDPM objective on cached latents, with prompt dropout (the empty prompt) so that sampling
can use classifier-free guidance: ε = ε(∅) + g · (ε(text) − ε(∅)), g = ``guidance_scale``. Sampling uses
DPMSolverMultistepScheduler (20 steps by default), or DDIM / DDPM. The autoencoder and the prompt
embeddings are computed once per suite (``shared_dir``) and reused by the generalist and every specialist.
Specialists are the same spec restricted to one modality; under "equal-compute" they train
``steps × budget_scale`` steps. ``fit`` returns measured compute (FLOPs, wall time, parameters).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import torch

from bench.data.dataset import PromptRequest
from bench.errors import BenchError
from bench.generators.autoencoder import AutoencoderSpec, decode, prepare_autoencoder
from bench.data.samples import Samples
from bench.generators.base import Generator
from bench.generators.compute import count_flops, n_params
from bench.generators.ldm_training import TrainConfig, adopt_checkpoints, train_unet
from bench.generators.text_encoder import encode_prompts, resolve_encoder
from bench.io import sha256_json
from bench.recipes import LDMParams
from bench.registry import register_generator

# Params that do not change the UNet's weights at a given step (constant lr; micro-batches seeded by the
# step): how long to train, which checkpoints to keep, and how to sample. Checkpoints of a spec that
# differs from the run's only in these are resumed, so e.g. a longer run or another guidance scale
# continues from the kept ones instead of starting over.
NOT_TRAJECTORY = ("steps", "checkpoint_every", "keep_fractions", "sampler", "sample_steps", "guidance_scale",
                  "timestep_spacing", "sample_batch", "curve_samples", "use_ema")


# Sampling-scheduler settings for latents that are not spec params (recorded with every training-curve
# point). No clipping of x0 to [-1, 1]: latents have unit standard deviation, not a bounded range.
SAMPLING_SETTINGS = {"clip_sample": False}


def _scheduler(params: LDMParams, train_config: dict):
    from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

    cls = {"dpm": DPMSolverMultistepScheduler, "ddim": DDIMScheduler, "ddpm": DDPMScheduler}[params.sampler]
    extra = {k: v for k, v in SAMPLING_SETTINGS.items() if k != "clip_sample" or params.sampler != "dpm"}
    return cls.from_config({**train_config, "timestep_spacing": params.timestep_spacing, **extra})


def initial_noise(seed: int, cls: int, k: int, shape: tuple[int, ...]) -> torch.Tensor:
    """The starting latent of image ``k`` of global class ``cls``: its own generator, seeded by
    (seed, class, k), so a sample does not depend on what else is sampled with it (also what an
    exported pipeline is given, see ``bench.generators.pipeline``)."""
    return torch.randn(shape, generator=torch.Generator().manual_seed((seed * 1_000_003 + cls) * 100_003 + k))


@register_generator("ldm")
class LDMGenerator(Generator):
    """Text-guided latent diffusion on diffusers; see the module docstring."""

    role = "generalist"
    judged = True
    Params = LDMParams

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        p, size = self.params, self.dataset.image_size
        self.canvas = p.canvas_size or size
        if self.canvas < size:
            raise BenchError(f"canvas_size = {self.canvas} is smaller than the {size} px images",
                             fix=f"set canvas_size >= {size} (0 = the image size)")
        if self.canvas % p.latent_size:
            raise BenchError(f"latent_size = {p.latent_size} does not divide the {self.canvas} px canvas "
                             f"({size} px images)", fix="choose a latent_size that divides the canvas "
                                                        "(e.g. pad 28 px to canvas_size = 32)")
        factor = self.canvas // p.latent_size
        if not p.vae_path and factor != 2 ** (len(p.vae_channels) - 1):
            raise BenchError(f"a {self.canvas} px canvas on {p.latent_size} px latents needs an autoencoder "
                             f"that downsamples by {factor}, but vae_channels = {p.vae_channels} downsamples by "
                             f"{2 ** (len(p.vae_channels) - 1)}",
                             fix="give vae_channels one entry per halving, plus one (f=2: two entries)")
        if p.vae_path and not Path(p.vae_path).expanduser().is_dir():
            raise BenchError("autoencoder folder not found", where=p.vae_path,
                             fix="give a folder saved with AutoencoderKL.save_pretrained, or vae_path = \"\"")
        resolve_encoder(p.text_encoder)  # a missing local folder fails here, before any work
        # the run's judge (reference classifier), its hash, the curve's FD scorer, the gate override
        self.judge, self.judge_sha256 = self.context.judge, self.context.judge_sha256
        self.fd_to = self.context.fd_to
        self.ignore_autoencoder_gate = self.context.ignore_autoencoder_gate
        self.stop_after: int | None = None  # tests: simulate a kill after this many steps
        self.loss_hook = None  # tests: replace the loss (e.g. inject a NaN)

    # -- pieces ---------------------------------------------------------------------------------
    def _ae_spec(self) -> AutoencoderSpec:
        p = self.params
        return AutoencoderSpec(canvas=self.canvas, channels=list(p.vae_channels),
                               layers_per_block=p.vae_layers_per_block, latent_channels=p.latent_channels,
                               steps=p.vae_steps, batch=p.vae_batch, lr=p.vae_lr, kl_weight=p.vae_kl_weight,
                               path=str(Path(p.vae_path).expanduser().resolve()) if p.vae_path else "",
                               seed=p.seed, gate_points=p.vae_gate_points, gate=p.vae_gate,
                               eval_every=p.vae_eval_every, lr_schedule=p.vae_lr_schedule,
                               judge_sha256=self.judge_sha256 if self.judge is not None else "")

    def _prompt_table(self):
        texts = list(self.dataset.prompt_lookup())
        return encode_prompts(self.params.text_encoder, texts, self.params.max_tokens, self.shared_dir)

    def _noise_config(self) -> dict:
        p = self.params
        return {"num_train_timesteps": p.train_timesteps, "beta_schedule": p.beta_schedule,
                "prediction_type": p.prediction_type}

    def _build_unet(self, latent_channels: int, text_dim: int):
        from diffusers import UNet2DConditionModel

        p = self.params
        torch.manual_seed(p.seed)
        return UNet2DConditionModel(
            sample_size=p.latent_size, in_channels=latent_channels, out_channels=latent_channels,
            block_out_channels=tuple(p.unet_channels), layers_per_block=p.unet_layers_per_block,
            down_block_types=tuple("CrossAttnDownBlock2D" if a else "DownBlock2D" for a in p.unet_attention),
            up_block_types=tuple("CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(p.unet_attention)),
            mid_block_type="UNetMidBlock2DCrossAttn", cross_attention_dim=text_dim,
            attention_head_dim=p.attention_heads, norm_num_groups=min(32, min(p.unet_channels)))

    def _train_config(self) -> TrainConfig:
        p = self.params
        mp = p.mixed_precision
        if mp == "auto":
            mp = "bf16" if self.device.startswith("cuda") else "no"
        return TrainConfig(steps=max(1, round(p.steps * self.budget_scale)), batch=p.batch, lr=p.lr,
                           grad_accum=p.grad_accum, mixed_precision=mp, ema_decay=p.ema_decay,
                           prompt_dropout=p.prompt_dropout, checkpoint_every=p.checkpoint_every,
                           keep_fractions=list(p.keep_fractions), seed=p.seed, noise_scheduler=self._noise_config(),
                           snr_gamma=p.snr_gamma, offset_noise=p.offset_noise)

    def _train_rows(self):
        """Indices into the train split of this generator's modalities, and their prompts."""
        train = self.dataset.splits["train"]
        texts = self.dataset.prompts_for("train", seed=self.params.seed)
        idx = np.flatnonzero(np.isin(train.modality, self.modalities))
        return idx, [texts[i] for i in idx]

    def _draw_weights(self, idx: np.ndarray) -> torch.Tensor | None:
        """Per-image draw probabilities for ``balanced_batches`` (None: uniform over images): each class
        (or modality) of the training rows ``idx`` gets the same share of every batch."""
        mode = self.params.balanced_batches
        if mode == "none":
            return None
        train = self.dataset.splits["train"]
        group = (train.classes if mode == "class" else train.modality)[idx]
        _, inverse, counts = np.unique(group, return_inverse=True, return_counts=True)
        w = 1.0 / counts[inverse]
        return torch.from_numpy(w / w.sum())

    # -- Generator interface ----------------------------------------------------------------------
    def fit(self) -> dict:
        """Autoencoder (shared, cached), prompt embeddings (cached), then the UNet. ``train_flops`` is the
        UNet's alone; the autoencoder's compute is under ``autoencoder`` (paid once per suite)."""
        from safetensors.torch import save_file

        t0 = time.perf_counter()
        ae = prepare_autoencoder(self._ae_spec(), self.dataset, self.shared_dir, self.device, judge=self.judge)
        gate = self._gate(ae)
        table = self._prompt_table()
        idx, texts = self._train_rows()
        latents = ae.train_latents[torch.from_numpy(idx)]
        unet = self._build_unet(latents.shape[1], table.embeds.shape[-1])
        cfg = self._train_config()
        prompts = self.dataset.prompt_requests(self.modalities)

        fd_val = None
        if self.fd_to is not None and self.params.curve_samples:
            val = self.dataset.splits["val"]
            fd_val = self.fd_to(val.images[np.isin(val.modality, self.modalities)])

        def curve_point(step: int, model) -> dict:
            return self._conditional_accuracy(model, ae, table, prompts, fd_val)

        p = self.params
        curve_key = sha256_json({"sampler": p.sampler, "steps": p.sample_steps, "guidance": p.guidance_scale,
                                 "settings": SAMPLING_SETTINGS, "spacing": p.timestep_spacing, "n": p.curve_samples,
                                 "judge": self.judge_sha256, "fd": self.fd_to is not None, "ema": p.use_ema,
                                 "fields": 2})[:16]

        trajectory = {k: v for k, v in dataclasses.asdict(self.params).items() if k not in NOT_TRAJECTORY}
        run_key = sha256_json({"params": trajectory, "autoencoder": ae.info["key"], "modalities": self.modalities,
                               "train": self.dataset.splits["train"].hash(), "judge": self.judge_sha256})
        adopted = adopt_checkpoints(self.workdir / "checkpoints", run_key, cfg.steps,
                                    sorted(self.workdir.parent.parent.glob("*/fit/checkpoints")))
        out = train_unet(unet, latents, table.index(texts), table, cfg, self.workdir, self.device,
                         weights=self._draw_weights(idx),
                         stop_after=self.stop_after, loss_hook=self.loss_hook,
                         on_checkpoint=curve_point if self.judge is not None and self.params.curve_samples else None,
                         curve_key=curve_key, run_key=run_key, curve_ema=p.use_ema)
        self.workdir.mkdir(parents=True, exist_ok=True)
        unet = out["unet"]
        save_file({k: v.detach().cpu().contiguous() for k, v in unet.state_dict().items()},
                  self.workdir / "unet.safetensors")
        out["ema"].copy_to(unet.parameters())
        save_file({k: v.detach().cpu().contiguous() for k, v in unet.state_dict().items()},
                  self.workdir / "unet-ema.safetensors")
        self._ready(unet, ae, table)
        ae_info = {k: v for k, v in ae.info.items() if k != "spec"}
        return {**out["facts"], "device": self.device, "wall_s": time.perf_counter() - t0,
                "checkpoints_adopted_from": Path(adopted).parent.parent.name if adopted else "",
                "unet_parameters": n_params(unet), "autoencoder_parameters": ae.info["parameters"],
                "text_encoder": self.params.text_encoder, "text_tokens": self.params.max_tokens,
                "train_images": len(idx), "budget_scale": self.budget_scale,
                "autoencoder": {**ae_info, "shared": True}, "autoencoder_gate": gate}

    def _gate(self, ae) -> dict:
        """The autoencoder gate's verdict; raises when it failed and is enforced."""
        rec = ae.info.get("val_reconstruction", {})
        if "passed" not in rec:
            return {"measured": False, "reason": "no reference classifier to judge reconstructions"}
        verdict = {"measured": True, "passed": rec["passed"], "drop_points": rec["drop_points"],
                   "gate_points": rec["gate_points"], "accuracy": rec["accuracy"], "psnr_db": rec["psnr_db"],
                   "ssim": rec["ssim"], "enforced": self.params.vae_gate == "stop",
                   "per_modality_drop_points": {k: v.get("drop_points") for k, v in rec.get("per_modality", {}).items()},
                   "ignored": bool(not rec["passed"] and self.params.vae_gate == "stop" and self.ignore_autoencoder_gate)}
        if not rec["passed"] and verdict["enforced"] and not verdict["ignored"]:
            a = rec["accuracy"]
            raise BenchError(
                f"the autoencoder fails its gate: the reference classifier's validation accuracy falls from "
                f"{a['originals']:.1%} on the originals to {a['reconstructions']:.1%} on reconstructions "
                f"({rec['drop_points']:.1f} points; allowed: {rec['gate_points']:g}), so the UNet would learn from "
                "latents that have lost the class", where=str(self.shared_dir / ae.info.get("folder", "")),
                fix="train it longer (vae_steps) or change its recipe (vae_channels, vae_lr, vae_lr_schedule), or "
                    "rerun with --ignore-autoencoder-gate to train the UNet anyway (the result records it)")
        return verdict

    @torch.no_grad()
    def _conditional_accuracy(self, unet, ae, table, prompts, fd_val=None) -> dict:
        """Share of ``curve_samples`` samples per prompt (fixed noise) that the judge puts in the asked-for
        class, overall and per modality, and (``modality_accuracy``) in any class of the asked-for
        modality (a sample of the right modality but the wrong class counts there only); with ``fd_val``
        (images → their FD to the validation images) also that FD (``fd_val``: few samples, so biased
        upwards; comparable between checkpoints and runs of the same spec size)."""
        n = self.params.curve_samples
        samples = self._sample_with(unet, ae, table, prompts, n, seed=10_007 + self.params.seed)
        pred = np.asarray(self.judge(samples.images))
        hit = pred == samples.classes
        modality_of = np.array([m for m, _ in self.dataset.class_table()])
        in_modality = (pred >= 0) & (modality_of[np.clip(pred, 0, None)] == samples.modality)
        names = np.array([self.dataset.modalities[m].key for m in samples.modality])
        out = {"conditional_accuracy": float(hit.mean()), "n_samples": int(len(hit)),
               "per_modality": {k: float(hit[names == k].mean()) for k in dict.fromkeys(names)},
               "modality_accuracy": float(in_modality.mean()),
               "per_modality_modality_accuracy": {k: float(in_modality[names == k].mean())
                                                  for k in dict.fromkeys(names)}}
        if fd_val is not None:
            out["fd_val"] = float(fd_val(samples.images))
        return out

    def load(self) -> None:
        ae = prepare_autoencoder(self._ae_spec(), self.dataset, self.shared_dir, self.device)
        table = self._prompt_table()
        self._ready(self._build_unet(ae.train_latents.shape[1], table.embeds.shape[-1]), ae, table)

    def _ready(self, unet, ae, table) -> None:
        """Put the saved weights (EMA unless ``use_ema = false``) into ``unet`` for sampling."""
        from safetensors.torch import load_file

        name = "unet-ema.safetensors" if self.params.use_ema else "unet.safetensors"
        unet.load_state_dict(load_file(self.workdir / name))
        self.unet, self.ae, self.table = unet.float().eval().to(self.device), ae, table

    def sample(self, prompts: list[PromptRequest], n: int, seed: int) -> Samples:
        """``n`` images per prompt; image k of class c starts from noise seeded by (seed, c, k)."""
        self.check_prompts(prompts)
        return self._sample_with(self.unet, self.ae, self.table, prompts, n, seed)

    @torch.no_grad()
    def _sample_with(self, unet, ae, table, prompts: list[PromptRequest], n: int, seed: int) -> Samples:
        p, dev = self.params, self.device
        reqs = [q for q in prompts for _ in range(n)]
        shape = (ae.train_latents.shape[1], p.latent_size, p.latent_size)
        noise = torch.stack([initial_noise(seed, q.cls, k, shape) for q in prompts for k in range(n)])
        rows = table.index([q.text for q in reqs])
        uncond = table.index([""])[0]
        grey = np.array([self.dataset.modalities[q.modality].channels == 1 for q in reqs])
        cfg_on = p.guidance_scale != 1.0
        sched = _scheduler(p, self._noise_config())
        images, flops, t0 = [], {"unet": 0, "decode": 0}, time.perf_counter()
        for b in range(0, len(reqs), p.sample_batch):
            sl = slice(b, b + p.sample_batch)
            gen = torch.Generator().manual_seed(seed * 7919 + b)
            r = rows[sl] if not cfg_on else torch.cat([torch.full_like(rows[sl], uncond), rows[sl]])
            emb, mask = table.embeds[r].to(dev), table.mask[r].to(dev)
            x = noise[sl].to(dev)
            sched.set_timesteps(p.sample_steps)
            x = x * sched.init_noise_sigma

            def eps_of(x, t):
                inp = sched.scale_model_input(torch.cat([x, x]) if cfg_on else x, t)
                eps = unet(inp, t, encoder_hidden_states=emb, encoder_attention_mask=mask).sample
                if cfg_on:
                    e_u, e_c = eps.chunk(2)
                    eps = e_u + p.guidance_scale * (e_c - e_u)
                return eps

            if b == 0:
                flops["unet"] = count_flops(lambda: eps_of(x, sched.timesteps[0])) / len(x)
            for t in sched.timesteps:
                x = sched.step(eps_of(x, t), t, x, generator=gen).prev_sample
            z = x / ae.scaling
            if b == 0:
                flops["decode"] = count_flops(lambda: decode(ae.vae, z, self.dataset.image_size)) / len(x)
            images.append(decode(ae.vae, z, self.dataset.image_size, grey[sl]))
        n_img = len(reqs)
        info = {"sampler": p.sampler, "sample_steps": p.sample_steps, "guidance_scale": p.guidance_scale,
                "unet_evaluations": n_img * p.sample_steps * (2 if cfg_on else 1),
                "flops": int(n_img * (flops["unet"] * p.sample_steps + flops["decode"])),
                "flops_per_image": int(flops["unet"] * p.sample_steps + flops["decode"]),
                "sampling_wall_s": time.perf_counter() - t0, "device": dev}
        return Samples(np.concatenate(images), reqs, [seed] * n_img, info)
