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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.columns import declare, held
from bench.data import Dataset, load_dataset
from bench.errors import BenchError
from bench.data.samples import Samples, read_samples, write_samples
from bench.generators.base import Generator, GeneratorContext
from bench.data.sample_set import write_sample_set
from bench.io import atomic_write_bytes, atomic_write_json, dumps_json, read_json, run_lock, sha256_json
from bench.registry import generator_class, task_class
from bench.results import SCHEMA_VERSION, git_commit, package_versions, write_result
from bench.specs import (ModelSpec, SuiteSpec, build_dataclass, ladder_row, load_model, load_suite, load_task,
                         project_root, specialist_row, specialists_row, split_variant)
from bench.stages import SuiteContext, now_iso, seed_stage_records, stage_records


@dataclass
class GeneratorEntry:
    """One row of a leaderboard: a model spec, the modalities it covers and its budget rule."""

    name: str
    model: ModelSpec
    role: str
    modalities: list[int] | None  # None = all modalities of the suite
    budget: str | None = None  # specialists: "equal-steps" or "equal-compute"
    budget_scale: float = 1.0
    variant_of: str | None = None  # a variant row: the row whose model it changes ([generators] variants)


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
    divided by the number of modalities, so the specialists together cost what the generalist does);
    with ``specialist_suites``, one more row per model and budget rule: its specialists together
    (``name@specialists[-eqcompute]``, after its members); then the variants (``row+key=value``, role
    "variant"); then the ladders' rungs."""
    entries = []
    for name in spec.generators.models:
        model = load_model(name)
        cls = generator_class(model.kind)
        entries.append(GeneratorEntry(name, model, cls.role, None))
    n_mod = len(dataset.modalities)
    for name in spec.generators.specialists:
        model = load_model(name)
        rules = spec.generators.budget_rules(name)
        for m, mod in enumerate(dataset.modalities):
            for rule in rules:
                scale = 1.0 if rule == "equal-steps" else 1.0 / n_mod
                entries.append(GeneratorEntry(specialist_row(name, mod.key, rule), model, "specialist", [m], rule, scale))
        if spec.generators.specialist_suites:
            for rule in rules:
                base = load_model("specialist-suite")
                members = [specialist_row(name, mod.key, rule) for mod in dataset.modalities]
                entries.append(GeneratorEntry(specialists_row(name, rule),
                                              dataclasses.replace(base, params={**base.params, "members": members}),
                                              "specialist-suite", None, rule))
    rows = {e.name: e for e in entries}
    for v in spec.generators.variants:
        base, settings = split_variant(v)
        if base not in rows or rows[base].role == "specialist-suite":
            raise BenchError(f"variant {v!r} varies {base!r}, which is not a row of this suite",
                             where=f"{spec.path} [generators] variants",
                             fix=f"rows it can vary: {', '.join(n for n, e in rows.items() if e.role != 'specialist-suite')}")
        (row,) = variant_entries([rows[base]], settings)
        entries.append(dataclasses.replace(row, role="variant", variant_of=base))
    if spec.generators.ladders:
        base = load_model("degraded")
        for d in spec.generators.ladders:
            for sev in spec.generators.ladder_severities:
                model = dataclasses.replace(base, params={**base.params, "degradation": d, "severity": float(sev)})
                entries.append(GeneratorEntry(ladder_row(d, sev), model, "ladder", None))
    return entries


def entry_tasks(entry: GeneratorEntry, spec: SuiteSpec, tasks: list) -> list:
    """The tasks one row runs: all of the suite's, or for a ladder rung those in ``ladder_tasks`` and for a
    variant those in ``variant_tasks`` (by default every task but the foundation task, whose contrastive
    pretraining per row is the costly part)."""
    if entry.role not in ("ladder", "variant"):
        return tasks
    wanted = spec.generators.ladder_tasks if entry.role == "ladder" else spec.generators.variant_tasks
    return [t for t in tasks if (t.spec.name in wanted if wanted else t.spec.task != "foundation")]


def parse_settings(settings: list[str]) -> list[tuple[str, str, object]]:
    """``["key=value", ...]`` → (key, value as typed, value parsed as a TOML value, else as a string)."""
    import tomllib

    out = []
    for item in settings:
        key, sep, raw = item.partition("=")
        key, raw = key.strip(), raw.strip()
        if not sep or not key or not raw:
            raise BenchError(f"--set {item!r} is not KEY=VALUE", fix="e.g. --set prediction_type=v_prediction")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        out.append((key, raw, value))
    return out


def variant_entries(entries: list[GeneratorEntry], settings: list[str]) -> list[GeneratorEntry]:
    """Each entry whose model kind has every ``--set`` key, with those parameters changed and the changes
    in its name (``ldm-small+lr=5e-4``): an ablation runs beside the original, sharing the suite's data,
    reference networks and autoencoder cache, and its result records the changed spec."""
    import re

    if not settings:
        return entries
    parsed = parse_settings(settings)
    suffix = "".join(f"+{k}={re.sub(r'[^A-Za-z0-9_.-]', '_', raw)}" for k, raw, _ in parsed)
    out = []
    for e in entries:
        cls = generator_class(e.model.kind)
        fields = {f.name for f in dataclasses.fields(cls.Params)}
        if not all(k in fields for k, _, _ in parsed):
            continue
        params = {**e.model.params, **{k: v for k, _, v in parsed}}
        build_dataclass(cls.Params, params, f"{e.model.path} [params] with --set {' '.join(settings)}")
        model = dataclasses.replace(e.model, params=params)
        out.append(dataclasses.replace(e, name=e.name + suffix, model=model))
    if not out:
        raise BenchError(f"no selected generator has the parameter(s) {', '.join(k for k, _, _ in parsed)}",
                         fix="check the key against the model spec's [params], and select that model with "
                             "--generators")
    return out


def build_tasks(spec: SuiteSpec, ctx: SuiteContext, names: list[str] | None = None) -> list:
    """The suite's tasks (or those of them in ``names``, each one the suite runs), parameters validated and
    overrides applied."""
    unknown = sorted(set(names or ()) - set(spec.tasks))
    if unknown:
        raise BenchError(f"suite {spec.name!r} does not run task {unknown[0]!r}", where=spec.path,
                         fix=f"tasks of this suite: {', '.join(spec.tasks)}")
    tasks = []
    for tname in (t for t in spec.tasks if names is None or t in names):
        tspec = load_task(tname)
        cls = task_class(tspec.task, where=tspec.path)
        table = {**tspec.params, **spec.overrides.get(tname, {})}
        params = build_dataclass(cls.Params, table, f"{tspec.path} [params] (with {spec.path} [overrides.{tname}])")
        task = cls(params, ctx)
        task.spec = tspec
        tasks.append(task)
    return tasks


SHARED_STAGES_SCHEMA = 1


def shared_stages_path(boards: Path, spec: SuiteSpec) -> Path:
    """Where a suite's published suite-level stages live: ``<leaderboards>/<suite>/shared/stages.json``."""
    return Path(boards) / spec.name / "shared" / "stages.json"


def read_shared_stages(path: Path, spec: SuiteSpec, log=print) -> dict[str, dict[str, dict]]:
    """Task folder → stage name → marker record, as published for this suite version (empty when there is
    no file, or it is of another suite version: its stages are then computed anew)."""
    if not path.is_file():
        return {}
    try:
        obj = read_json(path)
        ok = obj["schema_version"] == SHARED_STAGES_SCHEMA and isinstance(obj["stages"], dict)
    except (BenchError, OSError, ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise BenchError("the published suite-level stages do not parse", where=str(path),
                         fix="restore it from git (git checkout -- <file>), or delete it: the next run recomputes "
                             "and republishes them")
    if obj.get("suite") != spec.name or obj.get("suite_version") != spec.version:
        log(f"  {path.name}: of suite {obj.get('suite')} version {obj.get('suite_version')}, not "
            f"{spec.name} version {spec.version}: not used")
        return {}
    return obj["stages"]


def prepare_tasks(tasks: list, ctx: SuiteContext, boards: Path | None, log=print, write: bool = True) -> None:
    """Each task's suite-level work (:meth:`Task.prepare`). With a leaderboards folder: the stages the
    tasks declare as shared (``Task.shared_stages``: real-data arms, real pretraining — metrics only) are
    first seeded from ``shared/stages.json`` there, so a run on any machine pairs its generators with the
    published real arms instead of recomputing them (a seeded marker whose inputs differ from the stage's
    is redone); after preparation (``write``: a publishing run) the file is rewritten with every such
    stage (published ones kept)."""
    path = shared_stages_path(boards, ctx.spec) if boards is not None else None
    published = read_shared_stages(path, ctx.spec, log) if path else {}
    for task in tasks:
        if task.shared_stages and published.get(task.shared_stages):
            n = seed_stage_records(ctx.shared_dir / task.shared_stages, published[task.shared_stages])
            if n:
                log(f"  {task.spec.name}: {n} suite-level stages from the published {path.parent.name}/{path.name}")
        task.prepare()
    if path is None or not write:
        return
    stages = {k: dict(v) for k, v in published.items()}
    for task in tasks:
        if task.shared_stages:
            stages.setdefault(task.shared_stages, {}).update(stage_records(ctx.shared_dir / task.shared_stages))
    obj = {"schema_version": SHARED_STAGES_SCHEMA, "suite": ctx.spec.name, "suite_version": ctx.spec.version,
           "what": "the suite-level stages of its tasks (real-data classifier arms, real pretraining): one marker "
                   "per stage, metrics only; seeded into every run so that all results of this suite version "
                   "share them (bench.run.prepare_tasks)",
           "stages": {k: v for k, v in sorted(stages.items()) if v}}
    if obj["stages"] and (not path.is_file() or path.read_text(encoding="utf-8") != dumps_json(obj)):
        atomic_write_json(path, obj)


def _replace_dir(tmp: Path, final: Path) -> None:
    """Put folder ``tmp`` in place of ``final`` (old contents removed only after the new are in place)."""
    old = final.with_name(final.name + f".old-{os.getpid()}")
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def member_entries(entry: GeneratorEntry, ctx: SuiteContext) -> list[GeneratorEntry]:
    """The rows a suite of specialists is made of, as the suite defines them."""
    names = list(entry.model.params.get("members", []))
    known = {e.name: e for e in generator_entries(ctx.spec, ctx.dataset)}
    missing = [n for n in names if n not in known]
    if missing or not names:
        raise BenchError(f"{entry.name}: member {missing[0] if missing else '(none)'!r} is not a row of suite "
                         f"{ctx.spec.name!r}", where=ctx.spec.path,
                         fix="its members are the suite's [generators] specialists under one budget rule")
    return [known[n] for n in names]


def reuse_member_stages(run: GeneratorRun, ctx: SuiteContext, tasks: list) -> None:
    """A suite of specialists answers each modality with its member's own images, so every per-modality
    stage of a task (``Task.modality_stages``: the utility task's classifier cells) has the member's
    inputs: copy the members' stage files (markers, and the weights beside them) where the row has none.
    A copied marker is used only if its inputs hash is the stage's (:func:`bench.stages.stage`)."""
    for task in tasks:
        sub = getattr(task, "modality_stages", None)
        if not sub:
            continue
        for name in run.entry.model.params.get("members", []):
            src = ctx.suite_dir / name / sub
            for f in sorted(src.rglob("*")) if src.is_dir() else []:
                dst = run.folder / sub / f.relative_to(src)
                if f.is_file() and ".tmp" not in f.name and not dst.exists():
                    atomic_write_bytes(dst, f.read_bytes())


def build_generator(entry: GeneratorEntry, ctx: SuiteContext, members: dict | None = None):
    """The generator of one leaderboard row, as a run uses it: validated parameters, its work folder
    ``runs/<suite>/<name>/fit``, the suite's shared folder, its budget share and, for generators that
    check themselves against the reference networks (the LDM), the judge (reference classifier) and the
    training curve's FD scorer (domain-CLIP features), so that generators never import the metrics."""
    cls = generator_class(entry.model.kind)
    params = build_dataclass(cls.Params, entry.model.params, f"{entry.model.path} [params]")
    context = GeneratorContext(ctx.shared_dir, ctx.device, entry.budget_scale,
                               ignore_autoencoder_gate=ctx.ignore_autoencoder_gate, members=members)
    if cls.judged:
        from bench.metrics.fidelity import fd_scorer
        from bench.reference.classifier import predict_proba
        from bench.reference.clip import encode_images
        from bench.reference.pinned import ensure_references

        refs = ensure_references(ctx)
        context.judge = lambda images: predict_proba(refs.classifier, images, device=ctx.device).argmax(1)
        context.judge_sha256 = refs.hashes["classifier"]
        context.fd_to = fd_scorer(lambda images: encode_images(refs.clip, images, device=ctx.device))
    return cls(entry.name, params, ctx.dataset, ctx.suite_dir / entry.name / "fit", entry.modalities, context)


def sample_generator(entry: GeneratorEntry, ctx: SuiteContext, log=print,
                     fit_only: bool = False) -> tuple[GeneratorRun | None, dict, dict | None]:
    """Fit and sample one generator (each a resumable stage); returns its run and the two stage records
    (``fit_only``: only the fit's record, the others None; a suite of specialists returns its members'
    fit records under ``members`` and samples nothing)."""
    spec, dataset = ctx.spec, ctx.dataset
    folder = ctx.suite_dir / entry.name
    members = {}
    if entry.role == "specialist-suite" and fit_only:  # nothing of its own to fit: its members' fits
        fits = [sample_generator(m, ctx, log, fit_only=True)[1] for m in member_entries(entry, ctx)]
        log(f"[{entry.name}] fit: its {len(fits)} members' fits (it is assembled from their samples)")
        return None, {"skipped": all(f["skipped"] for f in fits), "members": fits}, None
    if entry.role == "specialist-suite":  # its members first (resumable: usually sampled already)
        for m in member_entries(entry, ctx):
            run_m, fit_m, _ = sample_generator(m, ctx, log)
            members[m.name] = {"samples": run_m.samples, "fit": fit_m["output"], "samples_hash": run_m.samples_hash}
    gen = build_generator(entry, ctx, members or None)
    fit_inputs = {"model": dataclasses.asdict(entry.model) | {"path": None}, "data": ctx.data_hashes["dataset_sha256"],
                  "modalities": entry.modalities, "budget": entry.budget, "budget_scale": entry.budget_scale}
    if members:
        fit_inputs["members"] = {name: m["samples_hash"] for name, m in members.items()}
    if type(gen).judged:
        fit_inputs["judge"] = gen.context.judge_sha256
    log(f"[{entry.name}] fit")
    fit = ctx.stage(folder, "fit", fit_inputs, lambda: gen.fit() or {})
    if fit_only:
        return None, fit, None
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
        info = dict(samples.info)
        return {"n_images": len(samples.requests), "wall_s": wall, **info}

    log(f"[{entry.name}] sample {spec.sampling.n_per_prompt} per prompt × {len(prompts)} prompts")
    smp = ctx.stage(folder, "sample", sample_inputs, do_sample)
    samples = read_samples(folder / "samples", dataset)
    return GeneratorRun(entry, gen, folder, samples, smp["input_hash"]), fit, smp


def task_stage(run: GeneratorRun, task, ctx: SuiteContext, log=print) -> dict:
    """One task's metrics for one generator, as the resumable stage ``task-<name>``; returns its record."""
    log(f"[{run.entry.name}] {task.spec.name}")
    inputs = {"task": dataclasses.asdict(task.params), "kind": task.spec.task, "samples": run.samples_hash,
              "reference": ctx.reference_hashes, "data": ctx.data_hashes["dataset_sha256"]}
    return ctx.stage(run.folder, f"task-{task.spec.name}", inputs, lambda: task.evaluate(run))


def declared(task, output: dict) -> dict:
    """A task's metrics as a result holds them: its output and the declarations (bench.columns) of the
    columns whose value it holds (a controlled-degradation rung runs fewer utility arms than it declares)."""
    return {**output, "columns": declare(held(type(task).columns(task.params), output))}


def run_generator(entry: GeneratorEntry, ctx: SuiteContext, tasks: list, log=print) -> dict:
    spec, dataset = ctx.spec, ctx.dataset
    run, fit, smp = sample_generator(entry, ctx, log)
    gen, samples, prompts = run.generator, run.samples, dataset.prompt_requests(entry.modalities)

    if entry.role == "specialist-suite":
        reuse_member_stages(run, ctx, tasks)
    metrics, task_wall = {}, 0.0
    for task in tasks:
        rec = task_stage(run, task, ctx, log)
        metrics[task.spec.name] = declared(task, rec["output"])
        task_wall += rec["wall_s"]

    result = {
        "schema_version": SCHEMA_VERSION,
        "suite": {"name": spec.name, "version": spec.version, "spec": _spec_dict(spec),
                  "tasks": {t.spec.name: {"task": t.spec.task, "params": dataclasses.asdict(t.params)} for t in tasks}},
        "generator": {"name": entry.name, "kind": entry.model.kind, "role": entry.role,
                      "spec": published_spec(entry.model, type(gen)),
                      "modalities": [dataset.modalities[m].key for m in gen.modalities],
                      "budget": entry.budget, **({"variant_of": entry.variant_of} if entry.variant_of else {})},
        "seeds": {"suite": spec.seed, "splits": spec.splits.seed, "sampling": spec.sampling.seed},
        "data": {**ctx.data_hashes, "budgets": {str(n): {"n_images": len(idx), "sha256": sha256_json(idx.tolist())}
                                                for n, idx in ctx.budgets.items()},
                 "provenance": dataset.provenance, "prompts": [p.text for p in prompts],
                 "prompt_modality": {p.text: dataset.modalities[p.modality].key for p in prompts}},
        "reference": dict(ctx.reference_hashes),
        "packages": package_versions(),
        "git_commit": git_commit(project_root()),
        "created": now_iso(),
        "wall_time_s": fit["wall_s"] + smp["wall_s"] + task_wall,
        "compute": {"fit": {**fit["output"], "wall_s": fit["wall_s"], "device": ctx.device},
                    "sample": {**smp["output"], "device": ctx.device}},
        "metrics": metrics,
        "samples": write_sample_set(run.folder / "sample_set.npz", samples.images, samples.texts, samples.seeds,
                                    sample_set_meta(spec, entry.name)),
        "gallery": gallery(samples, dataset),
        "warnings": list(dataset.warnings) + list(ctx.warnings),
    }
    result["samples"]["file"] = f"samples/{entry.name}.npz"
    if type(gen).regenerable:  # not published: `rescore` regenerates the set and checks it against the sha256
        result["samples"].update(published=False, meta=sample_set_meta(spec, entry.name))
    return result


def sample_set_meta(spec: SuiteSpec, name: str) -> dict:
    """What a sample set file records besides its images (part of its bytes, hence of its sha256)."""
    return {"suite": spec.name, "suite_version": spec.version, "generator": name}


def keep_fuller_result(result: dict, publish_dir: Path) -> None:
    """Refuse to publish a run of some tasks (``--tasks``) over a published result of the same
    generator that holds other tasks' metrics: publishing it would lose them."""
    path = Path(publish_dir) / result["suite"]["name"] / "results" / f"{result['generator']['name']}.json"
    if not path.is_file():
        return
    try:
        old = read_json(path)
    except (OSError, ValueError):
        return
    lost = sorted(set(old.get("metrics") or {}) - set(result["metrics"]))
    if lost:
        raise BenchError(f"the published result holds task(s) {', '.join(lost)} that this --tasks run did not compute",
                         where=str(path), fix="run without --tasks (finished stages are reused), or with --no-publish")


def publish_result(result: dict, run_folder: Path, publish_dir: Path) -> Path:
    """Copy a result and its sample set into ``<publish_dir>/<suite>/results/`` and ``samples/``; the
    sample set first, so a published result never names a file that is not there (a regenerable set,
    ``samples.published`` false, is not copied). Returns the result's path."""
    suite_dir = Path(publish_dir) / result["suite"]["name"]
    name = result["generator"]["name"]
    if result["samples"].get("published", True):
        atomic_write_bytes(suite_dir / "samples" / f"{name}.npz", (Path(run_folder) / "sample_set.npz").read_bytes())
    return write_result(suite_dir / "results" / f"{name}.json", result)


def published_spec(model: ModelSpec, cls) -> dict:
    """The model spec as a result records it: no spec file path, and no parameter that names a place
    on this machine (``cls.machine_params``: an image folder, a pipeline folder); those are replaced by
    what they held (the submission's content hash is in the spec's description)."""
    d = dataclasses.asdict(model) | {"path": None}
    hidden = set(getattr(cls, "machine_params", ()))
    d["params"] = {k: ("(local path)" if k in hidden and v else v) for k, v in d["params"].items()}
    return d


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


def set_deterministic(seed: int) -> None:
    """Seed torch and numpy's legacy global RNG and ask torch for deterministic kernels where they
    exist (warn-only where an op has none), so a CPU run with the same seed gives the same numbers."""
    import torch

    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    torch.use_deterministic_algorithms(True, warn_only=True)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


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


def suite_context(spec: SuiteSpec, dataset: Dataset, suite_dir: Path, device: str = "auto", log=print) -> SuiteContext:
    """The context every task and generator of one suite run shares (seeds set, hashes and budgets computed)."""
    set_deterministic(spec.seed)
    ctx = SuiteContext(spec, dataset, suite_dir, resolve_device(device), log=log)
    ctx.data_hashes = dataset.hashes()
    ctx.budgets = dataset.budget_indices(spec.splits.budgets, spec.splits.seed)
    return ctx


def select_entries(spec: SuiteSpec, entries: list[GeneratorEntry], only: list[str] | None) -> list[GeneratorEntry]:
    """The entries named in ``only`` (all when None); an unknown name is an error listing the known ones."""
    if not only:
        return entries
    unknown = sorted(set(only) - {e.name for e in entries})
    if unknown:
        raise BenchError(f"unknown generator {unknown[0]!r} for suite {spec.name!r}", where=spec.path,
                         fix=f"generators of this suite: {', '.join(e.name for e in entries)}")
    return [e for e in entries if e.name in only]


@dataclass
class RunOptions:
    """How to run a suite (the `medsyn-bench run` flags): where, what, on which device, how far."""

    runs_dir: Path = Path("runs")
    data_root: str | None = None  # MedMNIST .npz folder or CSV corpus (default: $MEDSYN_DATA, the suite's root)
    only: list[str] | None = None  # a subset of the suite's generators
    device: str = "auto"
    publish_dir: Path | None = None  # leaderboards folder to publish results and sample sets into
    fresh: bool = False  # delete the suite's run folder first
    ignore_autoencoder_gate: bool = False
    generate_only: bool = False  # fit and sample, no tasks, no result files
    fit_only: bool = False  # fit only (an ablation of the training recipe reads the fit's curve)
    settings: list[str] = field(default_factory=list)  # KEY=VALUE: run the generators as ablation variants
    tasks: list[str] | None = None  # a subset of the suite's tasks (its results hold only those)
    stages_from: Path | None = None  # leaderboards folder whose shared stages seed an unpublished run


def run_suite(suite: str, options: RunOptions | None = None, entries: list[GeneratorEntry] | None = None,
              log=print) -> list[Path]:
    """Run a suite end to end; returns the paths of the result files written.

    ``entries`` replaces the suite's own generators (e.g. one ad-hoc submission, see
    :func:`submit_images`); suite-level preparation is shared and resumable either way.
    ``generate_only``: fit and sample the generators (resumable stages) and stop there: no task runs and
    no result file is written; a later full run reuses both stages. ``fit_only``: the same without
    sampling (an ablation of the training recipe reads the fit's curve). ``settings`` (``KEY=VALUE``) turn
    the selected generators into ablation variants (see :func:`variant_entries`)."""
    o = options or RunOptions()
    runs_dir, data_root, only, device, publish_dir = o.runs_dir, o.data_root, o.only, o.device, o.publish_dir
    spec = load_suite(suite)
    dataset = load_dataset(spec, data_root)
    suite_dir = Path(runs_dir) / spec.name
    written = []
    with run_lock(suite_dir):
        if o.fresh:
            for child in suite_dir.iterdir():
                if child.name != ".lock":
                    shutil.rmtree(child) if child.is_dir() else child.unlink()
        ctx = suite_context(spec, dataset, suite_dir, device, log)
        ctx.ignore_autoencoder_gate = o.ignore_autoencoder_gate
        entries = select_entries(spec, generator_entries(spec, dataset) if entries is None else list(entries), only)
        entries = variant_entries(entries, o.settings)
        log(f"suite {spec.name}: {len(dataset.modalities)} modalities, "
            f"{', '.join(f'{k} {len(s)}' for k, s in dataset.splits.items())} images; "
            f"{len(entries)} generators; device {ctx.device}")
        if o.generate_only or o.fit_only:
            for entry in entries:
                sample_generator(entry, ctx, log, fit_only=o.fit_only)
            return written
        tasks = build_tasks(spec, ctx, o.tasks)
        prepare_tasks(tasks, ctx, publish_dir or o.stages_from, log, write=publish_dir is not None)
        for entry in entries:
            result = run_generator(entry, ctx, entry_tasks(entry, spec, tasks), log)
            path = write_result(suite_dir / entry.name / "result.json", result)
            written.append(path)
            if publish_dir is not None:
                if o.tasks is not None:
                    keep_fuller_result(result, publish_dir)
                written.append(publish_result(result, suite_dir / entry.name, publish_dir))
    return written


def run_task(suite: str, task_name: str, generator: str, runs_dir: Path = Path("runs"), data_root: str | None = None,
             device: str = "auto", log=print) -> dict:
    """Run one task of a suite for one of its generators alone; returns the task's metrics.

    The generator's fit and sample stages are reused (or run first) and the task's suite-level
    preparation is resumable, as in a full run; the task's output is the stage marker
    ``runs/<suite>/<generator>/stages/task-<task>.json``. The generator's ``result.json`` is left as is
    (a full ``run`` of the suite writes it, reusing every finished stage)."""
    spec = load_suite(suite)
    if task_name not in spec.tasks:
        raise BenchError(f"suite {spec.name!r} does not run task {task_name!r}", where=spec.path,
                         fix=f"tasks of this suite: {', '.join(spec.tasks) or '(none)'}")
    dataset = load_dataset(spec, data_root)
    suite_dir = Path(runs_dir) / spec.name
    with run_lock(suite_dir):
        ctx = suite_context(spec, dataset, suite_dir, device, log)
        (entry,) = select_entries(spec, generator_entries(spec, dataset), [generator])
        (task,) = build_tasks(spec, ctx, [task_name])
        task.prepare()
        run, _, _ = sample_generator(entry, ctx, log)
        return task_stage(run, task, ctx, log)["output"]


def run_foundation_suite(suite: str, generator: str, runs_dir: Path = Path("runs"), data_root: str | None = None,
                         device: str = "auto", log=print) -> tuple[dict, Path]:
    """Run the foundation task of ``suite`` for one of its generators, whether or not the suite lists
    the task (fit and sample are reused from the suite's run folder when done). Returns the task's
    output and its stage marker ``runs/<suite>/<generator>/stages/task-foundation.json``; the
    generator's ``result.json`` is left as is."""
    from bench.metrics.foundation import FoundationTask, task_params

    spec = load_suite(suite)
    dataset = load_dataset(spec, data_root)
    suite_dir = Path(runs_dir) / spec.name
    with run_lock(suite_dir):
        ctx = suite_context(spec, dataset, suite_dir, device, log)
        (entry,) = select_entries(spec, generator_entries(spec, dataset), [generator])
        params, tspec = task_params(spec)
        task = FoundationTask(params, ctx)
        task.spec = tspec
        task.prepare()
        run, _, _ = sample_generator(entry, ctx, log)
        rec = task_stage(run, task, ctx, log)
        return rec["output"], suite_dir / entry.name / "stages" / f"task-{tspec.name}.json"


def load_fitted_generator(suite: str, name: str, runs_dir: Path = Path("runs"), data_root: str | None = None, log=print):
    """The suite's generator ``name`` with the state ``medsyn-bench run`` fitted in ``runs_dir``, built
    as the run builds it (:func:`build_generator`), on the CPU; refused if it has not been fitted."""
    spec = load_suite(suite)
    dataset = load_dataset(spec, data_root)
    (entry,) = select_entries(spec, generator_entries(spec, dataset), [name])
    folder = Path(runs_dir) / spec.name / entry.name
    if not (folder / "stages" / "fit.json").is_file():
        runs = "" if Path(runs_dir) == Path("runs") else f" --runs-dir {runs_dir}"
        raise BenchError(f"{entry.name} has not been fitted", where=str(folder),
                         fix=f"run `medsyn-bench run --suite {suite} --generators {entry.name} --generate-only"
                             f"{runs}` first")
    gen = build_generator(entry, suite_context(spec, dataset, Path(runs_dir) / spec.name, "cpu", log))
    gen.load()
    return gen


def export_suite_generator(suite: str, name: str, out: Path, runs_dir: Path = Path("runs"),
                           data_root: str | None = None, log=print) -> Path:
    """``medsyn-bench export``: the suite's fitted LDM ``name`` as a diffusers pipeline folder ``out``
    (:func:`bench.generators.export.export_pipeline`)."""
    from bench.generators.export import export_pipeline
    from bench.generators.ldm import LDMGenerator

    spec = load_suite(suite)
    dataset = load_dataset(spec, data_root)
    (entry,) = select_entries(spec, generator_entries(spec, dataset), [name])
    if not issubclass(generator_class(entry.model.kind), LDMGenerator):
        raise BenchError(f"{name!r} is a {entry.model.kind!r} generator: only latent diffusion models (kind ldm) "
                         "export as a diffusers pipeline", where=entry.model.path,
                         fix="export one of the suite's ldm generators (medsyn-bench list models)")
    gen = load_fitted_generator(suite, name, runs_dir, data_root, log=log)
    if not gen.ae.info.get("cache_hit", True):  # load() just trained a new one: not what the UNet learnt on
        raise BenchError(f"the autoencoder {name} was fitted with is no longer in the suite's cache",
                         where=str(gen.shared_dir), fix=f"refit: `medsyn-bench run --suite {suite} --generators "
                                                        f"{name} --generate-only --fresh` (or restore the cache)")
    fit = read_json(Path(runs_dir) / spec.name / name / "stages" / "fit.json")
    log(f"[{name}] exporting to {out}")
    return export_pipeline(gen, Path(out), {
        "suite_version": spec.version, "fit_input_hash": fit.get("input_hash"), "fit_finished": fit.get("finished"),
        "suite_sampling": {"seed": spec.sampling.seed, "n_per_prompt": spec.sampling.n_per_prompt}})


SUBMISSION_NAME = r"[A-Za-z0-9][A-Za-z0-9._+@-]{0,63}"


def submit_images(suite: str, folder: Path, name: str, runs_dir: Path = Path("runs"),
                  publish_dir: Path | None = Path("leaderboards"), data_root: str | None = None,
                  device: str = "auto", log=print) -> list[Path]:
    """Score an external generator's image folder (``manifest.csv``: path,prompt) on a suite.

    The folder is checked first (:func:`bench.data.submission.check_submission`): any problem stops
    the submission before any stage runs, with every problem listed. Then builds in memory the model
    spec an ``images`` entry in ``models/`` would hold and runs the suite's tasks for it alone. The
    spec's description carries the submission's content hash, so resubmitting changed images redoes
    every stage."""
    import re

    from bench.data.submission import check_submission

    if not re.fullmatch(SUBMISSION_NAME, name):
        raise BenchError(f"invalid submission name {name!r}", where="--name",
                         fix="use 1-64 letters, digits and . _ + @ - (it names a folder and a result file)")
    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        raise BenchError("image folder not found", where=str(folder))
    spec = load_suite(suite)
    if name in spec.generators.models or any(name.startswith(f"{m}@") for m in spec.generators.specialists):
        raise BenchError(f"{name!r} is one of the suite's own generators", where="--name",
                         fix="choose another name for the submission")
    report = check_submission(folder, load_dataset(spec, data_root), spec.sampling.n_per_prompt,
                              suite=spec.name)
    if not report.ok:
        raise BenchError(report.summary() + ":\n" + "\n".join(report.problem_lines(limit=50)), where="--images",
                         fix=f"fix them, then check again with: medsyn-bench check --suite {suite} --images {folder}")
    h = report.content_sha256
    model = ModelSpec(name=name, kind="images", description=f"submitted images (content sha256 {h})",
                      params={"folder": str(folder)})
    cls = generator_class("images")
    build_dataclass(cls.Params, model.params, f"submission {name}")
    entry = GeneratorEntry(name, model, cls.role, None)
    return run_suite(suite, RunOptions(runs_dir, data_root, None, device, publish_dir),
                     entries=[entry], log=log)

