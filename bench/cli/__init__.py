"""``medsyn-bench``: the command line. It only parses arguments and calls the library; each group of
commands is one module here (``register`` adds its sub-parsers, each bound to its ``cmd_*`` function)."""

from __future__ import annotations

import argparse
import os
import sys

from bench import __version__
from bench.cli import data, perf, pipeline, readerstudy, reference, report, tasks
from bench.errors import BenchError

MODULES = (pipeline, data, report, reference, tasks, readerstudy, perf)

EPILOG = """\
quick start:
  medsyn-bench run --suite smoke            # the whole pipeline on the embedded sample (CPU, minutes)
  medsyn-bench list                         # suites, tasks, models and generator kinds
  medsyn-bench data info --suite small --data-root ../shared/data/medmnist
  medsyn-bench prompts --suite smoke        # the prompts an external generator must draw

Errors print one message with the file at fault and a fix; add --debug for the traceback.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medsyn-bench",
        description="Benchmark text-guided medical image generators: fidelity, text alignment, "
                    "memorisation and the utility of synthetic data for low-data classifiers.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"medsyn-bench {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in MODULES:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    debug = args.debug or os.environ.get("MEDSYN_DEBUG") == "1"
    try:
        return args.func(args)
    except BenchError as exc:
        if debug:
            raise
        print(f"error: {exc.render()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume from the last finished stage", file=sys.stderr)
        return 130
