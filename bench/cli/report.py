"""``medsyn-bench`` leaderboard, figures, grid and ablations: rendering from result files.

Each command parses its arguments and calls one library function; `register` adds the parsers.
"""

from __future__ import annotations

from pathlib import Path

from bench.cli.common import add_data_args


def register(sub) -> None:
    """Add this module's commands to the ``medsyn-bench`` sub-parsers."""
    p = sub.add_parser("leaderboard", help="render leaderboards/<suite>/README.md and index.html from result files",
                       description="Render the leaderboard of a suite from leaderboards/<suite>/results/*.json "
                                   "alone. Files that fail the schema or whose hashes disagree are refused "
                                   "(named, with the reason); results that are not comparable are shown apart.")
    p.add_argument("--suite", required=True, help="suite name")
    p.add_argument("--leaderboards-dir", default="leaderboards", help="default: leaderboards/")
    p.set_defaults(func=cmd_leaderboard)

    p = sub.add_parser("figures", help="render the paper figures of a suite from result files (PNG + PDF)",
                       description="Write leaderboards/<suite>/figures/: sample grids, FD per modality, utility "
                                   "gain vs budget, memorisation, quality vs compute, alignment, foundation probes. A figure whose "
                                   "data the results lack is skipped with the reason.")
    p.add_argument("--suite", required=True, help="suite name")
    p.add_argument("--leaderboards-dir", default="leaderboards", help="default: leaderboards/")
    p.set_defaults(func=cmd_figures)

    p = sub.add_parser("grid", help="write a PNG sample grid of one generator (rows = prompts, real | generated)")
    p.add_argument("--suite", required=True, help="suite name or .toml path")
    p.add_argument("--generator", required=True, help="a generator of the suite that has been sampled")
    p.add_argument("--runs-dir", default="runs", help="where run folders go (default: runs/)")
    p.add_argument("--out", default=None, help="PNG to write (default: runs/<suite>/<generator>/grid.png)")
    p.add_argument("--n", type=int, default=8, help="generated images per prompt (default: 8)")
    add_data_args(p)
    p.set_defaults(func=cmd_grid)

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
    p.set_defaults(func=cmd_ablations)


def cmd_leaderboard(args) -> int:
    from bench.report.leaderboard import render_leaderboard

    render_leaderboard(args.suite, Path(args.leaderboards_dir))
    return 0


def cmd_figures(args) -> int:
    from bench.report.figures import render_figures

    render_figures(args.suite, Path(args.leaderboards_dir))
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


def cmd_ablations(args) -> int:
    from bench.report.ablations import publish_ablations

    js, md = publish_ablations(Path(args.runs_dir) / Path(args.suite).stem, args.base,
                               Path(args.leaderboards_dir) / Path(args.suite).stem, args.at_step)
    print(md.read_text())
    print(f"written: {js}\n         {md}")
    return 0
