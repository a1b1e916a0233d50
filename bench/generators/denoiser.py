"""What every text-guided denoising generator shares (``ldm``, ``pixel-diffusion``, ``latent-flow``).

    images (S px, padded to a C px canvas) --codec--> training tensors (c, L, L): latents or pixels
    prompt --frozen text encoder--> token embeddings (T, D) --cross-attention--> denoiser

A family is a codec (:class:`LatentCodec`: the suite's shared, gated autoencoder; :class:`PixelCodec`:
the canvas itself), a denoiser network and its call, and an objective with its sampler. Training is the
one loop of :mod:`bench.generators.denoiser_training` (prompt dropout for classifier-free guidance, EMA,
checkpoints, measured FLOPs); sampling starts image k of class c from noise seeded by (seed, c, k) and
guides with ε = ε(∅) + g · (ε(text) − ε(∅)), g = ``guidance_scale`` (the same for velocity outputs).
Specialists are the same spec restricted to one modality; under "equal-compute" they train
``steps × budget_scale`` steps. ``fit`` returns measured compute (FLOPs, wall time, parameters).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bench.data.dataset import PromptRequest
from bench.data.samples import Samples
from bench.errors import BenchError
from bench.generators.autoencoder import Autoencoder, decode, from_canvas, to_canvas
from bench.generators.compute import count_flops, n_params
from bench.generators.conditioned import TextConditionedGenerator
from bench.generators.denoiser_training import TrainConfig, adopt_checkpoints, make_objective, train_denoiser
from bench.io import sha256_json

# Params that do not change the denoiser's weights at a given step (constant lr; micro-batches seeded by
# the step): how long to train, which checkpoints to keep, and how to sample. Checkpoints of a spec that
# differs from the run's only in these are resumed, so e.g. a longer run or another guidance scale
# continues from the kept ones instead of starting over.
NOT_TRAJECTORY = ("steps", "checkpoint_every", "keep_fractions", "sampler", "sample_steps", "guidance_scale",
                  "timestep_spacing", "sample_batch", "curve_samples", "use_ema", "flow_shift")


def trajectory_params(params) -> dict:
    """The parameters that decide a training trajectory (its checkpoints' run key): all but
    :data:`NOT_TRAJECTORY` and ``vae_seed``, which the run key holds already through the autoencoder's own
    key — leaving it in would orphan every checkpoint written before it existed."""
    return {k: v for k, v in dataclasses.asdict(params).items() if k not in NOT_TRAJECTORY and k != "vae_seed"}


def initial_noise(seed: int, cls: int, k: int, shape: tuple[int, ...]) -> torch.Tensor:
    """The starting latent of image ``k`` of global class ``cls``: its own generator, seeded by
    (seed, class, k), so a sample does not depend on what else is sampled with it (also what an
    exported pipeline is given, see ``bench.generators.pipeline``)."""
    return torch.randn(shape, generator=torch.Generator().manual_seed((seed * 1_000_003 + cls) * 100_003 + k))


@dataclass
class LatentCodec:
    """The suite's shared autoencoder: training tensors are its scaled posterior means."""

    ae: Autoencoder
    image_size: int

    @property
    def train_latents(self) -> torch.Tensor:
        return self.ae.train_latents

    @property
    def key(self) -> str:
        return self.ae.info["key"]

    def decode(self, z: torch.Tensor, grey: np.ndarray | None = None) -> np.ndarray:
        return decode(self.ae.vae, z / self.ae.scaling, self.image_size, grey)


@dataclass
class PixelCodec:
    """No autoencoder: training tensors are the reflect-padded canvas images in [-1, 1] (N, 3, C, C)."""

    train_latents: torch.Tensor
    image_size: int
    key: str = "pixels"

    def decode(self, z: torch.Tensor, grey: np.ndarray | None = None) -> np.ndarray:
        return from_canvas(z, self.image_size, grey)

    @classmethod
    def of(cls, images: np.ndarray, canvas: int, batch: int = 4096) -> "PixelCodec":
        x = torch.cat([to_canvas(images[i:i + batch], canvas) for i in range(0, len(images), batch)]) \
            if len(images) else torch.zeros(0, 3, canvas, canvas)
        return cls(x, images.shape[1])


class DenoisingGenerator(TextConditionedGenerator):
    """Base of the denoising families; subclasses give the codec, the network, its call and the sampler."""

    weights_stem = "denoiser"  # <workdir>/<stem>.safetensors and <stem>-ema.safetensors
    denoiser_name = "denoiser"  # the training progress bar's label

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        p, size = self.params, self.dataset.image_size
        self.canvas = p.canvas_size or size
        if self.canvas < size:
            raise BenchError(f"canvas_size = {self.canvas} is smaller than the {size} px images",
                             fix=f"set canvas_size >= {size} (0 = the image size)")
        self.ignore_autoencoder_gate = self.context.ignore_autoencoder_gate
        self.loss_hook = None  # tests: replace the loss (e.g. inject a NaN)

    # -- what a family defines ----------------------------------------------------------------------
    def _codec(self, train: bool):
        """The codec (``train``: fit may train a missing autoencoder; load only reads the cache)."""
        raise NotImplementedError

    def _gate(self, codec) -> dict:
        return {"measured": False, "reason": "pixel space: no autoencoder"}

    def _build_denoiser(self, channels: int, text_dim: int) -> torch.nn.Module:
        raise NotImplementedError

    def _predict(self, model, x: torch.Tensor, t: torch.Tensor, emb: torch.Tensor, mask: torch.Tensor):
        raise NotImplementedError

    def _objective_config(self) -> dict:
        """``TrainConfig`` fields of the objective (``objective``, ``noise_scheduler``, ...)."""
        raise NotImplementedError

    def _scheduler(self):
        """A fresh sampling scheduler (its ``set_timesteps`` is called per batch)."""
        raise NotImplementedError

    def _sampling_key(self) -> dict:
        """What decides the samples besides the weights (part of the training curve's key)."""
        p = self.params
        return {"sampler": p.sampler, "steps": p.sample_steps, "guidance": p.guidance_scale}

    # -- shared pieces ------------------------------------------------------------------------------
    def _train_config(self) -> TrainConfig:
        p = self.params
        mp = p.mixed_precision
        if mp == "auto":
            mp = "bf16" if self.device.startswith("cuda") else "no"
        fields = {"noise_scheduler": {}, **self._objective_config()}
        return TrainConfig(steps=max(1, round(p.steps * self.budget_scale)), batch=p.batch, lr=p.lr,
                           grad_accum=p.grad_accum, mixed_precision=mp, ema_decay=p.ema_decay,
                           prompt_dropout=p.prompt_dropout, checkpoint_every=p.checkpoint_every,
                           keep_fractions=list(p.keep_fractions), seed=p.seed, **fields)

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

    def train_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of what the denoiser learns on: latents or canvas pixels."""
        raise NotImplementedError

    def training_probe(self, text_dim: int, batch: int | None = None, wrap=None):
        """A fresh denoiser and a closure running one training step's forward and backward on random
        inputs of the training shape (no data, no optimizer): what ``medsyn-bench perf`` times and the
        equal-compute check counts FLOPs of. ``wrap`` (e.g. ``torch.compile``) is applied to the module
        the closure calls; the returned module holds the parameters either way."""
        p = self.params
        b = batch or p.batch
        model = self._build_denoiser(self.train_shape()[0], text_dim).train()
        net = wrap(model) if wrap is not None else model
        cfg = self._train_config()

        objective, gen = make_objective(cfg), torch.Generator().manual_seed(0)
        x0 = torch.randn((b, *self.train_shape()), generator=gen)
        emb, mask = torch.randn(b, p.max_tokens, text_dim, generator=gen), torch.ones(b, p.max_tokens)

        def step() -> None:
            noisy, t, target = objective.draw(x0, gen)
            objective.loss(self._predict(net, noisy, t, emb, mask), target, t).backward()

        return model, step

    def _fit_facts(self, codec) -> dict:
        """Family-specific facts of the fit (e.g. the autoencoder's)."""
        return {}

    # -- Generator interface ----------------------------------------------------------------------
    def fit(self) -> dict:
        """Codec (shared, cached), prompt embeddings (cached), then the denoiser. ``train_flops`` is the
        denoiser's alone; an autoencoder's compute is under ``autoencoder`` (paid once per suite)."""
        from safetensors.torch import save_file

        t0 = time.perf_counter()
        codec = self._codec(train=True)
        gate = self._gate(codec)
        table = self._prompt_table()
        idx, texts = self._train_rows()
        latents = codec.train_latents[torch.from_numpy(idx)]
        model = self._build_denoiser(latents.shape[1], table.embeds.shape[-1])
        cfg = self._train_config()
        prompts = self.dataset.prompt_requests(self.modalities)

        fd_val = self._validation_fd()

        def curve_point(step: int, m) -> dict:
            return self._conditional_accuracy(m, codec, table, prompts, fd_val)

        p = self.params
        curve_key = sha256_json({**self._sampling_key(), "n": p.curve_samples, "judge": self.judge_sha256,
                                 "fd": self.fd_to is not None, "ema": p.use_ema, "fields": 2})[:16]
        run_key = sha256_json({"params": trajectory_params(self.params), "autoencoder": codec.key,
                               "modalities": self.modalities, "train": self.dataset.splits["train"].hash(),
                               "judge": self.judge_sha256,
                               **({"kind": self.kind} if self.kind != "ldm" else {})})
        adopted = adopt_checkpoints(self.workdir / "checkpoints", run_key, cfg.steps,
                                    sorted(self.workdir.parent.parent.glob("*/fit/checkpoints")))
        out = train_denoiser(model, latents, table.index(texts), table, cfg, self.workdir, self.device,
                             weights=self._draw_weights(idx), stop_after=self.stop_after, loss_hook=self.loss_hook,
                             on_checkpoint=curve_point if self.judge is not None and p.curve_samples else None,
                             curve_key=curve_key, run_key=run_key, curve_ema=p.use_ema, predict=self._predict,
                             what=self.denoiser_name)
        self.workdir.mkdir(parents=True, exist_ok=True)
        model = out["unet"]
        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
                  self.workdir / f"{self.weights_stem}.safetensors")
        out["ema"].copy_to(model.parameters())
        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
                  self.workdir / f"{self.weights_stem}-ema.safetensors")
        self._ready(model, codec, table)
        return {**out["facts"], "device": self.device, "wall_s": time.perf_counter() - t0,
                "checkpoints_adopted_from": Path(adopted).parent.parent.name if adopted else "",
                "denoiser": type(model).__name__, "denoiser_parameters": n_params(model),
                "text_encoder": p.text_encoder, "text_tokens": p.max_tokens, "train_images": len(idx),
                "budget_scale": self.budget_scale, "autoencoder_gate": gate, **self._fit_facts(codec)}

    def load(self) -> None:
        codec = self._codec(train=False)
        table = self._prompt_table()
        self._ready(self._build_denoiser(codec.train_latents.shape[1], table.embeds.shape[-1]), codec, table)

    def _ready(self, model, codec, table) -> None:
        """Put the saved weights (EMA unless ``use_ema = false``) into ``model`` for sampling."""
        from safetensors.torch import load_file

        stem = f"{self.weights_stem}-ema" if self.params.use_ema else self.weights_stem
        model.load_state_dict(load_file(self.workdir / f"{stem}.safetensors"))
        self.denoiser, self.codec, self.table = model.float().eval().to(self.device), codec, table

    def sample(self, prompts: list[PromptRequest], n: int, seed: int) -> Samples:
        """``n`` images per prompt; image k of class c starts from noise seeded by (seed, c, k)."""
        self.check_prompts(prompts)
        return self._sample_with(self.denoiser, self.codec, self.table, prompts, n, seed)

    @torch.no_grad()
    def _sample_with(self, model, codec, table, prompts: list[PromptRequest], n: int, seed: int) -> Samples:
        p, dev = self.params, self.device
        reqs = [q for q in prompts for _ in range(n)]
        shape = tuple(codec.train_latents.shape[1:])
        noise = torch.stack([initial_noise(seed, q.cls, k, shape) for q in prompts for k in range(n)])
        rows = table.index([q.text for q in reqs])
        uncond = table.index([""])[0]
        grey = np.array([self.dataset.modalities[q.modality].channels == 1 for q in reqs])
        cfg_on = p.guidance_scale != 1.0
        sched = self._scheduler()
        images, flops, t0 = [], {"denoiser": 0, "decode": 0}, time.perf_counter()
        for b in range(0, len(reqs), p.sample_batch):
            sl = slice(b, b + p.sample_batch)
            gen = torch.Generator().manual_seed(seed * 7919 + b)
            r = rows[sl] if not cfg_on else torch.cat([torch.full_like(rows[sl], uncond), rows[sl]])
            emb, mask = table.embeds[r].to(dev), table.mask[r].to(dev)
            x = noise[sl].to(dev)
            sched.set_timesteps(p.sample_steps)
            x = x * getattr(sched, "init_noise_sigma", 1.0)

            def out_of(x, t):
                inp = torch.cat([x, x]) if cfg_on else x
                if hasattr(sched, "scale_model_input"):
                    inp = sched.scale_model_input(inp, t)
                out = self._predict(model, inp, t, emb, mask)
                if cfg_on:
                    o_u, o_c = out.chunk(2)
                    out = o_u + p.guidance_scale * (o_c - o_u)
                return out

            if b == 0:
                flops["denoiser"] = count_flops(lambda: out_of(x, sched.timesteps[0])) / len(x)
            for t in sched.timesteps:
                x = sched.step(out_of(x, t), t, x, generator=gen).prev_sample
            if b == 0:
                flops["decode"] = count_flops(lambda: codec.decode(x)) / len(x)
            images.append(codec.decode(x, grey[sl]))
        n_img = len(reqs)
        per_image = flops["denoiser"] * p.sample_steps + flops["decode"]
        info = {"sampler": p.sampler, "sample_steps": p.sample_steps, "guidance_scale": p.guidance_scale,
                "unet_evaluations": n_img * p.sample_steps * (2 if cfg_on else 1),
                "flops": int(n_img * per_image), "flops_per_image": int(per_image),
                "sampling_wall_s": time.perf_counter() - t0, "device": dev}
        return Samples(np.concatenate(images), reqs, [seed] * n_img, info)
