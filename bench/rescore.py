"""Rescoring: recompute published results from their published sample sets, with no generator fit.

    leaderboards/<suite>/results/<g>.json + samples/<g>.npz (sha256-checked) + the suite's shipped
    reference networks → the suite's tasks (all, or those named) → a new result for <g>

What a rescored result keeps from the old one: the generator, its compute facts, seeds, gallery and
sample set; what it takes anew: the metrics of the rescored tasks, the reference hashes, the suite
version and spec, package versions and the commit. ``rescored`` records which tasks were recomputed and
from which result. A result published before sample sets were (no ``samples``) adopts
``samples/<generator>.npz`` only if that set reproduces the result's gallery (its first images of every
prompt, PNG bytes). The suite's data must be the data the samples were scored against (same dataset
hash), or the result is refused.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from bench.data import load_dataset
from bench.data.sample_set import FORMAT, read_sample_set, write_sample_set
from bench.errors import BenchError
from bench.data.samples import Samples, read_samples
from bench.io import run_lock, sha256_file
from bench.reference.pinned import ensure_references
from bench.results import SCHEMA_VERSION, git_commit, package_versions, write_result
from bench.run import (GeneratorEntry, GeneratorRun, _spec_dict, build_tasks, declared, entry_tasks, gallery,
                       prepare_tasks, sample_generator, suite_context, task_stage)
from bench.specs import ModelSpec, load_suite, project_root
from bench.stages import now_iso
from bench.upgrade import read_any_result


def published_results(suite_name: str, leaderboards_dir: Path, only: list[str] | None = None) -> dict[str, dict]:
    """generator → its published result, read and schema-checked (``only``: just these, each required)."""
    folder = Path(leaderboards_dir) / suite_name / "results"
    found = {p.stem: p for p in sorted(folder.glob("*.json"))}
    if not found:
        raise BenchError("no published results to rescore", where=str(folder),
                         fix=f"run the suite first: medsyn-bench run --suite {suite_name}")
    if only:
        unknown = sorted(set(only) - set(found))
        if unknown:
            raise BenchError(f"no published result for {unknown[0]!r}", where=str(folder),
                             fix=f"published generators: {', '.join(found)}")
        found = {g: found[g] for g in only}
    return {g: read_any_result(p) for g, p in found.items()}


def samples_of(result: dict, leaderboards_dir: Path, dataset, regenerate=None) -> tuple[Samples, str]:
    """The published sample set of ``result`` as the tasks' Samples, and its sha256. A set the run did not
    publish (``samples.published`` false: a regenerable generator) comes from ``regenerate(result)``, a
    function returning the path of a regenerated file, and must have the recorded sha256."""
    name, suite = result["generator"]["name"], result["suite"]["name"]
    info = result.get("samples")
    path = Path(leaderboards_dir) / suite / (info["file"] if info else f"samples/{name}.npz")
    if info and info.get("published") is False and not path.is_file():
        if regenerate is None:
            raise BenchError(f"result {name!r} has no published sample set (it is regenerated, not stored)",
                             where=str(path), fix=f"medsyn-bench rescore --suite {suite} --generators {name}")
        path = regenerate(result)  # read below like a published one: the recorded sha256 must match
    if not info and not path.is_file():
        raise BenchError(f"result {name!r} names no published sample set (it predates them)",
                         where=str(Path(leaderboards_dir) / suite / "results" / f"{name}.json"),
                         fix=f"regenerate it: medsyn-bench run --suite {suite} --generators {name}")
    try:
        images, texts, seeds, _ = read_sample_set(path, info["sha256"] if info else None)
    except BenchError as exc:
        if not (info and info.get("published") is False):
            raise
        raise BenchError(f"the regenerated sample set of {name!r} is not the one it was scored on: "
                         f"{exc.message}", where=str(path),
                         fix="its degradation's libraries (Pillow, SciPy) differ here from the machine that "
                             f"made it; rerun it instead: medsyn-bench run --suite {suite} --generators {name}") from exc
    lookup = dataset.prompt_lookup()
    unknown = sorted(set(texts) - set(lookup))
    if unknown:
        raise BenchError(f"sample set asks for a prompt the suite does not have: {unknown[0]!r}", where=str(path))
    samples = Samples(images, [lookup[t] for t in texts], seeds)
    if not info:  # a result from before sample sets were published: adopt the set only if it is the one scored
        if gallery(samples, dataset) != result.get("gallery"):
            raise BenchError(f"sample set {path.name} is not the one result {name!r} was scored on (its first "
                             "images per prompt differ from the result's gallery)", where=str(path),
                             fix=f"regenerate both: medsyn-bench run --suite {suite} --generators {name}")
        result["samples"] = {"file": f"samples/{path.name}", "format": FORMAT, "sha256": sha256_file(path),
                             "n_images": int(len(images))}
    return samples, result["samples"]["sha256"]


def entry_of(result: dict, dataset) -> GeneratorEntry:
    """The leaderboard row a published result describes (model spec, role, modalities, budget)."""
    g = result["generator"]
    spec = {k: v for k, v in g["spec"].items() if k in {f.name for f in dataclasses.fields(ModelSpec)}}
    keys = [m.key for m in dataset.modalities]
    mods = [keys.index(k) for k in g["modalities"] if k in keys]
    return GeneratorEntry(g["name"], ModelSpec(**{**spec, "path": ""}), g["role"],
                          None if len(mods) == len(keys) else mods, g.get("budget"), variant_of=g.get("variant_of"))


def publish_run_samples(spec, dataset, runs_dir: Path, boards: Path, names: list[str]) -> list[Path]:
    """Write ``samples/<g>.npz`` from the sampled run folders ``runs/<suite>/<g>/samples`` (e.g. after
    ``run --generate-only``), so that results published before sample sets existed can adopt them."""
    from bench.data.sample_set import write_sample_set

    written = []
    for name in names:
        folder = Path(runs_dir) / spec.name / name / "samples"
        if not (folder / "manifest.csv").is_file():
            raise BenchError(f"generator {name!r} has no samples in the run folder", where=str(folder),
                             fix=f"sample it first: medsyn-bench run --suite {spec.name} --generators {name} "
                                 "--generate-only")
        s = read_samples(folder, dataset)
        path = boards / spec.name / "samples" / f"{name}.npz"
        write_sample_set(path, s.images, s.texts, s.seeds,
                         {"suite": spec.name, "suite_version": spec.version, "generator": name})
        written.append(path)
    return written


def without_machine_paths(obj):
    """``obj`` with every absolute path string cut to its last part (results published before results
    stopped recording machine paths named the run folder of the machine that made them)."""
    if isinstance(obj, dict):
        return {k: without_machine_paths(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [without_machine_paths(v) for v in obj]
    if isinstance(obj, str) and obj.startswith("/") and "/" in obj[1:] and "\n" not in obj:
        return Path(obj).name
    return obj


def rescore_suite(suite: str, leaderboards_dir: Path | None = None, runs_dir: Path = Path("runs"),
                  data_root: str | None = None, only: list[str] | None = None, task_names: list[str] | None = None,
                  device: str = "auto", publish: bool = True,
                  from_runs: bool = False, log=print) -> list[dict]:
    """Rescore the suite's published results (or those in ``only``) on its tasks (or ``task_names``);
    returns the new results, and with ``publish`` writes them over the published ones. Stages go to
    ``runs/<suite>/<generator>/rescore/`` (resumable, like a run). ``from_runs``: first publish the
    generators' sample sets from their run folders (:func:`publish_run_samples`)."""
    spec = load_suite(suite)
    boards = Path(leaderboards_dir) if leaderboards_dir is not None else project_root() / "leaderboards"
    old = published_results(spec.name, boards, only)
    if task_names:
        unknown = sorted(set(task_names) - set(spec.tasks))
        if unknown:
            raise BenchError(f"suite {spec.name!r} has no task {unknown[0]!r}", where=spec.path,
                             fix=f"tasks of this suite: {', '.join(spec.tasks)}")
    dataset = load_dataset(spec, data_root)
    suite_dir = Path(runs_dir) / spec.name
    out = []
    with run_lock(suite_dir):
        ctx = suite_context(spec, dataset, suite_dir, device, log)
        ensure_references(ctx)  # every rescored result names the networks it looked through
        for name, r in old.items():
            if r["data"]["dataset_sha256"] != ctx.data_hashes["dataset_sha256"]:
                raise BenchError(f"result {name!r} was scored on other data (dataset sha256 "
                                 f"{r['data']['dataset_sha256'][:16]}…, this suite's is "
                                 f"{ctx.data_hashes['dataset_sha256'][:16]}…)", where=str(boards / spec.name / "results"),
                                 fix="rescore with the data the suite was published on (--data-root)")
            partial = task_names and set(task_names) != set(spec.tasks)
            if partial and r["reference"] != ctx.reference_hashes:  # old-network numbers beside new hashes
                raise BenchError(f"result {name!r} was scored through other reference networks, so every task "
                                 "must be rescored", where=str(boards / spec.name / "results" / f"{name}.json"),
                                 fix="rescore without --tasks")
            if partial and r["suite"].get("version") != spec.version:  # version-1 utility under a version-2 label
                raise BenchError(f"result {name!r} was made under suite version {r['suite'].get('version')}, this "
                                 f"suite is version {spec.version}: the tasks not named would keep the old "
                                 "protocol's numbers under the new version", where=str(boards / spec.name / "results" / f"{name}.json"),
                                 fix="rescore without --tasks (every task, under the new version)")
        if from_runs:
            publish_run_samples(spec, dataset, runs_dir, boards, list(old))
        def regenerate(r: dict) -> Path:
            """Sample a regenerable generator again (no training) into its rescore folder."""
            run, _, _ = sample_generator(entry_of(r, dataset), ctx, log)
            path = suite_dir / r["generator"]["name"] / "rescore" / "sample_set.npz"
            write_sample_set(path, run.samples.images, run.samples.texts, run.samples.seeds, r["samples"]["meta"])
            return path

        runs = {name: samples_of(r, boards, dataset, regenerate) for name, r in old.items()}  # every file checked first
        tasks = build_tasks(spec, ctx, task_names)
        prepare_tasks(tasks, ctx, boards, log, write=publish)
        for name, r in old.items():
            samples, sha = runs[name]
            run = GeneratorRun(entry_of(r, dataset), None, suite_dir / name / "rescore", samples, sha)
            metrics = dict(r["metrics"])
            for task in entry_tasks(run.entry, spec, tasks):
                metrics[task.spec.name] = declared(task, task_stage(run, task, ctx, log)["output"])
            new = {**r, "schema_version": SCHEMA_VERSION, "metrics": metrics, "compute": without_machine_paths(r["compute"]),
                   "data": {**r["data"], "provenance": dataset.provenance},
                   "suite": {**r["suite"], "version": spec.version, "spec": _spec_dict(spec),
                             "tasks": {**r["suite"].get("tasks", {}),
                                       **{t.spec.name: {"task": t.spec.task, "params": dataclasses.asdict(t.params)}
                                          for t in tasks}}},
                   "reference": dict(ctx.reference_hashes), "packages": package_versions(),
                   "git_commit": git_commit(project_root()), "created": now_iso(),
                   "rescored": {"tasks": [t.spec.name for t in tasks], "from_created": r["created"],
                                "from_reference": r["reference"]},
                   "warnings": list(dataset.warnings) + list(ctx.warnings)}
            write_result(run.folder / "result.json", new)
            if publish:
                write_result(boards / spec.name / "results" / f"{name}.json", new)
            out.append(new)
    return out
