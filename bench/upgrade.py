"""Results of an older schema brought to the current one, numbers untouched.

Schema 2 added the column declarations (:mod:`bench.columns`): each task's metrics say what each
reported metric is. They are a pure function of the task class and of the parameters the result
records (``suite.tasks[<task>].params``), so a schema-1 result is upgraded by asking the task class
for them; no metric is recomputed. ``medsyn-bench upgrade --suite S`` rewrites a suite's published
results; ``rescore`` upgrades the results it reads in memory.
"""

from __future__ import annotations

from pathlib import Path

from bench.columns import declare, held
from bench.errors import BenchError
from bench.io import read_json
from bench.registry import task_class
from bench.results import SCHEMA_VERSION, validate_result, write_result
from bench.specs import build_dataclass


def task_columns(kind: str, params: dict, where: str, output: dict | None = None) -> list[dict]:
    """The ``columns`` a task of this kind writes with these (recorded) parameters (with ``output``: those
    whose value it holds, as a run writes them)."""
    cls = task_class(kind, where=where)
    cols = cls.columns(build_dataclass(cls.Params, params, where))
    return declare(held(cols, output) if output is not None else cols)


def upgraded(result: dict, where: str) -> dict:
    """``result`` itself when it is at the current schema version, else an upgraded, validated copy."""
    version = result.get("schema_version") if isinstance(result, dict) else None
    if version == SCHEMA_VERSION:
        return result
    if version != 1:
        raise BenchError(f"result schema version {version!r} is not one this medsyn-bench knows "
                         f"(1 to {SCHEMA_VERSION})", where=where, fix="upgrade medsyn-bench, or regenerate the result")
    tasks = (result.get("suite") or {}).get("tasks") or {}
    metrics = {}
    for name, m in (result.get("metrics") or {}).items():
        if name not in tasks:
            raise BenchError(f"metrics of task {name!r} but no entry for it in suite.tasks", where=where,
                             fix="regenerate the result with medsyn-bench run")
        metrics[name] = {**m, "columns": task_columns(tasks[name]["task"], tasks[name]["params"],
                                                      f"{where} (suite.tasks.{name}.params)", m)}
    out = {**result, "schema_version": SCHEMA_VERSION, "metrics": metrics}
    validate_result(out, where)
    return out


def read_any_result(path: Path) -> dict:
    """A result file of any known schema version, upgraded in memory and validated."""
    return upgraded(read_json(path), str(path))


def upgrade_suite(suite: str, leaderboards_dir: Path = Path("leaderboards"), log=print) -> list[Path]:
    """Rewrite the published results of ``suite`` that are older than the current schema; returns them.
    Every file is upgraded in memory first, so a bad one leaves all of them as they were."""
    folder = Path(leaderboards_dir) / suite / "results"
    if not folder.is_dir():
        raise BenchError(f"no published results of suite {suite!r}", where=str(folder),
                         fix="check --suite and --leaderboards-dir")
    todo = {}
    for path in sorted(folder.glob("*.json")):
        raw = read_json(path)
        if raw.get("schema_version") != SCHEMA_VERSION:
            todo[path] = upgraded(raw, str(path))
    for path, result in todo.items():
        write_result(path, result)
        log(f"upgraded {path.name} to result schema {SCHEMA_VERSION}")
    if not todo:
        log(f"every result of {suite!r} is at schema {SCHEMA_VERSION} already")
    return list(todo)
