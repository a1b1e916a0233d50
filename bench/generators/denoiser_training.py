"""The denoiser training loop of every diffusion-family generator (``ldm``, ``pixel-diffusion``,
``latent-flow``): one readable loop with Accelerate around it (as in the diffusers training examples),
checkpoints that a killed run resumes from, EMA weights and measured FLOPs. What differs between the
families is the objective (:class:`DiffusionObjective`: DDPM noise schedule, epsilon or v targets;
:class:`FlowObjective`: rectified flow with logit-normal times, as SD3) and the network's call
(``predict(model, x_t, t, text_embeds, text_mask)``), both given by the generator.

Every micro-batch draws its images, noise, timesteps and prompt-dropout mask from a generator seeded by
(seed, step, micro-step), so a run resumed from a checkpoint reaches the same final weights as one that
was never interrupted (bit for bit on CPU). A checkpoint ``checkpoints/step-NNNNNN/`` holds the denoiser
(``unet.safetensors``, whatever the network), the optimizer and EMA states and ``state.json``; it is written under a temporary name and
renamed into place, so a kill mid-write leaves the previous checkpoint usable. Checkpoints at the spec's
``keep_fractions`` of training (e.g. 25/50/100 %) are kept for quality-vs-compute curves; other
periodic ones are deleted once a newer one exists.
"""

from __future__ import annotations

import io
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from bench.generators.compute import count_flops
from bench.generators.text_encoder import PromptTable
from bench.io import atomic_write_bytes, atomic_write_json, read_json
from bench.training import train_steps


class TrainingStopped(Exception):
    """Raised when ``stop_after`` steps are done: how tests simulate a killed training."""


@dataclass
class TrainConfig:
    steps: int  # optimizer steps (already scaled by the specialist budget)
    batch: int  # images per micro-batch (per process)
    lr: float
    grad_accum: int  # micro-batches per optimizer step
    mixed_precision: str  # "no" | "bf16" | "fp16"
    ema_decay: float
    prompt_dropout: float  # probability that an image is trained with the empty prompt (for CFG)
    checkpoint_every: int
    keep_fractions: list[float]
    seed: int
    noise_scheduler: dict  # DDPMScheduler config (num_train_timesteps, beta_schedule, prediction_type)
    snr_gamma: float = 0.0  # min-SNR-gamma loss weighting (Hang et al. 2023); 0: plain MSE
    offset_noise: float = 0.0  # std of a per-(image, channel) constant added to the noise (Guttenberg 2023)
    objective: str = "diffusion"  # "diffusion" (DDPM, noise_scheduler) | "flow" (rectified flow)
    logit_mean: float = 0.0  # flow: training times t = sigmoid(N(logit_mean, logit_std²))
    logit_std: float = 1.0


def noise_scheduler(config: dict):
    from diffusers import DDPMScheduler

    return DDPMScheduler(**config)


class DiffusionObjective:
    """DDPM: x_t = sqrt(ᾱ_t) x0 + sqrt(1 − ᾱ_t) ε with t uniform over the schedule's steps; the target is
    ε (epsilon) or v = sqrt(ᾱ_t) ε − sqrt(1 − ᾱ_t) x0 (v_prediction); MSE, optionally min-SNR-γ weighted."""

    def __init__(self, cfg: TrainConfig):
        self.sched = noise_scheduler(cfg.noise_scheduler)
        self.snr_gamma, self.offset_noise = cfg.snr_gamma, cfg.offset_noise

    def draw(self, x0: torch.Tensor, gen: torch.Generator):
        """(x_t, t, target) for clean ``x0``; draws noise, offset noise, then t from ``gen``."""
        noise = torch.randn(x0.shape, generator=gen)
        if self.offset_noise:  # lets the model change an image's mean (e.g. its colour), not only its detail
            noise = noise + self.offset_noise * torch.randn((*x0.shape[:2], 1, 1), generator=gen)
        t = torch.randint(0, self.sched.config.num_train_timesteps, (len(x0),), generator=gen)
        v = self.sched.config.prediction_type == "v_prediction"
        target = self.sched.get_velocity(x0, noise, t) if v else noise
        return self.sched.add_noise(x0, noise, t), t, target

    def loss(self, pred: torch.Tensor, target: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if not self.snr_gamma:
            return torch.nn.functional.mse_loss(pred.float(), target.float())
        per_sample = ((pred.float() - target.float()) ** 2).mean(dim=(1, 2, 3))
        return (per_sample * min_snr_weights(self.sched, t, self.snr_gamma)).mean()


class FlowObjective:
    """Rectified flow (Liu et al. 2023; SD3, Esser et al. 2024): x_t = (1 − t) x0 + t ε with
    t = sigmoid(u), u ~ N(logit_mean, logit_std²) (logit-normal sampling); the target is the velocity
    ε − x0; plain MSE. The network is given t × 1000, the timestep scale of
    ``FlowMatchEulerDiscreteScheduler``, which samples it."""

    TIMESTEPS = 1000

    def __init__(self, cfg: TrainConfig):
        self.mean, self.std = cfg.logit_mean, cfg.logit_std

    def draw(self, x0: torch.Tensor, gen: torch.Generator):
        noise = torch.randn(x0.shape, generator=gen)
        t = torch.sigmoid(self.mean + self.std * torch.randn((len(x0),), generator=gen))
        tb = t.view(-1, *([1] * (x0.dim() - 1)))
        return (1 - tb) * x0 + tb * noise, t * self.TIMESTEPS, noise - x0

    def loss(self, pred: torch.Tensor, target: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.mse_loss(pred.float(), target.float())


def make_objective(cfg: TrainConfig):
    return FlowObjective(cfg) if cfg.objective == "flow" else DiffusionObjective(cfg)


def unet_prediction(model, x: torch.Tensor, t: torch.Tensor, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The call of a diffusers ``UNet2DConditionModel`` with text cross-attention."""
    return model(x, t, encoder_hidden_states=emb, encoder_attention_mask=mask).sample


def kept_steps(cfg: TrainConfig) -> set[int]:
    """Steps whose checkpoints are kept for good: the spec's fractions of training, and the last."""
    return {max(1, round(f * cfg.steps)) for f in cfg.keep_fractions} | {cfg.steps}


def _step_of(folder: Path) -> int:
    """The step of a checkpoint folder ``step-NNNNNN`` (also of its ``.tmp-PID`` twin)."""
    return int(folder.name.split("-")[1].split(".")[0])


def latest_checkpoint(folder: Path, at_most: int | None = None) -> Path | None:
    """The newest complete checkpoint in ``folder`` (of step <= ``at_most`` when given)."""
    done = sorted(p for p in Path(folder).glob("step-*") if ".tmp-" not in p.name and (p / "state.json").is_file()
                  and (at_most is None or _step_of(p) <= at_most))
    return done[-1] if done else None


def min_snr_weights(sched, t: torch.Tensor, gamma: float) -> torch.Tensor:
    """Per-sample loss weights of min-SNR-gamma: min(SNR(t), gamma) / SNR(t) for epsilon targets and
    min(SNR(t), gamma) / (SNR(t) + 1) for v targets, with SNR(t) = alpha_bar / (1 - alpha_bar)."""
    ab = sched.alphas_cumprod.to(t.device)[t].double()
    snr = ab / (1 - ab)
    denom = snr + 1 if sched.config.prediction_type == "v_prediction" else snr
    return (torch.clamp(snr, max=gamma) / denom).float()


def save_checkpoint(folder: Path, step: int, unet, optimizer, ema, state: dict, keep: set[int]) -> Path:
    from safetensors.torch import save

    final = Path(folder) / f"step-{step:06d}"
    tmp = final.with_name(final.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    weights = {k: v.detach().cpu().contiguous() for k, v in unet.state_dict().items()}
    atomic_write_bytes(tmp / "unet.safetensors", save(weights))
    for name, obj in (("optimizer.pt", optimizer.state_dict()), ("ema.pt", ema.state_dict())):
        buf = io.BytesIO()
        torch.save(obj, buf)
        atomic_write_bytes(tmp / name, buf.getvalue())
    atomic_write_json(tmp / "state.json", {**state, "step": step})
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    for old in Path(folder).glob("step-*"):
        if old != final and (".tmp-" in old.name or _step_of(old) not in keep):
            shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(path: Path, unet, optimizer, ema) -> dict:
    from safetensors.torch import load_file

    unet.load_state_dict(load_file(path / "unet.safetensors"))
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", map_location="cpu", weights_only=True))
    ema.load_state_dict(torch.load(path / "ema.pt", map_location="cpu", weights_only=True))
    return read_json(path / "state.json")


def _load_weights(folder: Path, unet, ema: bool) -> None:
    """Put checkpoint ``folder``'s EMA weights (``ema``) or its raw training weights into ``unet``."""
    from diffusers.training_utils import EMAModel
    from safetensors.torch import load_file

    if not ema:
        unet.load_state_dict(load_file(folder / "unet.safetensors"))
        return
    store = EMAModel(unet.parameters(), model_cls=type(unet), model_config=unet.config)
    store.load_state_dict(torch.load(folder / "ema.pt", map_location="cpu", weights_only=True))
    store.copy_to(unet.parameters())


def _refresh_curve(curve: list[dict], ckpt_dir: Path, unet, on_checkpoint, curve_key: str, log,
                   ema: bool = True) -> list[dict]:
    """Recompute the curve points measured under another ``curve_key`` from their kept checkpoints'
    weights (EMA or raw, loaded into ``unet`` and restored afterwards); points whose checkpoint is gone
    are dropped."""
    current = {k: v.detach().clone() for k, v in unet.state_dict().items()}
    out = []
    for c in curve:
        if c.get("curve_key") == curve_key:
            out.append(c)
            continue
        folder = Path(ckpt_dir) / f"step-{c['step']:06d}"
        if not (folder / "ema.pt").is_file():
            log(f"  curve point at step {c['step']} was measured differently and its checkpoint is gone: dropped")
            continue
        log(f"  curve point at step {c['step']}: measured differently, recomputing from {folder.name}")
        _load_weights(folder, unet, ema)
        keep = {k: c[k] for k in ("step", "train_wall_s", "loss") if k in c}
        out.append({**keep, **on_checkpoint(c["step"], unet.eval()), "curve_key": curve_key})
    unet.load_state_dict(current)
    unet.train()
    return out


def adopt_checkpoints(ckpt_dir: Path, run_key: str, at_most: int, others, log=print) -> str:
    """When ``ckpt_dir`` has no checkpoint of ``run_key`` (at step <= ``at_most``), take those of another
    run of the same trajectory (e.g. an ablation that only changes sampling, or the equal-compute
    specialist that is the equal-steps one stopped early): its kept checkpoints up to ``at_most`` are
    hard-linked (copied across file systems) in place of ours. Returns the adopted folder ('' if none)."""
    ckpt_dir = Path(ckpt_dir)
    own = latest_checkpoint(ckpt_dir, at_most)
    if own is not None and read_json(own / "state.json").get("run_key", "") == run_key:
        return ""
    best = None
    for d in map(Path, others):
        if d.resolve() == ckpt_dir.resolve():
            continue
        last = latest_checkpoint(d, at_most)
        if (last is not None and read_json(last / "state.json").get("run_key", "") == run_key
                and (best is None or _step_of(last) > _step_of(best))):
            best = last
    if best is None:
        return ""

    def link(src, dst):
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.rmtree(ckpt_dir, ignore_errors=True)
    tmp = ckpt_dir.with_name(ckpt_dir.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for src in best.parent.glob("step-*"):
        if ".tmp-" in src.name or _step_of(src) > _step_of(best) or not (src / "state.json").is_file():
            continue
        if read_json(src / "state.json").get("run_key", "") == run_key:
            shutil.copytree(src, tmp / src.name, copy_function=link)
    os.replace(tmp, ckpt_dir)
    log(f"  same training run as {best.parent}: continuing from its {best.name}")
    return str(best.parent)


def make_accelerator(cfg: TrainConfig, device: str):
    """One ``accelerate.Accelerator``: single process on CPU, or whatever ``accelerate launch`` set up."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state()  # a new spec in the same process may ask for another precision
    return Accelerator(mixed_precision=cfg.mixed_precision, gradient_accumulation_steps=cfg.grad_accum,
                       cpu=not device.startswith("cuda"))


def train_denoiser(unet, latents: torch.Tensor, prompt_rows: torch.Tensor, table: PromptTable, cfg: TrainConfig,
               folder: Path, device: str, log=print, stop_after: int | None = None, loss_hook=None,
               on_checkpoint=None, run_key: str = "", curve_key: str = "", weights: torch.Tensor | None = None,
               curve_ema: bool = True, predict=unet_prediction, what: str = "UNet") -> dict:
    """Train denoiser ``unet`` (a UNet, or any network ``predict`` calls) on ``latents`` (N, c, h, w) —
    autoencoder latents or canvas pixels — conditioned on ``table`` rows ``prompt_rows`` (N,), with the
    objective ``cfg.objective`` names.

    Resumes from the newest checkpoint in ``folder/checkpoints``. Returns compute facts: steps, images
    seen, FLOPs (one measured step × steps), wall time (summed over resumed runs), precision, processes.
    ``weights`` (N,): draw probabilities of the training images (None: uniform), for balanced batches.
    ``loss_hook(step, loss)`` may replace the loss (tests use it to inject a NaN).
    ``on_checkpoint(step, unet)`` is called at every kept checkpoint with the EMA weights loaded (the raw
    training weights when ``curve_ema`` is false); what it
    returns (e.g. conditional accuracy of a few samples) joins the ``curve``, with the training wall time
    so far (its own time excluded), and is saved in the checkpoint, so a resumed run keeps the curve.
    ``run_key`` names what is being trained (spec, data, autoencoder): checkpoints of another key are
    deleted rather than resumed, so a changed spec never continues from a stale run. ``curve_key`` names
    how curve points are measured (sampler settings, judge): on resume, points of another key are
    recomputed from their kept checkpoints (or dropped when those are gone).
    """
    from diffusers.training_utils import EMAModel

    ckpt_dir = Path(folder) / "checkpoints"
    keep = kept_steps(cfg)
    acc = make_accelerator(cfg, device)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=cfg.lr, weight_decay=0.0)
    ema = EMAModel(unet.parameters(), decay=cfg.ema_decay, model_cls=type(unet),
                   model_config=unet.config)
    start, state = 0, {"wall_s": 0.0, "curve": []}
    last = latest_checkpoint(ckpt_dir, at_most=cfg.steps)
    if last is not None and read_json(last / "state.json").get("run_key", "") != run_key:
        log(f"  checkpoints in {ckpt_dir} are from another spec or data: starting over")
        shutil.rmtree(ckpt_dir, ignore_errors=True)
        last = None
    if last is not None:
        state = {"curve": [], **load_checkpoint(last, unet, optimizer, ema)}
        start = int(state["step"])
        log(f"  resuming from {last.name}")
    if on_checkpoint is not None and any(c.get("curve_key") != curve_key for c in state["curve"]):
        state["curve"] = _refresh_curve(state["curve"], ckpt_dir, unet, on_checkpoint, curve_key, log, curve_ema)
    unet, optimizer = acc.prepare(unet, optimizer)
    ema.to(acc.device)
    objective = make_objective(cfg)
    uncond = table.index([""])[0]
    n = len(latents)

    def micro_batch(step: int, micro: int):
        # each process draws its own images (process 0 the single-process ones), so N processes see N batches
        gen = torch.Generator().manual_seed((cfg.seed * 1_000_003 + step) * 64 + micro
                                            + 1_000_000_007 * acc.process_index)
        idx = (torch.randint(0, n, (cfg.batch,), generator=gen) if weights is None
               else torch.multinomial(weights, cfg.batch, replacement=True, generator=gen))
        noisy, t, target = objective.draw(latents[idx], gen)
        rows = torch.where(torch.rand(cfg.batch, generator=gen) < cfg.prompt_dropout, uncond, prompt_rows[idx])
        d = acc.device
        return noisy.to(d), t.to(d), table.embeds[rows].to(d), table.mask[rows].to(d), target.to(d)

    def loss_of_batch(batch):
        noisy, t, emb, mask, target = batch
        with acc.autocast():
            pred = predict(unet, noisy, t, emb, mask)
        return objective.loss(pred, target, t)

    probe = micro_batch(-1, 0)
    flops_per_step = count_flops(lambda: acc.backward(loss_of_batch(probe))) * cfg.grad_accum
    unet.zero_grad(set_to_none=True)

    t0, eval_s = time.perf_counter(), 0.0
    log_every = max(1, cfg.steps // 10)

    def loss_of(step: int, micro: int) -> torch.Tensor:
        loss_t = loss_of_batch(micro_batch(step, micro))
        return loss_hook(step, loss_t) if loss_hook is not None else loss_t

    def nonfinite() -> tuple[str, str]:
        good = latest_checkpoint(ckpt_dir)
        return str(good or ckpt_dir), ("the last good checkpoint is kept" + (f" ({good.name})" if good else " (none yet)")
                                       + "; lower lr, or use mixed_precision = \"no\", then rerun: it resumes from there")

    def progress(done: int, loss: float) -> None:
        if done % log_every == 0 or done == cfg.steps:
            log(f"  step {done}/{cfg.steps}  loss {loss:.4f}")

    def checkpoint(done: int, loss: float) -> None:
        nonlocal eval_s
        if not (done % cfg.checkpoint_every == 0 or done in keep):
            return
        acc.wait_for_everyone()
        if acc.is_main_process:
            wall = state["wall_s"] + time.perf_counter() - t0 - eval_s
            if on_checkpoint is not None and done in keep:
                e0 = time.perf_counter()
                model = acc.unwrap_model(unet)
                if curve_ema:
                    ema.store(model.parameters())
                    ema.copy_to(model.parameters())
                point = on_checkpoint(done, model.eval())
                if curve_ema:
                    ema.restore(model.parameters())
                model.train()
                state["curve"] = [c for c in state["curve"] if c["step"] < done] + [
                    {"step": done, "train_wall_s": wall, "loss": loss, **point, "curve_key": curve_key}]
                eval_s += time.perf_counter() - e0
            save_checkpoint(ckpt_dir, done, acc.unwrap_model(unet), optimizer, ema,
                            {"wall_s": wall, "loss": loss, "curve": state["curve"], "run_key": run_key}, keep)

    def stop(done: int, loss: float) -> None:
        if stop_after is not None and done >= stop_after:
            raise TrainingStopped(f"stopped after step {done}")

    loss = train_steps(unet, optimizer, loss_of, cfg.steps, what=what, start=start, grad_accum=cfg.grad_accum,
                       accelerator=acc, after_step=lambda done: ema.step(unet.parameters()),
                       hooks=[progress, checkpoint, stop], on_nonfinite=nonfinite).loss
    acc.wait_for_everyone()  # the main process's last checkpoint is on disk before any process reports
    wall = state["wall_s"] + time.perf_counter() - t0 - eval_s
    ema_unet = acc.unwrap_model(unet)
    return {
        "unet": ema_unet, "ema": ema,
        "facts": {"steps": cfg.steps, "resumed_from_step": start, "batch": cfg.batch,
                  "grad_accum": cfg.grad_accum, "num_processes": acc.num_processes,
                  "images_seen": cfg.steps * cfg.batch * cfg.grad_accum * acc.num_processes,
                  "flops_per_step": flops_per_step * acc.num_processes,
                  "train_flops": flops_per_step * acc.num_processes * cfg.steps,
                  "train_wall_s": wall, "curve_eval_wall_s": eval_s, "curve": state["curve"],
                  "final_loss": loss, "mixed_precision": acc.mixed_precision,
                  "accelerate_device": str(acc.device),
                  "checkpoints": sorted(p.name for p in ckpt_dir.glob("step-*") if ".tmp-" not in p.name)},
    }
