"""Shared fixtures. Tests use only the embedded sample committed in the repository."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent

# Under `make test` (two pytest-xdist workers on a 2-core machine) each worker and its subprocesses use one
# CPU thread: two processes of two spinning OpenMP threads each would slow everything (see the Makefile).
if os.environ.get("PYTEST_XDIST_WORKER"):
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
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
    is scarce). Returns the runs folder; the leaderboards folder is its sibling ``leaderboards``.

    As ``make run`` on a fresh clone, it starts from the committed suite-level stages
    (``leaderboards/smoke/shared/stages.json``: the real-data arms and real pretraining), so its results
    pair with the same real arms as the committed ones; computing those stages is tested on its own
    (tests/test_shared_stages.py, tests/test_utility.py)."""
    import shutil

    from bench.report import render_all
    from bench.run import RunOptions, run_suite

    root = tmp_path_factory.mktemp("smoke-e2e")
    runs, boards = root / "runs", root / "leaderboards"
    shutil.copytree(ROOT / "leaderboards" / "smoke" / "shared", boards / "smoke" / "shared")
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


# -- a version-2 utility output (figures, leaderboard) ------------------------------------------------

UTILITY_MODS = ("bloodmnist", "breastmnist", "pooled")
UTILITY_ARMS = ("real", "real+augment", "real+strong", "synthetic", "mixed", "pretrain+finetune")
UTILITY_BUDGETS = (1, 5, 20)
UTILITY_LADDER = (1, 2, 5, 10, 20, 50)


def _cell(mean: float, half: float = 0.08) -> dict:
    return {"mean": mean, "ci": [mean - half, mean + half], "values": [mean - half / 2, mean + half / 2]}


def utility_metrics(acc: float) -> dict:
    return {"accuracy": _cell(acc), "balanced_accuracy": _cell(acc), "auroc": _cell(min(acc + 0.2, 1.0), 0.05)}


def utility_v2(q: float, mods=UTILITY_MODS) -> dict:
    """A protocol-2 utility output of the shape the task writes (``q``: how useful the generator is)."""
    real = {n: 0.2 + 0.15 * i for i, n in enumerate(UTILITY_LADDER)}
    arm_gain = {"real": 0.0, "real+augment": 0.03, "real+strong": -0.02, "synthetic": q - 0.3, "mixed": q / 2,
                "pretrain+finetune": q / 3}
    cells = {str(b): {m: {a: utility_metrics(min(real[b] + arm_gain[a] + 0.02 * j, 0.99))
                          for a in UTILITY_ARMS} for j, m in enumerate(mods)} for b in UTILITY_BUDGETS}
    gains = {b: {m: {a: {k: {"mean": v["mean"] - c["real"][k]["mean"], "ci": [-0.1, 0.1], "p_value": 0.2}
                         for k, v in c[a].items()} for a in UTILITY_ARMS if a != "real"} for m, c in bm.items()}
             for b, bm in cells.items()}
    ladder = {m: {str(n): {"n_train": 8 * n, **utility_metrics(min(acc + 0.02 * j, 0.99))}
                  for n, acc in real.items()} for j, m in enumerate(mods)}
    quantity = {"budget": 1, "counts": [5, 20], "per_modality": {
        m: {"synthetic": {str(c): utility_metrics(0.3 + q * (0.1 + 0.01 * c)) for c in (5, 20)},
            "mixed": {str(c): utility_metrics(0.35 + q * (0.1 + 0.012 * c)) for c in (5, 20)}} for m in mods}}

    def equivalent(b: int, m: str, a: str) -> dict:
        n = min(b * (1 + 2 * q), 50.0)
        status = "beyond" if (b, m) == (20, "bloodmnist") else "below" if (b, m) == (1, "breastmnist") else "within"
        out = {"n_real": n, "ci": [n / 2, n * 2], "multiplier": n / b, "multiplier_ci": [n / b / 2, n / b * 2],
               "status": status, "values": [n * 0.9, n * 1.1]}
        if (b, m, a) == (5, "pooled", "mixed"):
            out.update(multiplier_ci=None, status="both")  # no interval: a point without a bar
        return out

    eq = {str(b): {m: {a: equivalent(b, m, a) for a in UTILITY_ARMS if a != "real"} for m in mods}
          for b in UTILITY_BUDGETS}
    return {"protocol": {"version": 2, "arms": list(UTILITY_ARMS), "budgets": list(UTILITY_BUDGETS),
                         "ladder": list(UTILITY_LADDER)},
            "cells": cells, "gains": gains, "ladder": ladder, "quantity": quantity, "equivalent": eq}





SHARED_RUN_FIXTURES = ("smoke_runs", "smoke_baselines")
SHARED_RUN_SCOPE = "smoke-e2e"


def _fixture_params(tree) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(fixtures, tests) of a parsed test module: each function's name → the fixtures it asks for
    (its parameters and ``@pytest.mark.usefixtures`` arguments)."""
    import ast

    fixtures, tests = {}, {}
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        wants = {a.arg for a in node.args.args + node.args.kwonlyargs}
        is_fixture = False
        for dec in node.decorator_list:
            call = dec.func if isinstance(dec, ast.Call) else dec
            name = ast.unparse(call)
            is_fixture |= name in ("pytest.fixture", "fixture")
            if name == "pytest.mark.usefixtures" and isinstance(dec, ast.Call):
                wants |= {a.value for a in dec.args if isinstance(a, ast.Constant)}
        if is_fixture:
            fixtures[node.name] = wants
        elif node.name.startswith("test_"):
            tests[node.name] = wants
    return fixtures, tests


def shared_run_tests(folder: Path) -> dict[str, set[str] | None]:
    """Test file name → the names of its tests that use the one end-to-end smoke run, directly or through
    other fixtures (of the file or of this conftest); None: the whole file (it names a shared fixture where
    a signature cannot show it, e.g. ``request.getfixturevalue``). Files that never name one are left out."""
    import ast

    conftest, _ = _fixture_params(ast.parse((folder / "conftest.py").read_text(encoding="utf-8")))
    out: dict[str, set[str] | None] = {}
    for path in sorted(folder.glob("test_*.py")):
        text = path.read_text(encoding="utf-8")
        if not any(f in text for f in SHARED_RUN_FIXTURES):
            continue
        tree = ast.parse(text)
        marked = {id(a) for n in ast.walk(tree) if isinstance(n, ast.Call)
                  and ast.unparse(n.func) == "pytest.mark.usefixtures" for a in n.args}
        if any(isinstance(n, ast.Constant) and n.value in SHARED_RUN_FIXTURES and id(n) not in marked
               for n in ast.walk(tree)):
            out[path.name] = None
            continue
        fixtures, tests = _fixture_params(tree)
        fixtures = {**conftest, **fixtures}
        shared = set(SHARED_RUN_FIXTURES)
        while True:  # fixtures that reach a shared one, to a fixed point
            more = {name for name, wants in fixtures.items() if wants & shared} - shared
            if not more:
                break
            shared |= more
        out[path.name] = {name for name, wants in tests.items() if wants & shared}
    return out


def shared_run_scope(nodeid: str, shared: dict[str, set[str] | None]) -> str:
    """The xdist work unit of a test: the tests that use the shared smoke run are one unit together (the
    run is built once, on one worker); every other test is in its module's unit (its module-scoped
    fixtures are built once)."""
    file, _, rest = nodeid.partition("::")
    name = Path(file).name
    if name in shared:
        tests = shared[name]
        if tests is None or rest.split("::")[0].split("[")[0] in tests:
            return SHARED_RUN_SCOPE
    return file


class SharedRunScheduler:
    """``make test`` runs ``pytest -n 2 --dist loadscope``: every test module is one unit of work for a
    worker (its module-scoped fixtures are built once), except that the tests that use the one end-to-end
    smoke run form one unit together (:func:`shared_run_scope`), handed out first: it is the longest."""

    def pytest_xdist_make_scheduler(self, config, log):
        if config.getvalue("dist") != "loadscope":
            return None
        from xdist.scheduler import LoadScopeScheduling

        shared = shared_run_tests(Path(__file__).parent)

        class SharedRunScheduling(LoadScopeScheduling):
            def _split_scope(self, nodeid: str) -> str:
                return shared_run_scope(nodeid, shared)

            def _assign_work_unit(self, node) -> None:
                if SHARED_RUN_SCOPE in self.workqueue:
                    self.workqueue.move_to_end(SHARED_RUN_SCOPE, last=False)
                super()._assign_work_unit(node)

        return SharedRunScheduling(config, log)


def pytest_configure(config):
    if config.pluginmanager.hasplugin("xdist"):  # the hook exists only with pytest-xdist loaded
        config.pluginmanager.register(SharedRunScheduler(), "medsyn-shared-run-scheduler")


def cut_smoke_spec(spec_home: Path, tasks: list[str], generators: str) -> Path:
    """Rewrite the private copy of the smoke suite: these tasks only, no specialists, no overrides,
    ``generators`` (TOML lines) in place of its ``models`` line. Returns ``spec_home``."""
    import re

    path = spec_home / "tasks" / "smoke.toml"
    text = path.read_text().split("\n[overrides.")[0]  # the overrides close the file; their tasks may be gone
    text = re.sub(r"^tasks = \[.*?\]", "tasks = [" + ", ".join(f'"{t}"' for t in tasks) + "]", text, flags=re.M)
    text = re.sub(r"^specialists = .*$", "specialists = []", text, flags=re.M)
    path.write_text(re.sub(r"^models = .*$", lambda _: generators, text, flags=re.M))
    return spec_home
