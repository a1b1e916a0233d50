"""Resumable stages and the suite context that tasks and generators share.

A stage is a named step with inputs. Its marker ``stages/<name>.json`` records the sha256 of its inputs,
its small output (metrics, counts) and its wall time, written atomically once the step's files are in
place. A rerun skips a stage whose marker matches its inputs and redoes one whose inputs changed.
"""

from __future__ import annotations

import datetime as _dt
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bench.io import atomic_write_json, read_json, sha256_json


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def stage(folder: Path, name: str, inputs: Any, fn: Callable[[], dict], log=print) -> dict:
    """Run ``fn`` unless ``folder/stages/<name>.json`` says it already ran on the same inputs.

    Returns the stage record: ``{"input_hash", "output", "wall_s", "skipped"}``.
    """
    marker = Path(folder) / "stages" / f"{name}.json"
    h = sha256_json(inputs)
    if marker.is_file():
        try:
            rec = read_json(marker)
        except Exception:
            rec = None
        if rec and rec.get("input_hash") == h:
            rec["skipped"] = True
            return rec
        log(f"  {name}: inputs changed, redoing")
    t0 = time.perf_counter()
    output = fn()
    rec = {"stage": name, "input_hash": h, "output": output, "wall_s": time.perf_counter() - t0,
           "finished": now_iso()}
    atomic_write_json(marker, rec)
    rec["skipped"] = False
    return rec


def stage_records(folder: Path) -> dict[str, dict]:
    """The finished stage markers of ``folder/stages``: stage name → record (what :func:`stage` wrote)."""
    out = {}
    for marker in sorted((Path(folder) / "stages").glob("*.json")):
        try:
            rec = read_json(marker)
        except Exception:
            continue  # a marker that does not parse is an unfinished stage: its stage redoes it
        if isinstance(rec, dict) and "input_hash" in rec and "output" in rec:
            out[marker.stem] = {k: rec[k] for k in ("stage", "input_hash", "output", "wall_s", "finished") if k in rec}
    return out


def seed_stage_records(folder: Path, records: dict[str, dict]) -> int:
    """Write the markers of ``records`` into ``folder/stages`` where none is there (a marker of this
    folder always wins). A seeded marker is used only if its input hash is the stage's: :func:`stage`
    redoes one whose inputs differ. Returns how many markers were written."""
    written = 0
    for name, rec in sorted(records.items()):
        marker = Path(folder) / "stages" / f"{name}.json"
        if not marker.is_file() and "input_hash" in rec and "output" in rec:
            atomic_write_json(marker, {**rec, "stage": name})
            written += 1
    return written


@dataclass
class SuiteContext:
    """What every task sees: the suite spec, the dataset, where to write, and the pinned references."""

    spec: Any  # SuiteSpec
    dataset: Any  # Dataset
    suite_dir: Path  # runs/<suite>
    device: str = "cpu"
    data_hashes: dict = field(default_factory=dict)
    reference_hashes: dict[str, str] = field(default_factory=dict)  # name -> sha256 of weights
    budgets: dict = field(default_factory=dict)  # budget n -> train indices
    warnings: list[str] = field(default_factory=list)
    log: Callable[[str], None] = print
    ignore_autoencoder_gate: bool = False  # LDMs train their UNet even on an autoencoder that failed its gate

    def stage(self, folder: Path, name: str, inputs: Any, fn: Callable[[], dict]) -> dict:
        return stage(folder, name, inputs, fn, log=self.log)

    @property
    def shared_dir(self) -> Path:
        """Suite-level outputs shared by all generators (reference networks, real-only arms)."""
        return self.suite_dir / "_shared"
