"""``medsyn-bench perf``: speed figures measured as ratios side by side in one run (machines are noisy).

Each measurement returns a dict with its figures, its target and whether the target is met; the whole
report is printed as a table and written atomically to ``perf.json``. ``--quick`` runs a reduced
version (fewer images, steps and rows) in about two minutes; its figures are not comparable with a
full run's and say so (``quick: true``).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.errors import BenchError
from bench.io import atomic_write_json

SCHEMA_VERSION = 1


def _timed(fn, repeat: int = 1):
    """(result of the last call, best wall time in s over ``repeat`` calls)."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def _ldm_run(suite_dir: Path, quick: bool, log):
    """Fit ``ldm-tiny`` on the smoke sample (resumable in ``suite_dir``) and return (ctx, generator run)."""
    from bench.data import load_dataset
    from bench.run import GeneratorEntry, sample_generator, suite_context
    from bench.specs import load_model, load_suite

    spec = load_suite("smoke")
    if quick:
        spec.sampling.n_per_prompt = 1
    ctx = suite_context(spec, load_dataset(spec), suite_dir, "cpu", log=log)
    model = load_model("ldm-tiny")
    if quick:  # a barely trained model is enough to time the samplers
        model = dataclasses.replace(model, params={**model.params, "steps": 10, "vae_steps": 10,
                                                   "checkpoint_every": 10})
    run, _, _ = sample_generator(GeneratorEntry("ldm-tiny", model, "generalist", None), ctx, log=lambda m: None)
    return ctx, run


def bench_sampling(ctx, run, quick: bool) -> dict:
    """DPM-Solver multistep (20 steps) vs DDPM (1000 steps) on the same trained model: time ratio and the
    Fréchet distance of both sample sets to the real test split (domain CLIP features; pixels in --quick)."""
    from bench.metrics.fidelity import fd

    gen = run.generator
    prompts = ctx.dataset.prompt_requests()
    n = 1 if quick else 4
    ddpm_steps = 200 if quick else 1000
    saved = (gen.params.sampler, gen.params.sample_steps)
    try:
        gen.params.sampler, gen.params.sample_steps = "dpm", 20
        dpm, t_dpm = _timed(lambda: gen.sample(prompts, n, seed=0))
        gen.params.sampler, gen.params.sample_steps = "ddpm", ddpm_steps
        ddpm, t_ddpm = _timed(lambda: gen.sample(prompts, n, seed=0))
    finally:
        gen.params.sampler, gen.params.sample_steps = saved
    if quick:
        feats = lambda x: (x.astype(np.float32) / 255).reshape(len(x), -1)
        space = "pixels"
    else:
        from bench.reference.features import ClipImageFeatures
        from bench.reference.pinned import ensure_references

        refs = ensure_references(ctx)
        feats = ClipImageFeatures("domain-clip", refs.hashes["clip"], refs.clip)
        space = "domain CLIP"
    real = feats(ctx.dataset.splits["test"].images)
    fd_dpm, fd_ddpm = fd(feats(dpm.images), real), fd(feats(ddpm.images), real)
    ratio = t_ddpm / t_dpm
    rel = abs(fd_dpm - fd_ddpm) / max(fd_ddpm, 1e-12)
    return {"images": len(dpm.requests), "dpm_steps": 20, "ddpm_steps": ddpm_steps, "dpm_s": t_dpm,
            "ddpm_s": t_ddpm, "time_ratio": ratio, "fd_space": space, "fd_dpm": fd_dpm, "fd_ddpm": fd_ddpm,
            "fd_relative_difference": rel, "target": "time ratio >= 30x (at 1000 DDPM steps); FD within 10 %",
            "met": bool(ratio >= 30 and rel <= 0.10) if not quick else None}


def bench_training(run, quick: bool) -> dict:
    """One UNet training step on cached latents and cached text embeddings vs the same step with the
    images encoded by the autoencoder and the prompts by the text encoder on the fly."""
    import torch

    from bench.generators.autoencoder import encode
    from bench.generators.text_encoder import load_text_encoder

    gen = run.generator
    unet, ae, table = gen.unet, gen.ae, gen.table
    batch = 16 if quick else gen.params.batch
    train = gen.dataset.splits["train"]
    texts = gen.dataset.prompts_for("train")[:batch]
    images = train.images[:batch]
    tokenizer, text_model = load_text_encoder(gen.params.text_encoder)
    rows = table.index(texts)
    opt = torch.optim.AdamW(unet.parameters(), lr=1e-6)
    unet.train()

    def step(latents, emb, mask):
        noise = torch.randn_like(latents)
        t = torch.randint(0, 1000, (len(latents),))
        pred = unet(latents + noise, t, encoder_hidden_states=emb, encoder_attention_mask=mask).sample
        loss = torch.nn.functional.mse_loss(pred, noise)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def cached():
        step(ae.train_latents[:batch], table.embeds[rows], table.mask[rows])

    def on_the_fly():
        with torch.no_grad():
            latents = encode(ae.vae, images, gen.canvas, "cpu") * ae.scaling
            tok = tokenizer(texts, padding="max_length", truncation=True, max_length=gen.params.max_tokens,
                            return_tensors="pt")
            emb = text_model(input_ids=tok["input_ids"], attention_mask=tok["attention_mask"]).last_hidden_state
        step(latents, emb, tok["attention_mask"])

    repeat = 2 if quick else 5
    cached()
    on_the_fly()  # warm-up
    _, t_cached = _timed(cached, repeat)
    _, t_fly = _timed(on_the_fly, repeat)
    unet.eval()
    ratio = t_fly / t_cached
    return {"batch": batch, "cached_step_s": t_cached, "on_the_fly_step_s": t_fly, "time_ratio": ratio,
            "target": ">= 2x", "met": bool(ratio >= 2)}


FAMILY_SPECS = ("ldm-small", "pixel-diffusion-small", "latent-flow-small", "gigagan-small")


def matmul_peak_gflops(n: int = 2048, repeat: int = 5) -> float:
    """This machine's fp32 matmul rate in GFLOP/s: best of ``repeat`` (n, n) @ (n, n) products (2·n³ FLOPs
    each) at the current thread setting."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    _, t = _timed(lambda: a @ b, repeat)
    return 2 * n ** 3 / t / 1e9


def conv3x3_gflops(batch: int = 64, channels: int = 64, side: int = 16, repeat: int = 5) -> float:
    """A 3×3 convolution's rate in GFLOP/s counted as direct convolution (2·C²·9·side²·batch FLOPs, the
    count :func:`bench.generators.compute.count_flops` gives a UNet's convolutions): oneDNN's convolution
    kernels beat that count on some CPUs, so a UNet step can exceed the matmul "peak"."""
    import torch

    x, conv = torch.randn(batch, channels, side, side), torch.nn.Conv2d(channels, channels, 3, padding=1)
    with torch.no_grad():
        conv(x)  # warm-up
        _, t = _timed(lambda: conv(x), repeat)
    return 2 * channels ** 2 * 9 * side ** 2 * batch / t / 1e9


def _denoiser_step(gen, batch: int, channels_last: bool = False, compile: bool = False):
    """(FLOPs of one step, a closure running one full training step: forward, backward, AdamW) for the
    generator's denoiser at its training shape (``training_probe``: random inputs, no data)."""
    import torch

    from bench.generators.compute import count_flops

    model, fwd_bwd = gen.training_probe(text_dim=384, batch=batch)
    flops = count_flops(fwd_bwd)
    if gen.kind == "gigagan":  # the library's trainer: its probe step is the whole step, both optimisers
        return flops, fwd_bwd
    if channels_last or compile:
        model, fwd_bwd = gen.training_probe(text_dim=384, batch=batch, wrap=torch.compile if compile else None)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-6)

    def step():
        fwd_bwd()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return flops, step


LONG_STEP_S = 20.0  # a training step longer than this (after warm-up) is timed once: its noise is small


def _repeats(warm_s: float, repeat: int) -> int:
    """How many timed steps after a warm-up step of ``warm_s`` seconds: ``repeat``, or 1 for a long step
    (GigaGAN's step at batch 32 takes over a minute on 2 CPU cores)."""
    return 1 if warm_s > LONG_STEP_S else repeat


def bench_family_throughput(quick: bool) -> dict:
    """Each family's training step (its ``small`` spec at its batch; ``tiny`` in --quick) as a share of this
    machine's fp32 matmul peak, measured in the same run, and what each setting does to it: channels-last
    memory, ``torch.compile`` (inductor), twice the batch, one thread. A GAN step is the trainer's own (a
    discriminator and a generator update; its step 2, without the R1 penalty). Best of 4 timed steps after a
    warm-up (2 in --quick), or one where the warm-up took over ``LONG_STEP_S``. A 3×3 convolution's rate
    (:func:`conv3x3_gflops`) is measured beside the matmul peak: convolution kernels can beat the direct
    count, so a convolutional step's share can exceed 100 %."""
    import torch

    from bench.data import load_dataset
    from bench.registry import generator_class
    from bench.specs import build_dataclass, load_model, load_suite

    dataset = load_dataset(load_suite("smoke"))
    names = [n.replace("-small", "-tiny") for n in FAMILY_SPECS] if quick else list(FAMILY_SPECS)
    repeat = 2 if quick else 4
    threads = torch.get_num_threads()
    peak = matmul_peak_gflops(1024 if quick else 2048)
    out = {"matmul_peak_gflops": peak, "conv3x3_gflops": conv3x3_gflops(), "threads": threads, "families": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            spec = load_model(name)
            cls = generator_class(spec.kind)
            gen = cls(name, build_dataclass(cls.Params, spec.params, name), dataset, Path(tmp) / name)
            gen.shared_dir = Path(tmp) / "_shared"
            variants = {"default": dict(batch=gen.params.batch)}
            if spec.kind != "gigagan" or quick:  # GigaGAN at twice the small batch (64) grew past 19 GiB and was
                # killed by the kernel on the 24 GiB reference machine (2026-12-06)
                variants["batch x2"] = dict(batch=2 * gen.params.batch)
            if spec.kind not in ("latent-flow", "gigagan"):  # a transformer's activations are (tokens, width):
                # nothing to reorder; GigaGAN's trainer builds and calls its own modules
                variants["channels-last"] = dict(batch=gen.params.batch, channels_last=True)
            if not quick and spec.kind != "gigagan":
                variants["torch.compile"] = dict(batch=gen.params.batch, compile=True)
            rows = {}
            for label, kw in variants.items():
                flops, step = _denoiser_step(gen, **kw)
                try:
                    _, warm = _timed(step)  # warm-up (and compilation)
                except Exception as e:  # noqa: BLE001 — inductor needs a C++ toolchain; report, don't stop
                    rows[label] = {"batch": kw["batch"], "failed": f"{type(e).__name__}: {str(e)[:200]}"}
                    continue
                _, t = _timed(step, _repeats(warm, repeat))
                rows[label] = {"batch": kw["batch"], "step_s": t, "gflops_per_step": flops / 1e9,
                               "gflops_per_s": flops / t / 1e9, "share_of_peak": flops / t / 1e9 / peak}
            torch.set_num_threads(1)
            try:
                flops, step = _denoiser_step(gen, gen.params.batch)
                _, warm = _timed(step)
                _, t = _timed(step, _repeats(warm, max(1, repeat // 2)))
                peak1 = matmul_peak_gflops(1024 if quick else 2048, 3)
                rows["1 thread"] = {"batch": gen.params.batch, "step_s": t, "gflops_per_step": flops / 1e9,
                                    "gflops_per_s": flops / t / 1e9, "share_of_peak": flops / t / 1e9 / peak1,
                                    "matmul_peak_gflops": peak1}
            finally:
                torch.set_num_threads(threads)
            out["families"][name] = {"kind": spec.kind, "variants": rows}
    default = [f["variants"]["default"]["share_of_peak"] for f in out["families"].values()]
    out["target"] = ">= 50 % of the fp32 matmul peak"
    out["met"] = bool(min(default) >= 0.5) if not quick else None
    return out


def bench_neighbours(quick: bool) -> dict:
    """Exact nearest neighbours for memorisation: faiss (flat inner product) vs scikit-learn brute force
    (cosine) on random unit features; time ratio and whether both return the same neighbours."""
    from sklearn.neighbors import NearestNeighbors

    from bench.metrics.memorisation import l2_normalise, nearest_neighbours

    n_base, n_query, dim = (5_000, 500, 512) if quick else (50_000, 2_000, 512)
    rng = np.random.default_rng(0)
    base = l2_normalise(rng.standard_normal((n_base, dim)).astype(np.float32))
    query = l2_normalise(rng.standard_normal((n_query, dim)).astype(np.float32))
    (d_f, i_f), t_faiss = _timed(lambda: nearest_neighbours(query, base, k=2, space="cosine"), 2)
    nn = NearestNeighbors(n_neighbors=2, algorithm="brute", metric="cosine")
    (d_s, i_s), t_sk = _timed(lambda: nn.fit(base).kneighbors(query), 2)
    same = float((i_f[:, 0] == i_s[:, 0]).mean())
    ratio = t_sk / t_faiss
    return {"base": n_base, "queries": n_query, "dim": dim, "faiss_s": t_faiss, "sklearn_s": t_sk,
            "time_ratio": ratio, "same_nearest_share": same, "target": ">= 5x and identical neighbours",
            "met": bool(ratio >= 5 and same == 1.0)}


def bench_fidelity_bootstrap(quick: bool) -> dict:
    """Bootstrap intervals of the fidelity task (FD, KID, precision/recall, CMMD) at the small suite's
    sizes (10,678 real test × 2,100 synthetic, 64-d features): the count-weighted bootstrap vs the plain
    one (which recomputes every O(N²) metric per resample), per resample, and their largest difference."""
    from bench.metrics import fidelity as fi

    n_real, n_fake, dim, n_boot = (3_000, 600, 64, 10) if quick else (10_678, 2_100, 64, 20)
    rng = np.random.default_rng(0)
    real = rng.standard_normal((n_real, dim))
    fake = rng.standard_normal((n_fake, dim)) + 0.1

    def metric(r, f):
        return (fi.fd(r, f), fi.kid(r, f, 10, 1000, 0)[0], *fi.precision_recall(r, f, 3), fi.cmmd(r, f, 10.0))

    fast, t_fast = _timed(lambda: fi.bootstrap_fidelity(real, fake, n_boot, seed=0, kid_subsets=10))
    plain, t_plain = _timed(lambda: fi.bootstrap(metric, real, fake, n_boot=2, seed=0))
    per_fast, per_plain = t_fast / n_boot, t_plain / 2
    diff = float(np.abs(fast[:2] - plain).max())
    ratio = per_plain / per_fast
    return {"real": n_real, "fake": n_fake, "dim": dim, "fast_s_per_resample": per_fast,
            "plain_s_per_resample": per_plain, "time_ratio": ratio, "max_abs_difference": diff,
            "target": ">= 5x per resample, same values", "met": bool(ratio >= 5 and diff < 1e-8)}


def bench_feature_throughput(quick: bool) -> dict:
    """Images per second through the domain CLIP image tower and the label classifier (the smoke recipe's
    architectures; throughput does not depend on the weights) at several batch sizes."""
    import torch

    from bench.reference.classifier import ImageClassifier, predict_proba
    from bench.reference.clip import DomainClip, encode_images, model_config
    from bench.recipes import ReferenceRecipe

    recipe = ReferenceRecipe.for_profile("cpu")
    torch.manual_seed(0)
    clip = DomainClip(model_config(recipe.clip, 28)).eval()
    clf = ImageClassifier(recipe.classifier.arch, 21, recipe.classifier.input_size).eval()
    n = 512 if quick else 4096
    images = np.random.default_rng(0).integers(0, 256, (n, 28, 28, 3), dtype=np.uint8)
    rows = {}
    for bs in ((32, 256) if quick else (16, 64, 256, 1024)):
        _, t_clip = _timed(lambda: encode_images(clip, images, bs), 1)
        _, t_clf = _timed(lambda: predict_proba(clf, images, bs), 1)
        rows[str(bs)] = {"clip_images_per_s": n / t_clip, "classifier_images_per_s": n / t_clf}
    return {"images": n, "by_batch_size": rows, "target": "information (pick the fastest batch size)", "met": None}


def _fake_submission(folder: Path, dataset, n_per_prompt: int, seed: int = 0) -> int:
    """A valid submission: ``n_per_prompt`` distinct random PNGs (native channels) per suite prompt."""
    import csv

    from PIL import Image

    rng = np.random.default_rng(seed)
    size, rows = dataset.image_size, []
    for req in dataset.prompt_requests():
        mod = dataset.modalities[req.modality]
        (folder / mod.key).mkdir(parents=True, exist_ok=True)
        shape = (size, size, 3) if mod.channels == 3 else (size, size)
        for k in range(n_per_prompt):
            rel = f"{mod.key}/class{req.label:02d}_{k:05d}.png"
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(folder / rel)
            rows.append((rel, req.text))
    with open(folder / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["path", "prompt"])
        w.writerows(rows)
    return len(rows)


def bench_submission_check(quick: bool) -> dict:
    """``medsyn-bench check`` on valid fake submissions of the smoke sample's 21 prompts at the smoke
    suite's 20 images per prompt (420) and the small suite's 100 (2,100): seconds and images per second."""
    from bench.data import load_dataset
    from bench.data.submission import check_submission
    from bench.specs import load_suite

    dataset = load_dataset(load_suite("smoke"))
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in (20, 100):
            folder = Path(tmp) / f"n{n}"
            images = _fake_submission(folder, dataset, n)
            report, sec = _timed(lambda: check_submission(folder, dataset, n), 1 if quick else 3)
            rows[str(images)] = {"seconds": sec, "images_per_s": images / sec, "problems": len(report.problems)}
    return {"by_images": rows, "target": "information (seconds)", "met": None}


_RSS_SNIPPET = r"""
import resource, sys, numpy as np
from bench.metrics.memorisation import nearest_neighbours
from bench.reference.features import PixelFeatures
n = int(sys.argv[1]); rng = np.random.default_rng(0)
base = rng.standard_normal((5000, 28 * 28 * 3)).astype(np.float32)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
feats = PixelFeatures("pixels", None)
for i in range(0, n, 4096):  # streamed: synthetic images arrive and are searched in chunks
    imgs = rng.integers(0, 256, (min(4096, n - i), 28, 28, 3), dtype=np.uint8)
    nearest_neighbours(feats(imgs), base, k=2, space="cosine")
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def bench_memory(quick: bool) -> dict:
    """Peak RSS growth (KiB) of streamed feature extraction + nearest-neighbour search at two sizes of
    synthetic sets, each in a fresh process; the ratio should be near 1 (memory independent of N)."""
    sizes = (4_096, 16_384) if quick else (8_192, 65_536)
    peaks = []
    for n in sizes:
        out = subprocess.run([sys.executable, "-c", _RSS_SNIPPET, str(n)], capture_output=True, text=True,
                             check=True)
        peaks.append(int(out.stdout.strip().splitlines()[-1]))
    ratio = (peaks[1] + 1) / (peaks[0] + 1)
    return {"sizes": list(sizes), "peak_rss_growth_kib": peaks, "ratio": ratio,
            "target": "ratio <= 1.5 for an 8x larger set", "met": bool(ratio <= 1.5)}


def bench_utility_small(quick: bool) -> dict:
    """One generator's utility task on the ``small`` suite, projected: the classifiers it trains (the task's
    own plan, :func:`bench.metrics.utility.generator_cells`, at the suite's budgets, counts and seeds, on
    its three modalities) times the per-image costs of training and of prediction, measured here with the
    task's recipe on 28-px images with one thread. Target: about 15 CPU-minutes (900 s)."""
    import numpy as np
    from types import SimpleNamespace

    from bench.metrics.utility import UtilityTask, generator_cells, torch_threads
    from bench.reference.classifier import predict_proba, train_classifier
    from bench.specs import build_dataclass, load_suite, load_task

    spec = load_suite("small")
    p = build_dataclass(UtilityTask.Params, {**load_task("utility").params, **spec.overrides.get("utility", {})},
                        "tasks/utility.toml [params] (with tasks/small.toml [overrides.utility])")
    budgets = sorted(p.budgets or spec.splits.budgets)
    counts = sorted(set(p.synthetic_counts) | {p.synthetic_per_class})
    modalities = {"bloodmnist": (8, 1712, 1711), "organamnist": (11, 6491, 8889), "breastmnist": (2, 78, 78)}
    rng = np.random.default_rng(0)
    short, long = (10, 60) if quick else (20, 200)
    x = rng.integers(0, 256, (2048, 28, 28, 3), dtype=np.uint8)
    y = rng.integers(0, 8, len(x))
    repeat = 2 if quick else 3

    def train(steps: int):
        return train_classifier(x[:512], y[:512], 8, arch=p.arch, steps=steps, batch_size=p.batch_size, lr=p.lr,
                                seed=0, desc="perf")[0]

    with torch_threads(1):  # per-image costs as differences of two lengths: set-up and warm-up cancel
        model, t_short = _timed(lambda: train(short), repeat)
        _, t_long = _timed(lambda: train(long), repeat)
        _, p_short = _timed(lambda: predict_proba(model, x[:512]), repeat)
        _, p_long = _timed(lambda: predict_proba(model, x), repeat)
    per_train_image = max(t_long - t_short, 1e-9) / ((long - short) * p.batch_size)
    per_pred_image = max(p_long - p_short, 1e-9) / (len(x) - 512)
    rule = UtilityTask.steps_for.__get__(SimpleNamespace(params=p))
    total, by_mod, n_cells = 0.0, {}, 0
    for m, (k, val, test) in modalities.items():
        val_sel = min(val, k * p.val_per_class) if p.val_per_class else val
        sec = 0.0
        for _, n_train in generator_cells(p.arms, budgets, counts, p.synthetic_per_class, k):
            s = rule(n_train, k)
            sec += s * p.batch_size * per_train_image + (min(p.evals, s) * val_sel + test) * per_pred_image
            n_cells += 1
        by_mod[m] = sec * p.seeds
        total += sec * p.seeds
    return {"projected_cpu_s": total, "by_modality_s": by_mod, "classifiers": n_cells * p.seeds,
            "train_ms_per_image": 1000 * per_train_image, "predict_ms_per_image": 1000 * per_pred_image,
            "target": "<= 900 CPU-s per generator", "met": bool(total <= 900)}


def stage_seconds(suite_dir: Path) -> dict[str, float]:
    """Wall seconds per kind of stage of a finished run, from its stage markers. Suite-level work in
    ``_shared/<what>/`` counts as ``<what> (shared)``; markers nested inside a generator's task
    (e.g. utility cells) are already inside that task's own time and are not counted again."""
    stages: dict[str, float] = {}
    for marker in Path(suite_dir).glob("**/stages/*.json"):
        parts = marker.relative_to(suite_dir).parts
        if parts[0] == "_shared":
            key = f"{parts[1]} (shared)" if len(parts) == 4 else "shared"
        elif len(parts) == 3:
            key = marker.stem
        else:
            continue
        stages[key] = stages.get(key, 0.0) + json.loads(marker.read_text()).get("wall_s", 0.0)
    return stages


def bench_smoke(quick: bool) -> dict:
    """The smoke suite end to end in a fresh process: wall time, peak RSS, and the share of time per stage."""
    if quick:
        return {"skipped": "not in --quick (the full smoke suite takes minutes)", "met": None}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "bench.cli", "run", "--suite", "smoke", "--runs-dir", tmp,
                        "--no-publish"], check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        rss_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
        stages = stage_seconds(Path(tmp) / "smoke")
    total = sum(stages.values()) or 1.0
    share = {k: v / total for k, v in sorted(stages.items(), key=lambda kv: -kv[1])}
    return {"wall_s": wall, "peak_rss_gib": rss_gib, "stage_seconds": stages, "stage_share": share,
            "slowest_stage": next(iter(share), None), "target": "<= 600 s and <= 4 GiB",
            "met": bool(wall <= 600 and rss_gib <= 4)}


def bench_gpu(quick: bool) -> dict:
    """bf16 autocast + channels-last vs fp32 for UNet training steps on a GPU, and batch-size scaling."""
    import torch

    if not torch.cuda.is_available():
        return {"skipped": "no CUDA GPU visible", "met": None}
    from diffusers import UNet2DConditionModel

    dev = "cuda"
    unet = UNet2DConditionModel(sample_size=16, in_channels=4, out_channels=4, block_out_channels=(64, 128, 128),
                                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
                                cross_attention_dim=384, attention_head_dim=8, layers_per_block=1).to(dev)
    opt = torch.optim.AdamW(unet.parameters(), lr=1e-5)
    rows = {}
    for bs in ((64,) if quick else (64, 256, 1024)):
        x = torch.randn(bs, 4, 16, 16, device=dev)
        emb = torch.randn(bs, 16, 384, device=dev)
        t = torch.randint(0, 1000, (bs,), device=dev)
        for mode in ("fp32", "bf16-channels-last"):
            m = unet.to(memory_format=torch.channels_last) if mode != "fp32" else unet.to(memory_format=torch.contiguous_format)

            def step():
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=mode != "fp32"):
                    loss = m(x, t, encoder_hidden_states=emb).sample.float().pow(2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                torch.cuda.synchronize()

            step()
            _, sec = _timed(step, 5)
            rows.setdefault(str(bs), {})[f"{mode}_images_per_s"] = bs / sec
        rows[str(bs)]["speedup"] = rows[str(bs)]["bf16-channels-last_images_per_s"] / rows[str(bs)]["fp32_images_per_s"]
    return {"device": torch.cuda.get_device_name(0), "by_batch_size": rows, "target": "information", "met": None}


MEASUREMENTS = ("sampling", "training", "family_throughput", "neighbours", "fidelity_bootstrap", "feature_throughput", "memory",
                "utility_small", "submission_check", "smoke", "gpu")


def run_perf(quick: bool = False, out: Path = Path("perf.json"), work_dir: Path | None = None, log=print,
             only: list[str] | None = None) -> dict:
    """Run the measurements (``only``: just these of :data:`MEASUREMENTS`, e.g. the families' training
    throughput on an otherwise idle machine) and write the JSON report to ``out``."""
    import torch

    unknown = sorted(set(only or []) - set(MEASUREMENTS))
    if unknown:
        raise BenchError(f"unknown perf measurement {unknown[0]!r}", where="medsyn-bench perf --only",
                         fix=f"measurements: {', '.join(MEASUREMENTS)}")
    names = [m for m in MEASUREMENTS if not only or m in only]

    report = {"schema_version": SCHEMA_VERSION, "quick": quick,
              "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
              "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                          "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                          "torch": torch.__version__},
              "only": names if only else None, "results": {}}
    with tempfile.TemporaryDirectory() as tmp:
        suite_dir = Path(work_dir or tmp) / "perf-smoke"
        ctx = run = None
        if {"sampling", "training"} & set(names):
            log("fitting ldm-tiny on the smoke sample (reused if already fitted in the work folder)")
            ctx, run = _ldm_run(suite_dir, quick, log=lambda m: None)
        steps = {"sampling": lambda: bench_sampling(ctx, run, quick), "training": lambda: bench_training(run, quick),
                 "family_throughput": lambda: bench_family_throughput(quick),
                 "neighbours": lambda: bench_neighbours(quick),
                 "fidelity_bootstrap": lambda: bench_fidelity_bootstrap(quick),
                 "feature_throughput": lambda: bench_feature_throughput(quick),
                 "memory": lambda: bench_memory(quick), "utility_small": lambda: bench_utility_small(quick),
                 "submission_check": lambda: bench_submission_check(quick),
                 "smoke": lambda: bench_smoke(quick),
                 "gpu": lambda: bench_gpu(quick)}
        for name in names:
            log(f"measuring {name}")
            t0 = time.perf_counter()
            report["results"][name] = {**steps[name](), "bench_wall_s": time.perf_counter() - t0}
            atomic_write_json(out, report)  # after each: a later measurement that dies keeps the earlier ones
    atomic_write_json(out, report)
    return report


def format_table(report: dict) -> str:
    r = report["results"]
    f = lambda v, p=2: "—" if v is None else (f"{v:.{p}f}" if isinstance(v, float) else str(v))
    ok = lambda m: {True: "yes", False: "NO", None: "—"}[m.get("met")]
    lines = [f"{'measurement':<22} {'figure':<52} {'target':<34} met", "-" * 114]

    def row(name, figure, target, met):
        lines.append(f"{name:<22} {figure:<52} {target:<34} {met}")

    s = r.get("sampling")
    if s:
        row("sampling", f"DDPM{s['ddpm_steps']}/DPM20 {f(s['time_ratio'], 1)}x; FD {f(s['fd_dpm'], 4)} vs {f(s['fd_ddpm'], 4)}",
            s["target"][:34], ok(s))
    t = r.get("training")
    if t:
        row("training", f"on-the-fly/cached {f(t['time_ratio'], 2)}x ({f(t['cached_step_s'], 3)} s/step cached)", t["target"], ok(t))
    if "family_throughput" in r:  # absent from reports written before it was measured
        ft = r["family_throughput"]
        for name, fam in ft["families"].items():
            v = fam["variants"]
            best = max((k for k in v if "gflops_per_s" in v[k]), key=lambda k: v[k]["gflops_per_s"])
            met = None if report.get("quick") else v["default"]["share_of_peak"] >= 0.5  # this family's own row
            row(f"train {fam['kind']}", f"{f(v['default']['gflops_per_s'], 0)} GFLOP/s = "
                f"{100 * v['default']['share_of_peak']:.0f} % of {f(ft['matmul_peak_gflops'], 0)}; best {best} "
                f"{100 * v[best]['share_of_peak']:.0f} %", ft["target"][:34], ok({"met": met}))
        if "conv3x3_gflops" in ft:  # absent from reports written before it was measured
            row("conv 3x3 reference", f"{f(ft['conv3x3_gflops'], 0)} GFLOP/s counted as direct convolution",
                "information", "—")
    n = r.get("neighbours")
    if n:
        row("nearest neighbours", f"sklearn/faiss {f(n['time_ratio'], 1)}x on {n['base']}x{n['dim']}; "
            f"same {f(n['same_nearest_share'], 3)}", n["target"], ok(n))
    if "fidelity_bootstrap" in r:  # absent from reports written before it was measured
        b = r["fidelity_bootstrap"]
        row("fidelity bootstrap", f"plain/fast {f(b['time_ratio'], 1)}x per resample at {b['real']}x{b['fake']}; "
            f"diff {b['max_abs_difference']:.1e}", b["target"], ok(b))
    for bs, v in r.get("feature_throughput", {}).get("by_batch_size", {}).items():
        row(f"features (batch {bs})", f"CLIP {f(v['clip_images_per_s'], 0)} img/s; classifier {f(v['classifier_images_per_s'], 0)} img/s",
            "information", "—")
    m = r.get("memory")
    if m:
        row("memory (streamed)", f"RSS growth {m['peak_rss_growth_kib']} KiB at N={m['sizes']}; ratio {f(m['ratio'])}",
            m["target"], ok(m))
    if "utility_small" in r:  # absent from reports written before it was measured
        u = r["utility_small"]
        row("utility task (small)", f"{f(u['projected_cpu_s'], 0)} CPU-s projected, {u['classifiers']} classifiers "
            f"({f(u['train_ms_per_image'], 3)} ms/img)", u["target"], ok(u))
    if "submission_check" in r:  # absent from reports written before it was measured
        by = r["submission_check"]["by_images"]
        figure = "; ".join(f"{n} img {f(v['seconds'])} s" for n, v in by.items())
        row("submission check", f"{figure} ({f(list(by.values())[-1]['images_per_s'], 0)} img/s)", "seconds", "—")
    sm = r.get("smoke")  # absent from `--only` reports that left it out
    if sm is not None and "skipped" in sm:
        row("smoke end to end", f"skipped: {sm['skipped']}"[:52], "<= 600 s and <= 4 GiB", "—")
    elif sm is not None:
        row("smoke end to end", f"{f(sm['wall_s'], 0)} s, peak RSS {f(sm['peak_rss_gib'])} GiB; slowest {sm['slowest_stage']}",
            sm["target"], ok(sm))
    g = r.get("gpu")
    if g:
        row("gpu bf16", g.get("skipped") or json.dumps(g["by_batch_size"])[:52], "information", "—")
    if report["quick"]:
        lines.append("(--quick: reduced sizes and steps; ratios are not comparable with a full run)")
    return "\n".join(lines)
