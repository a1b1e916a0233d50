"""``medsyn-bench``: the command line. It only parses arguments and calls the library."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from bench import __version__
from bench.errors import BenchError

EPILOG = """\
quick start:
  medsyn-bench run --suite smoke            # the whole pipeline on the embedded sample (CPU, minutes)
  medsyn-bench list                         # suites, tasks, models and generator kinds
  medsyn-bench data info --suite small --data-root ../shared/data/medmnist
  medsyn-bench prompts --suite smoke        # the prompts an external generator must draw

Errors print one message with the file at fault and a fix; add --debug for the traceback.
"""


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-root", default=None,
                   help="folder of MedMNIST .npz files or of a CSV corpus (default: $MEDSYN_DATA or the suite's "
                        "[data] root); missing MedMNIST files: `medsyn-bench data download`")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medsyn-bench",
        description="Benchmark text-guided medical image generators: fidelity, text alignment, "
                    "memorisation and the utility of synthetic data for low-data classifiers.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"medsyn-bench {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("run", help="run a suite: fit, sample and score every generator, then publish results",
                       description="Run a suite end to end. Finished stages are skipped (resumable); "
                                   "stages whose inputs changed are redone.")
    p.add_argument("--suite", required=True, help="suite name (see `medsyn-bench list suites`) or a .toml path")
    p.add_argument("--generators", default=None, help="comma-separated subset of the suite's generators")
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
    _add_data_args(p)

    p = sub.add_parser("list", help="list suites, tasks, models and generator kinds")
    p.add_argument("what", nargs="?", default="all", choices=["all", "suites", "tasks", "models", "generators"])

    p = sub.add_parser("data", help="inspect datasets or rebuild the embedded sample")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    q = dsub.add_parser("info", help="splits, classes, prompts and hashes of a suite's data")
    q.add_argument("--suite", default="smoke")
    _add_data_args(q)
    q = dsub.add_parser("download", help="fetch a suite's missing MedMNIST files into the data root (needs network; "
                                         "the only command that downloads anything)")
    q.add_argument("--suite", required=True)
    _add_data_args(q)
    q = dsub.add_parser("make-sample", help="rebuild the embedded sample from the full MedMNIST files")
    q.add_argument("--data-root", required=True, help="folder with bloodmnist.npz, organamnist.npz, breastmnist.npz")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--out", default=None, help="output .npz (default: the package's embedded sample)")

    p = sub.add_parser("prompts", help="the prompts of a suite, as the manifest an external generator fills in")
    p.add_argument("--suite", required=True)
    p.add_argument("--n", type=int, default=None, help="images per prompt (default: the suite's n_per_prompt)")
    p.add_argument("--out", default=None, help="write a manifest template CSV here (default: print prompts)")
    _add_data_args(p)

    p = sub.add_parser("leaderboard", help="render leaderboards/<suite>/README.md and index.html from result files",
                       description="Render the leaderboard of a suite from leaderboards/<suite>/results/*.json "
                                   "alone. Files that fail the schema or whose hashes disagree are refused "
                                   "(named, with the reason); results that are not comparable are shown apart.")
    p.add_argument("--suite", required=True, help="suite name")
    p.add_argument("--leaderboards-dir", default="leaderboards", help="default: leaderboards/")
    p = sub.add_parser("ablations", help="table of an LDM's --set variants at equal training compute",
                       description="Collect the training curves of a base LDM and its `run --set KEY=VALUE "
                                   "--fit-only` variants from the runs folder and write "
                                   "leaderboards/<suite>/ablations.json and ablations.md: per variant, the kept "
                                   "checkpoint closest in UNet training FLOPs (wall time if not measured) to the "
                                   "base's at --at-step, its conditional "
                                   "accuracy (95 % Wilson CI), per modality, and FD to validation.")
    p.add_argument("--suite", required=True, help="suite name")
    p.add_argument("--base", required=True, help="the base generator (e.g. ldm-small)")
    p.add_argument("--at-step", type=int, default=None,
                   help="the base's curve step to compare at (default: the last step every variant reached)")
    p.add_argument("--runs-dir", default="runs", help="default: runs/")
    p.add_argument("--leaderboards-dir", default="leaderboards", help="default: leaderboards/")
    p = sub.add_parser("figures", help="render the paper figures of a suite from result files (PNG + PDF)",
                       description="Write leaderboards/<suite>/figures/: sample grids, FD per modality, utility "
                                   "gain vs budget, memorisation, quality vs compute, alignment, foundation probes. A figure whose "
                                   "data the results lack is skipped with the reason.")
    p.add_argument("--suite", required=True, help="suite name")
    p.add_argument("--leaderboards-dir", default="leaderboards", help="default: leaderboards/")
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
    _add_data_args(p)

    p = sub.add_parser("check", help="validate an image folder for `submit`: every problem at once, in seconds",
                       description="Check a submission folder (manifest.csv + images) against a suite without "
                                   "scoring it: paths, files, pixel cap, decoding, size, mode, channels, prompts, "
                                   "duplicates and images per prompt. Prints every problem with its manifest line "
                                   "and a fix; exits 0 when clean (with the counts and the content hash), 2 if not.")
    p.add_argument("--suite", required=True, help="suite name (see `medsyn-bench list suites`) or a .toml path")
    p.add_argument("--images", required=True, help="folder holding manifest.csv and the images it lists")
    _add_data_args(p)

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
    _add_data_args(p)

    p = sub.add_parser("reader-study", help="a blinded reader study: clinicians rate realism and text alignment",
                       description="Create a blinded study of real held-out and synthetic images, serve it to "
                                   "readers in a browser, and analyse their answers.")
    rsub = p.add_subparsers(dest="rs_command", metavar="ACTION", required=True)
    q = rsub.add_parser("create", help="build a balanced, shuffled, blinded study from run folders")
    q.add_argument("--suite", required=True, help="suite name or .toml path")
    q.add_argument("--generators", required=True, help="comma-separated generators whose samples to include")
    q.add_argument("--n", type=int, default=50, help="images in the study, half of them real (default: 50)")
    q.add_argument("--runs-dir", default="runs", help="where the run folders are (default: runs/)")
    q.add_argument("--out", default=None, help="study folder (default: studies/<suite>-<time>)")
    q.add_argument("--readers", type=int, default=3, help="number of reader codes to make (default: 3)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--title", default="Reader study", help="title shown to readers (do not name generators)")
    _add_data_args(q)
    q = rsub.add_parser("serve", help="serve a study to readers in the browser")
    q.add_argument("study", nargs="+", help="study folder(s); each reader code opens its own study")
    q.add_argument("--port", type=int, default=8000)
    q.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    q = rsub.add_parser("analyse", help="accuracy/AUC, alignment ratings, agreement; writes analysis.json + .png")
    q.add_argument("study", help="study folder")
    q.add_argument("--runs-dir", default=None, help="run folders with result JSON (default: the one used at create)")
    q.add_argument("--publish", action="store_true",
                   help="also copy analysis.json to leaderboards/<suite>/reader-studies/, where the leaderboard "
                        "and the reader_study figure show it")
    q.add_argument("--leaderboards-dir", default="leaderboards", help="where --publish writes (default: leaderboards)")

    p = sub.add_parser("reference", help="describe, verify or (deliberately) retrain a suite's pinned reference networks",
                       description="The domain CLIP and label classifier that metrics look through. A published "
                                   "suite ships them in leaderboards/<suite>/reference/ (safetensors + JSON card) "
                                   "and pins their sha256 in its spec ([reference.pinned]); runs load and verify "
                                   "them and never retrain them. `train` makes new ones in the run folder; with "
                                   "--publish they replace the shipped ones as a new suite version.")
    rsub = p.add_subparsers(dest="reference_command", metavar="ACTION", required=True)
    for action, help_text in (("train", "train new ones in the run folder (skipped if already trained there on "
                                        "the same recipe and data); --publish makes them the suite's next version"),
                              ("info", "print their cards: recipe, seed, validation metrics, sha256"),
                              ("verify", "re-hash the weights against their cards and the published results")):
        q = rsub.add_parser(action, help=help_text)
        q.add_argument("--suite", required=True)
        q.add_argument("--runs-dir", default="runs", help="where run folders go (default: runs/)")
        if action == "train":
            q.add_argument("--device", default="auto", help="auto (CUDA if available), cpu or cuda[:N]")
            q.add_argument("--publish", action="store_true",
                           help="copy them into leaderboards/<suite>/reference/, pin their sha256 in the suite "
                                "file and bump its version (every published result must then be rescored)")
            _add_data_args(q)
        if action == "verify":
            q.add_argument("--leaderboards-dir", default="leaderboards",
                           help="published results to compare hashes with (default: leaderboards/)")

    p = sub.add_parser("utility", help="run the utility task alone for one generator (fit and sample it if needed)",
                       description="Train classifiers on real, synthetic, mixed and augmented data at each low-data "
                                   "budget and print the paired gains over real-only. Finished cells, fits and "
                                   "samples are reused; the generator's result.json is not rewritten.")
    p.add_argument("--suite", required=True, help="suite name (see `medsyn-bench list suites`) or a .toml path")
    p.add_argument("--generator", required=True, help="one of the suite's generators, e.g. holdout or ldm@bloodmnist")
    p.add_argument("--runs-dir", default="runs", help="where run folders go (default: runs/)")
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu or cuda[:N]")
    _add_data_args(p)

    p = sub.add_parser("grid", help="write a PNG sample grid of one generator (rows = prompts, real | generated)")
    p.add_argument("--suite", required=True, help="suite name or .toml path")
    p.add_argument("--generator", required=True, help="a generator of the suite that has been sampled")
    p.add_argument("--runs-dir", default="runs", help="where run folders go (default: runs/)")
    p.add_argument("--out", default=None, help="PNG to write (default: runs/<suite>/<generator>/grid.png)")
    p.add_argument("--n", type=int, default=8, help="generated images per prompt (default: 8)")
    _add_data_args(p)

    p = sub.add_parser("foundation", help="contrastive foundation encoder probes: on the cardiac cine phantom or "
                                          "on a suite generator's image-prompt pairs",
                       description="Pretrain a sequence encoder contrastively on image-text pairs, then probe it "
                                   "(zero-shot, linear, fine-tune, from scratch) at label budgets. --phantom runs "
                                   "on the cardiac cine phantom; --suite/--generator on a suite's real and "
                                   "synthetic pairs. Parameters: tasks/foundation.toml [params].")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--phantom", action="store_true", help="run on the cardiac cine phantom (not patient data)")
    g.add_argument("--suite", help="suite name or .toml path (with --generator)")
    g.add_argument("--folder", help="your own sequences: a folder with sequences.csv (see the README)")
    p.add_argument("--generator", default=None, help="with --suite: one of the suite's generators")
    p.add_argument("--frames", type=int, default=None, help="--folder: frames per sequence (default: phantom_frames)")
    p.add_argument("--size", type=int, default=None, help="--folder: resize frames to SIZE × SIZE")
    p.add_argument("--runs-dir", default="runs", help="where run folders go (default: runs/)")
    p.add_argument("--out", default=None, help="--phantom/--folder: result JSON (default: "
                                                "runs/foundation/phantom.json, FOLDER/foundation.json)")
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu or cuda[:N]")
    _add_data_args(p)

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
    _add_data_args(p)

    p = sub.add_parser("perf", help="speed benchmark: ratios against the obvious alternatives, measured side by side",
                       description="Time sampling (DPM-Solver vs DDPM), training (cached vs on-the-fly encoding), "
                                   "nearest neighbours (faiss vs scikit-learn), feature throughput, memory growth, "
                                   "the smoke suite end to end and, on a GPU, bf16. Prints a table, writes JSON.")
    p.add_argument("--quick", action="store_true", help="reduced sizes, about two minutes (not comparable)")
    p.add_argument("--out", default="perf.json", help="where to write the JSON report (default: perf.json)")
    p.add_argument("--work-dir", default=None, help="keep the fitted ldm-tiny here to reuse it on the next run")
    return parser


def cmd_run(args) -> int:
    from bench.run import RunOptions, run_suite

    t0 = time.perf_counter()
    only = [g.strip() for g in args.generators.split(",")] if args.generators else None
    paths = run_suite(args.suite, RunOptions(
        Path(args.runs_dir), args.data_root, only, args.device, None if args.no_publish else Path(args.leaderboards_dir),
        args.fresh, args.ignore_autoencoder_gate, args.generate_only, args.fit_only, args.settings))
    print(f"\ndone in {time.perf_counter() - t0:.1f} s")
    print(f"run folders: {Path(args.runs_dir).resolve() / Path(args.suite).stem}")
    published = [p for p in paths if "results" in p.parts]
    if published:
        print(f"results:     {published[0].parent.resolve()}")
        from bench.report import render_all

        render_all(published[0].parent.parent.name, Path(args.leaderboards_dir))
    return 0


def cmd_list(args) -> int:
    from bench.registry import generator_kinds, task_kinds
    from bench.specs import list_models, list_suites, list_tasks, load_model, load_suite, load_task

    if args.what in ("all", "suites"):
        print("suites:")
        for n in list_suites():
            s = load_suite(n)
            print(f"  {n:<12} {s.profile:<4} {s.description}")
    if args.what in ("all", "tasks"):
        print("tasks:")
        for n in list_tasks():
            t = load_task(n)
            print(f"  {n:<16} ({t.task}) {t.description}")
    if args.what in ("all", "models"):
        print("models:")
        for n in list_models():
            m = load_model(n)
            print(f"  {n:<16} ({m.kind}) {m.description}")
    if args.what in ("all", "generators"):
        print("generator kinds: " + ", ".join(generator_kinds()))
        print("task kinds:      " + ", ".join(task_kinds()))
    return 0


def cmd_data(args) -> int:
    if args.data_command == "download":
        from bench.data.medmnist import fetch_missing
        from bench.specs import load_suite

        spec = load_suite(args.suite)
        if spec.data.source != "medmnist":
            raise BenchError(f"suite {spec.name!r} reads {spec.data.source!r} data: nothing to download",
                             where=spec.path, fix="download applies to suites with [data] source = \"medmnist\"")
        paths = fetch_missing(spec.data.subsets, spec.data.image_size, args.data_root or spec.data.root or None)
        print(f"{len(paths)} files in {paths[0].parent}" if paths else "no files")
        return 0
    if args.data_command == "make-sample":
        from bench.data.medmnist import EMBEDDED_FILE, make_embedded_sample

        summary = make_embedded_sample(args.data_root, Path(args.out) if args.out else EMBEDDED_FILE, args.seed)
        print(f"wrote {summary['file']} ({summary['bytes'] / 1e6:.2f} MB, sha256 {summary['sha256']})")
        for subset, s in summary.items():
            if isinstance(s, dict) and "counts" in s:
                print(f"  {subset}: {s['counts']}  md5 verified: {s['source']['md5_verified']}")
                for w in s["warnings"]:
                    print(f"    warning: {w}")
        return 0
    from bench.data import load_dataset
    from bench.specs import load_suite

    spec = load_suite(args.suite)
    ds = load_dataset(spec, args.data_root)
    h = ds.hashes()
    print(f"suite {spec.name}: source {spec.data.source}, {ds.image_size} px, dataset sha256 {h['dataset_sha256']}")
    for name, s in ds.splits.items():
        print(f"  {name:<8} {len(s):>7} images  pixels sha256 {h['splits'][name]['pixels_sha256'][:16]}…")
    for m, mod in enumerate(ds.modalities):
        counts = [int((ds.splits['train'].classes == ds.class_index(m, l)).sum()) for l in range(len(mod.class_names))]
        print(f"  {mod.key} ({mod.phrase}, {mod.channels} ch, {mod.licence}): train per class {counts}")
    budgets = ds.budget_indices(spec.splits.budgets, spec.splits.seed)
    print("  low-data budgets (images per class → train images): "
          + ", ".join(f"{n} → {len(idx)}" for n, idx in budgets.items()))
    print("  prompts, e.g.: " + "; ".join(p.text for p in ds.prompt_requests()[:3]))
    for w in ds.warnings:
        print(f"  warning: {w}")
    return 0


def cmd_prompts(args) -> int:
    from bench.data import load_dataset
    from bench.data.samples import manifest_template
    from bench.io import atomic_write_text
    from bench.specs import load_suite

    spec = load_suite(args.suite)
    ds = load_dataset(spec, args.data_root)
    n = args.n or spec.sampling.n_per_prompt
    reqs = ds.prompt_requests()
    if not args.out:
        for r in reqs:
            print(r.text)
        return 0
    atomic_write_text(args.out, manifest_template(ds, n))
    print(f"wrote {args.out}: {len(reqs)} prompts × {n} images; save each image at the listed path")
    return 0


def cmd_reader_study(args) -> int:
    if args.rs_command == "create":
        from bench.readerstudy.create import create_study

        study, readers = create_study(args.suite, args.generators.split(","), args.n, Path(args.runs_dir),
                                      Path(args.out) if args.out else None, args.readers, args.seed, args.title,
                                      args.data_root)
        print("reader codes (give one to each reader):")
        for r in readers:
            print(f"  {r.name}: {r.code}")
        print(f"serve it with: medsyn-bench reader-study serve {study.folder}")
        return 0
    if args.rs_command == "serve":
        from bench.readerstudy.app import serve
        from bench.readerstudy.store import open_study

        studies = [open_study(s) for s in args.study]
        print(f"reader study at http://{args.host}:{args.port}/  (Ctrl+C to stop; answers are saved as they come)")
        serve(studies, args.host, args.port)
        return 0
    from bench.readerstudy.analyse import analyse_study

    json_path, png_path = analyse_study(args.study, args.runs_dir)
    print(f"wrote {json_path}\nwrote {png_path}")
    if args.publish:
        from bench.readerstudy.analyse import publish_analysis

        path = publish_analysis(args.study, args.leaderboards_dir)
        print(f"published {path}\nrender it with: medsyn-bench leaderboard --suite {path.parent.parent.name}")
    return 0



def cmd_leaderboard(args) -> int:
    from bench.report.leaderboard import render_leaderboard

    render_leaderboard(args.suite, Path(args.leaderboards_dir))
    return 0


def cmd_ablations(args) -> int:
    from bench.report.ablations import publish_ablations

    js, md = publish_ablations(Path(args.runs_dir) / Path(args.suite).stem, args.base,
                               Path(args.leaderboards_dir) / Path(args.suite).stem, args.at_step)
    print(md.read_text())
    print(f"written: {js}\n         {md}")
    return 0


def cmd_figures(args) -> int:
    from bench.report.figures import render_figures

    render_figures(args.suite, Path(args.leaderboards_dir))
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
    return 0


def cmd_reference(args) -> int:
    from bench.reference import pinned

    folder = pinned.suite_reference_dir(args.suite, Path(args.runs_dir))
    if args.reference_command == "train":
        from bench.run import resolve_device

        refs = pinned.train_for_suite(args.suite, Path(args.runs_dir), args.data_root, resolve_device(args.device))
        for name, sha in refs.hashes.items():
            print(f"{name:<11} sha256 {sha}  ({refs.folder / (name + '.safetensors')})")
        if args.publish:
            path, version = pinned.publish_trained(args.suite, refs)
            print(f"shipped in {pinned.shipped_dir(Path(args.suite).stem)}; {path} is now version {version}.\n"
                  f"Rescore the published results against them: medsyn-bench rescore --suite {args.suite}")
        else:
            print("These are a local variant: results scored with them are not comparable with the leaderboard. "
                  "--publish makes them the suite's next version.")
        return 0
    if args.reference_command == "info":
        from bench.io import dumps_json

        for name in pinned.NAMES:
            card = pinned.read_card(folder, name, f"run `medsyn-bench reference train --suite {args.suite}`")
            print(f"# {name}\n" + dumps_json({k: v for k, v in card.items() if k not in ("prompts", "classes")}))
        return 0
    checks = pinned.verify_references(folder)
    for name, ok, sha, msg in checks:
        print(f"{name:<11} {'ok' if ok else 'MISSING' if sha is None else 'MISMATCH':<9}{msg}")
    bad = sum(not ok for _, ok, _, _ in checks)
    local = {name: sha for name, ok, sha, _ in checks if ok}
    for gen, hashes in pinned.published_hashes(args.suite, Path(args.leaderboards_dir)).items():
        diff = sorted(n for n in pinned.NAMES if n in local and hashes.get(n) != local[n])
        print(f"  published {gen}: " + (f"different {', '.join(diff)} (not comparable)" if diff else "same references"))
    if bad:
        raise BenchError(f"{bad} reference network(s) missing or altered", where=str(folder),
                         fix=f"delete {folder} and run `medsyn-bench reference train --suite {args.suite}`")
    return 0



def cmd_utility(args) -> int:
    from bench.metrics.utility import format_gains
    from bench.run import run_task

    t0 = time.perf_counter()
    out = run_task(args.suite, "utility", args.generator, Path(args.runs_dir), args.data_root, args.device)
    print(format_gains(out))
    print(f"\ndone in {time.perf_counter() - t0:.1f} s; metrics in "
          f"{Path(args.runs_dir).resolve() / Path(args.suite).stem / args.generator / 'stages' / 'task-utility.json'}")
    return 0



def cmd_grid(args) -> int:
    from bench.data import load_dataset
    from bench.report.grid import write_grid
    from bench.specs import load_suite

    spec = load_suite(args.suite)
    ds = load_dataset(spec, args.data_root)
    path = write_grid(Path(args.runs_dir) / spec.name / args.generator, ds, args.out, n_gen=args.n)
    print(f"wrote {path}")
    return 0



def cmd_foundation(args) -> int:
    from bench.foundation.experiment import format_table
    from bench.metrics.foundation import run_foundation_phantom
    from bench.run import resolve_device, run_foundation_suite

    t0 = time.perf_counter()
    if args.phantom:
        out = Path(args.out) if args.out else Path(args.runs_dir) / "foundation" / "phantom.json"
        metrics = run_foundation_phantom(out, resolve_device(args.device))["metrics"]
    elif args.folder:
        from bench.metrics.foundation import run_foundation_folder

        out = Path(args.out) if args.out else Path(args.folder) / "foundation.json"
        metrics = run_foundation_folder(args.folder, out, args.frames, args.size,
                                        resolve_device(args.device))["metrics"]
    else:
        if not args.generator:
            raise BenchError("--suite needs --generator", where="medsyn-bench foundation",
                             fix="name one of the suite's generators, e.g. --generator holdout")
        metrics, out = run_foundation_suite(args.suite, args.generator, Path(args.runs_dir), args.data_root,
                                            args.device)
    print(format_table(metrics["probes"]))
    print(f"\ndone in {time.perf_counter() - t0:.1f} s; result: {out}")
    return 0



def cmd_export(args) -> int:
    from bench.run import export_suite_generator

    out = export_suite_generator(args.suite, args.generator, Path(args.out), Path(args.runs_dir), args.data_root)
    folder = str(out)
    print(f"wrote {out}\nload it with: DiffusionPipeline.from_pretrained({folder!r}, use_safetensors=True); "
          f"score it as a diffusers-pipeline generator with path = {folder!r}")
    return 0


def cmd_perf(args) -> int:
    from bench.perf import format_table, run_perf

    report = run_perf(args.quick, Path(args.out), Path(args.work_dir) if args.work_dir else None)
    print(format_table(report))
    print(f"wrote {args.out}")
    return 0



COMMANDS = {"run": cmd_run, "list": cmd_list, "data": cmd_data, "prompts": cmd_prompts,
            "leaderboard": cmd_leaderboard, "ablations": cmd_ablations, "figures": cmd_figures, "submit": cmd_submit,
            "reference": cmd_reference, "rescore": cmd_rescore, "utility": cmd_utility, "grid": cmd_grid, "foundation": cmd_foundation,
            "reader-study": cmd_reader_study, "perf": cmd_perf, "check": cmd_check, "export": cmd_export}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    debug = args.debug or os.environ.get("MEDSYN_DEBUG") == "1"
    try:
        return COMMANDS[args.command](args)
    except BenchError as exc:
        if debug:
            raise
        print(f"error: {exc.render()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume from the last finished stage", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
