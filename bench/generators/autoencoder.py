"""The LDM's autoencoder: a diffusers ``AutoencoderKL`` trained once per suite on the real training split
(or loaded from a local diffusers folder), its cached training latents, and its reconstruction fidelity.

Images enter as float (N, 3, C, C) in [-1, 1] on a *canvas*: the S-px image reflect-padded to C px
(C ≥ S; 28 px MedMNIST goes on a 32 px canvas so that downsampling halves evenly) and are cropped back
to S px after decoding. The downsampling factor is f = 2^(len(channels) - 1), so latents are
(latent_channels, C/f, C/f). Latents are the posterior means, multiplied by ``scaling`` = 1 / std of the
training latents (as Stable Diffusion does), so the diffusion model sees unit-variance inputs.

**Gate.** The autoencoder's fidelity is measured the way it matters to the LDM: a *judge* (the suite's
reference classifier) labels the validation images and their reconstructions, and the drop in its
accuracy (percentage points) is the gate. With ``gate = "stop"`` training checks the gate every
``eval_every`` steps on a fixed random subset of ``eval_images`` validation images and stops as soon as
the drop there is at least one point inside ``gate_points`` (a margin for the subset's sampling error);
the final verdict is measured on the whole validation split, and the LDM refuses to train
its UNet on an autoencoder that never met it (unless told to ignore the gate). PSNR (dB, peak 255) and
SSIM (torchmetrics, 11-px Gaussian window) of the reconstructions are reported beside it.

The trained state lives in ``<shared>/autoencoder-<hash>/`` where the hash covers the autoencoder spec
and the training pixels; the folder is built under a temporary name and renamed into place, so a
generalist and its specialists share one autoencoder and a crash never leaves half a cache.
"""

from __future__ import annotations

import dataclasses
import io
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from bench.errors import BenchError
from bench.generators.compute import count_flops, n_params
from bench.io import atomic_write_bytes, atomic_write_json, read_json, sha256_json
from bench.training import train_steps


@dataclass
class AutoencoderSpec:
    """What determines the autoencoder (and so its cache key)."""

    canvas: int  # px the images are padded to
    channels: list[int] = field(default_factory=lambda: [32, 64])
    layers_per_block: int = 1
    latent_channels: int = 4
    steps: int = 500
    batch: int = 32
    lr: float = 1e-3
    kl_weight: float = 1e-6  # weight of the KL term next to the L1 reconstruction loss
    path: str = ""  # a local diffusers AutoencoderKL folder: used instead of training
    seed: int = 0
    gate_points: float = 5.0  # largest allowed drop of the judge's accuracy on reconstructions (points)
    gate: str = "stop"  # "stop": stop training when met, refuse the UNet when never met; "report": measure only
    eval_every: int = 0  # steps between gate checks while training (0: only after the last step)
    eval_images: int = 2000  # validation images (a fixed random subset) per check while training
    lr_schedule: str = "constant"  # "constant" | "cosine" (to zero over ``steps``)
    judge_sha256: str = ""  # the judge's weights hash (part of the cache key: the gate decides when to stop)

    @property
    def factor(self) -> int:
        return 2 ** (len(self.channels) - 1)


@dataclass
class Autoencoder:
    """A ready autoencoder: the model, the scaled training latents (N, c, h, w) and its facts."""

    vae: object  # diffusers.AutoencoderKL
    scaling: float
    train_latents: torch.Tensor
    info: dict


# ------------------------------------------------------------------------------------------------
# pixels <-> canvas tensors


def to_canvas(images: np.ndarray, canvas: int) -> torch.Tensor:
    """uint8 (N, S, S, 3) → float32 (N, 3, C, C) in [-1, 1], reflect-padded to C px."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    pad = canvas - images.shape[1]
    if pad:
        lo = pad // 2
        x = torch.nn.functional.pad(x, (lo, pad - lo, lo, pad - lo), mode="reflect")
    return x


def from_canvas(x: torch.Tensor, size: int, grey: np.ndarray | None = None) -> np.ndarray:
    """float (N, 3, C, C) in [-1, 1] → uint8 (N, S, S, 3) cropped to the central S px.

    Rows where ``grey`` is true get three equal channels (their channel mean)."""
    lo = (x.shape[-1] - size) // 2
    x = x[:, :, lo:lo + size, lo:lo + size].float().clamp(-1, 1)
    if grey is not None and grey.any():
        g = torch.from_numpy(np.asarray(grey, dtype=bool)).to(x.device)
        x[g] = x[g].mean(dim=1, keepdim=True).expand(-1, 3, -1, -1)
    out = ((x + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return out.permute(0, 2, 3, 1).cpu().numpy()


# ------------------------------------------------------------------------------------------------


def build_vae(spec: AutoencoderSpec):
    from diffusers import AutoencoderKL

    n = len(spec.channels)
    return AutoencoderKL(in_channels=3, out_channels=3, latent_channels=spec.latent_channels,
                         block_out_channels=tuple(spec.channels), layers_per_block=spec.layers_per_block,
                         down_block_types=("DownEncoderBlock2D",) * n, up_block_types=("UpDecoderBlock2D",) * n,
                         norm_num_groups=min(32, min(spec.channels)), sample_size=spec.canvas)


def load_local_vae(path: str):
    from diffusers import AutoencoderKL

    folder = Path(path).expanduser()
    if not (folder / "config.json").is_file():
        raise BenchError("autoencoder folder not found (no config.json)", where=str(folder),
                         fix="give a folder saved with diffusers' AutoencoderKL.save_pretrained, or set "
                             "vae_path = \"\" to train one")
    try:
        return AutoencoderKL.from_pretrained(folder, local_files_only=True, use_safetensors=True)
    except Exception as exc:
        raise BenchError(f"autoencoder did not load ({type(exc).__name__}: {str(exc)[:300]})",
                         where=str(folder)) from exc


def train_vae(spec: AutoencoderSpec, images: np.ndarray, device: str, log=print,
              check=None) -> tuple[object, dict]:
    """Train an AutoencoderKL on uint8 (N, S, S, 3) images: L1 reconstruction + kl_weight · KL.

    Batches and posterior noise come from a generator seeded by (seed, step), so the run is reproducible.
    ``check(vae)`` (the gate: returns a fidelity report with ``passed``) runs every ``eval_every`` steps
    before the last (the caller measures the final model); its reports, with the training wall time so
    far (checks excluded), form the ``gate_curve``; with ``gate = "stop"`` training ends at the first
    report that passes.
    """
    torch.manual_seed(spec.seed)
    vae = build_vae(spec).to(device).train()
    opt = torch.optim.AdamW(vae.parameters(), lr=spec.lr, weight_decay=0.0)
    data = to_canvas(images, spec.canvas)

    def loss_on(x, gen):
        post = vae.encode(x).latent_dist
        z = post.mean + post.std * torch.randn(post.mean.shape, generator=gen).to(device)
        recon = vae.decode(z).sample
        return (recon - x).abs().mean() + spec.kl_weight * post.kl().mean()

    def batch(step):
        gen = torch.Generator().manual_seed(spec.seed * 1_000_003 + step)
        idx = torch.randint(0, len(data), (min(spec.batch, len(data)),), generator=gen)
        return data[idx].to(device), gen

    x, gen = batch(0)
    step_flops = count_flops(lambda: loss_on(x, gen).backward())
    opt.zero_grad(set_to_none=True)
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, spec.steps)) if spec.lr_schedule == "cosine"
             else None)
    t0, eval_s = time.perf_counter(), 0.0
    loss, curve, done = float("nan"), [], 0

    def gate_check(step: int) -> dict | None:
        nonlocal eval_s
        if check is None:
            return None
        e0 = time.perf_counter()
        vae.eval()
        report = check(vae)
        vae.train()
        eval_s += time.perf_counter() - e0
        curve.append({"step": step, "train_wall_s": time.perf_counter() - t0 - eval_s, "n_images": report["n"],
                      **{k: report[k] for k in ("accuracy", "drop_points", "psnr_db", "ssim", "passed") if k in report},
                      "per_modality_drop_points": {k: v["drop_points"] for k, v in report["per_modality"].items()}})
        per = ", ".join(f"{k} {v['drop_points']:.1f}" for k, v in report["per_modality"].items())
        log(f"  autoencoder step {step}: judge accuracy {report['accuracy']['reconstructions']:.3f} on reconstructions "
            f"vs {report['accuracy']['originals']:.3f} (drop {report['drop_points']:.1f} points; per modality {per}), "
            f"PSNR {report['psnr_db']:.1f} dB")
        return report

    def loss_of(step: int, micro: int) -> torch.Tensor:
        return loss_on(*batch(step))

    def progress(done: int, loss_v: float) -> None:
        if (done - 1) % max(1, spec.steps // 5) == 0 or done == spec.steps:
            log(f"  autoencoder step {done}/{spec.steps}  loss {loss_v:.4f}")

    def gate(done: int, loss_v: float) -> bool:
        if not spec.eval_every or done % spec.eval_every or done >= spec.steps:
            return False
        report = gate_check(done)
        if report is not None and report["drop_points"] <= spec.gate_points - 1.0 and spec.gate == "stop":
            log(f"  autoencoder gate met at step {done}: stopping early")
            return True
        return False

    trained = train_steps(vae, opt, loss_of, spec.steps, what="autoencoder", scheduler=sched, hooks=[progress, gate],
                          fix="lower vae_lr or vae_kl_weight in the model spec")
    loss, done = trained.loss, trained.done
    vae.eval()
    return vae, {"trained": True, "steps": done, "max_steps": spec.steps, "stopped_early": done < spec.steps,
                 "batch": spec.batch, "images_seen": done * spec.batch, "final_loss": loss,
                 "train_wall_s": time.perf_counter() - t0 - eval_s, "gate_eval_wall_s": eval_s,
                 "flops_per_step": step_flops, "train_flops": step_flops * done, "gate_curve": curve}


@torch.no_grad()
def encode(vae, images: np.ndarray, canvas: int, device: str, batch: int = 256) -> torch.Tensor:
    """Posterior means (N, c, h, w) of uint8 images, unscaled."""
    out = []
    for i in range(0, len(images), batch):
        out.append(vae.encode(to_canvas(images[i:i + batch], canvas).to(device)).latent_dist.mean.float().cpu())
    return torch.cat(out) if out else torch.zeros(0)


@torch.no_grad()
def decode(vae, latents: torch.Tensor, size: int, grey: np.ndarray | None = None) -> np.ndarray:
    """Unscaled latents → uint8 (N, S, S, 3)."""
    dtype = next(vae.parameters()).dtype
    return from_canvas(vae.decode(latents.to(dtype)).sample, size, grey)


def reconstruct(vae, images: np.ndarray, canvas: int, device: str, batch: int = 256) -> np.ndarray:
    """encode → decode (posterior means) of uint8 (N, S, S, 3) images."""
    return np.concatenate([decode(vae, encode(vae, images[i:i + batch], canvas, device).to(device), images.shape[1])
                           for i in range(0, len(images), batch)]) if len(images) else images.copy()


def image_similarity(a: np.ndarray, b: np.ndarray) -> dict:
    """MSE (grey levels², 0–255 scale), PSNR (dB, peak 255, over the pooled MSE) and mean SSIM
    (torchmetrics, Gaussian 11-px window, data range 255) between two uint8 (N, S, S, 3) stacks."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    per_image = []
    for i in range(0, len(a), 512):  # per-image SSIM in chunks: the whole split at once needs gigabytes
        ta = torch.from_numpy(np.ascontiguousarray(a[i:i + 512])).permute(0, 3, 1, 2).double()
        tb = torch.from_numpy(np.ascontiguousarray(b[i:i + 512])).permute(0, 3, 1, 2).double()
        per_image.append(structural_similarity_index_measure(ta, tb, data_range=255.0, reduction="none"))
    ssim = float(torch.cat(per_image).mean()) if per_image else float("nan")
    return {"mse": mse, "psnr_db": float(10 * np.log10(255.0 ** 2 / max(mse, 1e-12))), "ssim": ssim,
            "n": int(len(a))}


def reconstruction_fidelity(vae, images: np.ndarray, modality: np.ndarray, canvas: int, device: str,
                            names: list[str], classes: np.ndarray | None = None, judge=None,
                            gate_points: float = 5.0, judged_originals: np.ndarray | None = None
                            ) -> tuple[dict, np.ndarray]:
    """Reconstruction fidelity of ``images`` (the validation split), overall and per modality.

    PSNR/SSIM always; with ``judge`` (uint8 images → predicted global classes) and true ``classes``
    also the judge's accuracy on the originals and on the reconstructions, the drop in points
    (100 × difference) and whether it is within ``gate_points``. ``judged_originals`` are the judge's
    predictions on the originals when already known."""
    recon = reconstruct(vae, images, canvas, device)
    out = image_similarity(recon, images)
    out["per_modality"] = {names[m]: image_similarity(recon[modality == m], images[modality == m])
                           for m in np.unique(modality)}
    if judge is not None and classes is not None:
        orig = judged_originals if judged_originals is not None else judge(images)
        rec = judge(recon)

        def acc(pred, mask):
            return float((pred[mask] == classes[mask]).mean())

        everything = np.ones(len(images), dtype=bool)
        out["accuracy"] = {"originals": acc(orig, everything), "reconstructions": acc(rec, everything)}
        out["drop_points"] = 100.0 * (out["accuracy"]["originals"] - out["accuracy"]["reconstructions"])
        out["gate_points"] = gate_points
        out["passed"] = out["drop_points"] <= gate_points
        for m in np.unique(modality):
            sel = modality == m
            a = {"originals": acc(orig, sel), "reconstructions": acc(rec, sel)}
            out["per_modality"][names[m]] |= {"accuracy": a, "drop_points": 100.0 * (a["originals"] - a["reconstructions"])}
    return out, recon


def prepare_autoencoder(spec: AutoencoderSpec, dataset, cache_root: Path, device: str, log=print,
                        judge=None) -> Autoencoder:
    """Return the suite's autoencoder, training and caching it (with its training latents) on first use.

    ``judge`` (uint8 images → predicted global classes; the reference classifier) measures the gate on
    the validation split; ``spec.judge_sha256`` must name it, since it decides when training stops."""
    from safetensors.torch import load_file, save

    train, val = dataset.splits["train"], dataset.splits["val"]
    key = sha256_json({"spec": dataclasses.asdict(spec), "train": train.hash(),
                       "path_mtime": os.path.getmtime(spec.path) if spec.path else None})[:16]
    folder = Path(cache_root) / f"autoencoder-{key}"
    if not (folder / "info.json").is_file():
        tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        t0 = time.perf_counter()
        if spec.path:
            vae, facts = load_local_vae(spec.path).to(device).eval(), {"trained": False, "source": spec.path,
                                                                      "train_flops": 0, "steps": 0}
            if 2 ** (len(vae.config.block_out_channels) - 1) != spec.factor:
                raise BenchError(f"the autoencoder at {spec.path} downsamples by "
                                 f"{2 ** (len(vae.config.block_out_channels) - 1)}, the spec's latent size asks "
                                 f"for {spec.factor}", where=spec.path, fix="set latent_size to match")
        names = [m.key for m in dataset.modalities]
        judged = judge(val.images) if judge is not None and len(val) else None
        sub = (np.sort(np.random.default_rng(spec.seed).choice(len(val), spec.eval_images, replace=False))
               if len(val) > spec.eval_images else np.arange(len(val)))

        def check(model):
            return reconstruction_fidelity(model, val.images[sub], val.modality[sub], spec.canvas, device, names,
                                           val.classes[sub], judge, spec.gate_points, judged[sub])[0]

        if not spec.path:
            log(f"  training autoencoder (f={spec.factor}, up to {spec.steps} steps) on {len(train)} images")
            vae, facts = train_vae(spec, train.images, device, log, check if judged is not None else None)
        t1 = time.perf_counter()
        raw = encode(vae, train.images, spec.canvas, device)
        encode_wall = time.perf_counter() - t1
        enc_flops_per_image = count_flops(lambda: encode(vae, train.images[:1], spec.canvas, device))
        scaling = float(1.0 / raw.std().clamp_min(1e-6))
        fidelity, recon = reconstruction_fidelity(vae, val.images, val.modality, spec.canvas, device, names,
                                                  val.classes, judge if judged is not None else None,
                                                  spec.gate_points, judged)
        curve = facts.setdefault("gate_curve", [])
        if "accuracy" in fidelity and (not curve or curve[-1]["step"] != facts.get("steps")):
            curve.append({"step": facts.get("steps", 0), "train_wall_s": facts.get("train_wall_s", 0.0),
                          "n_images": fidelity["n"],
                          **{k: fidelity[k] for k in ("accuracy", "drop_points", "psnr_db", "ssim", "passed")}})
        info = {**facts, "key": key, "spec": dataclasses.asdict(spec), "factor": spec.factor,
                "latent_shape": list(raw.shape[1:]), "scaling": scaling, "parameters": n_params(vae),
                "encode_flops": enc_flops_per_image * len(train), "encode_wall_s": encode_wall,
                "wall_s": time.perf_counter() - t0, "device": device, "val_reconstruction": fidelity}
        vae.save_pretrained(tmp / "vae", safe_serialization=True)
        atomic_write_bytes(tmp / "latents-train.safetensors", save({"latents": (raw * scaling).contiguous()}))
        buf = io.BytesIO()
        np.savez_compressed(buf, images=recon, source_index=val.source_index, modality=val.modality)
        atomic_write_bytes(tmp / "val-reconstructions.npz", buf.getvalue())
        atomic_write_json(tmp / "info.json", info)
        try:
            os.rename(tmp, folder)
        except OSError:  # another process finished the same autoencoder first: use theirs
            shutil.rmtree(tmp, ignore_errors=True)
        cache_hit = False
    else:
        cache_hit = True
    from diffusers import AutoencoderKL

    info = read_json(folder / "info.json")
    vae = AutoencoderKL.from_pretrained(folder / "vae", local_files_only=True, use_safetensors=True).to(device).eval()
    vae.requires_grad_(False)
    latents = load_file(folder / "latents-train.safetensors")["latents"]
    return Autoencoder(vae, float(info["scaling"]), latents, {**info, "cache_hit": cache_hit, "folder": folder.name})
