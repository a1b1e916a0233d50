"""``pixel-diffusion``: the cross-attention UNet denoising the canvas pixels directly (no autoencoder).

    image (S px, reflect-padded to a C px canvas, [-1, 1]) --> UNet2DConditionModel (3 channels)
    prompt --frozen text encoder--> token embeddings --cross-attention--> the same UNet

At 28–64 px pixel space is the obvious rival of a latent model: nothing is lost to an autoencoder (the
``small`` suite's gate measured ``ldm-small``'s costing about 4 points of the reference classifier's
accuracy). Same DDPM objective, guidance and samplers as ``ldm``; the sampler clips x0 to [-1, 1], the
range of the pixels.
"""

from __future__ import annotations

from bench.errors import BenchError
from bench.generators.denoiser import DenoisingGenerator, PixelCodec
from bench.generators.ldm import DiffusionObjectiveMixin, UNetMixin
from bench.recipes import PixelDiffusionParams
from bench.registry import register_generator


@register_generator("pixel-diffusion")
class PixelDiffusionGenerator(DiffusionObjectiveMixin, UNetMixin, DenoisingGenerator):
    """Text-guided diffusion in pixel space; see the module docstring."""

    Params = PixelDiffusionParams
    sampling_settings = {"clip_sample": True}  # pixels live in [-1, 1]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        levels = len(self.params.unet_channels) - 1
        if self.canvas % 2 ** levels:
            raise BenchError(f"the {self.canvas} px canvas cannot be halved {levels} times by the UNet",
                             fix=f"set canvas_size to a multiple of {2 ** levels} (e.g. 32 for 28 px images)")

    def _unet_size(self) -> int:
        return self.canvas

    def train_shape(self) -> tuple[int, int, int]:
        return 3, self.canvas, self.canvas

    def _codec(self, train: bool) -> PixelCodec:
        return PixelCodec.of(self.dataset.splits["train"].images, self.canvas)
