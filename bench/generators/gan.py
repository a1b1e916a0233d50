"""``gigagan``: a text-conditioned GAN — gigagan-pytorch's GigaGAN (Kang et al. 2023) on the canvas pixels.

    prompt --frozen text encoder--> token embeddings --GigaGAN text transformer--> global + fine tokens
    noise z (dim) + global token --style network--> adaptive-kernel generator (self/cross-attention) --> canvas
    discriminator: multi-scale, text-conditioned, matching-aware (real image, wrong prompt), R1 penalty

The library's own trainer (``gigagan_pytorch.GigaGAN``) does the adversarial training unchanged. The suite
hands it the prompts' cached token embeddings through :func:`prompt_adapter`, which takes the place of the
library's OpenCLIP text tower (no download; the same frozen MiniLM tokens the denoising families read),
and turns off the two losses that need a CLIP image tower (the generator's contrastive loss and the
vision-aided discriminator). One training step is one discriminator and one generator update on
``batch`` images each; its FLOPs are counted on a copy (averaged over one period of the R1 penalty,
which runs every ``gradient_penalty_every`` steps) and ``train_flops`` is that × steps, the quantity the equal-compute rule compares.

Two things the trainer does that the suite works around, without changing the library:
- on its first step it samples under ``torch.inference_mode``, and accelerate's loader has already
  fetched the next batch inside that mode, so the second step fails ("inference tensor"): step 1 is
  trained as a call of its own;
- its randomness is the global torch generator: each checkpoint saves that generator's state with the
  networks, and images are drawn by a step-keyed sampler, so a killed run resumes to the same weights.
Sampling is one generator pass per image from noise seeded by (seed, class, k); the noise-injection
layers draw from the global generator, seeded per batch. No guidance: a GAN has no unconditional branch.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bench.data.dataset import PromptRequest
from bench.data.samples import Samples
from bench.errors import BenchError
from bench.generators.compute import count_flops, n_params
from bench.generators.conditioned import TextConditionedGenerator
from bench.generators.denoiser import PixelCodec, initial_noise
from bench.generators.denoiser_training import TrainingStopped, latest_checkpoint
from bench.generators.text_encoder import PromptTable
from bench.io import atomic_write_json, read_json, sha256_json
from bench.recipes import GigaGANParams
from bench.registry import register_generator

# params that do not change the networks' weights at a given step (see bench.generators.denoiser)
NOT_TRAJECTORY = ("steps", "checkpoint_every", "keep_fractions", "sample_batch", "curve_samples", "use_ema")


def prompt_adapter(table: PromptTable, device: str = "cpu"):
    """An ``OpenClipAdapter`` (the type GigaGAN's ``TextEncoder`` asks for) whose text embeddings are
    rows of ``table``: (l2-normalised mean of the unmasked tokens, token embeddings with padding zeroed:
    GigaGAN reads all-zero rows as padding). It has no image tower and no parameters."""
    from gigagan_pytorch.open_clip import OpenClipAdapter

    class PromptTableAdapter(OpenClipAdapter):
        def __init__(self):
            torch.nn.Module.__init__(self)  # not OpenClipAdapter.__init__: that downloads OpenCLIP weights
            self.table, self.target = table, device
            self._dim_latent = int(table.embeds.shape[-1])

        def embed_texts(self, texts):
            rows = self.table.index(list(texts))
            mask = self.table.mask[rows].unsqueeze(-1).float()
            enc = self.table.embeds[rows] * mask
            pooled = enc.sum(1) / mask.sum(1).clamp(min=1.0)
            return F.normalize(pooled, dim=-1).to(self.target), enc.to(self.target)

        def embed_images(self, images):
            raise BenchError("the prompt adapter has no image tower",
                             fix="keep the GAN's contrastive and vision-aided losses off (weights 0)")

    return PromptTableAdapter()


class StepSampler(torch.utils.data.Sampler):
    """Training images by step: the stream started at step ``start`` is batch after batch of indices
    drawn by a generator seeded by (seed, start, j), uniform with replacement. The trainer restarts its
    loader at every call, so a run cut into the same calls draws the same images, resumed or not."""

    def __init__(self, n: int, batch: int, seed: int):
        self.n, self.batch, self.seed, self.start = n, batch, seed, 0

    def __iter__(self):
        j = 0
        while True:
            gen = torch.Generator().manual_seed((self.seed * 1_000_003 + self.start) * 4_099 + j)
            yield from torch.randint(0, self.n, (self.batch,), generator=gen).tolist()
            j += 1

    def __len__(self) -> int:  # endless; the trainer draws what its steps need
        return 2 ** 62


class PromptImages(torch.utils.data.Dataset):
    """(canvas image in [0, 1] (3, C, C), its prompt) pairs: what GigaGAN's trainer reads."""

    def __init__(self, images: torch.Tensor, texts: list[str]):
        self.images, self.texts = images, texts

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.images[i], self.texts[i]


def collate(batch):
    return torch.stack([x for x, _ in batch]), [t for _, t in batch]


@register_generator("gigagan")
class GigaGANGenerator(TextConditionedGenerator):
    """A text-conditioned GAN on the canvas pixels; see the module docstring."""

    Params = GigaGANParams
    weights_stem = "generator"  # <workdir>/generator.safetensors and generator-ema.safetensors

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        size = self.dataset.image_size
        self.canvas = self.params.canvas_size
        if self.canvas < size:
            raise BenchError(f"canvas_size = {self.canvas} is smaller than the {size} px images",
                             fix=f"set canvas_size to a power of two >= {size}")

    # -- the networks --------------------------------------------------------------------------------
    def _generator_config(self, adapter) -> dict:
        p = self.params
        attn = tuple(p.generator_attention)
        return dict(image_size=self.canvas, dim_capacity=p.capacity, dim_max=p.max_channels, channels=3,
                    dim_latent=p.dim, style_network=dict(dim=p.dim, depth=p.style_depth, dim_text_latent=p.dim),
                    text_encoder=self._text_encoder(adapter),
                    self_attn_resolutions=attn, cross_attn_resolutions=attn,
                    self_attn_heads=p.attention_heads, self_attn_dim_head=p.attention_head_dim,
                    cross_attn_heads=p.attention_heads, cross_attn_dim_head=p.attention_head_dim)

    def _text_encoder(self, adapter):
        """GigaGAN's text transformer over the adapter's token embeddings (one per network)."""
        from gigagan_pytorch.gigagan_pytorch import TextEncoder

        p = self.params
        return TextEncoder(dim=p.dim, depth=p.text_depth, clip=adapter, heads=p.attention_heads,
                           dim_head=p.attention_head_dim)

    def _build_generator(self, table: PromptTable):
        from gigagan_pytorch import Generator as GigaGenerator

        return GigaGenerator(**self._generator_config(prompt_adapter(table, self.device)))

    def _build_gan(self, table: PromptTable, folder: Path, steps: int):
        """The library's trainer (generator, discriminator, both optimizers, EMA generator)."""
        import contextlib
        import io

        from gigagan_pytorch import GigaGAN

        p = self.params
        adapter = prompt_adapter(table, self.device)
        d = dict(image_size=self.canvas, dim_capacity=p.capacity, dim_max=p.max_channels, channels=3,
                 attn_resolutions=tuple(p.discriminator_attention), attn_heads=p.attention_heads,
                 attn_dim_head=p.attention_head_dim, text_encoder=self._text_encoder(adapter))
        with contextlib.redirect_stdout(io.StringIO()):  # it prints its parameter counts
            gan = GigaGAN(generator=self._generator_config(adapter), discriminator=d, learning_rate=p.lr,
                          generator_contrastive_loss_weight=0.0, vision_aided_divergence_loss_weight=0.0,
                          matching_awareness_loss_weight=p.matching_loss_weight,
                          multiscale_divergence_loss_weight=p.multiscale_loss_weight,
                          apply_gradient_penalty_every=p.gradient_penalty_every,
                          log_steps_every=max(1, steps // 10), save_and_sample_every=10 ** 12,
                          early_save_thres_steps=0, num_samples=4, create_ema_generator_at_init=False,
                          model_folder=str(folder / "models"), results_folder=str(folder / "results"),
                          accelerate_kwargs={"cpu": not self.device.startswith("cuda")})
        gan.create_ema_generator(update_every=1, update_after_step=0, decay=p.ema_decay)
        return gan

    @staticmethod
    def _loader(images: torch.Tensor, texts: list[str], batch: int, seed: int):
        sampler = StepSampler(len(images), batch, seed)
        return sampler, torch.utils.data.DataLoader(PromptImages(images, texts), batch_size=batch,
                                                    sampler=sampler, collate_fn=collate, drop_last=True)

    def _flops_per_step(self, table: PromptTable, images: torch.Tensor, texts: list[str], folder: Path) -> int:
        """FLOPs of one training step: the mean over one period of the R1 penalty (steps 2 to
        ``gradient_penalty_every`` + 1 of a fresh copy; one step when it is off); global RNG untouched."""
        period = max(1, self.params.gradient_penalty_every)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            gan = self._build_gan(table, folder, period + 1)
            _, loader = self._loader(images, texts, self.params.batch, seed=0)
            gan.set_dataloader(loader)
            gan(steps=1)  # the first step also samples (see the module docstring)
            flops = count_flops(lambda: gan(steps=period))
        shutil.rmtree(folder, ignore_errors=True)
        return flops // period

    def training_probe(self, text_dim: int, batch: int | None = None, wrap=None):
        """A fresh GAN and a closure running one of its training steps (both updates) on random images of
        the canvas shape: what ``medsyn-bench perf`` times. ``wrap`` is not applied (the library's
        trainer calls its own modules)."""
        import tempfile

        b = batch or self.params.batch
        texts = ["a probe prompt"]
        emb = torch.randn(1, self.params.max_tokens, text_dim, generator=torch.Generator().manual_seed(0))
        table = PromptTable(texts, emb, torch.ones(1, self.params.max_tokens, dtype=torch.long))
        folder = Path(tempfile.mkdtemp(prefix="gan-probe-"))
        gan = self._build_gan(table, folder, 2)
        images = torch.rand(max(b, 8), 3, self.canvas, self.canvas, generator=torch.Generator().manual_seed(0))
        _, loader = self._loader(images, texts * len(images), b, seed=0)
        gan.set_dataloader(loader)
        gan(steps=1)  # past the first step's sampling
        return gan, lambda: gan(steps=1)

    # -- Generator interface ----------------------------------------------------------------------
    def fit(self) -> dict:
        """Prompt embeddings (cached), then the adversarial training, cut into calls at the checkpoints;
        the EMA generator's weights are saved for sampling."""
        from safetensors.torch import save_file

        t0, p = time.perf_counter(), self.params
        train = self.dataset.splits["train"]
        table = self._prompt_table()
        idx, texts = self._train_rows()
        codec = PixelCodec.of(train.images[idx], self.canvas)
        images = (codec.train_latents + 1.0) / 2.0  # GigaGAN's images are in [0, 1]
        steps = max(1, round(p.steps * self.budget_scale))
        keep = {max(1, round(f * steps)) for f in p.keep_fractions} | {steps}
        ends = sorted({1, *range(p.checkpoint_every, steps, p.checkpoint_every), *keep})
        trajectory = {k: v for k, v in dataclasses.asdict(p).items() if k not in NOT_TRAJECTORY}
        run_key = sha256_json({"kind": self.kind, "params": trajectory, "modalities": self.modalities,
                               "train": train.hash(), "judge": self.judge_sha256})
        ckpt_dir, scratch = self.workdir / "checkpoints", self.workdir / "gigagan"
        prompts = self.dataset.prompt_requests(self.modalities)
        fd_val = self._validation_fd()
        curve_on = self.judge is not None and p.curve_samples > 0
        curve_key = sha256_json({"n": p.curve_samples, "judge": self.judge_sha256, "fd": fd_val is not None,
                                 "ema": p.use_ema})[:16]

        torch.manual_seed(p.seed)
        gan = self._build_gan(table, scratch, steps)
        flops_per_step = self._flops_per_step(table, images, texts, self.workdir / "flop-probe")
        state = {"wall_s": 0.0, "curve": []}
        last = latest_checkpoint(ckpt_dir, at_most=steps)
        if last is not None and read_json(last / "state.json").get("run_key") != run_key:
            print(f"  checkpoints in {ckpt_dir} are from another spec or data: starting over")
            shutil.rmtree(ckpt_dir, ignore_errors=True)
            last = None
        done = 0
        if last is not None:
            state = read_json(last / "state.json")
            self._restore(gan, torch.load(last / "gan.pt", weights_only=True))  # never unpickle
            torch.set_rng_state(torch.load(last / "rng.pt", weights_only=True))
            done = int(gan.steps.item()) - 1
            print(f"  resuming from {last.name}")
        sampler, loader = self._loader(images, texts, p.batch, p.seed)
        gan.set_dataloader(loader)
        t_run, eval_s = time.perf_counter(), 0.0
        for end in ends:
            if end <= done:
                continue
            sampler.start = done
            if self.stop_after is not None and done < self.stop_after < end:  # tests: killed mid-call
                gan(steps=self.stop_after - done)
                raise TrainingStopped(f"stopped after step {self.stop_after}")
            gan(steps=end - done)
            done = end
            wall = state["wall_s"] + time.perf_counter() - t_run - eval_s
            if curve_on and done in keep:
                e0 = time.perf_counter()
                model = gan.G_ema.ema_model if p.use_ema else gan.unwrapped_G
                with torch.random.fork_rng(devices=[]):
                    point = self._conditional_accuracy(model.eval(), codec, table, prompts, fd_val)
                gan.unwrapped_G.train()
                state["curve"] = [c for c in state["curve"] if c["step"] < done] + [
                    {"step": done, "train_wall_s": wall, **point, "curve_key": curve_key}]
                eval_s += time.perf_counter() - e0
            self._save_checkpoint(ckpt_dir, done, gan, {"wall_s": wall, "curve": state["curve"],
                                                        "run_key": run_key}, keep)
            if self.stop_after is not None and done >= self.stop_after:
                raise TrainingStopped(f"stopped after step {done}")
        wall = state["wall_s"] + time.perf_counter() - t_run - eval_s
        self.workdir.mkdir(parents=True, exist_ok=True)
        for stem, net in ((self.weights_stem, gan.unwrapped_G), (f"{self.weights_stem}-ema", gan.G_ema.ema_model)):
            save_file({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()},
                      self.workdir / f"{stem}.safetensors")
        generator = self._build_generator(table)
        self._ready(generator, codec, table)
        return {"steps": steps, "resumed_from_step": int(last.name.split("-")[1]) if last else 0, "batch": p.batch,
                "images_seen": steps * p.batch, "flops_per_step": flops_per_step,
                "train_flops": flops_per_step * steps, "train_wall_s": wall, "curve_eval_wall_s": eval_s,
                "curve": state["curve"], "device": self.device, "wall_s": time.perf_counter() - t0,
                "checkpoints": sorted(c.name for c in ckpt_dir.glob("step-*") if ".tmp-" not in c.name),
                "denoiser": "GigaGAN generator", "denoiser_parameters": n_params(generator),
                "discriminator_parameters": n_params(gan.unwrapped_D),
                "text_encoder": p.text_encoder, "text_tokens": p.max_tokens, "train_images": len(idx),
                "budget_scale": self.budget_scale,
                "autoencoder_gate": {"measured": False, "reason": "pixel space: no autoencoder"}}

    @staticmethod
    def _save_checkpoint(ckpt_dir: Path, step: int, gan, state: dict, keep: set[int]) -> None:
        """``step-NNNNNN/``: the trainer's networks, optimizers and EMA (``gan.pt``), the global RNG
        (``rng.pt``), and ``state.json`` last (what makes it complete); checkpoints not kept are pruned."""
        final = ckpt_dir / f"step-{step:06d}"
        tmp = ckpt_dir / f"step-{step:06d}.tmp-{__import__('os').getpid()}"
        tmp.mkdir(parents=True, exist_ok=True)
        gan.save(str(tmp / "gan.pt"))
        torch.save(torch.get_rng_state(), tmp / "rng.pt")
        atomic_write_json(tmp / "state.json", {"step": step, **state})
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        for old in ckpt_dir.glob("step-*"):
            s = int(old.name.split("-")[1].split(".")[0])
            if s < step and s not in keep and ".tmp-" not in old.name:
                shutil.rmtree(old, ignore_errors=True)

    @staticmethod
    def _restore(gan, pkg: dict) -> None:
        """What ``GigaGAN.load`` restores, from a checkpoint read with ``weights_only`` (the library's own
        ``load`` calls ``torch.load`` without it)."""
        gan.unwrapped_G.load_state_dict(pkg["G"])
        gan.unwrapped_D.load_state_dict(pkg["D"])
        gan.G_ema.load_state_dict(pkg["G_ema"])
        gan.G_opt.load_state_dict(pkg["G_opt"])
        gan.D_opt.load_state_dict(pkg["D_opt"])
        gan.steps.copy_(torch.tensor([pkg["steps"]]))

    def load(self) -> None:
        table = self._prompt_table()
        codec = PixelCodec(torch.zeros(0, 3, self.canvas, self.canvas), self.dataset.image_size)
        self._ready(self._build_generator(table), codec, table)

    def _ready(self, generator, codec, table) -> None:
        from safetensors.torch import load_file

        stem = f"{self.weights_stem}-ema" if self.params.use_ema else self.weights_stem
        path = self.workdir / f"{stem}.safetensors"
        if not path.is_file():
            raise BenchError(f"{self.name} has no saved generator", where=str(path),
                             fix=f"fit it first (medsyn-bench run --generators {self.name})")
        generator.load_state_dict(load_file(path))
        self.generator, self.codec, self.table = generator.float().eval().to(self.device), codec, table

    def sample(self, prompts: list[PromptRequest], n: int, seed: int) -> Samples:
        """``n`` images per prompt; image k of class c starts from noise seeded by (seed, c, k)."""
        self.check_prompts(prompts)
        return self._sample_with(self.generator, self.codec, self.table, prompts, n, seed)

    @torch.no_grad()
    def _sample_with(self, model, codec, table, prompts: list[PromptRequest], n: int, seed: int) -> Samples:
        p, dev = self.params, self.device
        reqs = [q for q in prompts for _ in range(n)]
        z = torch.stack([initial_noise(seed, q.cls, k, (p.dim,)) for q in prompts for k in range(n)])
        rows = table.index([q.text for q in reqs])
        enc = table.embeds[rows] * table.mask[rows].unsqueeze(-1).float()
        grey = np.array([self.dataset.modalities[q.modality].channels == 1 for q in reqs])
        images, flops, t0 = [], 0, time.perf_counter()
        for b in range(0, len(reqs), p.sample_batch):
            sl = slice(b, b + p.sample_batch)

            def draw():
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(seed * 7919 + b)  # the noise-injection layers' draws
                    return model(noise=z[sl].to(dev), text_encodings=enc[sl].to(dev), batch_size=len(z[sl]))

            if b == 0:
                flops = count_flops(draw) // len(z[sl])
            images.append(codec.decode(draw().clamp(0.0, 1.0) * 2.0 - 1.0, grey[sl]))
        n_img = len(reqs)
        info = {"sampler": "gan", "sample_steps": 1, "guidance_scale": None, "generator_evaluations": n_img,
                "flops": int(n_img * flops), "flops_per_image": int(flops),
                "sampling_wall_s": time.perf_counter() - t0, "device": dev}
        return Samples(np.concatenate(images), reqs, [seed] * n_img, info)
