"""Declarative specs: suites and tasks (``tasks/*.toml``) and generators (``models/*.toml``).

Each file is parsed with ``tomllib`` into a validated dataclass. Unknown keys, unknown names and bad
values raise one :class:`~bench.errors.BenchError` that names the file, the key and the allowed values.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from bench.errors import BenchError
from bench.recipes import NAMES as REFERENCE_NAMES
from bench.recipes import DEGRADATIONS, GENERATOR_PARAMS, SHA256_HEX, ReferenceRecipe


# a variant row's name: a row, then one or more +KEY=VALUE changes of its model's [params]
VARIANT = re.compile(r"[A-Za-z0-9_.@-]+(\+[A-Za-z_][A-Za-z0-9_]*=[^+\s]+)+")


def split_variant(name: str) -> tuple[str, list[str]]:
    """``"ldm-small@bloodmnist+seed=1+guidance_scale=5"`` → (``"ldm-small@bloodmnist"``, [``"seed=1"``,
    ``"guidance_scale=5"``])."""
    base, *settings = name.split("+")
    return base, settings


def project_root() -> Path:
    """The folder holding ``tasks/`` and ``models/`` ($MEDSYN_HOME, else the repository of this package)."""
    env = os.environ.get("MEDSYN_HOME")
    return Path(env) if env else Path(__file__).resolve().parent.parent


def tasks_dir() -> Path:
    return project_root() / "tasks"


def models_dir() -> Path:
    return project_root() / "models"


# ----------------------------------------------------------------------------------------------
# generic validation


def load_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise BenchError("spec file not found", where=str(path)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise BenchError(f"not valid TOML ({exc})", where=str(path),
                         fix="fix the syntax at the line and column given") from exc


def _type_ok(value: Any, tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if tp is Any:
        return True
    if origin is typing.Union or (sys.version_info >= (3, 10) and origin is getattr(__import__("types"), "UnionType", None)):
        return any(_type_ok(value, a) for a in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if origin in (list, tuple):
        args = typing.get_args(tp)
        return isinstance(value, list) and all(_type_ok(v, args[0]) for v in value) if args else isinstance(value, list)
    if origin is dict:
        return isinstance(value, dict)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(tp, type):
        return isinstance(value, tp)
    return True


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def build_dataclass(cls: type, table: dict[str, Any], where: str) -> Any:
    """Build dataclass ``cls`` from a TOML table, refusing unknown keys and wrongly typed values.

    A field's ``metadata["choices"]`` lists its allowed values; ``metadata["check"]`` is a predicate
    with ``metadata["why"]`` explaining it.
    """
    if not isinstance(table, dict):
        raise BenchError(f"expected a table, got {type(table).__name__}", where=where)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(table) - set(fields))
    if unknown:
        raise BenchError(f"unknown key {unknown[0]!r}", where=where,
                         fix=f"allowed keys: {', '.join(sorted(fields))}")
    kwargs = {}
    for name, f in fields.items():
        if name not in table:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise BenchError(f"missing required key {name!r}", where=where)
            continue
        value = table[name]
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            value = build_dataclass(tp, value, f"{where} [{name}]")
        elif not _type_ok(value, tp):
            raise BenchError(f"key {name!r} must be {_type_name(tp)}, got {value!r}", where=where)
        choices = f.metadata.get("choices")
        if choices is not None:
            values = value if isinstance(value, list) else [value]
            bad = [v for v in values if v not in choices]
            if bad:
                raise BenchError(f"key {name!r} has unknown value {bad[0]!r}", where=where,
                                 fix=f"allowed values: {', '.join(map(str, choices))}")
        check = f.metadata.get("check")
        if check is not None and not check(value):
            raise BenchError(f"key {name!r} = {value!r} is invalid: {f.metadata.get('why', 'bad value')}",
                             where=where)
        kwargs[name] = value
    return cls(**kwargs)


def _positive(v: Any) -> bool:
    return v > 0


def _nonneg(v: Any) -> bool:
    return v >= 0


# ----------------------------------------------------------------------------------------------
# suite spec


DATA_SOURCES = ("embedded", "medmnist", "folder")


@dataclass
class DataSpec:
    source: str = field(default="embedded", metadata={"choices": DATA_SOURCES})
    subsets: list[str] = field(default_factory=lambda: ["bloodmnist", "organamnist", "breastmnist"])
    image_size: int = field(default=28, metadata={"check": _positive, "why": "must be > 0"})
    root: str = ""  # medmnist: folder of *.npz (default $MEDSYN_DATA); folder: the CSV corpus folder
    csv: str = "index.csv"  # folder source: the CSV file inside root
    max_per_class: int = field(default=0, metadata={"check": _nonneg, "why": "must be >= 0 (0 = all)"})


@dataclass
class PromptSpec:
    templates: list[str] = field(default_factory=lambda: ["a {modality} image of {label}"],
                                 metadata={"check": lambda v: len(v) > 0 and all("{label}" in t for t in v),
                                           "why": "need at least one template, each containing {label}"})


@dataclass
class SplitSpec:
    seed: int = 0
    holdout_fraction: float = field(default=0.5, metadata={"check": lambda v: 0 < v < 1, "why": "must be in (0, 1)"})
    budgets: list[int] = field(default_factory=lambda: [1, 5, 20],
                               metadata={"check": lambda v: len(v) > 0 and all(b > 0 for b in v),
                                         "why": "need at least one budget, each > 0 images per class"})


@dataclass
class SamplingSpec:
    n_per_prompt: int = field(default=20, metadata={"check": _positive, "why": "must be > 0"})
    seed: int = 0


BUDGET_RULES = ("equal-steps", "equal-compute")  # of specialists: the generalist's steps, or its compute / modalities


@dataclass
class GeneratorsSpec:
    models: list[str] = field(default_factory=list)
    specialists: list[str] = field(default_factory=list)
    specialist_budgets: list[str] = field(default_factory=lambda: ["equal-steps"],
                                          metadata={"choices": BUDGET_RULES})
    # a model's own budget rules, where they differ from specialist_budgets (e.g. another family trained
    # only as equal-compute specialists): {"pixel-diffusion-small" = ["equal-compute"]}
    specialist_budgets_by_model: dict[str, list[str]] = field(default_factory=dict, metadata={
        "check": lambda d: all(isinstance(v, list) and v and len(set(v)) == len(v) and set(v) <= set(BUDGET_RULES)
                               for v in d.values()),
        "why": f"each value a list of distinct budget rules ({', '.join(BUDGET_RULES)})"})
    # controlled-degradation ladders (bench.generators.degraded): one row per degradation and severity,
    # built from the held-out real images; the holdout baseline is every ladder's severity 0
    ladders: list[str] = field(default_factory=list, metadata={"choices": tuple(DEGRADATIONS)})
    ladder_severities: list[float] = field(default_factory=lambda: [0.25, 0.5, 0.75, 1.0], metadata={
        "check": lambda v: bool(v) and all(0 < x <= 1 for x in v) and len(set(v)) == len(v),
        "why": "distinct severities in (0, 1] (0 is the holdout baseline)"})
    ladder_tasks: list[str] = field(default_factory=list)  # empty = the suite's tasks but foundation
    # one more row per budget rule: each model's specialists taken together (kind specialist-suite), the
    # generalist's rival over every modality
    specialist_suites: bool = False
    # variants of rows above, each "ROW+KEY=VALUE[+KEY=VALUE...]" (the names `run --set` gives): the row's
    # model with these [params] changed, e.g. a kept checkpoint ("+steps=2500"), a guidance scale or another
    # training seed ("+seed=1"). Role "variant": not ranked; rows of metric validity and generator-seed spread.
    # A variant that changes only sampling or training length reuses its row's fit (same runs folder).
    variants: list[str] = field(default_factory=list, metadata={
        "check": lambda v: all(VARIANT.fullmatch(x) for x in v) and len(set(v)) == len(v),
        "why": "distinct names ROW+KEY=VALUE (e.g. \"ldm-small+seed=1\"); VALUE without + or spaces"})
    variant_tasks: list[str] = field(default_factory=list)  # empty = the suite's tasks but foundation

    def budget_rules(self, model: str) -> list[str]:
        """The budget rules of one model's specialists (``specialist_budgets_by_model``, else the default)."""
        return self.specialist_budgets_by_model.get(model, self.specialist_budgets)

    @classmethod
    def recorded(cls, table: dict[str, Any]) -> "GeneratorsSpec":
        """The generators of a suite spec as a result recorded it (keys this version does not know, from an
        older or newer medsyn-bench, are left out rather than refused: the report only reads row names)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in (table or {}).items() if k in names})

    def row_names(self, modalities: list[str]) -> list[str]:
        """Every row these generators declare, in run order (``modalities``: the suite's modality keys):
        models, each model's specialists (and with ``specialist_suites`` their suites), variants, ladder rungs."""
        rows = list(self.models)
        for model in self.specialists:
            rules = self.budget_rules(model)
            rows += [specialist_row(model, m, rule) for m in modalities for rule in rules]
            if self.specialist_suites:
                rows += [specialists_row(model, rule) for rule in rules]
        return rows + list(self.variants) + [ladder_row(d, s) for d in self.ladders for s in self.ladder_severities]


def _budget_suffix(rule: str) -> str:
    return "" if rule == "equal-steps" else "-eqcompute"


def specialist_row(model: str, modality: str, rule: str) -> str:
    """A specialist's row name, e.g. ``ldm-small@bloodmnist`` (equal-steps) or ``…@bloodmnist-eqcompute``."""
    return f"{model}@{modality}{_budget_suffix(rule)}"


def specialists_row(model: str, rule: str) -> str:
    """The row of a model's specialists together (a suite of specialists), e.g. ``ldm-small@specialists``."""
    return f"{model}@specialists{_budget_suffix(rule)}"


def ladder_row(degradation: str, severity: float) -> str:
    """A controlled-degradation rung's row name, e.g. ``degraded-blur@0.50``."""
    return f"degraded-{degradation}@{severity:.2f}"


@dataclass
class SuiteSpec:
    kind: str = field(metadata={"choices": ("suite",)})
    name: str
    version: int = 1
    description: str = ""
    profile: str = field(default="cpu", metadata={"choices": ("cpu", "gpu")})
    seed: int = 0
    data: DataSpec = field(default_factory=DataSpec)
    prompts: PromptSpec = field(default_factory=PromptSpec)
    splits: SplitSpec = field(default_factory=SplitSpec)
    sampling: SamplingSpec = field(default_factory=SamplingSpec)
    generators: GeneratorsSpec = field(default_factory=GeneratorsSpec)
    tasks: list[str] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)  # per-task parameter overrides
    # [reference.classifier] / [reference.clip]: fields of the profile's reference recipe to change
    reference: dict[str, Any] = field(default_factory=dict)
    path: str = ""


@dataclass
class TaskSpec:
    kind: str = field(metadata={"choices": ("task",)})
    name: str
    task: str  # the registered task class
    description: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    path: str = ""


@dataclass
class ModelSpec:
    name: str
    kind: str  # the registered generator kind
    description: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    path: str = ""


def _spec_files(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise BenchError("spec folder not found", where=str(folder),
                         fix="run from a clone of medsyn-bench or set MEDSYN_HOME to it")
    return {p.stem: p for p in sorted(folder.glob("*.toml"))}


def _kind_of(path: Path) -> str:
    return load_toml(path).get("kind", "")


def list_suites() -> list[str]:
    return [n for n, p in _spec_files(tasks_dir()).items() if _kind_of(p) == "suite"]


def list_tasks() -> list[str]:
    return [n for n, p in _spec_files(tasks_dir()).items() if _kind_of(p) == "task"]


def list_models() -> list[str]:
    return list(_spec_files(models_dir()))


def _find(name: str, folder: Path, what: str, names: list[str]) -> Path:
    if os.sep in name or name.endswith(".toml"):
        path = Path(name)
        if not path.is_file():
            raise BenchError(f"{what} spec file not found", where=str(path))
        return path
    files = _spec_files(folder)
    if name not in files or name not in names:
        raise BenchError(f"unknown {what} {name!r}", where=str(folder),
                         fix=f"known {what}s: {', '.join(names) or '(none)'}; or pass a path to a .toml file")
    return files[name]


def load_suite(name: str) -> SuiteSpec:
    path = _find(name, tasks_dir(), "suite", list_suites() if os.sep not in name else [])
    spec = build_dataclass(SuiteSpec, load_toml(path), str(path))
    spec.path = str(path)
    if spec.name != path.stem and os.sep not in name:
        raise BenchError(f"suite name {spec.name!r} differs from the file name", where=str(path),
                         fix=f"set name = {path.stem!r}")
    known_tasks = list_tasks()
    for t in spec.tasks:
        if t not in known_tasks:
            raise BenchError(f"unknown task {t!r} in 'tasks'", where=str(path),
                             fix=f"known tasks: {', '.join(known_tasks) or '(none)'}")
    for t in spec.overrides:
        if t not in spec.tasks:
            raise BenchError(f"[overrides.{t}] names a task that the suite does not run", where=str(path),
                             fix=f"tasks of this suite: {', '.join(spec.tasks)}")
    reference_recipe(spec, where=str(path))  # unknown or badly typed recipe keys fail here
    unknown_ladder_tasks = sorted(set(spec.generators.ladder_tasks) - set(spec.tasks))
    if spec.generators.ladders and unknown_ladder_tasks:
        raise BenchError(f"[generators] ladder_tasks names {unknown_ladder_tasks[0]!r}, a task the suite does not run",
                         where=str(path), fix=f"tasks of this suite: {', '.join(spec.tasks)}")
    known_models = list_models()
    for m in spec.generators.models + spec.generators.specialists:
        if m not in known_models:
            raise BenchError(f"unknown model {m!r} in [generators]", where=str(path),
                             fix=f"known models: {', '.join(known_models)}")
    stray = sorted(set(spec.generators.specialist_budgets_by_model) - set(spec.generators.specialists))
    if stray:
        raise BenchError(f"[generators.specialist_budgets_by_model] names {stray[0]!r}, which is not in specialists",
                         where=str(path), fix=f"add it to specialists, or use one of: {', '.join(spec.generators.specialists)}")
    check_variants(spec, str(path))
    return spec


def check_variants(spec: "SuiteSpec", where: str) -> None:
    """Each ``[generators] variants`` name must vary a row of the suite by keys of its model's [params]
    (which modalities exist is known only with the data: the run checks the full row name)."""
    g = spec.generators
    unknown = sorted(set(g.variant_tasks) - set(spec.tasks))
    if g.variants and unknown:
        raise BenchError(f"[generators] variant_tasks names {unknown[0]!r}, a task the suite does not run",
                         where=where, fix=f"tasks of this suite: {', '.join(spec.tasks)}")
    for v in g.variants:
        base, settings = split_variant(v)
        model, _, rest = base.partition("@")
        rows = g.models if not rest else g.specialists
        if model not in rows or rest.startswith("specialists"):
            raise BenchError(f"variant {v!r} varies {base!r}, which is not a generalist, baseline or specialist "
                             "row of this suite", where=f"{where} [generators] variants",
                             fix="vary a name in models (or MODEL@MODALITY[-eqcompute] of a model in specialists); "
                                 "a suite of specialists varies through its members")
        params = GENERATOR_PARAMS.get(load_model(model).kind)
        if params is None:
            continue  # a plug-in kind: the run checks its keys
        fields = {f.name for f in dataclasses.fields(params)}
        for kv in settings:
            key = kv.partition("=")[0]
            if key not in fields:
                raise BenchError(f"variant {v!r}: {key!r} is not a parameter of {model!r}",
                                 where=f"{where} [generators] variants",
                                 fix=f"parameters of kind {load_model(model).kind!r}: {', '.join(sorted(fields)) or '(none)'}")


def reference_recipe(spec: "SuiteSpec", where: str = "") -> ReferenceRecipe:
    """The suite's reference recipe: its profile's, with the ``[reference.classifier]`` /
    ``[reference.clip]`` changes and the ``[reference.pinned]`` sha256 of the shipped networks."""
    base = ReferenceRecipe.for_profile(spec.profile, spec.seed)
    unknown = sorted(set(spec.reference) - {"classifier", "clip", "pinned"})
    if unknown:
        raise BenchError(f"unknown table [reference.{unknown[0]}]", where=where or spec.path,
                         fix="allowed tables: [reference.classifier], [reference.clip], [reference.pinned]")
    pinned = spec.reference.get("pinned", {})
    if pinned and (not isinstance(pinned, dict) or set(pinned) != set(REFERENCE_NAMES)
                   or not all(isinstance(v, str) and SHA256_HEX.fullmatch(v) for v in pinned.values())):
        raise BenchError("[reference.pinned] must give the sha256 (64 hex digits) of exactly "
                         f"{' and '.join(REFERENCE_NAMES)}", where=where or spec.path,
                         fix="copy the hashes printed by `medsyn-bench reference train --publish`")
    parts = {}
    for name in ("classifier", "clip"):
        table = spec.reference.get(name, {})
        if not isinstance(table, dict):
            raise BenchError(f"reference.{name} must be a table", where=where or spec.path)
        parts[name] = build_dataclass(type(getattr(base, name)), {**dataclasses.asdict(getattr(base, name)), **table},
                                      f"{where or spec.path} [reference.{name}]")
    return ReferenceRecipe(parts["classifier"], parts["clip"], dict(pinned))


def load_task(name: str) -> TaskSpec:
    path = _find(name, tasks_dir(), "task", list_tasks())
    spec = build_dataclass(TaskSpec, load_toml(path), str(path))
    spec.path = str(path)
    return spec


def load_model(name: str) -> ModelSpec:
    path = _find(name, models_dir(), "model", list_models())
    spec = build_dataclass(ModelSpec, load_toml(path), str(path))
    spec.path = str(path)
    if spec.name != path.stem and os.sep not in name:
        raise BenchError(f"model name {spec.name!r} differs from the file name", where=str(path),
                         fix=f"set name = {path.stem!r}")
    params = GENERATOR_PARAMS.get(spec.kind)
    if params is None:  # not a built-in kind: a plug-in's module defines its parameters (and may import torch)
        from bench.registry import generator_class

        params = generator_class(spec.kind, where=str(path)).Params
    # validate params now, so a typo fails before any work starts
    build_dataclass(params, spec.params, f"{path} [params]")
    return spec
