"""Pretrain an encoder per source of image–text pairs, probe it, and summarise (the task's core).

Sources: ``real`` (real sequences/images with their reports or prompts), ``synthetic`` (a generator's
images with the prompts they were drawn for), ``both`` (the union), and ``scratch`` (no pretraining:
the same architecture trained on the labels alone, so it has only ``finetune_*`` metrics). Probes are
always trained and tested on real data. Pretraining runs once per source (seed ``seed``); probe seeds
redraw the label budgets and the fine-tuning initialisation of the head and batches.

Output (the suite convention plus the probe table)::

    {"pooled": {"<source>:<metric>@<budget>": mean, "<source>:<metric>@<budget>_ci": [lo, hi], ...},
     "per_modality": {group: {"<source>:<metric>@<budget>": mean over seeds}},
     "probes": {source: {budget | "zero-shot": {metric: {"mean", "ci", "values"}}}},
     "pretraining": {source: {final_loss, temperature, n_pairs, wall_s}}, "n": {...}}
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from bench.foundation import probes as pr
from bench.foundation.encoder import EncoderConfig, embed_sequences, embed_texts, pretrain
from bench.foundation.sequences import FRAME_RULES, SequenceSet

SOURCES = ("real", "synthetic", "both", "scratch")


def _pos(v) -> bool:
    return v > 0


@dataclass
class FoundationParams:
    """The encoder, pretraining and probe recipe (``tasks/foundation.toml`` [params])."""

    frames: int = field(default=1, metadata={"check": _pos, "why": "must be >= 1"})
    frame_rule: str = field(default="sample", metadata={"choices": FRAME_RULES})
    arch: str = "cnn"
    width: int = field(default=16, metadata={"check": _pos, "why": "must be > 0"})
    temporal: str = field(default="attention", metadata={"choices": ("attention", "pool")})
    embed_dim: int = field(default=64, metadata={"check": _pos, "why": "must be > 0"})
    text_width: int = field(default=64, metadata={"check": lambda v: v > 0 and v % 4 == 0, "why": "a multiple of 4"})
    text_layers: int = field(default=2, metadata={"check": _pos, "why": "must be > 0"})
    context_length: int = field(default=64, metadata={"check": _pos, "why": "must be > 0"})
    pretrain_steps: int = field(default=300, metadata={"check": _pos, "why": "must be > 0"})
    batch_size: int = field(default=64, metadata={"check": lambda v: v >= 2, "why": "InfoNCE needs >= 2"})
    lr: float = field(default=2e-3, metadata={"check": _pos, "why": "must be > 0"})
    fractions: list[float] = field(default_factory=lambda: [0.01, 0.1, 1.0],
                                   metadata={"check": lambda v: all(0 < f <= 1 for f in v), "why": "in (0, 1]"})
    per_class: list[int] = field(default_factory=lambda: [5], metadata={"check": lambda v: all(n > 0 for n in v),
                                                                        "why": "counts > 0"})
    seeds: int = field(default=3, metadata={"check": _pos, "why": "must be >= 1"})
    linear_c: float = field(default=1.0, metadata={"check": _pos, "why": "must be > 0"})
    finetune: bool = True
    finetune_steps: int = field(default=100, metadata={"check": _pos, "why": "must be > 0"})
    finetune_lr: float = field(default=1e-3, metadata={"check": _pos, "why": "must be > 0"})
    scratch: bool = True
    seed: int = 0


def encoder_config(p: FoundationParams, in_chans: int) -> EncoderConfig:
    return EncoderConfig(in_chans=in_chans, frames=p.frames, arch=p.arch, width=p.width, temporal=p.temporal,
                         embed_dim=p.embed_dim, text_width=p.text_width, text_layers=p.text_layers,
                         context_length=p.context_length)


def pretrain_source(frames: np.ndarray, texts: list[str], p: FoundationParams, device: str = "cpu", log=print):
    cfg = encoder_config(p, frames.shape[2])
    t0 = time.perf_counter()
    model, info = pretrain(frames, texts, cfg, steps=p.pretrain_steps, batch_size=p.batch_size, lr=p.lr,
                           seed=p.seed, device=device, log=log)
    info["wall_s"] = time.perf_counter() - t0
    return model, info


def probe_source(model, train: SequenceSet, test: SequenceSet, p: FoundationParams, device: str = "cpu",
                 log=print) -> dict:
    """All probes of one source. ``model`` None: the from-scratch baseline (fine-tune only)."""
    t0 = time.perf_counter()
    cfg = encoder_config(p, train.frames.shape[2])
    budgets = pr.budget_names(p.fractions, p.per_class)
    strata = train.strata()
    runs: dict[str, list[dict]] = {b: [] for b in budgets}
    probes: dict[str, dict] = {}
    per_group: dict[str, dict[str, list]] = {}

    def add_groups(budget: str, groups: dict) -> None:
        for g, m in groups.items():
            for k, v in m.items():
                per_group.setdefault(g, {}).setdefault(f"{k}@{budget}", []).append(v)

    if model is not None:
        zs = pr.zero_shot(embed_sequences(model.visual, test.frames, device=device),
                          embed_texts(model, test.label_prompts, device=device), test)
        probes["zero-shot"] = {k: pr.mean_ci([v]) for k, v in zs["pooled"].items()}
        if test.exclusive:
            probes["zero-shot"]["chance_accuracy"] = pr.mean_ci([1.0 / len(test.exclusive)])
        add_groups("zero-shot", zs["per_group"])
        tr_emb = embed_sequences(model.visual, train.frames, device=device)
        te_emb = embed_sequences(model.visual, test.frames, device=device)
    for b in budgets:
        for s in range(p.seeds):
            idx = pr.budget_indices(strata, b, p.seed + s)
            sub = train.subset(idx)
            out = {}
            if model is not None:
                scores, preds = pr.linear_probe(tr_emb[idx], sub, te_emb, p.linear_c, seed=s)
                m = pr.prediction_metrics(scores, preds, test, "linear")
                out.update(m["pooled"])
                add_groups(b, m["per_group"])
            if p.finetune and (model is not None or p.scratch):
                scores, preds = pr.finetune(model.visual if model is not None else None, cfg, sub, test,
                                            steps=p.finetune_steps, lr=p.finetune_lr, seed=p.seed + s, device=device)
                m = pr.prediction_metrics(scores, preds, test, "finetune")
                out.update(m["pooled"])
                add_groups(b, m["per_group"])
            out["n_labelled"] = len(idx)
            runs[b].append(out)
        keys = sorted({k for r in runs[b] for k in r})
        probes[b] = {k: pr.mean_ci([r.get(k) for r in runs[b]]) for k in keys}
        log(f"    {b:>8}: " + ", ".join(f"{k} {v['mean']:.3f}" for k, v in probes[b].items()
                                        if v["mean"] is not None and k != "n_labelled"))
    groups = {g: {k: (float(np.mean([x for x in v if x is not None])) if any(x is not None for x in v) else None)
                  for k, v in m.items()} for g, m in per_group.items()}
    return {"probes": probes, "per_group": groups, "wall_s": time.perf_counter() - t0}


def summarise(by_source: dict[str, dict], pretraining: dict[str, dict], extra: dict | None = None) -> dict:
    """The task output (see the module docstring) from :func:`probe_source` results keyed by source."""
    pooled, per_modality, table = {}, {}, {}
    for src, res in by_source.items():
        table[src] = res["probes"]
        for budget, metrics in res["probes"].items():
            for k, v in metrics.items():
                if k == "n_labelled":
                    continue
                pooled[f"{src}:{k}@{budget}"] = v["mean"]
                if v["ci"] is not None:
                    pooled[f"{src}:{k}@{budget}_ci"] = v["ci"]
        for g, m in res["per_group"].items():
            per_modality.setdefault(g, {}).update({f"{src}:{k}": v for k, v in m.items()})
    return {"pooled": pooled, "per_modality": per_modality, "probes": table, "pretraining": pretraining,
            "probe_wall_s": {s: r["wall_s"] for s, r in by_source.items()}, **(extra or {})}


def format_table(probes: dict, metrics: tuple[str, ...] | None = None) -> str:
    """A plain-text probe table: one row per source × budget, columns = metrics (mean ± CI half-width)."""
    cols = metrics or tuple(sorted({k for src in probes.values() for b in src.values() for k in b
                                    if k != "n_labelled"}))
    lines = ["source    budget     " + " ".join(f"{c:>22}" for c in cols)]
    for src, budgets in probes.items():
        for b, m in budgets.items():
            cells = []
            for c in cols:
                v = m.get(c)
                if not v or v["mean"] is None:
                    cells.append(f"{'—':>22}")
                else:
                    half = f" ± {(v['ci'][1] - v['ci'][0]) / 2:.3f}" if v["ci"] else ""
                    cells.append(f"{v['mean']:>14.3f}{half:<8}")
            lines.append(f"{src:<9} {b:<10} " + " ".join(cells))
    return "\n".join(lines)


def run_on_sets(sources: dict[str, tuple[np.ndarray, list[str]] | None], train: SequenceSet, test: SequenceSet,
                p: FoundationParams, device: str = "cpu", log=print) -> dict:
    """Pretrain on every source's pairs (None: scratch), probe each, return ``summarise``'s output."""
    return summarise(*run_sources(sources, train, test, p, device, log))


def run_sources(sources: dict[str, tuple[np.ndarray, list[str]] | None], train: SequenceSet, test: SequenceSet,
                p: FoundationParams, device: str = "cpu", log=print) -> tuple[dict, dict]:
    """(probe results by source, pretraining facts by source): the inputs of :func:`summarise`."""
    by_source, pretraining = {}, {}
    for name, pairs in sources.items():
        model = None
        if pairs is not None:
            log(f"  pretrain on {name} pairs ({len(pairs[1])})")
            model, info = pretrain_source(pairs[0], pairs[1], p, device, log)
            pretraining[name] = {k: info[k] for k in ("final_loss", "temperature", "n_pairs", "wall_s")}
        log(f"  probes: {name}")
        by_source[name] = probe_source(model, train, test, p, device, log)
    return by_source, pretraining


def phantom_sets(p: FoundationParams, n_train: int, n_test: int, size: int) -> tuple[SequenceSet, SequenceSet]:
    """Phantom train and test sets (test drawn with another seed, so no case is shared)."""
    from bench.foundation.phantom import make_phantom

    return make_phantom(n_train, p.frames, size, p.seed), make_phantom(n_test, p.frames, size, p.seed + 1000)


def run_phantom(p: FoundationParams, n_train: int = 300, n_test: int = 150, size: int = 32, out=None,
                device: str = "cpu", log=print) -> dict:
    """The foundation task on the cardiac cine phantom: real (phantom) pretraining and scratch.

    Writes ``out`` (if given) atomically as its own small JSON (``kind: foundation-phantom``): the
    generator result schema does not fit, since no generator is involved."""
    from dataclasses import asdict
    from pathlib import Path

    from bench.io import atomic_write_json
    from bench.results import git_commit, package_versions
    from bench.specs import project_root
    from bench.stages import now_iso

    t0 = time.perf_counter()
    train, test = phantom_sets(p, n_train, n_test, size)
    log(f"phantom: {n_train} train / {n_test} test cine loops, {p.frames} frames × {size} × {size}")
    sources = {"real": (train.frames, train.texts)}
    if p.finetune and p.scratch:
        sources["scratch"] = None
    metrics = run_on_sets(sources, train, test, p, device, log)
    obj = {"schema_version": 1, "kind": "foundation-phantom",
           "note": "cardiac cine phantom generated by medsyn-bench (bench/foundation/phantom.py); not patient data",
           "phantom": {"n_train": n_train, "n_test": n_test, "frames": p.frames, "size": size, "seed": p.seed,
                       "labels": train.label_names, "targets": train.target_names},
           "params": asdict(p), "device": device, "packages": package_versions(),
           "git_commit": git_commit(project_root()), "created": now_iso(),
           "wall_time_s": time.perf_counter() - t0, "metrics": metrics}
    if out is not None:
        atomic_write_json(Path(out), obj)
    return obj


def run_folder(folder, p: FoundationParams, size: int | None = None, test_fraction: float = 0.3, out=None,
               device: str = "cpu", log=print) -> dict:
    """The foundation task on a user's sequence folder (see :mod:`bench.foundation.sequences`): real
    pretraining on the train rows' reports, probes on train → test (the CSV's ``split`` column, else a
    seeded ``test_fraction``). Writes ``out`` like :func:`run_phantom` (``kind: foundation-folder``)."""
    from dataclasses import asdict
    from pathlib import Path

    from bench.errors import BenchError
    from bench.foundation.sequences import read_sequence_folder
    from bench.io import atomic_write_json
    from bench.stages import now_iso

    t0 = time.perf_counter()
    seqs = read_sequence_folder(folder, p.frames, p.frame_rule, size)
    if seqs.split:
        train, test = seqs.by_split("train"), seqs.by_split("test")
    else:
        perm = np.random.default_rng(p.seed).permutation(len(seqs))
        k = int(round(test_fraction * len(seqs)))
        train, test = seqs.subset(np.sort(perm[k:])), seqs.subset(np.sort(perm[:k]))
    if len(train) < 2 or len(test) < 2:
        raise BenchError(f"{len(train)} train and {len(test)} test sequences: too few to probe", where=str(folder),
                         fix="give at least 2 of each (the CSV's split column, or more rows)")
    sources = {"real": (train.frames, train.texts)}
    if p.finetune and p.scratch:
        sources["scratch"] = None
    metrics = run_on_sets(sources, train, test, p, device, log)
    obj = {"schema_version": 1, "kind": "foundation-folder", "folder": str(Path(folder).resolve()),
           "n_train": len(train), "n_test": len(test), "params": asdict(p), "device": device,
           "created": now_iso(), "wall_time_s": time.perf_counter() - t0, "metrics": metrics}
    if out is not None:
        atomic_write_json(Path(out), obj)
    return obj
