"""``medsyn-bench export``: a fitted suite LDM as a stock diffusers pipeline that plain diffusers loads, and
the round trip: scored as a ``diffusers-pipeline`` generator, the folder gives the LDM's own samples.

The smoke suite runs here with a private ``models/ldm-tiny.toml`` of micro size (the fit takes about a
minute on 2 CPU cores), fitted by ``run --fit-only`` as the CLI would; barely trained, which does not matter
to a round trip."""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bench.cli import main
from bench.errors import BenchError
from bench.io import sha256_file
from bench.specs import build_dataclass

ROOT = Path(__file__).resolve().parent.parent

MICRO_LDM = """\
name = "ldm-tiny"
kind = "ldm"
description = "micro LDM for the export tests"

[params]
canvas_size = 32
latent_size = 16
vae_channels = [8, 16]
vae_steps = 2
vae_batch = 4
vae_gate = "report"
unet_channels = [16, 32]
unet_attention = [false, true]
attention_heads = 2
max_tokens = 16
steps = 2
batch = 4
checkpoint_every = 1
ema_decay = 0.9
sample_steps = 3
sample_batch = 16
guidance_scale = 3.0
curve_samples = 0
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(runs folder, export folder): the micro ldm-tiny fitted on the smoke suite, then exported by the CLI."""
    from bench.run import RunOptions, run_suite

    home = tmp_path_factory.mktemp("home")
    for d in ("tasks", "models"):
        shutil.copytree(ROOT / d, home / d)
    (home / "models" / "ldm-tiny.toml").write_text(MICRO_LDM)
    shipped = ROOT / "leaderboards" / "smoke" / "reference"
    (home / "leaderboards" / "smoke").mkdir(parents=True)
    (home / "leaderboards" / "smoke" / "reference").symlink_to(shipped)
    runs, out = home / "runs", home / "export"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDSYN_HOME", str(home))
        run_suite("smoke", RunOptions(runs, only=["ldm-tiny"], device="cpu", fit_only=True))
        assert main(["export", "--suite", "smoke", "--generator", "ldm-tiny", "--out", str(out),
                     "--runs-dir", str(runs)]) == 0
        yield runs, out


@pytest.fixture(scope="module")
def suite_ldm(exported):
    """The suite's own LDM, loaded from the run folder as the export loaded it."""
    from bench.run import load_fitted_generator

    return load_fitted_generator("smoke", "ldm-tiny", exported[0])  # MEDSYN_HOME is still the fixture's


def scorer(dataset, folder: Path, root: Path):
    from bench.generators.pipeline import DiffusersPipelineGenerator
    from bench.recipes import PipelineParams

    params = build_dataclass(PipelineParams, {"path": str(folder)}, "test")
    return DiffusersPipelineGenerator("exported", params, dataset, root / "exported" / "fit")


def assert_same_samples(a: np.ndarray, b: np.ndarray) -> None:
    """The export's images are the LDM's own: bit-identical on the AMD EPYC that made the committed
    results; on an Intel Xeon (AVX-512) one pixel in ~23,500 lands one grey level away (a float32 rounding
    at a uint8 boundary; not pinned down further — the two paths may batch differently, and this CPU's
    kernels may round differently per batch shape). So: at most one grey level anywhere, and at most
    0.1 % of the pixels not identical."""
    assert a.shape == b.shape and a.dtype == b.dtype == np.uint8
    d = np.abs(a.astype(np.int16) - b.astype(np.int16))
    assert d.max() <= 1 and (d > 0).mean() <= 1e-3, (int(d.max()), float((d > 0).mean()))


def test_plain_diffusers_loads_the_export_and_samples(exported):
    from diffusers import DiffusionPipeline, StableDiffusionPipeline

    _, out = exported
    info = json.loads((out / "medsyn_bench.json").read_text())
    assert (info["suite"], info["generator"], info["suite_sampling"]["seed"]) == ("smoke", "ldm-tiny", 0)
    assert info["pipeline_class"] == "StableDiffusionPipeline" and info["scheduler"]["steps_offset"] == 0
    assert (info["image_size"], info["canvas_size"], info["crop"]["top"]) == (28, 32, 2)
    assert (info["guidance_scale"], info["num_inference_steps"]) == (3.0, 3)
    assert info["weights_sha256"] and all(sha256_file(out / f) == h for f, h in info["weights_sha256"].items())
    assert set(info["weights_sha256"]) == {"unet/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors",
                                           "vae/diffusion_pytorch_model.safetensors"}

    pipe = DiffusionPipeline.from_pretrained(out)  # plain diffusers: no custom code, no network
    assert type(pipe) is StableDiffusionPipeline and pipe.safety_checker is None
    assert pipe.tokenizer.model_max_length == 16 and pipe.text_encoder.config.use_attention_mask
    assert pipe.vae.config.scaling_factor == info["latent_scaling_factor"]
    pipe.set_progress_bar_config(disable=True)
    image = pipe(prompt="a blood cell microscopy image of neutrophil", num_inference_steps=3, output_type="np").images
    assert image.shape == (1, 32, 32, 3) and np.isfinite(image).all()  # the canvas; the suite crops it to 28 px


def test_scored_export_gives_the_suite_ldms_own_samples(exported, suite_ldm, smoke_dataset, tmp_path):
    _, out = exported
    prompts = smoke_dataset.prompt_requests()[::5]  # RGB blood cells and grey CT / ultrasound
    own = suite_ldm.sample(prompts, 2, seed=7)
    scored = scorer(smoke_dataset, out, tmp_path).sample(prompts, 2, seed=7)
    assert [r.text for r in scored.requests] == [r.text for r in own.requests]
    assert_same_samples(scored.images, own.images)


def test_round_trip_with_a_stochastic_sampler_across_batches(suite_ldm, smoke_dataset, tmp_path):
    """DDPM draws noise at every step: the export matches only if batches and their generators match too."""
    from bench.generators.export import export_pipeline

    ldm = copy.copy(suite_ldm)
    ldm.params = dataclasses.replace(ldm.params, sampler="ddpm", sample_batch=3)  # sampling-only params
    prompts = smoke_dataset.prompt_requests()[::7]
    own = ldm.sample(prompts, 2, seed=1)
    out = export_pipeline(ldm, tmp_path / "ddpm")
    assert json.loads((out / "scheduler" / "scheduler_config.json").read_text())["_class_name"] == "DDPMScheduler"
    assert_same_samples(scorer(smoke_dataset, out, tmp_path).sample(prompts, 2, seed=1).images, own.images)


def test_only_ldms_export(smoke_dataset, tmp_path, capsys):
    from bench.generators.export import export_pipeline
    from bench.registry import generator_class

    cls = generator_class("holdout")
    with pytest.raises(BenchError, match="not a latent diffusion model"):
        export_pipeline(cls("holdout", cls.Params(), smoke_dataset, tmp_path / "fit"), tmp_path / "out")
    assert main(["export", "--suite", "smoke", "--generator", "holdout", "--out", str(tmp_path / "out"),
                 "--runs-dir", str(tmp_path)]) == 2
    assert "only latent diffusion models (kind ldm)" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_export_before_the_fit_says_what_to_run(tmp_path, capsys):
    assert main(["export", "--suite", "smoke", "--generator", "ldm-tiny", "--out", str(tmp_path / "out"),
                 "--runs-dir", str(tmp_path)]) == 2
    assert (f"run `medsyn-bench run --suite smoke --generators ldm-tiny --generate-only --runs-dir {tmp_path}` first"
            in capsys.readouterr().err)
