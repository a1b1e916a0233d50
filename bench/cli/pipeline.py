"""``medsyn-bench`` run, submit, check, rescore, upgrade and export: the commands that score generators.

Each command parses its arguments and calls one library function; `register` adds the parsers.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.cli.common import add_data_args
from bench.errors import BenchError


def register(sub) -> None:
    """Add this module's commands to the ``medsyn-bench`` sub-parsers."""
    p = sub.add_parser("run", help="run a suite: fit, sample and score every generator, then publish results",
                       description="Run a suite end to end. Finished stages are skipped (resumable); "
                                   "stages whose inputs changed are redone.")
    p.add_argument("--suite", required=True, help="suite name (see `medsyn-bench list suites`) or a .toml path")
    p.add_argument("--generators", default=None, help="comma-separated subset of the suite's generators")
    p.add_argument("--tasks", default=None,
                   help="comma-separated subset of the suite's tasks: the results hold only those (a later run "
                        "without --tasks adds the others, reusing every finished stage); never published over a "
                        "result that holds more")
    p.add_argument("--runs-dir", default="runs", help="where run folders go (default: runs/)")
    p.add_argument("--leaderboards-dir", default="leaderboards",
                   help="where results are published (default: leaderboards/)")
    p.add_argument("--no-publish", action="store_true", help="do not copy results into the leaderboards folder")
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu or cuda[:N]")
    p.add_argument("--fresh", action="store_true", help="delete this suite's run folder first and start over")
    p.add_argument("--generate-only", action="store_true",
                   help="fit and sample the generators, then stop (no tasks, no result files; a later run reuses both)")
    p.add_argument("--fit-only", action="store_true",
                   help="fit the generators (training curve included), then stop: what an ablation of the "
                        "training recipe needs (see `medsyn-bench ablations`)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="settings",
                   help="run the selected generators as an ablation variant with this model parameter changed "
                        "(repeatable; the variant is named e.g. ldm-small+lr=5e-4 and shares the suite's caches)")
    p.add_argument("--ignore-autoencoder-gate", action="store_true",
                   help="train LDM UNets even on an autoencoder whose reconstructions lose more reference-classifier "
                        "accuracy than the model spec's vae_gate_points (recorded in the result)")
    add_data_args(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("submit", help="score an external generator's image folder and add it to the leaderboard",
                       description="Score a folder of images with manifest.csv (path,prompt; template: "
                                   "medsyn-bench prompts --suite S --out DIR/manifest.csv) on a suite's tasks, "
                                   "publish its result and re-render the leaderboard and figures.")
    p.add_argument("--suite", required=True, help="suite name (see `medsyn-bench list suites`) or a .toml path")
    p.add_argument("--images", required=True, help="folder holding manifest.csv and the images it lists")
    p.add_argument("--name", required=True, help="the generator's name on the leaderboard (letters, digits, . _ + @ -)")
    p.add_argument("--runs-dir", default="runs", help="where run folders go (default: runs/)")
    p.add_argument("--leaderboards-dir", default="leaderboards", help="default: leaderboards/")
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu or cuda[:N]")
    add_data_args(p)
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("check", help="validate an image folder for `submit`: every problem at once, in seconds",
                       description="Check a submission folder (manifest.csv + images) against a suite without "
                                   "scoring it: paths, files, pixel cap, decoding, size, mode, channels, prompts, "
                                   "duplicates and images per prompt. Prints every problem with its manifest line "
                                   "and a fix; exits 0 when clean (with the counts and the content hash), 2 if not.")
    p.add_argument("--suite", required=True, help="suite name (see `medsyn-bench list suites`) or a .toml path")
    p.add_argument("--images", required=True, help="folder holding manifest.csv and the images it lists")
    add_data_args(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("rescore", help="recompute published results from their published sample sets (no generator fit)",
                       description="Score the published sample sets (leaderboards/<suite>/samples/*.npz, sha256-"
                                   "checked against their results) with the suite's current tasks and shipped "
                                   "reference networks, and write the new results over the published ones (then "
                                   "re-render the leaderboard and figures). No generator is fitted or sampled.")
    p.add_argument("--suite", required=True, help="suite name (see `medsyn-bench list suites`) or a .toml path")
    p.add_argument("--generators", default=None, help="comma-separated published generators (default: all)")
    p.add_argument("--tasks", default=None, help="comma-separated tasks to recompute (default: all of the suite's)")
    p.add_argument("--runs-dir", default="runs", help="where rescoring stages go (default: runs/)")
    p.add_argument("--leaderboards-dir", default="leaderboards", help="published results and samples (default: leaderboards/)")
    p.add_argument("--no-publish", action="store_true", help="write the new results to the runs folder only")
    p.add_argument("--from-runs", action="store_true",
                   help="first publish each generator's sample set from its run folder (runs/<suite>/<g>/samples, "
                        "e.g. after `run --generate-only`); a result without a sample set adopts it only if it "
                        "reproduces the result's gallery")
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu or cuda[:N]")
    add_data_args(p)
    p.set_defaults(func=cmd_rescore)

    p = sub.add_parser("upgrade", help="bring a suite's published results to the current result schema",
                       description="Rewrite the published results (leaderboards/<suite>/results/*.json) written by "
                                   "an older medsyn-bench in the current result schema. Schema 2 adds each task's "
                                   "column declarations (what each reported metric is), derived from the task "
                                   "class and the parameters the result records: no number changes, nothing is "
                                   "recomputed. Re-renders the leaderboard afterwards.")
    p.add_argument("--suite", required=True, help="suite name, e.g. smoke")
    p.add_argument("--leaderboards-dir", default="leaderboards", help="published results (default: leaderboards/)")
    p.set_defaults(func=cmd_upgrade)

    p = sub.add_parser("export", help="save a fitted suite LDM as a standard diffusers pipeline folder",
                       description="Write a fitted LDM of a suite (its `run` fit) as a StableDiffusionPipeline "
                                   "folder that plain diffusers loads with DiffusionPipeline.from_pretrained(DIR, "
                                   "use_safetensors=True), "
                                   "plus medsyn_bench.json (image size and crop, guidance, steps, seeding, weight "
                                   "hashes). Scored as a diffusers-pipeline generator, it gives the LDM's own "
                                   "samples for the same seed.")
    p.add_argument("--suite", required=True, help="suite name (see `medsyn-bench list suites`) or a .toml path")
    p.add_argument("--generator", required=True, help="one of the suite's LDMs, e.g. ldm-tiny or ldm-tiny@bloodmnist")
    p.add_argument("--out", required=True, help="the pipeline folder to write (new, or an earlier export)")
    p.add_argument("--runs-dir", default="runs", help="where the run folders are (default: runs/)")
    add_data_args(p)
    p.set_defaults(func=cmd_export)


def cmd_run(args) -> int:
    from bench.run import RunOptions, run_suite

    t0 = time.perf_counter()
    only = [g.strip() for g in args.generators.split(",")] if args.generators else None
    paths = run_suite(args.suite, RunOptions(
        Path(args.runs_dir), args.data_root, only, args.device, None if args.no_publish else Path(args.leaderboards_dir),
        args.fresh, args.ignore_autoencoder_gate, args.generate_only, args.fit_only, args.settings,
        [t.strip() for t in args.tasks.split(",")] if args.tasks else None,
        stages_from=Path(args.leaderboards_dir)))
    print(f"\ndone in {time.perf_counter() - t0:.1f} s")
    print(f"run folders: {Path(args.runs_dir).resolve() / Path(args.suite).stem}")
    published = [p for p in paths if "results" in p.parts]
    if published:
        print(f"results:     {published[0].parent.resolve()}")
        from bench.report import render_all

        render_all(published[0].parent.parent.name, Path(args.leaderboards_dir))
    return 0


def cmd_submit(args) -> int:
    from bench.report import render_all
    from bench.run import submit_images

    paths = submit_images(args.suite, Path(args.images), args.name, Path(args.runs_dir), Path(args.leaderboards_dir),
                          args.data_root, args.device)
    published = [p for p in paths if "results" in p.parts]
    print(f"\nsubmitted {args.name}: {published[0] if published else paths[0]}")
    render_all(published[0].parent.parent.name, Path(args.leaderboards_dir))
    return 0


def cmd_check(args) -> int:
    from bench.data import load_dataset
    from bench.data.submission import check_submission
    from bench.specs import load_suite

    spec = load_suite(args.suite)
    ds = load_dataset(spec, args.data_root)
    t0 = time.perf_counter()
    report = check_submission(Path(args.images), ds, spec.sampling.n_per_prompt, suite=spec.name)
    for line in report.problem_lines() + report.warning_lines():
        print(line)
    if not report.ok:
        raise BenchError(report.summary(), where=f"suite {spec.name}",
                         fix="fix each problem as listed above, then run this check again")
    print(f"ok: {report.counts()}")
    print(f"content sha256 {report.content_sha256} ({report.bytes_read / 1e6:.1f} MB checked in "
          f"{time.perf_counter() - t0:.1f} s)")
    return 0


def cmd_rescore(args) -> int:
    from bench.rescore import rescore_suite

    t0 = time.perf_counter()
    split = lambda v: [x.strip() for x in v.split(",") if x.strip()] if v else None  # noqa: E731
    results = rescore_suite(args.suite, Path(args.leaderboards_dir), Path(args.runs_dir), args.data_root,
                            split(args.generators), split(args.tasks), args.device, not args.no_publish,
                            args.from_runs)
    for r in results:
        print(f"rescored {r['generator']['name']}: {', '.join(r['rescored']['tasks'])}")
    print(f"\ndone in {time.perf_counter() - t0:.1f} s")
    if results and not args.no_publish:
        from bench.report import render_all

        render_all(results[0]["suite"]["name"], Path(args.leaderboards_dir))
    if results and args.no_publish:
        return _report_agreement(results, Path(args.leaderboards_dir))
    return 0


def _report_agreement(results: list[dict], leaderboards_dir: Path) -> int:
    """After ``rescore --no-publish``: compare each new result with its published one under the
    cross-machine tolerances (bench/metrics/agreement.py); 1 if any number leaves them."""
    from bench.metrics.agreement import result_disagreements
    from bench.rescore import published_results

    suite = results[0]["suite"]["name"]
    old = published_results(suite, leaderboards_dir, [r["generator"]["name"] for r in results])
    bad = 0
    print("\nagreement with the published results (tolerances: bench/metrics/agreement.py):")
    for r in results:
        name = r["generator"]["name"]
        tasks = [t for t in r["rescored"]["tasks"] if t in old[name]["metrics"]]
        problems = result_disagreements(r, old[name], tasks)
        bad += bool(problems)
        print(f"  {name}: " + ("agrees" if not problems else f"{len(problems)} numbers outside the tolerances"))
        for line in problems[:20]:
            print(f"    {line}")
        if len(problems) > 20:
            print(f"    … and {len(problems) - 20} more")
    return 1 if bad else 0


def cmd_upgrade(args) -> int:
    from bench.report import render_all
    from bench.upgrade import upgrade_suite

    if upgrade_suite(args.suite, Path(args.leaderboards_dir)):
        render_all(args.suite, Path(args.leaderboards_dir))
    return 0


def cmd_export(args) -> int:
    from bench.run import export_suite_generator

    out = export_suite_generator(args.suite, args.generator, Path(args.out), Path(args.runs_dir), args.data_root)
    folder = str(out)
    print(f"wrote {out}\nload it with: DiffusionPipeline.from_pretrained({folder!r}, use_safetensors=True); "
          f"score it as a diffusers-pipeline generator with path = {folder!r}")
    return 0
