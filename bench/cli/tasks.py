"""``medsyn-bench`` utility and foundation: one task alone.

Each command parses its arguments and calls one library function; `register` adds the parsers.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.cli.common import add_data_args
from bench.errors import BenchError


def register(sub) -> None:
    """Add this module's commands to the ``medsyn-bench`` sub-parsers."""
    p = sub.add_parser("utility", help="run the utility task alone for one generator (fit and sample it if needed)",
                       description="Train classifiers in the utility regimes at each low-data budget (real over "
                                   "the suite's ladder of budgets; weak and strong augmentation; synthetic at each "
                                   "count; real + synthetic; synthetic pretraining then real fine-tuning) and print "
                                   "the paired gains over real-only with each arm's real-data equivalent. Finished "
                                   "cells, fits and samples are reused; the generator's result.json is not rewritten.")
    p.add_argument("--suite", required=True, help="suite name (see `medsyn-bench list suites`) or a .toml path")
    p.add_argument("--generator", required=True, help="one of the suite's generators, e.g. holdout or ldm@bloodmnist")
    p.add_argument("--runs-dir", default="runs", help="where run folders go (default: runs/)")
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu or cuda[:N]")
    add_data_args(p)
    p.set_defaults(func=cmd_utility)

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
    add_data_args(p)
    p.set_defaults(func=cmd_foundation)


def cmd_utility(args) -> int:
    from bench.metrics.utility import format_gains
    from bench.run import run_task

    t0 = time.perf_counter()
    out = run_task(args.suite, "utility", args.generator, Path(args.runs_dir), args.data_root, args.device)
    print(format_gains(out))
    print(f"\ndone in {time.perf_counter() - t0:.1f} s; metrics in "
          f"{Path(args.runs_dir).resolve() / Path(args.suite).stem / args.generator / 'stages' / 'task-utility.json'}")
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
