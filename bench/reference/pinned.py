"""The pinned reference networks of a suite: shipped with the suite, loaded and verified by sha256.

A published suite (``smoke``, ``small``) pins its two networks in its spec (``[reference.pinned]``:
the sha256 of ``classifier`` and ``clip``) and ships them in ``leaderboards/<suite>/reference/``:
``clip.safetensors`` (the domain CLIP) and ``classifier.safetensors`` (the label classifier over the
suite's global classes), each with a JSON card (recipe, seed, data hashes, validation metrics,
sha256). A run loads those files and refuses any whose sha256 differs from the spec's; it never
retrains them. Trained weights depend on the machine's floating-point kernels (an AVX-512 Xeon
retrained other bytes than the AVX2 EPYC that made the published results), so retraining by each
user would make every result incomparable with the leaderboard.

Training new networks (``medsyn-bench reference train``) is an explicit act: it writes them to
``runs/<suite>/_shared/reference/`` (a resumable stage keyed by the recipe and the data hashes) and,
with ``--publish``, ships them and makes a new suite version. A suite with no ``[reference.pinned]``
table (your own corpus) trains its networks in the run folder on first use, the same way. Training
runs on one torch thread on CPU (the summation order of a multi-threaded reduction depends on the
thread count). The hashes go into ``ctx.reference_hashes``, so into every result.
"""

from __future__ import annotations

import contextlib
import platform
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from bench.errors import BenchError
from bench.io import sha256_file
from bench.reference.classifier import ImageClassifier, balanced_accuracy, predict_proba, train_classifier
from bench.recipes import NAMES, ClassifierRecipe, ClipRecipe, ReferenceRecipe
from bench.reference.clip import DomainClip, encode_images, encode_texts, train_clip
from bench.reference.store import load_weights, read_card, save_weights, weights_path
from bench.specs import project_root, reference_recipe
from bench.stages import SuiteContext

CPU_THREADS = 1  # torch threads while training on CPU (see fixed_cpu_threads)


@dataclass
class References:
    """The loaded reference networks of one suite and their cards."""

    folder: Path
    clip: DomainClip
    classifier: ImageClassifier
    cards: dict[str, dict]

    @property
    def hashes(self) -> dict[str, str]:
        return {name: self.cards[name]["sha256"] for name in NAMES}


def reference_dir(ctx: SuiteContext) -> Path:
    """Where a run trains reference networks (suites without shipped ones, and `reference train`)."""
    return ctx.shared_dir / "reference"


def shipped_dir(suite_name: str) -> Path:
    """Where a published suite's reference networks are committed: ``leaderboards/<suite>/reference``."""
    return project_root() / "leaderboards" / suite_name / "reference"


def _fix(ctx: SuiteContext) -> str:
    return (f"run `medsyn-bench reference train --suite {ctx.spec.name}` (after deleting "
            f"{reference_dir(ctx)} if its files were altered), or restore the original files")


def _shipped_fix(suite_name: str) -> str:
    return (f"restore the shipped files with `git checkout -- leaderboards/{suite_name}/reference` "
            "(retraining them would make a new suite version: `medsyn-bench reference train --publish`)")


def _per_modality_accuracy(pred: np.ndarray, split, dataset) -> dict:
    out = {"accuracy": float((pred == split.classes).mean()),
           "balanced_accuracy": balanced_accuracy(split.classes, pred)}
    for m, mod in enumerate(dataset.modalities):
        sel = split.modality == m
        if sel.any():
            out[mod.key] = float((pred[sel] == split.classes[sel]).mean())
    return out


def _provenance(ctx: SuiteContext, recipe) -> dict:
    import open_clip
    import timm

    return {"suite": ctx.spec.name, "recipe": asdict(recipe), "seed": recipe.seed,
            "data": {"train": ctx.data_hashes["splits"]["train"], "val": ctx.data_hashes["splits"]["val"]},
            "n_classes": ctx.dataset.n_classes, "image_size": ctx.dataset.image_size,
            "packages": {"torch": torch.__version__, "timm": timm.__version__, "open_clip": open_clip.__version__},
            "trained_on": {"device": ctx.device, "machine": platform.machine(),
                           "torch_threads": torch.get_num_threads()}}


def _train_classifier(ctx: SuiteContext, recipe: ClassifierRecipe, folder: Path) -> dict:
    ds = ctx.dataset
    train, val, test = ds.splits["train"], ds.splits["val"], ds.splits["test"]
    ctx.log(f"reference networks: label classifier ({recipe.arch}, {recipe.steps} steps)")
    t0 = time.perf_counter()
    model, info = train_classifier(train.images, train.classes, ds.n_classes, arch=recipe.arch,
                                   input_size=recipe.input_size, steps=recipe.steps, batch_size=recipe.batch_size,
                                   lr=recipe.lr, weight_decay=recipe.weight_decay, seed=recipe.seed,
                                   device=ctx.device, val=(val.images, val.classes), eval_every=recipe.eval_every,
                                   augment="weak" if recipe.augment else "none", desc="reference classifier")
    wall = time.perf_counter() - t0
    metrics = {name: _per_modality_accuracy(predict_proba(model, s.images, device=ctx.device).argmax(1), s, ds)
               for name, s in (("val", val), ("test", test)) if len(s)}
    card = {**_provenance(ctx, recipe), "kind": "timm classifier over the suite's global (modality, label) classes",
            "config": {"arch": recipe.arch, "num_classes": ds.n_classes, "input_size": recipe.input_size},
            "training": {**asdict(info), "wall_s": wall}, "metrics": metrics,
            "classes": [f"{ds.modalities[m].key}/{ds.modalities[m].class_names[l]}" for m, l in ds.class_table()]}
    sha = save_weights(folder, "classifier", model.cpu(), card)
    return {"sha256": sha, "metrics": metrics, "wall_s": wall}


def _train_clip(ctx: SuiteContext, recipe: ClipRecipe, folder: Path) -> dict:
    ds = ctx.dataset
    train, val = ds.splits["train"], ds.splits["val"]
    ctx.log(f"reference networks: domain CLIP ({recipe.steps} steps)")
    t0 = time.perf_counter()
    model, info = train_clip(train.images, ds.prompts_for("train"), recipe, device=ctx.device,
                             desc="reference CLIP")
    wall = time.perf_counter() - t0
    prompts = [p.text for p in ds.prompt_requests()]
    pred = (encode_images(model, val.images, device=ctx.device) @ encode_texts(model, prompts, device=ctx.device).T).argmax(1)
    metrics = {"val": {"retrieval_top1": _per_modality_accuracy(pred, val, ds)}}
    card = {**_provenance(ctx, recipe), "kind": "open_clip CLIP trained with symmetric InfoNCE on train image-prompt pairs",
            "config": info.pop("config"), "training": {**info, "wall_s": wall}, "metrics": metrics,
            "prompts": prompts}
    sha = save_weights(folder, "clip", model.cpu(), card)
    return {"sha256": sha, "metrics": metrics, "wall_s": wall}


@contextlib.contextmanager
def fixed_cpu_threads(device: str, n: int = 1):
    """Train on CPU with a fixed number of torch threads: float reductions split across threads sum in
    a different order, so the same seed gives the same weights (bytes) only at the same thread count."""
    if not device.startswith("cpu"):
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_references(ctx: SuiteContext, recipe: ReferenceRecipe | None = None) -> dict:
    """Train (or skip, if already trained on the same recipe and data) both networks; returns stage records."""
    recipe = recipe or reference_recipe(ctx.spec)
    folder = reference_dir(ctx)
    data = ctx.data_hashes["dataset_sha256"]
    records = {}
    with fixed_cpu_threads(ctx.device, CPU_THREADS):
        records["classifier"] = ctx.stage(folder, "classifier", {"recipe": asdict(recipe.classifier), "data": data},
                                          lambda: _train_classifier(ctx, recipe.classifier, folder))
        records["clip"] = ctx.stage(folder, "clip", {"recipe": asdict(recipe.clip), "data": data,
                                                     "templates": ctx.dataset.templates},
                                    lambda: _train_clip(ctx, recipe.clip, folder))
    return records


def load_references(folder: Path, fix: str, device: str = "cpu") -> References:
    """Load both networks from ``folder``, refusing missing files and weights whose sha256 differs from the card."""
    cards = {name: read_card(folder, name, fix) for name in NAMES}
    c = cards["classifier"]["config"]
    classifier = ImageClassifier(c["arch"], c["num_classes"], c["input_size"])
    classifier.load_state_dict(load_weights(folder, "classifier", cards["classifier"]["sha256"], fix))
    clip = DomainClip(cards["clip"]["config"])
    clip.load_state_dict(load_weights(folder, "clip", cards["clip"]["sha256"], fix))
    return References(Path(folder), clip.to(device).eval(), classifier.to(device).eval(), cards)


_LOADED: dict[tuple, References] = {}


def ensure_references(ctx: SuiteContext) -> References:
    """Load and verify the suite's reference networks once per process and record their hashes in
    ``ctx.reference_hashes``: the shipped ones where the suite pins them, else trained in the run folder."""
    pinned = reference_recipe(ctx.spec).pinned
    if pinned:
        refs = load_shipped(ctx.spec.name, pinned, ctx.device)
    else:
        records = train_references(ctx)
        folder = reference_dir(ctx)
        for name, rec in records.items():  # the stage's record of what it wrote must match the card on disk
            card_sha = read_card(folder, name, _fix(ctx))["sha256"]
            if rec["output"].get("sha256") != card_sha:
                raise BenchError(f"reference {name!r}: the card's sha256 differs from the one recorded at "
                                 "training", where=str(folder), fix=_fix(ctx))
        key = (str(folder.resolve()), tuple(records[n]["output"]["sha256"] for n in NAMES), ctx.device)
        if key not in _LOADED:
            _LOADED[key] = load_references(folder, _fix(ctx), ctx.device)
        refs = _LOADED[key]
        note = (f"reference networks trained on this machine ({', '.join(f'{n} {refs.hashes[n][:8]}' for n in NAMES)}): "
                "the suite ships none, so results are comparable only with results that used the same hashes")
        if note not in ctx.warnings:
            ctx.warnings.append(note)
    ctx.reference_hashes.update(refs.hashes)
    return refs


def load_shipped(suite_name: str, pinned: dict[str, str], device: str = "cpu") -> References:
    """The suite's shipped networks, each refused unless its file's sha256 equals the spec's pin."""
    folder = shipped_dir(suite_name)
    fix = _shipped_fix(suite_name)
    for name in NAMES:
        card = read_card(folder, name, fix)
        if card.get("sha256") != pinned[name]:
            raise BenchError(f"shipped reference card {name}.json names sha256 {str(card.get('sha256'))[:16]}…, "
                             f"the suite pins {pinned[name][:16]}…", where=str(folder), fix=fix)
    key = (str(folder.resolve()), tuple(pinned[n] for n in NAMES), device)
    if key not in _LOADED:
        _LOADED[key] = load_references(folder, fix, device)  # re-hashes each file against its card
    return _LOADED[key]


def verify_references(folder: Path) -> list[tuple[str, bool, str | None, str]]:
    """(name, ok, sha256 of the weights file or None, message) per network: files present and the
    weights' sha256 equal to the card's."""
    out = []
    for name in NAMES:
        try:
            card = read_card(folder, name, "train the references")
        except BenchError as exc:
            out.append((name, False, None, exc.message))
            continue
        actual = sha256_file(weights_path(folder, name))
        ok = actual == card.get("sha256")
        out.append((name, ok, actual, f"sha256 {actual}" + ("" if ok else f" != card {card.get('sha256')}")))
    return out


# -- the `medsyn-bench reference` front door ---------------------------------------------------------


def suite_reference_dir(suite: str, runs_dir: Path) -> Path:
    """The folder `reference info|verify` read: the shipped one where the suite pins its networks,
    else the run folder's."""
    from bench.specs import load_suite

    spec = load_suite(suite)
    if reference_recipe(spec).pinned:
        return shipped_dir(spec.name)
    return Path(runs_dir) / spec.name / "_shared" / "reference"


def train_for_suite(suite: str, runs_dir: Path, data_root: str | None = None, device: str = "cpu", log=print) -> References:
    """Train (or find already trained in the run folder) and verify a suite's reference networks,
    whether or not it ships some: the deliberate act that makes new networks (see :func:`publish_trained`)."""
    from bench.data import load_dataset
    from bench.io import run_lock
    from bench.specs import load_suite

    spec = load_suite(suite)
    dataset = load_dataset(spec, data_root)
    suite_dir = Path(runs_dir) / spec.name
    with run_lock(suite_dir):
        ctx = SuiteContext(spec, dataset, suite_dir, device, log=log)
        ctx.data_hashes = dataset.hashes()
        train_references(ctx)
        return load_references(reference_dir(ctx), _fix(ctx), device)


def publish_trained(suite: str, refs: References) -> tuple[Path, int]:
    """Ship trained networks as the suite's new version: copy them (with their cards) into
    ``leaderboards/<suite>/reference/``, write their sha256 into the suite's ``[reference.pinned]`` table
    and add one to its ``version``. Returns (the suite file, the new version). Results of the old
    version stay on the page's "not comparable" side until rescored (`medsyn-bench rescore`)."""
    from bench.io import atomic_write_bytes, atomic_write_text
    from bench.specs import load_suite

    spec = load_suite(suite)
    path = Path(spec.path)
    text = path.read_text()
    if not re.search(r"^version\s*=\s*\d+\s*$", text, flags=re.M):
        raise BenchError("the suite file has no `version = N` line to bump", where=str(path),
                         fix="add `version = 1` near the top of the suite file")
    version = spec.version + 1
    text = re.sub(r"^version\s*=\s*\d+\s*$", f"version = {version}", text, count=1, flags=re.M)
    block = ("[reference.pinned]\n" + "".join(f'{n} = "{refs.hashes[n]}"\n' for n in sorted(NAMES)))
    if re.search(r"^\[reference\.pinned\]", text, flags=re.M):
        text = re.sub(r"^\[reference\.pinned\]\n(?:[a-z]+\s*=\s*\"[0-9a-f]*\"\n)*", block, text, count=1,
                      flags=re.M)
    else:
        text = text.rstrip("\n") + "\n\n" + block
    dest = shipped_dir(spec.name)
    dest.mkdir(parents=True, exist_ok=True)
    for name in NAMES:  # atomic: a link or an older file in the way is replaced, never written through
        for src in (weights_path(refs.folder, name), refs.folder / f"{name}.json"):
            atomic_write_bytes(dest / src.name, src.read_bytes())
    if [r[1] for r in verify_references(dest)] != [True] * len(NAMES):
        raise BenchError("the copied reference files do not match their cards", where=str(dest))
    atomic_write_text(path, text)
    return path, version


def published_hashes(suite: str, leaderboards_dir: Path) -> dict[str, dict[str, str]]:
    """generator → reference hashes recorded in the suite's published result files."""
    from bench.io import read_json
    from bench.specs import load_suite

    folder = Path(leaderboards_dir) / load_suite(suite).name / "results"
    return {p.stem: read_json(p).get("reference", {}) for p in sorted(folder.glob("*.json"))}
