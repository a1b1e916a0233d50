"""The text-guided LDM (fit → killed → resumed → identical weights → sample), its spec checks, the
Accelerate path, NaN handling, and the diffusers-pipeline generator. Tiny sizes: CPU seconds."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from bench.errors import BenchError
from bench.generators.ldm import LDMGenerator
from bench.recipes import LDMParams
from bench.generators.denoiser_training import TrainingStopped
from bench.specs import build_dataclass

MICRO = dict(canvas_size=32, latent_size=16, vae_channels=[8, 16], vae_steps=4, vae_batch=8,
             unet_channels=[16, 32], unet_attention=[False, True], attention_heads=2, max_tokens=16,
             steps=6, batch=8, checkpoint_every=2, sample_steps=3, sample_batch=16, ema_decay=0.9)


def make(dataset, root, name="ldm", modalities=None, **over):
    params = build_dataclass(LDMParams, {**MICRO, **over}, "test")
    gen = LDMGenerator(name, params, dataset, root / name / "fit", modalities)
    gen.shared_dir = root / "_shared"
    return gen


def weights(gen, name="unet-ema.safetensors"):
    return load_file(gen.workdir / name)


@pytest.fixture(scope="module")
def fitted(smoke_dataset, tmp_path_factory):
    """One uninterrupted micro fit (shares its autoencoder cache with the other tests of this module)."""
    root = tmp_path_factory.mktemp("ldm")
    gen = make(smoke_dataset, root)
    info = gen.fit()
    return root, gen, info


def test_fit_reports_measured_compute(fitted):
    _, gen, info = fitted
    assert info["steps"] == 6 and info["images_seen"] == 6 * 8
    assert info["flops_per_step"] > 0 and info["train_flops"] == info["flops_per_step"] * 6
    assert info["unet_parameters"] > 0 and info["device"] == "cpu" and info["wall_s"] > 0
    ae = info["autoencoder"]
    assert ae["shared"] and ae["train_flops"] > 0 and ae["latent_shape"] == [4, 16, 16]
    assert 0 < ae["val_reconstruction"]["psnr_db"] < 100
    assert set(ae["val_reconstruction"]["per_modality"]) == {"bloodmnist", "organamnist", "breastmnist"}
    # 25 % / 50 % / 100 % of 6 steps are kept; the periodic step-4 checkpoint is not
    assert info["checkpoints"] == ["step-000002", "step-000003", "step-000006"]


def test_killed_training_resumes_to_the_same_weights(fitted, smoke_dataset, tmp_path):
    root, first, _ = fitted
    gen = make(smoke_dataset, tmp_path)
    gen.shared_dir = root / "_shared"  # the suite's autoencoder is reused, not retrained
    gen.stop_after = 4
    with pytest.raises(TrainingStopped):
        gen.fit()
    again = make(smoke_dataset, tmp_path)
    again.shared_dir = root / "_shared"
    info = again.fit()
    assert info["resumed_from_step"] == 4 and info["autoencoder"]["cache_hit"]
    for name in ("unet.safetensors", "unet-ema.safetensors"):
        a, b = weights(first, name), weights(again, name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_sample_is_deterministic_at_the_dataset_resolution(fitted, smoke_dataset):
    root, gen, _ = fitted
    prompts = smoke_dataset.prompt_requests()[::7]
    s1 = gen.sample(prompts, 2, seed=3)
    assert s1.images.shape == (2 * len(prompts), 28, 28, 3) and s1.images.dtype == np.uint8
    grey = [i for i, r in enumerate(s1.requests) if smoke_dataset.modalities[r.modality].channels == 1]
    assert grey and all((s1.images[i, ..., 0] == s1.images[i, ..., 2]).all() for i in grey)
    info = s1.info
    assert info["flops"] > 0 and info["unet_evaluations"] == 2 * len(prompts) * 3 * 2
    reloaded = make(smoke_dataset, root)
    reloaded.load()
    assert np.array_equal(reloaded.sample(prompts, 2, seed=3).images, s1.images)
    assert not np.array_equal(gen.sample(prompts, 2, seed=4).images, s1.images)


def test_specialist_equal_compute_trains_a_fraction(fitted, smoke_dataset):
    root, _, _ = fitted
    spec = make(smoke_dataset, root, name="ldm@bloodmnist-eqcompute", modalities=[0], steps=6)
    spec.budget_scale = 1 / 3
    info = spec.fit()
    assert info["steps"] == 2 and info["train_images"] == int((smoke_dataset.splits["train"].modality == 0).sum())
    with pytest.raises(BenchError, match="does not cover"):
        spec.sample(smoke_dataset.prompt_requests([1]), 1, 0)


def test_accelerate_gradient_accumulation(fitted, smoke_dataset, tmp_path):
    root, _, _ = fitted
    gen = make(smoke_dataset, tmp_path, steps=2, grad_accum=2, mixed_precision="no")
    gen.shared_dir = root / "_shared"
    info = gen.fit()
    assert info["grad_accum"] == 2 and info["num_processes"] == 1 and info["mixed_precision"] == "no"
    assert info["images_seen"] == 2 * 8 * 2 and info["accelerate_device"] == "cpu"


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(fitted, smoke_dataset, tmp_path):
    root, _, _ = fitted
    gen = make(smoke_dataset, tmp_path)
    gen.shared_dir = root / "_shared"
    gen.loss_hook = lambda step, loss: loss * float("nan") if step == 4 else loss
    with pytest.raises(BenchError, match="nan") as exc:
        gen.fit()
    assert "step-000004" in exc.value.render()
    assert (gen.workdir / "checkpoints" / "step-000004" / "unet.safetensors").is_file()


# -- spec validation -------------------------------------------------------------------------------


@pytest.mark.parametrize("over, message", [
    (dict(canvas_size=32, latent_size=12), "does not divide"),
    (dict(unet_channels=[16, 48], attention_heads=5), "attention_heads"),
    (dict(unet_attention=[True]), "one true/false"),
])
def test_impossible_sizes_fail_at_spec_load(over, message):
    with pytest.raises(BenchError, match=message):
        build_dataclass(LDMParams, {**MICRO, **over}, "test")


def test_latent_size_must_divide_the_image(smoke_dataset, tmp_path):
    with pytest.raises(BenchError, match="does not divide the 28 px canvas"):
        make(smoke_dataset, tmp_path, canvas_size=0, latent_size=16)
    with pytest.raises(BenchError, match="downsamples by"):
        make(smoke_dataset, tmp_path, latent_size=8)  # f=4 asked of an f=2 autoencoder


def test_missing_local_folders(smoke_dataset, tmp_path):
    with pytest.raises(BenchError, match="text encoder folder not found"):
        make(smoke_dataset, tmp_path, text_encoder=str(tmp_path / "nope"))
    with pytest.raises(BenchError, match="autoencoder folder not found"):
        make(smoke_dataset, tmp_path, vae_path=str(tmp_path / "nope"))


def test_text_encoder_that_does_not_load(smoke_dataset, tmp_path):
    bad = tmp_path / "broken-encoder"
    bad.mkdir()
    (bad / "config.json").write_text('{"model_type": "not-a-model"}')
    gen = make(smoke_dataset, tmp_path, text_encoder=str(bad))
    with pytest.raises(BenchError, match="did not load"):
        gen.fit()


def test_shipped_ldm_specs_validate():
    from bench.specs import load_model

    for name in ("ldm-tiny", "ldm-small", "ldm-base"):
        spec = load_model(name)
        assert spec.kind == "ldm"


# -- diffusers-pipeline ----------------------------------------------------------------------------


def test_diffusers_pipeline_generator(smoke_dataset, tmp_path):
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import AutoTokenizer, BertConfig, BertModel

    from bench.generators.pipeline import DiffusersPipelineGenerator
    from bench.recipes import PipelineParams
    from bench.generators.text_encoder import resolve_encoder

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(resolve_encoder("all-MiniLM-L6-v2")[0], local_files_only=True)
    tok.model_max_length = 16
    text = BertModel(BertConfig(vocab_size=tok.vocab_size, hidden_size=16, num_hidden_layers=1,
                                num_attention_heads=2, intermediate_size=32))
    unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(16, 32),
                                layers_per_block=1, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=16,
                                attention_head_dim=2, norm_num_groups=8)
    vae = AutoencoderKL(block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, norm_num_groups=8)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tok, unet=unet,
                                   scheduler=DDIMScheduler(clip_sample=False), safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(tmp_path / "pipe")

    params = build_dataclass(PipelineParams, {"path": str(tmp_path / "pipe"), "num_inference_steps": 2,
                                              "height": 16, "width": 16, "batch": 2}, "test")
    gen = DiffusersPipelineGenerator("pipe", params, smoke_dataset, tmp_path / "run" / "fit")
    assert gen.fit()["parameters"] > 0
    prompts = smoke_dataset.prompt_requests()[::10]
    s = gen.sample(prompts, 3, seed=0)
    assert s.images.shape == (3 * len(prompts), 28, 28, 3) and s.images.dtype == np.uint8
    assert np.array_equal(gen.sample(prompts, 3, seed=0).images, s.images)

    with pytest.raises(BenchError, match="model_index.json"):
        DiffusersPipelineGenerator("pipe", dataclasses.replace(params, path=str(tmp_path)), smoke_dataset,
                                   tmp_path / "x")


def test_sample_grid_png(fitted, smoke_dataset, tmp_path):
    from PIL import Image

    from bench.data.samples import write_samples
    from bench.report.grid import write_grid

    _, gen, _ = fitted
    samples = gen.sample(smoke_dataset.prompt_requests()[:3], 2, seed=0)
    write_samples(tmp_path / "g" / "samples", samples, smoke_dataset)
    out = write_grid(tmp_path / "g", smoke_dataset, n_real=2, n_gen=2)
    assert Image.open(out).size[1] == 3 * (28 * 2 + 14)


# -- the autoencoder gate and the training curve ------------------------------------------------------
def exact_match_judge(dataset):
    """Right on the validation originals, wrong on anything else (so reconstructions fail the gate)."""
    val = dataset.splits["val"]
    known = {img.tobytes(): c for img, c in zip(val.images, val.classes)}
    return lambda images: np.array([known.get(img.tobytes(), -1) for img in images])


def test_autoencoder_gate_refuses_the_unet_unless_ignored(smoke_dataset, tmp_path):
    gen = make(smoke_dataset, tmp_path, curve_samples=1)
    gen.judge, gen.judge_sha256 = exact_match_judge(smoke_dataset), "exact-match"
    with pytest.raises(BenchError, match="fails its gate") as err:
        gen.fit()
    assert "--ignore-autoencoder-gate" in err.value.fix and "100.0% on the originals" in err.value.message
    assert not (gen.workdir / "unet-ema.safetensors").exists()  # no UNet was trained

    gen.ignore_autoencoder_gate = True
    from bench.metrics.fidelity import fd_scorer

    gen.fd_to = fd_scorer(lambda images: images.reshape(len(images), -1, 3).mean(axis=1))  # 3 features: mean colour
    info = gen.fit()  # the autoencoder comes from the cache; the UNet trains
    gate = info["autoencoder_gate"]
    assert gate["measured"] and not gate["passed"] and gate["ignored"] and gate["drop_points"] == 100.0
    assert gate["per_modality_drop_points"] == {m: 100.0 for m in ("bloodmnist", "organamnist", "breastmnist")}
    assert info["autoencoder"]["cache_hit"]
    # the training curve: kept checkpoints (25/50/100 % of 6 steps), each with a conditional accuracy
    curve = info["curve"]
    assert [c["step"] for c in curve] == [2, 3, 6]
    assert all(c["conditional_accuracy"] == 0.0 and c["n_samples"] == 21 for c in curve)  # judge: never right
    assert [c["train_wall_s"] for c in curve] == sorted(c["train_wall_s"] for c in curve)
    assert set(curve[0]["per_modality"]) == {"bloodmnist", "organamnist", "breastmnist"}
    assert all(c["modality_accuracy"] == 0.0 for c in curve)
    assert all(np.isfinite(c["fd_val"]) and c["fd_val"] >= 0 for c in curve)


def test_autoencoder_gate_stops_training_when_met(smoke_dataset, tmp_path):
    val = smoke_dataset.splits["val"]
    gen = make(smoke_dataset, tmp_path, vae_steps=8, vae_eval_every=2, curve_samples=0)
    gen.judge, gen.judge_sha256 = (lambda images: val.classes[:len(images)]), "always-right"
    info = gen.fit()
    ae = info["autoencoder"]
    assert ae["steps"] == 2 and ae["stopped_early"] and ae["max_steps"] == 8
    assert [c["step"] for c in ae["gate_curve"]] == [2] and ae["gate_curve"][0]["passed"]
    assert info["autoencoder_gate"]["passed"] and "curve" in info and info["curve"] == []


def test_image_similarity_against_numpy():
    from bench.generators.autoencoder import image_similarity

    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (5, 28, 28, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-20, 21, a.shape), 0, 255).astype(np.uint8)
    mse = ((a.astype(float) - b) ** 2).mean()
    s = image_similarity(a, b)
    assert s["mse"] == pytest.approx(mse) and s["psnr_db"] == pytest.approx(10 * np.log10(255 ** 2 / mse))
    assert image_similarity(a, a)["ssim"] == pytest.approx(1.0)
    noisier = np.clip(a.astype(int) + rng.integers(-60, 61, a.shape), 0, 255).astype(np.uint8)
    assert 0 < image_similarity(a, noisier)["ssim"] < s["ssim"] < 1


def test_changed_spec_does_not_resume_stale_checkpoints(fitted, smoke_dataset, tmp_path):
    root, _, _ = fitted
    gen = make(smoke_dataset, tmp_path)
    gen.shared_dir = root / "_shared"
    gen.stop_after = 4
    with pytest.raises(TrainingStopped):
        gen.fit()
    changed = make(smoke_dataset, tmp_path, lr=5e-4)  # same folder, another training recipe
    changed.shared_dir = root / "_shared"
    assert changed.fit()["resumed_from_step"] == 0
    for over in (dict(snr_gamma=5.0), dict(balanced_batches="class"), dict(prediction_type="v_prediction"),
                 dict(offset_noise=0.1)):
        other = make(smoke_dataset, tmp_path, lr=5e-4, **over)
        other.shared_dir = root / "_shared"
        assert other.fit()["resumed_from_step"] == 0, over


def test_longer_run_or_other_sampling_resumes_the_same_trajectory(fitted, smoke_dataset, tmp_path):
    """steps, kept checkpoints and sampling settings do not change the weights at a given step: a spec
    differing only in those continues from the run's checkpoints and ends where an uninterrupted run does."""
    root, first, _ = fitted  # 6 steps
    short = make(smoke_dataset, tmp_path, steps=4, guidance_scale=5.0)
    short.shared_dir = root / "_shared"
    assert short.fit()["resumed_from_step"] == 0
    longer = make(smoke_dataset, tmp_path, sample_steps=5, keep_fractions=[2 / 3, 1.0])  # keeps step 4
    longer.shared_dir = root / "_shared"
    assert longer.fit()["resumed_from_step"] == 4
    a, b = weights(first), weights(longer)
    assert all(torch.equal(a[k], b[k]) for k in a)
    # fewer steps than the newest checkpoint: resumes from the newest at or below, not past the end
    shorter = make(smoke_dataset, tmp_path, steps=5, keep_fractions=[0.8, 1.0])
    shorter.shared_dir = root / "_shared"
    info = shorter.fit()
    assert info["resumed_from_step"] == 4 and info["steps"] == 5


def test_min_snr_weights_against_the_definition():
    from bench.generators.denoiser_training import min_snr_weights, noise_scheduler

    for pred in ("epsilon", "v_prediction"):
        sched = noise_scheduler({"num_train_timesteps": 1000, "beta_schedule": "squaredcos_cap_v2",
                                 "prediction_type": pred})
        t = torch.tensor([0, 10, 300, 700, 999])
        ab = sched.alphas_cumprod.numpy().astype(np.float64)[t.numpy()]
        snr = ab / (1 - ab)
        expect = np.minimum(snr, 5.0) / (snr + 1 if pred == "v_prediction" else snr)
        np.testing.assert_allclose(min_snr_weights(sched, t, 5.0).numpy(), expect, rtol=1e-6)
        assert expect[0] < 0.01  # low-noise steps are down-weighted
        assert expect[-1] == pytest.approx(1.0 if pred == "epsilon" else 0.0, abs=1e-6)  # SNR ~ 0 at t = T


def test_balanced_batches_give_each_group_the_same_share(smoke_dataset, tmp_path):
    train = smoke_dataset.splits["train"]
    for mode, labels in (("class", train.classes), ("modality", train.modality)):
        gen = make(smoke_dataset, tmp_path, balanced_batches=mode)
        idx, _ = gen._train_rows()
        w = gen._draw_weights(idx).numpy()
        assert w.sum() == pytest.approx(1.0)
        shares = [w[labels[idx] == g].sum() for g in np.unique(labels[idx])]
        np.testing.assert_allclose(shares, 1 / len(shares))
    assert make(smoke_dataset, tmp_path)._draw_weights(idx) is None


def test_curve_measured_differently_is_recomputed_on_resume(smoke_dataset, tmp_path):
    gen = make(smoke_dataset, tmp_path, curve_samples=1, vae_gate="report")
    gen.judge, gen.judge_sha256 = exact_match_judge(smoke_dataset), "exact-match"
    gen.stop_after = 4
    with pytest.raises(TrainingStopped):
        gen.fit()
    again = make(smoke_dataset, tmp_path, curve_samples=1, vae_gate="report", timestep_spacing="trailing")
    again.judge, again.judge_sha256 = gen.judge, gen.judge_sha256
    info = again.fit()  # resumes at step 4; the points of steps 2 and 3 were sampled under other settings
    assert info["resumed_from_step"] == 4
    assert [c["step"] for c in info["curve"]] == [2, 3, 6]
    assert len({c["curve_key"] for c in info["curve"]}) == 1
    assert info["curve"][0]["train_wall_s"] <= info["curve"][1]["train_wall_s"]  # the original times are kept


def test_a_sibling_run_of_the_same_trajectory_adopts_its_checkpoints(fitted, smoke_dataset):
    """An ablation that changes only sampling (or a specialist stopped earlier) continues from the kept
    checkpoints of the run it shares a trajectory with, and never alters that run's files."""
    root, first, info = fitted
    before = {p: p.stat().st_mtime_ns for p in (root / "ldm" / "fit" / "checkpoints").rglob("*") if p.is_file()}
    variant = make(smoke_dataset, root, name="ldm+guidance_scale=5", guidance_scale=5.0, steps=8)
    got = variant.fit()
    assert got["checkpoints_adopted_from"] == "ldm" and got["resumed_from_step"] == 6
    assert got["train_wall_s"] > info["train_wall_s"]  # the adopted run's time counts
    after = {p: p.stat().st_mtime_ns for p in (root / "ldm" / "fit" / "checkpoints").rglob("*") if p.is_file()}
    assert after == before  # the source run's checkpoints are untouched
    other = make(smoke_dataset, root, name="ldm+lr=5e-4", lr=5e-4)
    other.stop_after = 2
    with pytest.raises(TrainingStopped):
        other.fit()  # another trajectory: trains from step 0 (stopped early to save time)
    assert not (root / "ldm+lr=5e-4" / "fit" / "checkpoints" / "step-000006").exists()


def test_modality_accuracy_counts_the_right_modality_whatever_the_class(fitted, smoke_dataset):
    """A judge that only tells colour (blood) from grey (organ) images: organ samples are always in their
    modality (grey decoding), breast samples never, and conditional accuracy only counts label 0."""
    _, gen, _ = fitted
    mods = [m.key for m in smoke_dataset.modalities]
    blood0, organ0 = smoke_dataset.class_index(mods.index("bloodmnist"), 0), smoke_dataset.class_index(mods.index("organamnist"), 0)

    def colour_judge(images):
        colour = (images.astype(int).max(axis=-1) - images.astype(int).min(axis=-1)).mean(axis=(1, 2)) > 2
        return np.where(colour, blood0, organ0)

    gen.judge = colour_judge
    try:
        point = gen._conditional_accuracy(gen.unet, gen.codec, gen.table, smoke_dataset.prompt_requests(), None)
    finally:
        gen.judge = None
    per = point["per_modality_modality_accuracy"]
    assert per["organamnist"] == 1.0 and per["breastmnist"] == 0.0 and 0.0 <= per["bloodmnist"] <= 1.0
    assert point["modality_accuracy"] >= point["conditional_accuracy"]
    assert point["per_modality"]["organamnist"] == pytest.approx(1 / len(smoke_dataset.modalities[mods.index("organamnist")].class_names))


def test_offset_noise_and_spacing_reach_training_and_sampler(smoke_dataset, tmp_path):
    """offset_noise reaches the training config; the spec's timestep spacing reaches the diffusers
    scheduler: "trailing" starts at t = T - 1, the default "leading" below it."""
    from bench.generators.ldm import _scheduler
    from bench.generators.denoiser_training import TrainConfig

    gen = make(smoke_dataset, tmp_path, offset_noise=0.5, timestep_spacing="trailing", prediction_type="v_prediction")
    cfg = gen._train_config()
    assert isinstance(cfg, TrainConfig) and cfg.offset_noise == 0.5
    sched = _scheduler(gen.params, gen._noise_config())
    sched.set_timesteps(4)
    assert sched.config.timestep_spacing == "trailing" and int(sched.timesteps[0]) == 999
    gen2 = make(smoke_dataset, tmp_path)
    sched2 = _scheduler(gen2.params, gen2._noise_config())
    sched2.set_timesteps(4)
    assert int(sched2.timesteps[0]) == 800  # DPM-Solver's "leading": T - T/(steps + 1), rounded down


@pytest.mark.slow
def test_accelerate_launch_two_cpu_processes_fit_a_tiny_unet(tmp_path):
    """The distributed path: `accelerate launch --num_processes 2` on CPU trains one UNet on two processes
    (different images per process), the main process writes the checkpoints, and the loss is finite."""
    import json
    import os
    import shutil
    import subprocess
    import sys

    launcher = shutil.which("accelerate", path=os.path.dirname(sys.executable)) or shutil.which("accelerate")
    assert launcher, "accelerate's launcher is installed with the package"
    script = Path(__file__).parent / "scripts" / "tiny_unet_fit.py"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    # accelerate's multi-process launcher (torchrun underneath); with no GPU, the fit's Accelerator(cpu=True)
    # joins the process group over gloo on this machine (--cpu alone would start one process: its
    # multi-CPU path needs MPI)
    out = subprocess.run([launcher, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                          "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29517",
                          str(script), str(tmp_path)], capture_output=True, text=True, timeout=600, env=env,
                         cwd=Path(__file__).parent.parent)
    assert out.returncode == 0, out.stderr[-3000:]
    facts = [json.loads((tmp_path / f"facts-{r}.json").read_text()) for r in (0, 1)]
    assert all(f["num_processes"] == 2 and f["steps"] == 4 for f in facts)
    assert facts[0]["images_seen"] == 4 * 8 * 2
    assert all(np.isfinite(f["final_loss"]) for f in facts)
    assert facts[0]["final_loss"] != facts[1]["final_loss"]  # each process trained on its own images
    assert facts[0]["checkpoints"] == facts[1]["checkpoints"] == ["step-000002", "step-000004"]
    assert (tmp_path / "checkpoints" / "step-000004").is_dir()


def test_a_seed_replica_shares_the_autoencoder_and_trains_another_denoiser(fitted, smoke_dataset):
    """``seed`` varies the denoiser only (initialisation, data order, sampling noise); the autoencoder has
    its own ``vae_seed``, so ``ldm-small+seed=1`` is trained on the same latents as ``ldm-small``."""
    root, gen, _ = fitted
    replica = make(smoke_dataset, root, name="ldm-seed1", seed=1)
    assert replica._ae_spec() == gen._ae_spec()
    assert make(smoke_dataset, root, name="ldm-vae1", vae_seed=1)._ae_spec() != gen._ae_spec()
    before = sorted(p.name for p in (root / "_shared").glob("autoencoder-*"))
    replica.fit()
    assert sorted(p.name for p in (root / "_shared").glob("autoencoder-*")) == before
    a, b = weights(gen), weights(replica)
    assert a.keys() == b.keys() and any(not torch.equal(a[k], b[k]) for k in a)


def test_the_trajectory_key_of_existing_runs_is_unchanged():
    """Checkpoints resume (and sibling runs adopt them) by a key over the trajectory's parameters: a new
    parameter that is not part of the trajectory must not change it, or every run folder's checkpoints are
    orphaned and retrained from scratch (``vae_seed`` did, once). The hash is the one before ``vae_seed``."""
    from bench.generators.denoiser import trajectory_params
    from bench.io import sha256_json

    params = build_dataclass(LDMParams, MICRO, "test")
    assert sha256_json(trajectory_params(params)) == "ad736bb5bd080725427fbb31701bce1084ecf4e8c5cfa2400ac55c24c15fdc32"
    assert trajectory_params(dataclasses.replace(params, vae_seed=1)) == trajectory_params(params)
    assert trajectory_params(dataclasses.replace(params, seed=1)) != trajectory_params(params)
