"""The ``gigagan`` family: gigagan-pytorch's text-conditioned GAN trained by the library's own trainer on the
suite's prompt embeddings. The tiny spec fits, samples deterministically, reads its prompt, reloads and
resumes; the prompt adapter hands GigaGAN the table's rows; FLOPs are torch's counter's total."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from bench.errors import BenchError
from bench.generators.compute import count_flops
from bench.generators.denoiser_training import TrainingStopped
from bench.generators.gan import StepSampler, prompt_adapter
from bench.generators.text_encoder import PromptTable
from bench.recipes import GigaGANParams
from bench.registry import generator_class
from bench.specs import build_dataclass, load_model

MICRO = dict(steps=4, batch=4, checkpoint_every=2, keep_fractions=[1.0])


def make(dataset, root, **over):
    spec = load_model("gigagan-tiny")
    cls = generator_class(spec.kind)
    gen = cls("gigagan-tiny", build_dataclass(cls.Params, {**spec.params, **over}, "gigagan-tiny"), dataset,
              root / "gigagan-tiny" / "fit")
    gen.shared_dir = root / "_shared"
    return gen


@pytest.fixture(scope="module")
def fitted(smoke_dataset, tmp_path_factory):
    root = tmp_path_factory.mktemp("gigagan")
    gen = make(smoke_dataset, root)
    return root, gen, gen.fit()


def test_tiny_gan_fits_with_measured_compute_and_samples_deterministically(fitted, smoke_dataset):
    root, gen, info = fitted
    assert info["steps"] == gen.params.steps and info["train_flops"] == info["flops_per_step"] * info["steps"] > 0
    assert info["denoiser_parameters"] > 0 and info["discriminator_parameters"] > 0
    assert info["checkpoints"] == ["step-000006", "step-000012"]  # the kept fractions 0.5 and 1.0
    prompts = smoke_dataset.prompt_requests()[:3]
    a, b = gen.sample(prompts, 2, seed=0), gen.sample(prompts, 2, seed=0)
    s = smoke_dataset.image_size
    assert a.images.shape == (6, s, s, 3) and a.images.dtype == np.uint8 and (a.images == b.images).all()
    assert not (gen.sample(prompts, 2, seed=1).images == a.images).all()
    assert a.info["generator_evaluations"] == 6 and a.info["flops_per_image"] > 0
    again = make(smoke_dataset, root)  # a new process: load() from the saved weights
    again.load()
    assert (again.sample(prompts, 2, seed=0).images == a.images).all()


def test_the_generator_reads_its_prompt(fitted, smoke_dataset):
    """The same noise under two prompts of different classes gives different images: the text reaches the
    generator through the adapter."""
    _, gen, _ = fitted
    p = smoke_dataset.prompt_requests()
    one, other = p[0], next(q for q in p if q.cls != p[0].cls)
    table = gen.table
    enc = lambda q: (table.embeds[table.index([q.text])] * table.mask[table.index([q.text])].unsqueeze(-1).float())
    z = torch.randn(1, gen.params.dim, generator=torch.Generator().manual_seed(3))
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        x1 = gen.generator(noise=z, text_encodings=enc(one), batch_size=1)
        torch.manual_seed(0)
        x2 = gen.generator(noise=z, text_encodings=enc(other), batch_size=1)
    assert (x1 - x2).abs().max() > 1e-4


def test_killed_gan_training_resumes_to_the_same_weights(smoke_dataset, tmp_path):
    whole = make(smoke_dataset, tmp_path / "whole", **MICRO)
    whole.fit()
    killed = make(smoke_dataset, tmp_path / "killed", **MICRO)
    killed.stop_after = 3
    with pytest.raises(TrainingStopped):
        killed.fit()
    resumed = make(smoke_dataset, tmp_path / "killed", **MICRO)
    assert resumed.fit()["resumed_from_step"] == 2  # the checkpoint before the kill
    for stem in ("generator", "generator-ema"):
        a = load_file(whole.workdir / f"{stem}.safetensors")
        b = load_file(resumed.workdir / f"{stem}.safetensors")
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), stem


def test_prompt_adapter_hands_gigagan_the_table_rows():
    """Token embeddings with the padding zeroed (GigaGAN's mask is 'row not all zero') and the
    l2-normalised mean of the unmasked tokens, checked against numpy."""
    g = torch.Generator().manual_seed(0)
    embeds = torch.randn(3, 5, 8, generator=g)
    mask = torch.tensor([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])
    adapter = prompt_adapter(PromptTable(["a", "b", "c"], embeds, mask))
    pooled, enc = adapter.embed_texts(["c", "a"])
    assert adapter.dim_latent == 8 and not list(adapter.parameters())
    e, m = embeds.numpy()[[2, 0]], mask.numpy()[[2, 0]]
    np.testing.assert_allclose(enc.numpy(), e * m[..., None])
    want = (e * m[..., None]).sum(1) / m.sum(1, keepdims=True)
    np.testing.assert_allclose(pooled.numpy(), want / np.linalg.norm(want, axis=1, keepdims=True), rtol=1e-5)
    assert ((enc != 0).any(-1) == torch.from_numpy(m).bool()).all()
    with pytest.raises(BenchError, match="was not encoded"):
        adapter.embed_texts(["not a prompt"])


def test_step_sampler_draws_by_step():
    s = StepSampler(50, 4, seed=1)
    first = [i for _, i in zip(range(12), iter(s))]
    assert first == [i for _, i in zip(range(12), iter(s))] and all(0 <= i < 50 for i in first)
    s.start = 2
    assert [i for _, i in zip(range(12), iter(s))] != first


def test_count_flops_is_torchs_counter_total():
    """The counter without module tracking gives torch's FlopCounterMode total, and a known case: a
    (m, k) x (k, n) matmul is 2·m·k·n FLOPs; forward and backward of a Linear layer 3x that."""
    from torch.utils.flop_counter import FlopCounterMode

    a, b = torch.randn(6, 7), torch.randn(7, 5)
    assert count_flops(lambda: a @ b) == 2 * 6 * 7 * 5
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(8 * 6 * 6, 4))
    x = torch.randn(2, 3, 8, 8)
    with FlopCounterMode(display=False) as ref:
        net(x).sum().backward()
    assert count_flops(lambda: net(x).sum().backward()) == ref.get_total_flops() > 0
    lin, y = torch.nn.Linear(7, 5, bias=False), torch.randn(6, 7, requires_grad=True)
    assert count_flops(lambda: lin(y).sum().backward()) == 3 * 2 * 6 * 7 * 5


def test_a_grouped_convolution_counts_as_its_groups_run_one_by_one():
    """torch's counter ignores ``groups`` in a convolution's backward (a GAN's per-sample modulated
    convolutions were counted batch-times too high); ours counts what the groups cost run separately."""
    import torch.nn.functional as F

    g = 4
    x = torch.randn(2, 8 * g, 16, 16, requires_grad=True)
    w = torch.randn(8 * g, 8, 3, 3, requires_grad=True)
    grouped = count_flops(lambda: F.conv2d(x, w, padding=1, groups=g).sum().backward())
    xs = [torch.randn(2, 8, 16, 16, requires_grad=True) for _ in range(g)]
    ws = [torch.randn(8, 8, 3, 3, requires_grad=True) for _ in range(g)]
    one_by_one = count_flops(lambda: sum(F.conv2d(a, b, padding=1).sum() for a, b in zip(xs, ws)).backward())
    assert grouped == one_by_one == 3 * g * 2 * 2 * 8 * 8 * 9 * 16 * 16


def test_gan_specs_refuse_shapes_gigagan_cannot_take(smoke_dataset, tmp_path):
    with pytest.raises(BenchError, match="canvas_size"):
        build_dataclass(GigaGANParams, {"canvas_size": 36}, "t")
    with pytest.raises(BenchError, match="generator_attention = \\[12\\]"):
        build_dataclass(GigaGANParams, {"generator_attention": [12]}, "t")
    with pytest.raises(BenchError, match="unknown key 'guidance_scale'"):  # a GAN has no guidance
        build_dataclass(GigaGANParams, {"guidance_scale": 2.0}, "t")
    p = build_dataclass(GigaGANParams, {"canvas_size": 16, "generator_attention": [8],
                                        "discriminator_attention": [8]}, "t")
    with pytest.raises(BenchError, match="smaller than the 28 px images"):
        generator_class("gigagan")("g", p, smoke_dataset, tmp_path / "g")
