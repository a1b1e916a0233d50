"""``latent-flow``: a diffusion transformer trained by rectified-flow matching on the suite's latents.

    image --the suite's shared, gated AutoencoderKL--> latents (c, L, L) --patches (p × p)--> tokens
    prompt --frozen text encoder--> token embeddings --cross-attention--> PixArtTransformer2DModel

The recipe the field now ships (SD3, Sana, Flux: transformers trained with flow matching), at CPU size:
x_t = (1 − t) x0 + t ε with logit-normal t (SD3), the network predicts the velocity ε − x0, and
sampling integrates the ODE from t = 1 with ``FlowMatchEulerDiscreteScheduler`` (or Heun), with
classifier-free guidance on the velocity. The denoiser is diffusers' PixArt-α transformer (adaLN-single
timestep conditioning, cross-attention to the text tokens with their padding mask), a small config.
It shares the autoencoder, its gate and the prompt embeddings with ``ldm``.
"""

from __future__ import annotations

import torch

from bench.generators.ldm import LatentFamily
from bench.recipes import LatentFlowParams
from bench.registry import register_generator


@register_generator("latent-flow")
class LatentFlowGenerator(LatentFamily):
    """Flow-matching latent transformer; see the module docstring."""

    Params = LatentFlowParams
    denoiser_name = "transformer"

    def _build_denoiser(self, channels: int, text_dim: int):
        from diffusers import PixArtTransformer2DModel

        p = self.params
        torch.manual_seed(p.seed)
        return PixArtTransformer2DModel(
            num_attention_heads=p.dit_heads, attention_head_dim=p.dit_width // p.dit_heads,
            in_channels=channels, out_channels=channels, num_layers=p.dit_layers,
            cross_attention_dim=p.dit_width, caption_channels=text_dim, sample_size=p.latent_size,
            patch_size=p.patch_size, norm_type="ada_norm_single", use_additional_conditions=False,
            interpolation_scale=1)

    def _predict(self, model, x, t, emb, mask):
        t = torch.as_tensor(t, device=x.device)
        if t.dim() == 0:
            t = t.expand(len(x))
        return model(x, encoder_hidden_states=emb, timestep=t, encoder_attention_mask=mask,
                     added_cond_kwargs={"resolution": None, "aspect_ratio": None}).sample

    def _objective_config(self) -> dict:
        p = self.params
        return {"objective": "flow", "logit_mean": p.logit_mean, "logit_std": p.logit_std}

    def _scheduler(self):
        from diffusers import FlowMatchEulerDiscreteScheduler, FlowMatchHeunDiscreteScheduler

        cls = FlowMatchEulerDiscreteScheduler if self.params.sampler == "euler" else FlowMatchHeunDiscreteScheduler
        return cls(num_train_timesteps=1000, shift=self.params.flow_shift)

    def _sampling_key(self) -> dict:
        return {**super()._sampling_key(), "shift": self.params.flow_shift}
