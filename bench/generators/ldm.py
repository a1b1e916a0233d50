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
from dataclasses import dataclass, field
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
from bench.generators.text_encoder import DEFAULT_TEXT_ENCODER, encode_prompts, resolve_encoder
from bench.io import sha256_json
from bench.registry import register_generator

SAMPLERS = ("dpm", "ddim", "ddpm")


def _pos(v) -> bool:
    return v > 0


def _pos_list(v) -> bool:
    return len(v) > 0 and all(c > 0 for c in v)


@dataclass
class LDMParams:
    """``[params]`` of an ``ldm`` model spec. Sizes in px (image) or latent cells; lr per optimizer step."""

    # text conditioning
    text_encoder: str = field(default=DEFAULT_TEXT_ENCODER,
                              metadata={"why": "the offline default, a hub name or a local folder"})
    max_tokens: int = field(default=32, metadata={"check": _pos, "why": "must be > 0"})
    # autoencoder
    canvas_size: int = field(default=0, metadata={"check": lambda v: v >= 0, "why": "must be >= 0 (0 = image size)"})
    latent_size: int = field(default=16, metadata={"check": _pos, "why": "must be > 0"})
    latent_channels: int = field(default=4, metadata={"check": _pos, "why": "must be > 0"})
    vae_channels: list[int] = field(default_factory=lambda: [32, 64], metadata={"check": _pos_list, "why": "positive"})
    vae_layers_per_block: int = field(default=1, metadata={"check": _pos, "why": "must be > 0"})
    vae_steps: int = field(default=500, metadata={"check": lambda v: v >= 0, "why": "must be >= 0"})
    vae_batch: int = field(default=32, metadata={"check": _pos, "why": "must be > 0"})
    vae_lr: float = field(default=1e-3, metadata={"check": _pos, "why": "must be > 0"})
    vae_kl_weight: float = field(default=1e-6, metadata={"check": lambda v: v >= 0, "why": "must be >= 0"})
    vae_path: str = ""  # a local diffusers AutoencoderKL folder, used instead of training one
    vae_lr_schedule: str = field(default="constant", metadata={"choices": ("constant", "cosine")})
    # the autoencoder gate: drop of the reference classifier's validation accuracy on reconstructions
    vae_gate: str = field(default="stop", metadata={"choices": ("stop", "report"),
                                                   "why": "stop: stop training when met, refuse the UNet if never met"})
    vae_gate_points: float = field(default=5.0, metadata={"check": lambda v: v >= 0, "why": "points, >= 0"})
    vae_eval_every: int = field(default=0, metadata={"check": lambda v: v >= 0,
                                                     "why": "steps between gate checks, >= 0 (0: at the end)"})
    # denoiser
    unet_channels: list[int] = field(default_factory=lambda: [32, 64, 64], metadata={"check": _pos_list, "why": "positive"})
    unet_attention: list[bool] = field(default_factory=lambda: [False, True, True])  # cross-attention per level
    unet_layers_per_block: int = field(default=1, metadata={"check": _pos, "why": "must be > 0"})
    attention_heads: int = field(default=4, metadata={"check": _pos, "why": "must be > 0"})
    # training
    steps: int = field(default=1000, metadata={"check": _pos, "why": "must be > 0"})
    batch: int = field(default=64, metadata={"check": _pos, "why": "must be > 0"})
    grad_accum: int = field(default=1, metadata={"check": _pos, "why": "must be > 0"})
    lr: float = field(default=1e-3, metadata={"check": _pos, "why": "must be > 0"})
    mixed_precision: str = field(default="auto", metadata={"choices": ("auto", "no", "bf16", "fp16")})
    ema_decay: float = field(default=0.999, metadata={"check": lambda v: 0 <= v < 1, "why": "must be in [0, 1)"})
    prompt_dropout: float = field(default=0.1, metadata={"check": lambda v: 0 <= v < 1, "why": "must be in [0, 1)"})
    prediction_type: str = field(default="epsilon", metadata={"choices": ("epsilon", "v_prediction")})
    offset_noise: float = field(default=0.0, metadata={
        "check": lambda v: v >= 0, "why": "std of a per-channel constant added to the training noise, >= 0 (0: off)"})
    snr_gamma: float = field(default=0.0, metadata={"check": lambda v: v >= 0,
                                                    "why": "min-SNR-gamma loss weighting, >= 0 (0: off; 5 is usual)"})
    balanced_batches: str = field(default="none", metadata={
        "choices": ("none", "class", "modality"),
        "why": "draw training images uniformly over classes or modalities instead of over images"})
    beta_schedule: str = field(default="squaredcos_cap_v2",
                               metadata={"choices": ("linear", "scaled_linear", "squaredcos_cap_v2")})
    train_timesteps: int = field(default=1000, metadata={"check": _pos, "why": "must be > 0"})
    checkpoint_every: int = field(default=100, metadata={"check": _pos, "why": "must be > 0"})
    keep_fractions: list[float] = field(default_factory=lambda: [0.25, 0.5, 1.0],
                                        metadata={"check": lambda v: all(0 < f <= 1 for f in v),
                                                  "why": "fractions of training in (0, 1]"})
    # sampling
    sampler: str = field(default="dpm", metadata={"choices": SAMPLERS})
    sample_steps: int = field(default=20, metadata={"check": _pos, "why": "must be > 0"})
    # "leading": the first step is at T - T/steps, not T - 1, where the cosine schedule's alpha-bar (capped
    # beta = 0.999) is ~0 and an epsilon model's x0 = (x - sigma eps)/alpha explodes: with "linspace"
    # DPM-Solver gave 66 % saturated pixels and conditional accuracy 0.19 on ldm-small (step 2,750), with
    # "leading" 6 % and 0.57. "trailing" (first step at T - 1, pure noise as in training) suits v_prediction
    # (Lin et al. 2024, "Common diffusion noise schedules and sample steps are flawed").
    timestep_spacing: str = field(default="leading", metadata={"choices": ("leading", "trailing", "linspace")})
    guidance_scale: float = field(default=3.0, metadata={"check": lambda v: v >= 0, "why": "must be >= 0"})
    sample_batch: int = field(default=128, metadata={"check": _pos, "why": "must be > 0"})
    # the training curve: samples per prompt scored by the reference classifier at each kept checkpoint
    curve_samples: int = field(default=4, metadata={"check": lambda v: v >= 0, "why": "must be >= 0 (0: no curve)"})
    use_ema: bool = True
    seed: int = 0

    def __post_init__(self):
        """Checks across keys that need no data: these fail when the spec is loaded."""
        if len(self.unet_attention) != len(self.unet_channels):
            raise BenchError(f"unet_attention has {len(self.unet_attention)} entries, unet_channels "
                             f"{len(self.unet_channels)}", fix="give one true/false per UNet level")
        for ch in [c for c, a in zip(self.unet_channels, self.unet_attention) if a] + [self.unet_channels[-1]]:
            if ch % self.attention_heads:
                raise BenchError(f"attention_heads = {self.attention_heads} does not divide the {ch} channels "
                                 "of an attention block", fix="choose heads that divide every attention level's "
                                                              "channels (and the last level's, for the middle block)")
        for key in ("unet_channels", "vae_channels"):
            chans = getattr(self, key)
            groups = min(32, min(chans))
            if any(c % groups for c in chans):
                raise BenchError(f"{key} = {chans}: every entry must be a multiple of {groups} (GroupNorm groups)")
        if self.canvas_size and self.canvas_size % self.latent_size:
            raise BenchError(f"latent_size = {self.latent_size} does not divide canvas_size = {self.canvas_size}")
        if self.latent_size % 2 ** (len(self.unet_channels) - 1):
            raise BenchError(f"latent_size = {self.latent_size} cannot be halved {len(self.unet_channels) - 1} "
                             "times by the UNet", fix="use a latent_size divisible by 2^(levels - 1)")


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


@register_generator("ldm")
class LDMGenerator(Generator):
    """Text-guided latent diffusion on diffusers; see the module docstring."""

    role = "generalist"
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
        self.judge = None  # uint8 images → predicted global classes (the reference classifier), set by the run
        self.judge_sha256 = ""  # its weights' hash
        # real images → (images → FD to them in the reference features), handed by the run for the curve
        self.fd_to = None
        self.ignore_autoencoder_gate = False  # train the UNet even when the autoencoder failed its gate
        self.stop_after: int | None = None  # tests: simulate a kill after this many steps
        self.loss_hook = None  # tests: replace the loss (e.g. inject a NaN)
        self.last_sample_info: dict = {}

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
        noise = torch.stack([torch.randn(shape, generator=torch.Generator().manual_seed(
            (seed * 1_000_003 + q.cls) * 100_003 + k)) for q in prompts for k in range(n)])
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
        self.last_sample_info = {
            "sampler": p.sampler, "sample_steps": p.sample_steps, "guidance_scale": p.guidance_scale,
            "unet_evaluations": n_img * p.sample_steps * (2 if cfg_on else 1),
            "flops": int(n_img * (flops["unet"] * p.sample_steps + flops["decode"])),
            "flops_per_image": int(flops["unet"] * p.sample_steps + flops["decode"]),
            "sampling_wall_s": time.perf_counter() - t0, "device": dev}
        return Samples(np.concatenate(images), reqs, [seed] * n_img)
