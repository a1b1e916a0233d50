"""The pipeline of one suite run, resumable stage by stage.

    data → reference networks / suite-level task prep → for each generator: fit → sample (PNG +
    manifest) → each task → result JSON (runs/<suite>/<generator>/result.json, then published to
    leaderboards/<suite>/results/<generator>.json)
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.data import Dataset, load_dataset
from bench.errors import BenchError
from bench.generators.base import Generator, Samples, read_samples, write_samples
from bench.io import run_lock, sha256_json
from bench.registry import generator_class, task_class
from bench.results import SCHEMA_VERSION, git_commit, package_versions, write_result
from bench.specs import ModelSpec, SuiteSpec, build_dataclass, load_model, load_suite, load_task, project_root
from bench.stages import SuiteContext, now_iso


@dataclass
class GeneratorEntry:
    """One row of a leaderboard: a model spec, the modalities it covers and its budget rule."""

    name: str
    model: ModelSpec
    role: str
    modalities: list[int] | None  # None = all modalities of the suite
    budget: str | None = None  # specialists: "equal-steps" or "equal-compute"
    budget_scale: float = 1.0


@dataclass
class GeneratorRun:
    """What tasks see of one generator after sampling."""

    entry: GeneratorEntry
    generator: Generator
    folder: Path
    samples: Samples
    samples_hash: str


def generator_entries(spec: SuiteSpec, dataset: Dataset) -> list[GeneratorEntry]:
    """The generalist/baseline rows of ``models`` and, for each model in ``specialists``, one row per
    modality and budget rule ("equal-steps": the generalist's recipe; "equal-compute": its steps
    divided by the number of modalities, so the specialists together cost what the generalist does)."""
    entries = []
    for name in spec.generators.models:
        model = load_model(name)
        cls = generator_class(model.kind)
        entries.append(GeneratorEntry(name, model, cls.role, None))
    n_mod = len(dataset.modalities)
    for name in spec.generators.specialists:
        model = load_model(name)
        for m, mod in enumerate(dataset.modalities):
            for rule in spec.generators.specialist_budgets:
                suffix = "" if rule == "equal-steps" else "-eqcompute"
                scale = 1.0 if rule == "equal-steps" else 1.0 / n_mod
                entries.append(GeneratorEntry(f"{name}@{mod.key}{suffix}", model, "specialist", [m], rule, scale))
    return entries


def build_tasks(spec: SuiteSpec, ctx: SuiteContext) -> list:
    tasks = []
    for tname in spec.tasks:
        tspec = load_task(tname)
        cls = task_class(tspec.task, where=tspec.path)
        table = {**tspec.params, **spec.overrides.get(tname, {})}
        params = build_dataclass(cls.Params, table, f"{tspec.path} [params] (with {spec.path} [overrides.{tname}])")
        task = cls(params, ctx)
        task.spec = tspec
        tasks.append(task)
    return tasks


def _replace_dir(tmp: Path, final: Path) -> None:
    """Put folder ``tmp`` in place of ``final`` (old contents removed only after the new are in place)."""
    old = final.with_name(final.name + f".old-{os.getpid()}")
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def run_generator(entry: GeneratorEntry, ctx: SuiteContext, tasks: list, log=print) -> dict:
    spec, dataset = ctx.spec, ctx.dataset
    folder = ctx.suite_dir / entry.name
    cls = generator_class(entry.model.kind)
    params = build_dataclass(cls.Params, entry.model.params, f"{entry.model.path} [params]")
    gen = cls(entry.name, params, dataset, folder / "fit", entry.modalities, ctx.device)
    gen.budget_scale = entry.budget_scale
    gen.shared_dir = ctx.shared_dir

    fit_inputs = {"model": dataclasses.asdict(entry.model) | {"path": None}, "data": ctx.data_hashes["dataset_sha256"],
                  "modalities": entry.modalities, "budget": entry.budget, "budget_scale": entry.budget_scale}
    log(f"[{entry.name}] fit")
    fit = ctx.stage(folder, "fit", fit_inputs, lambda: gen.fit() or {})
    if fit["skipped"]:
        gen.load()

    prompts = dataset.prompt_requests(entry.modalities)
    sample_inputs = {"fit": fit["input_hash"], "prompts": [p.text for p in prompts],
                     "n": spec.sampling.n_per_prompt, "seed": spec.sampling.seed}

    def do_sample() -> dict:
        t0 = time.perf_counter()
        samples = gen.sample(prompts, spec.sampling.n_per_prompt, spec.sampling.seed)
        wall = time.perf_counter() - t0
        tmp = folder / f"samples.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        write_samples(tmp, samples, dataset)
        _replace_dir(tmp, folder / "samples")
        info = dict(getattr(gen, "last_sample_info", {}) or {})
        return {"n_images": len(samples.requests), "wall_s": wall, **info}

    log(f"[{entry.name}] sample {spec.sampling.n_per_prompt} per prompt × {len(prompts)} prompts")
    smp = ctx.stage(folder, "sample", sample_inputs, do_sample)
    samples = read_samples(folder / "samples", dataset)
    run = GeneratorRun(entry, gen, folder, samples, smp["input_hash"])

    metrics, task_wall = {}, 0.0
    for task in tasks:
        log(f"[{entry.name}] {task.spec.name}")
        inputs = {"task": dataclasses.asdict(task.params), "kind": task.spec.task, "samples": smp["input_hash"],
                  "reference": ctx.reference_hashes, "data": ctx.data_hashes["dataset_sha256"]}
        rec = ctx.stage(folder, f"task-{task.spec.name}", inputs, lambda t=task: t.evaluate(run))
        metrics[task.spec.name] = rec["output"]
        task_wall += rec["wall_s"]

    result = {
        "schema_version": SCHEMA_VERSION,
        "suite": {"name": spec.name, "version": spec.version, "spec": _spec_dict(spec),
                  "tasks": {t.spec.name: {"task": t.spec.task, "params": dataclasses.asdict(t.params)} for t in tasks}},
        "generator": {"name": entry.name, "kind": entry.model.kind, "role": entry.role,
                      "spec": dataclasses.asdict(entry.model) | {"path": None},
                      "modalities": [dataset.modalities[m].key for m in gen.modalities],
                      "budget": entry.budget},
        "seeds": {"suite": spec.seed, "splits": spec.splits.seed, "sampling": spec.sampling.seed},
        "data": {**ctx.data_hashes, "budgets": {str(n): {"n_images": len(idx), "sha256": sha256_json(idx.tolist())}
                                                for n, idx in ctx.budgets.items()},
                 "provenance": dataset.provenance, "prompts": [p.text for p in prompts]},
        "reference": dict(ctx.reference_hashes),
        "packages": package_versions(),
        "git_commit": git_commit(project_root()),
        "created": now_iso(),
        "wall_time_s": fit["wall_s"] + smp["wall_s"] + task_wall,
        "compute": {"fit": {**fit["output"], "wall_s": fit["wall_s"], "device": ctx.device},
                    "sample": {**smp["output"], "device": ctx.device}},
        "metrics": metrics,
        "gallery": gallery(samples, dataset),
        "warnings": list(dataset.warnings) + list(ctx.warnings),
    }
    return result


def gallery(samples: Samples, dataset: Dataset, per_prompt: int = 4) -> dict:
    """The first images of every prompt as base64 PNGs, so sample grids render from result files alone."""
    import base64

    from bench.data.images import png_bytes

    out: dict[str, list[str]] = {}
    for img, req in zip(samples.images, samples.requests):
        row = out.setdefault(req.text, [])
        if len(row) < per_prompt:
            row.append(base64.b64encode(png_bytes(img, dataset.modalities[req.modality].channels)).decode())
    return out


def _spec_dict(spec: SuiteSpec) -> dict:
    d = dataclasses.asdict(spec)
    d.pop("path", None)
    return d


def resolve_device(device: str) -> str:
    if device != "auto":
        if device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise BenchError(f"device {device!r} asked for, but no CUDA GPU is visible",
                                 fix="use --device cpu (or auto)")
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def run_suite(suite: str, runs_dir: Path = Path("runs"), data_root: str | None = None,
              only: list[str] | None = None, device: str = "auto", publish_dir: Path | None = None,
              allow_download: bool = False, fresh: bool = False, log=print) -> list[Path]:
    """Run a suite end to end; returns the paths of the result files written."""
    spec = load_suite(suite)
    dataset = load_dataset(spec, data_root, allow_download)
    suite_dir = Path(runs_dir) / spec.name
    written = []
    with run_lock(suite_dir):
        if fresh:
            for child in suite_dir.iterdir():
                if child.name != ".lock":
                    shutil.rmtree(child) if child.is_dir() else child.unlink()
        ctx = SuiteContext(spec, dataset, suite_dir, resolve_device(device), log=log)
        ctx.data_hashes = dataset.hashes()
        ctx.budgets = dataset.budget_indices(spec.splits.budgets, spec.splits.seed)
        entries = generator_entries(spec, dataset)
        if only:
            unknown = sorted(set(only) - {e.name for e in entries})
            if unknown:
                raise BenchError(f"unknown generator {unknown[0]!r} for suite {spec.name!r}", where=spec.path,
                                 fix=f"generators of this suite: {', '.join(e.name for e in entries)}")
            entries = [e for e in entries if e.name in only]
        log(f"suite {spec.name}: {len(dataset.modalities)} modalities, "
            f"{', '.join(f'{k} {len(s)}' for k, s in dataset.splits.items())} images; "
            f"{len(entries)} generators; device {ctx.device}")
        tasks = build_tasks(spec, ctx)
        for task in tasks:
            task.prepare()
        for entry in entries:
            result = run_generator(entry, ctx, tasks, log)
            path = write_result(suite_dir / entry.name / "result.json", result)
            written.append(path)
            if publish_dir is not None:
                written.append(write_result(Path(publish_dir) / spec.name / "results" / f"{entry.name}.json", result))
    return written
