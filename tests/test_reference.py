"""Reference networks: deterministic training, pinned storage, clear errors, and the CLI front door."""

from __future__ import annotations

import numpy as np
import pytest

from bench.cli import main
from bench.errors import BenchError
from bench.reference.classifier import train_classifier
from bench.recipes import ClipRecipe
from bench.reference.clip import DomainClip, encode_images, encode_texts, train_clip
from bench.reference.contrastive import tokenize
from bench.reference.pinned import NAMES, load_references, verify_references
from bench.reference.store import card_path, load_weights, save_weights, weights_path

TINY_CLIP = ClipRecipe(embed_dim=16, vision_width=32, vision_layers=1, vision_head_width=16, patch_size=7,
                       text_width=32, text_layers=1, text_heads=2, context_length=16, steps=3, batch_size=16,
                       warmup_steps=1)


@pytest.fixture(scope="module")
def few(smoke_dataset):
    tr = smoke_dataset.splits["train"]
    idx = np.arange(0, len(tr), 20)[:48]
    return tr.images[idx], tr.classes[idx], [smoke_dataset.prompts_for("train")[i] for i in idx], smoke_dataset


def test_tokenizer_is_offline_and_fits_prompts(smoke_dataset):
    prompts = [smoke_dataset.prompt(c, t) for c in range(smoke_dataset.n_classes) for t in range(smoke_dataset.n_templates)]
    tok = tokenize(prompts, 16)
    assert tok.shape == (len(prompts), 16)
    assert int((tok != 0).sum(1).max()) < 16  # no prompt of the suite is truncated at the CPU context length


def test_clip_training_is_deterministic(few, tmp_path):
    images, _, texts, _ = few
    shas = []
    for run in ("a", "b"):
        model, info = train_clip(images, texts, TINY_CLIP)
        shas.append(save_weights(tmp_path / run, "clip", model, {"config": model.config}))
        assert np.isfinite(info["final_loss"])
    assert shas[0] == shas[1]
    emb = encode_images(model, images[:5], batch_size=2)
    assert emb.shape == (5, 16) and np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    assert encode_texts(model, texts[:3]).shape == (3, 16)


def test_clip_bytes_do_not_depend_on_the_callers_thread_count(few, tmp_path):
    import torch

    from bench.reference.pinned import fixed_cpu_threads

    images, _, texts, _ = few
    before, shas = torch.get_num_threads(), []
    try:
        for outer in (1, 2):
            torch.set_num_threads(outer)
            with fixed_cpu_threads("cpu"):
                model, _ = train_clip(images, texts, TINY_CLIP)
            assert torch.get_num_threads() == outer
            shas.append(save_weights(tmp_path / str(outer), "clip", model, {}))
    finally:
        torch.set_num_threads(before)
    assert shas[0] == shas[1]


def test_classifier_training_is_deterministic(few, tmp_path):
    images, classes, _, ds = few
    shas = [save_weights(tmp_path / run, "classifier",
                         train_classifier(images, classes, ds.n_classes, arch="resnet10t", steps=2, batch_size=8)[0], {})
            for run in ("a", "b")]
    assert shas[0] == shas[1]


def test_store_refuses_altered_or_missing_weights(few, tmp_path):
    images, _, texts, _ = few
    model = DomainClip(train_clip(images[:16], texts[:16], ClipRecipe(**{**TINY_CLIP.__dict__, "steps": 1}))[0].config)
    sha = save_weights(tmp_path, "clip", model, {"config": model.config})
    state = load_weights(tmp_path, "clip", sha, fix="retrain")
    DomainClip(model.config).load_state_dict(state)
    with open(weights_path(tmp_path, "clip"), "ab") as fh:
        fh.write(b"tampered")
    with pytest.raises(BenchError, match="sha256"):
        load_weights(tmp_path, "clip", sha, fix="retrain")
    weights_path(tmp_path, "clip").unlink()
    with pytest.raises(BenchError, match="missing"):
        load_weights(tmp_path, "clip", sha, fix="retrain")
    assert card_path(tmp_path, "clip").is_file()


def test_missing_references_are_a_clear_error(tmp_path):
    with pytest.raises(BenchError, match="missing") as exc:
        load_references(tmp_path, fix="run `medsyn-bench reference train`")
    assert "reference train" in exc.value.render()


@pytest.mark.slow
def test_results_pin_the_reference_hashes(smoke_runs, smoke_baselines):
    from bench.reference.pinned import shipped_dir

    assert not (smoke_runs / "smoke" / "_shared" / "reference").exists()  # shipped, not retrained
    folder = shipped_dir("smoke")
    checks = verify_references(folder)
    assert all(ok for _, ok, _, _ in checks), checks
    refs = load_references(folder, fix="")
    for res in smoke_baselines.values():
        assert res["reference"] == refs.hashes
    card = refs.cards["classifier"]
    assert set(card["metrics"]) == {"val", "test"} and card["metrics"]["val"]["accuracy"] > 0.5
    assert refs.cards["clip"]["metrics"]["val"]["retrieval_top1"]["accuracy"] > 0.3
    assert set(NAMES) == set(refs.hashes)


@pytest.mark.slow
def test_reference_cli_info_and_verify(smoke_runs, spec_home, tmp_path, capsys):
    assert main(["reference", "info", "--suite", "smoke", "--runs-dir", str(smoke_runs)]) == 0
    out = capsys.readouterr().out
    assert "# clip" in out and "# classifier" in out and "sha256" in out
    assert main(["reference", "verify", "--suite", "smoke", "--runs-dir", str(smoke_runs),
                 "--leaderboards-dir", str(smoke_runs.parent / "leaderboards")]) == 0
    assert "same references" in capsys.readouterr().out
    (spec_home / "leaderboards" / "smoke" / "reference" / "clip.safetensors").unlink()
    assert main(["reference", "verify", "--suite", "smoke", "--runs-dir", str(tmp_path)]) == 2
    assert "missing" in capsys.readouterr().err


def test_inception_column_needs_a_local_file(tmp_path):
    from bench.reference.features import InceptionFeatures

    with pytest.raises(BenchError, match="not found"):
        InceptionFeatures("inception-v3-torchvision", None, weights=str(tmp_path / "absent.pth"))
    (tmp_path / "bad.pth").write_bytes(b"not a state dict")
    with pytest.raises(BenchError, match="state dict"):
        InceptionFeatures("inception-v3-torchvision", None, weights=str(tmp_path / "bad.pth"))
