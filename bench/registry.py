"""Name → class registries for generator kinds and task kinds (as in lm-evaluation-harness).

A new kind of generator is one class decorated with ``@register_generator("name")``; a new metric
task is one class decorated with ``@register_task("name")``. Built-in modules are imported lazily.
"""

from __future__ import annotations

import importlib

from bench.errors import BenchError
from bench.recipes import GENERATOR_PARAMS

_GENERATORS: dict[str, type] = {}
_TASKS: dict[str, type] = {}

BUILTIN_MODULES = (
    "bench.generators.baselines",
    "bench.generators.degraded",
    "bench.generators.gan",
    "bench.generators.images",
    "bench.generators.ldm",
    "bench.generators.latent_flow",
    "bench.generators.pixel_diffusion",
    "bench.generators.pipeline",
    "bench.generators.specialist_suite",
    "bench.metrics.tasks",
    "bench.metrics.utility",
    "bench.metrics.foundation",
)


def _load_builtins() -> None:
    for mod in BUILTIN_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:  # a missing dependency, not a missing optional module
                raise


def register_generator(kind: str):
    def deco(cls):
        declared = GENERATOR_PARAMS.get(kind)
        if declared is not None and cls.Params is not declared:  # specs validate built-in kinds with these
            raise TypeError(f"generator kind {kind!r}: Params must be bench.recipes.{declared.__name__}")
        cls.kind = kind
        _GENERATORS[kind] = cls
        return cls
    return deco


def register_task(name: str):
    def deco(cls):
        cls.name = name
        _TASKS[name] = cls
        return cls
    return deco


def generator_kinds() -> list[str]:
    _load_builtins()
    return sorted(_GENERATORS)


def task_kinds() -> list[str]:
    _load_builtins()
    return sorted(_TASKS)


def generator_class(kind: str, where: str | None = None) -> type:
    _load_builtins()
    if kind not in _GENERATORS:
        raise BenchError(f"unknown generator kind {kind!r}", where=where,
                         fix=f"known kinds: {', '.join(sorted(_GENERATORS))}")
    return _GENERATORS[kind]


def task_class(name: str, where: str | None = None) -> type:
    _load_builtins()
    if name not in _TASKS:
        raise BenchError(f"unknown task kind {name!r}", where=where,
                         fix=f"known task kinds: {', '.join(sorted(_TASKS))}")
    return _TASKS[name]
