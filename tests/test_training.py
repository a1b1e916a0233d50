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


def test_the_label_classifier_trains_every_step_and_keeps_its_best_validation_weights(smoke_dataset, monkeypatch):
    import bench.reference.classifier as clf

    tr, va = smoke_dataset.splits["train"], smoke_dataset.splits["val"]
    calls, real = [], clf.F.cross_entropy
    monkeypatch.setattr(clf.F, "cross_entropy", lambda *a, **k: calls.append(1) or real(*a, **k))
    evals, real_pred = [], clf.predict_proba
    monkeypatch.setattr(clf, "predict_proba", lambda *a, **k: evals.append(1) or real_pred(*a, **k))
    _, info = clf.train_classifier(tr.images[:32], tr.classes[:32], smoke_dataset.n_classes, arch="resnet10t",
                                   steps=7, batch_size=8, val=(va.images[:16], va.classes[:16]), eval_every=3)
    assert len(calls) == 7 and len(evals) == 3  # steps 3, 6 and the last
    assert info.best_step in (3, 6, 7) and 0 <= info.best_val_balanced_accuracy <= 1


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
    with pytest.raises(NonFiniteLoss, match="domain CLIP: training loss became nan at step 1 of 2"):
        train_clip(tr.images[:16], texts, recipe)
    with pytest.raises(NonFiniteLoss, match="foundation pretraining: training loss became nan at step 1 of 2"):
        pretrain(frames, ["a report"] * 8, cfg, steps=2, batch_size=4)


# -- the one loop ---------------------------------------------------------------------------------

def _tiny(seed: int = 0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=7)
    return model, opt, sched


def test_the_loop_is_exactly_the_textbook_loop():
    """Same seeded batches, same AdamW and schedule: train_steps gives bit-identical weights to the
    hand-written zero_grad / backward / step / schedule loop the trainers used to repeat."""
    from bench.training import train_steps

    data = torch.randn(64, 4, generator=torch.Generator().manual_seed(1))
    target = data.sum(1, keepdim=True)

    def batch(step):
        idx = torch.randint(0, 64, (8,), generator=torch.Generator().manual_seed(step))
        return data[idx], target[idx]

    ref, opt, sched = _tiny()
    for step in range(7):
        x, y = batch(step)
        loss = torch.nn.functional.mse_loss(ref(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    model, opt, sched = _tiny()
    seen = []
    out = train_steps(model, opt, lambda s, m: torch.nn.functional.mse_loss(model(batch(s)[0]), batch(s)[1]), 7,
                      what="tiny", scheduler=sched, hooks=[lambda done, loss: seen.append(done)])
    assert out.done == 7 and not out.stopped_early and seen == list(range(1, 8))
    assert all(torch.equal(a, b) for a, b in zip(ref.state_dict().values(), model.state_dict().values()))


def test_hooks_stop_early_and_a_resumed_run_counts_from_its_start():
    from bench.training import every, train_steps

    model, opt, _ = _tiny()
    calls = []
    out = train_steps(model, opt, lambda s, m: model(torch.ones(2, 4)).pow(2).mean(), 10, what="tiny", start=3,
                      hooks=[every(2, lambda done, loss: calls.append(done)), lambda done, loss: done == 6])
    assert calls == [4, 6] and out.done == 6 and out.stopped_early
    model, opt, _ = _tiny()  # a hook's other return values (tqdm.update returns True-ish values, 1, "x") go on
    out = train_steps(model, opt, lambda s, m: model(torch.ones(2, 4)).pow(2).mean(), 3, what="tiny",
                      hooks=[lambda done, loss: 1, lambda done, loss: "x"])
    assert out.done == 3 and not out.stopped_early


def test_gradient_accumulation_through_accelerate_equals_one_big_batch():
    from accelerate import Accelerator

    from bench.training import train_steps

    x = torch.randn(8, 4, generator=torch.Generator().manual_seed(2))
    ref, opt, _ = _tiny()
    opt_sgd = torch.optim.SGD(ref.parameters(), lr=0.1)
    loss = ref(x).pow(2).mean()
    loss.backward()
    opt_sgd.step()
    model, _, _ = _tiny()
    acc = Accelerator(cpu=True, gradient_accumulation_steps=2)
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    model, sgd = acc.prepare(model, sgd)
    train_steps(model, sgd, lambda s, m: model(x[4 * m:4 * m + 4]).pow(2).mean() / 1.0, 1, what="tiny",
                grad_accum=2, accelerator=acc)
    for a, b in zip(ref.parameters(), acc.unwrap_model(model).parameters()):
        assert torch.allclose(a, b, atol=1e-7)


def test_the_fine_tuning_stops_with_the_same_error(monkeypatch):
    import bench.foundation.probes as probes
    from bench.foundation.encoder import EncoderConfig
    from bench.foundation.sequences import SequenceSet

    cfg = EncoderConfig(in_chans=1, frames=2, width=16, embed_dim=16, text_width=16, text_layers=1, text_heads=2,
                        context_length=16)
    rng = np.random.default_rng(0)
    seqs = SequenceSet(frames=rng.random((12, 2, 1, 16, 16), dtype=np.float32), texts=["a report"] * 12,
                       labels=np.eye(3, dtype=np.uint8)[rng.integers(0, 3, 12)], label_names=["a", "b", "c"],
                       targets=np.zeros((12, 0)), target_names=[], exclusive=[0, 1, 2])
    monkeypatch.setattr(probes.F, "cross_entropy", nan_like)
    with pytest.raises(NonFiniteLoss, match="fine-tuning: training loss became nan at step 1 of 3"):
        probes.finetune(None, cfg, seqs, seqs, steps=3, lr=1e-3, seed=0)


def test_no_trainer_writes_its_own_optimiser_step():
    """The one loop is the only place in the package that steps an optimiser (perf.py's side-by-side
    baselines excepted): a new trainer that copies the step block fails here. A generator's
    ``training_probe`` (one forward and backward that perf times and the equal-compute check counts, no
    optimiser) may call backward."""
    import ast
    import re

    from bench.specs import project_root

    def probe_lines(text: str) -> set[int]:
        return {i for f in ast.walk(ast.parse(text)) if isinstance(f, ast.FunctionDef) and f.name == "training_probe"
                for i in range(f.lineno, f.end_lineno + 1)}

    pkg = project_root() / "bench"
    offenders = []
    for p in pkg.rglob("*.py"):
        if p.name in ("training.py", "perf.py"):
            continue
        text = p.read_text()
        for i, line in enumerate(text.splitlines(), 1):
            if re.search(r"\b(opt|optimizer|optim)\w*\.step\(\)", line) or (
                    re.search(r"\.backward\(\)$", line.strip()) and i not in probe_lines(text)):
                offenders.append(f"{p.relative_to(pkg)}:{i}")
    assert offenders == []


def test_one_augmentation_for_images_and_sequences_draws_as_the_two_it_replaced():
    """bench.augment.flip_and_shift against the two former copies (images in the classifier, sequences in
    the foundation encoder), written out here: same draws from the same generator, same tensors."""
    from bench.augment import flip_and_shift

    def images_before(x, gen):
        flip = torch.rand(x.shape[0], generator=gen) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        dx, dy = (int(v) for v in torch.randint(-2, 3, (2,), generator=gen))
        return torch.roll(x, shifts=(dy, dx), dims=(-2, -1))

    def sequences_before(x, gen):
        flip = torch.rand(x.shape[0], generator=gen) < 0.5
        x = torch.where(flip[:, None, None, None, None], x.flip(-1), x)
        dx, dy = (int(v) for v in torch.randint(-2, 3, (2,), generator=gen))
        return torch.roll(x, shifts=(dy, dx), dims=(-2, -1))

    for shape, before in (((16, 3, 8, 8), images_before), ((16, 4, 1, 8, 8), sequences_before)):
        x = torch.rand(shape, generator=torch.Generator().manual_seed(0))
        for seed in range(5):
            a = flip_and_shift(x, torch.Generator().manual_seed(seed))
            b = before(x, torch.Generator().manual_seed(seed))
            assert torch.equal(a, b)
        flipped = flip_and_shift(x, torch.Generator().manual_seed(1), max_shift=0)
        assert all(torch.equal(f, o) or torch.equal(f, o.flip(-1)) for f, o in zip(flipped, x))
