"""``ldm``: the text-guided latent diffusion model (MediSyn-style), generalist or specialist.

    image (S px, padded to a C px canvas) --AutoencoderKL (f = C / latent_size)--> latents (c, L, L)
    prompt --frozen text encoder--> token embeddings (T, D) --cross-attention--> UNet2DConditionModel

Trained with the DDPM objective on cached latents (epsilon or v targets), with prompt dropout (the empty
prompt) so that sampling can use classifier-free guidance. Sampling uses DPMSolverMultistepScheduler
(20 steps by default), or DDIM / DDPM. The autoencoder and the prompt embeddings are computed once per
suite (``shared_dir``) and reused by the generalist, every specialist and the ``latent-flow`` family.
What the denoising families share (training, sampling, the training curve) is
:class:`bench.generators.denoiser.DenoisingGenerator`.
"""

from __future__ import annotations

from pathlib import Path

from bench.errors import BenchError
from bench.generators.autoencoder import AutoencoderSpec, prepare_autoencoder
from bench.generators.denoiser import DenoisingGenerator, LatentCodec
from bench.generators.denoiser_training import unet_prediction
from bench.recipes import LDMParams
from bench.registry import register_generator

# Sampling-scheduler settings for latents that are not spec params (recorded with every training-curve
# point). No clipping of x0 to [-1, 1]: latents have unit standard deviation, not a bounded range.
SAMPLING_SETTINGS = {"clip_sample": False}


def _scheduler(params, train_config: dict, settings: dict = SAMPLING_SETTINGS):
    """The sampling scheduler of a DDPM-objective model (``params.sampler``) on its training schedule."""
    from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

    cls = {"dpm": DPMSolverMultistepScheduler, "ddim": DDIMScheduler, "ddpm": DDPMScheduler}[params.sampler]
    extra = {k: v for k, v in settings.items() if k != "clip_sample" or params.sampler != "dpm"}
    return cls.from_config({**train_config, "timestep_spacing": params.timestep_spacing, **extra})


class LatentFamily(DenoisingGenerator):
    """A denoising family on the suite's shared, gated autoencoder latents (``ldm``, ``latent-flow``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        p = self.params
        if self.canvas % p.latent_size:
            raise BenchError(f"latent_size = {p.latent_size} does not divide the {self.canvas} px canvas "
                             f"({self.dataset.image_size} px images)",
                             fix="choose a latent_size that divides the canvas (e.g. pad 28 px to canvas_size = 32)")
        factor = self.canvas // p.latent_size
        if not p.vae_path and factor != 2 ** (len(p.vae_channels) - 1):
            raise BenchError(f"a {self.canvas} px canvas on {p.latent_size} px latents needs an autoencoder "
                             f"that downsamples by {factor}, but vae_channels = {p.vae_channels} downsamples by "
                             f"{2 ** (len(p.vae_channels) - 1)}",
                             fix="give vae_channels one entry per halving, plus one (f=2: two entries)")
        if p.vae_path and not Path(p.vae_path).expanduser().is_dir():
            raise BenchError("autoencoder folder not found", where=p.vae_path,
                             fix="give a folder saved with AutoencoderKL.save_pretrained, or vae_path = \"\"")

    def _ae_spec(self) -> AutoencoderSpec:
        p = self.params
        return AutoencoderSpec(canvas=self.canvas, channels=list(p.vae_channels),
                               layers_per_block=p.vae_layers_per_block, latent_channels=p.latent_channels,
                               steps=p.vae_steps, batch=p.vae_batch, lr=p.vae_lr, kl_weight=p.vae_kl_weight,
                               path=str(Path(p.vae_path).expanduser().resolve()) if p.vae_path else "",
                               seed=p.vae_seed, gate_points=p.vae_gate_points, gate=p.vae_gate,
                               eval_every=p.vae_eval_every, lr_schedule=p.vae_lr_schedule,
                               judge_sha256=self.judge_sha256 if self.judge is not None else "")

    def _codec(self, train: bool) -> LatentCodec:
        ae = prepare_autoencoder(self._ae_spec(), self.dataset, self.shared_dir, self.device,
                                 judge=self.judge if train else None)
        return LatentCodec(ae, self.dataset.image_size)

    def train_shape(self) -> tuple[int, int, int]:
        p = self.params
        return p.latent_channels, p.latent_size, p.latent_size

    @property
    def ae(self):
        """The autoencoder of a fitted or loaded generator."""
        return self.codec.ae

    def _fit_facts(self, codec: LatentCodec) -> dict:
        ae_info = {k: v for k, v in codec.ae.info.items() if k != "spec"}
        return {"autoencoder_parameters": codec.ae.info["parameters"], "autoencoder": {**ae_info, "shared": True}}

    def _gate(self, codec: LatentCodec) -> dict:
        """The autoencoder gate's verdict; raises when it failed and is enforced."""
        rec = codec.ae.info.get("val_reconstruction", {})
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
                f"({rec['drop_points']:.1f} points; allowed: {rec['gate_points']:g}), so the denoiser would learn "
                "from latents that have lost the class", where=str(self.shared_dir / codec.ae.info.get("folder", "")),
                fix="train it longer (vae_steps) or change its recipe (vae_channels, vae_lr, vae_lr_schedule), or "
                    "rerun with --ignore-autoencoder-gate to train the denoiser anyway (the result records it)")
        return verdict


class DiffusionObjectiveMixin:
    """The DDPM objective's pieces (``ldm``, ``pixel-diffusion``)."""

    sampling_settings = SAMPLING_SETTINGS

    def _noise_config(self) -> dict:
        p = self.params
        return {"num_train_timesteps": p.train_timesteps, "beta_schedule": p.beta_schedule,
                "prediction_type": p.prediction_type}

    def _objective_config(self) -> dict:
        p = self.params
        return {"objective": "diffusion", "noise_scheduler": self._noise_config(), "snr_gamma": p.snr_gamma,
                "offset_noise": p.offset_noise}

    def _scheduler(self):
        return _scheduler(self.params, self._noise_config(), self.sampling_settings)

    def _sampling_key(self) -> dict:
        p = self.params
        return {"sampler": p.sampler, "steps": p.sample_steps, "guidance": p.guidance_scale,
                "settings": self.sampling_settings, "spacing": p.timestep_spacing}


class UNetMixin:
    """The cross-attention UNet denoiser (``ldm``, ``pixel-diffusion``)."""

    denoiser_name = "UNet"

    def _unet_size(self) -> int:
        raise NotImplementedError

    def _build_denoiser(self, channels: int, text_dim: int):
        from diffusers import UNet2DConditionModel
        import torch

        p = self.params
        torch.manual_seed(p.seed)
        return UNet2DConditionModel(
            sample_size=self._unet_size(), in_channels=channels, out_channels=channels,
            block_out_channels=tuple(p.unet_channels), layers_per_block=p.unet_layers_per_block,
            down_block_types=tuple("CrossAttnDownBlock2D" if a else "DownBlock2D" for a in p.unet_attention),
            up_block_types=tuple("CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(p.unet_attention)),
            mid_block_type="UNetMidBlock2DCrossAttn", cross_attention_dim=text_dim,
            attention_head_dim=p.attention_heads, norm_num_groups=min(32, min(p.unet_channels)))

    def _predict(self, model, x, t, emb, mask):
        return unet_prediction(model, x, t, emb, mask)

    @property
    def unet(self):
        """The UNet of a fitted or loaded generator (EMA weights unless ``use_ema = false``)."""
        return self.denoiser


@register_generator("ldm")
class LDMGenerator(DiffusionObjectiveMixin, UNetMixin, LatentFamily):
    """Text-guided latent diffusion on diffusers; see the module docstring."""

    Params = LDMParams
    weights_stem = "unet"

    def _unet_size(self) -> int:
        return self.params.latent_size

    def fit(self) -> dict:
        out = super().fit()
        return {**out, "unet_parameters": out["denoiser_parameters"]}  # its name in earlier results
