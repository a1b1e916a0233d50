"""``medsyn-bench`` perf: the speed benchmark.

Each command parses its arguments and calls one library function; `register` adds the parsers.
"""

from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    """Add this module's commands to the ``medsyn-bench`` sub-parsers."""
    p = sub.add_parser("perf", help="speed benchmark: ratios against the obvious alternatives, measured side by side",
                       description="Time sampling (DPM-Solver vs DDPM), training (cached vs on-the-fly encoding), "
                                   "nearest neighbours (faiss vs scikit-learn), feature throughput, memory growth, "
                                   "the smoke suite end to end and, on a GPU, bf16. Prints a table, writes JSON.")
    p.add_argument("--quick", action="store_true", help="reduced sizes, about two minutes (not comparable)")
    p.add_argument("--out", default="perf.json", help="where to write the JSON report (default: perf.json)")
    p.add_argument("--work-dir", default=None, help="keep the fitted ldm-tiny here to reuse it on the next run")
    p.add_argument("--only", default=None, metavar="NAME[,NAME]",
                   help="measure only these (e.g. family_throughput on an otherwise idle machine); names: "
                        "sampling, training, family_throughput, neighbours, fidelity_bootstrap, feature_throughput, "
                        "memory, utility_small, submission_check, smoke, gpu")
    p.set_defaults(func=cmd_perf)


def cmd_perf(args) -> int:
    from bench.perf import format_table, run_perf

    only = [x.strip() for x in args.only.split(",") if x.strip()] if args.only else None
    report = run_perf(args.quick, Path(args.out), Path(args.work_dir) if args.work_dir else None, only=only)
    print(format_table(report))
    print(f"wrote {args.out}")
    return 0
