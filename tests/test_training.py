"""Every network the suite trains stops with the same error on a non-finite loss, and the domain CLIP
and the foundation encoder share one contrastive training loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.errors import BenchError, NonFiniteLoss, check_loss


def nan_like(*args, **kwargs):
    return torch.tensor(float("nan"), requires_grad=True)


def test_check_loss_passes_finite_values_and_names_the_step():
    assert check_loss(0.25, "x", 3) == 0.25
    for bad in (float("nan"), float("inf"), float("-inf")):
        with pytest.raises(NonFiniteLoss, match=r"classifier: training loss became .* at step 7 of 9") as err:
            check_loss(bad, "classifier", 7, 9)
        assert isinstance(err.value, BenchError) and "learning rate" in err.value.fix


def test_the_label_classifier_stops_on_a_nan_loss(smoke_dataset, monkeypatch):
    import bench.reference.classifier as clf

    tr = smoke_dataset.splits["train"]
    monkeypatch.setattr(clf.F, "cross_entropy", nan_like)
    with pytest.raises(NonFiniteLoss, match="classifier: training loss became nan at step 1 of 2"):
        clf.train_classifier(tr.images[:16], tr.classes[:16], smoke_dataset.n_classes, arch="resnet10t", steps=2,
                             batch_size=8)


def test_both_contrastive_trainers_share_the_loop_and_its_error(smoke_dataset, monkeypatch):
    import bench.reference.contrastive as contrastive
    from bench.foundation.encoder import EncoderConfig, pretrain
    from bench.recipes import ClipRecipe
    from bench.reference.clip import train_clip

    tr = smoke_dataset.splits["train"]
    texts = smoke_dataset.prompts_for("train")[:16]
    recipe = ClipRecipe(embed_dim=16, vision_width=32, vision_layers=1, vision_head_width=16, patch_size=7,
                        text_width=32, text_layers=1, text_heads=2, context_length=16, steps=2, batch_size=8,
                        warmup_steps=1)
    calls = []
    real = contrastive.train_contrastive
    monkeypatch.setattr(contrastive, "train_contrastive", lambda *a, **k: calls.append(k["what"]) or real(*a, **k))
    import bench.foundation.encoder as encoder
    import bench.reference.clip as clip

    monkeypatch.setattr(clip, "train_contrastive", contrastive.train_contrastive)
    monkeypatch.setattr(encoder, "train_contrastive", contrastive.train_contrastive)
    model, info = train_clip(tr.images[:16], texts, recipe)
    assert np.isfinite(info["final_loss"])
    frames = np.random.default_rng(0).random((8, 2, 1, 16, 16), dtype=np.float32)
    cfg = EncoderConfig(in_chans=1, frames=2, width=16, embed_dim=16, text_width=16, text_layers=1, text_heads=2,
                        context_length=16)
    pretrain(frames, ["a report"] * 8, cfg, steps=2, batch_size=4)
    assert calls == ["domain CLIP", "foundation pretraining"]

    monkeypatch.setattr(contrastive, "info_nce", nan_like)
    with pytest.raises(NonFiniteLoss, match="domain CLIP: training loss became nan at step 0 of 2"):
        train_clip(tr.images[:16], texts, recipe)
    with pytest.raises(NonFiniteLoss, match="foundation pretraining: training loss became nan at step 0 of 2"):
        pretrain(frames, ["a report"] * 8, cfg, steps=2, batch_size=4)
