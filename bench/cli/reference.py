"""``medsyn-bench`` reference: the suite's pinned reference networks.

Each command parses its arguments and calls one library function; `register` adds the parsers.
"""

from __future__ import annotations

from pathlib import Path

from bench.cli.common import add_data_args
from bench.errors import BenchError


def register(sub) -> None:
    """Add this module's commands to the ``medsyn-bench`` sub-parsers."""
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
            add_data_args(q)
        if action == "verify":
            q.add_argument("--leaderboards-dir", default="leaderboards",
                           help="published results to compare hashes with (default: leaderboards/)")
    p.set_defaults(func=cmd_reference)


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
