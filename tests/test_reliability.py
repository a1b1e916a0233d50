"""Crash safety and determinism: a run killed with SIGKILL at several points resumes to the same numbers
as an uninterrupted run; nothing it left behind is half-written; weights are never unpickled."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GENERATORS = "noise,ldm-tiny@breastmnist-eqcompute"


@pytest.fixture
def small_spec(spec_home):
    """The smoke suite with the cheap tasks only (they still need both reference networks)."""
    path = spec_home / "tasks" / "smoke.toml"
    text = re.sub(r"^tasks = \[.*?\]", 'tasks = ["fidelity", "alignment", "memorisation"]', path.read_text(),
                  flags=re.M)
    path.write_text(text.split("\n[overrides.")[0])  # the overrides close the file; their task is gone
    return spec_home


def _cmd(runs: Path) -> list[str]:
    return [sys.executable, "-m", "bench.cli", "run", "--suite", "smoke", "--runs-dir", str(runs),
            "--no-publish", "--device", "cpu", "--generators", GENERATORS]


def _run(runs: Path, env: dict, kill_after: float | None = None) -> float:
    t0 = time.perf_counter()
    proc = subprocess.Popen(_cmd(runs), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if kill_after is None:
        _, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, err
    else:
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    return time.perf_counter() - t0


def _metrics(runs: Path, name: str) -> dict:
    r = json.loads((runs / "smoke" / name / "result.json").read_text())
    return _strip_timing(r["metrics"])


def _strip_timing(obj):
    if isinstance(obj, dict):
        return {k: _strip_timing(v) for k, v in obj.items() if "wall" not in k and "seconds" not in k}
    if isinstance(obj, list):
        return [_strip_timing(v) for v in obj]
    return obj


def _no_half_written_json(runs: Path) -> None:
    for path in runs.rglob("*.json"):
        json.loads(path.read_text())  # every file in place is whole (temp files have other names)


@pytest.mark.slow
def test_kill_and_resume_gives_the_same_metrics(small_spec, tmp_path):
    env = {**os.environ, "MEDSYN_HOME": str(small_spec), "TQDM_DISABLE": "1"}
    straight = tmp_path / "straight"
    total = _run(straight, env)
    killed = tmp_path / "killed"
    for fraction in (0.3, 0.55, 0.8):  # kill points inside reference training, fitting and tasks
        _run(killed, env, kill_after=fraction * total)
        _no_half_written_json(killed)
    _run(killed, env)
    for name in GENERATORS.split(","):
        assert _metrics(killed, name) == _metrics(straight, name), name
    # a completed run is not redone: a third invocation skips every stage and changes no marker
    markers = {p: p.stat().st_mtime_ns for p in (killed / "smoke").rglob("stages/*.json")}
    _run(killed, env)
    assert markers == {p: p.stat().st_mtime_ns for p in (killed / "smoke").rglob("stages/*.json")}


def test_weights_are_never_unpickled():
    """Every torch.load passes weights_only=True; every np.load refuses pickles; diffusers/transformers
    folders are read as safetensors only."""
    for path in (ROOT / "bench").rglob("*.py"):
        text = path.read_text()
        for call in re.findall(r"torch\.load\([^)]*\)", text):
            assert "weights_only=True" in call, f"{path}: {call}"
        for call in re.findall(r"np\.load\([^)]*\)", text):
            assert "allow_pickle=True" not in call, f"{path}: {call}"
        for call in re.findall(r"\w+\.from_pretrained\([^)]*\)", text):
            if "Tokenizer" not in call:
                assert "use_safetensors=True" in call, f"{path}: {call}"
