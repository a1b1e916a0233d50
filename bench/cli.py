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
                   help="folder of MedMNIST .npz files or of a CSV corpus (default: $MEDSYN_DATA or the suite's [data] root)")
    p.add_argument("--download", action="store_true",
                   help="download missing MedMNIST files with the medmnist package (needs network)")


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
    p.add_argument("--resume", action="store_true", help="resume a run (the default; kept for clarity)")
    p.add_argument("--fresh", action="store_true", help="delete this suite's run folder first and start over")
    _add_data_args(p)

    p = sub.add_parser("list", help="list suites, tasks, models and generator kinds")
    p.add_argument("what", nargs="?", default="all", choices=["all", "suites", "tasks", "models", "generators"])

    p = sub.add_parser("data", help="inspect datasets or rebuild the embedded sample")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    q = dsub.add_parser("info", help="splits, classes, prompts and hashes of a suite's data")
    q.add_argument("--suite", default="smoke")
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
    return parser


def cmd_run(args) -> int:
    from bench.run import run_suite

    t0 = time.perf_counter()
    only = [g.strip() for g in args.generators.split(",")] if args.generators else None
    paths = run_suite(args.suite, Path(args.runs_dir), args.data_root, only, args.device,
                      None if args.no_publish else Path(args.leaderboards_dir), args.download, args.fresh)
    print(f"\ndone in {time.perf_counter() - t0:.1f} s")
    print(f"run folders: {Path(args.runs_dir).resolve() / Path(args.suite).stem}")
    published = [p for p in paths if "results" in p.parts]
    if published:
        print(f"results:     {published[0].parent.resolve()}")
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
    ds = load_dataset(spec, args.data_root, args.download)
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
    import csv

    from bench.data import load_dataset
    from bench.specs import load_suite

    spec = load_suite(args.suite)
    ds = load_dataset(spec, args.data_root, args.download)
    n = args.n or spec.sampling.n_per_prompt
    reqs = ds.prompt_requests()
    if not args.out:
        for r in reqs:
            print(r.text)
        return 0
    from bench.io import atomic_write_text
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["path", "prompt", "label", "modality"])
    for r in reqs:
        mod = ds.modalities[r.modality]
        for k in range(n):
            w.writerow([f"{mod.key}/class{r.label:02d}_{k:05d}.png", r.text, mod.class_names[r.label], mod.key])
    atomic_write_text(args.out, buf.getvalue())
    print(f"wrote {args.out}: {len(reqs)} prompts × {n} images; save each image at the listed path")
    return 0


COMMANDS = {"run": cmd_run, "list": cmd_list, "data": cmd_data, "prompts": cmd_prompts}


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
