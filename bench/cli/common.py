"""What several commands share: the data-root option."""

from __future__ import annotations

import argparse


def add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-root", default=None,
                   help="folder of MedMNIST .npz files or of a CSV corpus (default: $MEDSYN_DATA or the suite's "
                        "[data] root); missing MedMNIST files: `medsyn-bench data download`")
