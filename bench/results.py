"""Result JSON: one file per generator × suite, validated against ``schema/result.schema.json``
on write and on read. Figures and leaderboards are rendered from these files only."""

from __future__ import annotations

import json
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import jsonschema

from bench.errors import BenchError
from bench.io import atomic_write_json, read_json, to_jsonable

SCHEMA_VERSION = 2  # 2: each task's metrics declare their columns (bench.columns)
SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "result.schema.json"
TRACKED_PACKAGES = ("medsyn-bench", "numpy", "scipy", "torch", "torchvision", "diffusers", "transformers",
                    "accelerate", "timm", "open_clip_torch", "torchmetrics", "faiss-cpu", "scikit-learn",
                    "pillow")


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def validate_result(obj: Any, where: str) -> None:
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        at = "/".join(map(str, e.absolute_path)) or "(top level)"
        raise BenchError(f"result does not match the schema at {at}: {e.message}", where=where,
                         fix="regenerate it with medsyn-bench run; do not edit result files by hand")


def write_result(path: Path, obj: dict) -> Path:
    obj = to_jsonable(obj)
    validate_result(obj, str(path))
    return atomic_write_json(path, obj)


def read_result(path: Path) -> dict:
    obj = read_json(path)
    if isinstance(obj, dict) and obj.get("schema_version") == 1:
        raise BenchError("result schema 1: its tasks do not declare their columns", where=str(path),
                         fix="medsyn-bench upgrade --suite SUITE (adds the declarations; no number changes)")
    validate_result(obj, str(path))
    return obj


def package_versions() -> dict[str, str | None]:
    out = {}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_commit(folder: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
