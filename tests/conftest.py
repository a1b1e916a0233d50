"""Shared fixtures. Tests use only the embedded sample committed in the repository."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent

# Deterministic, quiet, offline.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")


@pytest.fixture(scope="session")
def smoke_dataset():
    from bench.data import load_dataset
    from bench.specs import load_suite

    return load_dataset(load_suite("smoke"))


@pytest.fixture
def spec_home(tmp_path, monkeypatch):
    """A private copy of tasks/ and models/ (MEDSYN_HOME) that a test may edit, with the shipped reference
    networks as symbolic links to the repository's files (replacing a link leaves the original intact)."""
    import shutil

    for d in ("tasks", "models"):
        shutil.copytree(ROOT / d, tmp_path / d)
    for shipped in sorted((ROOT / "leaderboards").glob("*/reference")):
        dest = tmp_path / "leaderboards" / shipped.parent.name / "reference"
        dest.mkdir(parents=True)
        for f in shipped.iterdir():
            (dest / f.name).symlink_to(f)
    monkeypatch.setenv("MEDSYN_HOME", str(tmp_path))
    return tmp_path


def write_npz(path: Path, n=(12, 4, 6), size=28, channels=1, classes=3, label_shape="flat", seed=0, **override):
    """A small MedMNIST-shaped .npz (random pixels) for loader tests."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, k in zip(("train", "val", "test"), n):
        shape = (k, size, size) if channels == 1 else (k, size, size, 3)
        arrays[f"{split}_images"] = rng.integers(0, 256, size=shape, dtype=np.uint8)
        labels = np.arange(k) % classes
        arrays[f"{split}_labels"] = labels[:, None] if label_shape == "column" else labels
    arrays.update(override)
    np.savez(path, **arrays)
    return path


@pytest.fixture(scope="session")
def smoke_runs(tmp_path_factory):
    """The one end-to-end run of the whole smoke suite (every generator, every task, published and
    rendered into a private leaderboards folder), shared by every test that needs real outputs (CPU time
    is scarce). Returns the runs folder; the leaderboards folder is its sibling ``leaderboards``."""
    from bench.report import render_all
    from bench.run import RunOptions, run_suite

    root = tmp_path_factory.mktemp("smoke-e2e")
    runs, boards = root / "runs", root / "leaderboards"
    run_suite("smoke", RunOptions(runs, device="cpu", publish_dir=boards), log=lambda m: None)
    render_all("smoke", boards, out=lambda m: None)
    return runs


@pytest.fixture(scope="session")
def smoke_baselines(smoke_runs):
    """generator name → its result JSON from :func:`smoke_runs`."""
    from bench.io import read_json

    return {g: read_json(smoke_runs / "smoke" / g / "result.json") for g in ("holdout", "memoriser", "noise")}


def browser_or_skip(found: str | None, what: str) -> str:
    """The browser binary a test needs; without one it is skipped on a developer's machine, and it
    fails under CI (``CI`` set), where `.ci/run` installs Debian's chromium: no test is skipped there."""
    if found:
        return found
    message = f"no headless browser for {what} (install Debian's `chromium`; .ci/run does)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def with_columns(metrics: dict) -> dict:
    """Each task's metrics (tasks named by their kind) with the column declarations its task class
    writes with default parameters, as a run would add them."""
    from bench.upgrade import task_columns

    return {t: m if "columns" in m else {**m, "columns": task_columns(t, {}, t)} for t, m in metrics.items()}
