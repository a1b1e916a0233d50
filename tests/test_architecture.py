"""The structure ARCHITECTURE.md states is the code's: every import of ``bench.*`` (inside functions too)
goes from a layer to one the document allows; every module belongs to exactly one layer."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "bench"


def read_layers(text: str) -> dict[str, tuple[list[str], set[str]]]:
    """layer → (module paths or folder prefixes, layers it may import) from the document's table."""
    table = text.split("<!-- layers", 1)[1]
    layers = {}
    for line in table.splitlines()[1:]:
        if not line.startswith("|"):
            if layers:
                break
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] in ("layer", "---") or set(cells[0]) <= {"-"}:
            continue
        name, modules, allowed = cells[0], re.findall(r"`([^`]+)`", cells[2]), cells[3]
        layers[name] = (modules, set() if allowed in ("—", "-", "") else {a.strip() for a in allowed.split(",")})
    return layers


LAYERS = read_layers((ROOT / "ARCHITECTURE.md").read_text())


def layer_of(rel: str) -> str | None:
    """The layer of a module path (``bench/x/y.py``): an exact file entry, else the longest folder prefix."""
    best = None
    for name, (modules, _) in LAYERS.items():
        for m in modules:
            if rel == m or (m.endswith("/") and rel.startswith(m)):
                if best is None or len(m) > len(best[1]):
                    best = (name, m)
    return best[0] if best else None


def module_file(dotted: str) -> str | None:
    """``bench.a.b.c`` → the repository path of the module (or package) it names, as far as it exists."""
    parts = dotted.split(".")
    for k in range(len(parts), 0, -1):
        cand = ROOT.joinpath(*parts[:k])
        if cand.with_suffix(".py").is_file():
            return cand.with_suffix(".py").relative_to(ROOT).as_posix()
        if (cand / "__init__.py").is_file():
            return (cand / "__init__.py").relative_to(ROOT).as_posix()
    return None


def bench_imports(source: str, rel: str) -> list[tuple[int, str]]:
    """(line, module) of every import of ``bench.*`` anywhere in a module, relative imports resolved."""
    package = rel[:-len("/__init__.py")] if rel.endswith("/__init__.py") else rel.rsplit("/", 1)[0]
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split("/")[: len(package.split("/")) - node.level + 1]
                names = [".".join(base + ([node.module] if node.module else []))]
            else:
                names = [node.module or ""]
        else:
            continue
        out += [(node.lineno, n) for n in names if n == "bench" or n.startswith("bench.")]
    return out


def forbidden_arrows(files: dict[str, str]) -> list[str]:
    """Every import in ``files`` (path → source) that the document's table does not allow."""
    problems = []
    for rel, source in sorted(files.items()):
        src = layer_of(rel)
        for line, name in bench_imports(source, rel):
            target = module_file(name)
            dst = layer_of(target) if target else None
            if dst is None:
                problems.append(f"{rel}:{line} imports {name}, which is in no layer of ARCHITECTURE.md")
            elif dst != src and dst not in LAYERS[src][1]:
                problems.append(f"{rel}:{line} ({src}) imports {name} ({dst}): ARCHITECTURE.md does not allow "
                                f"{src} → {dst}")
    return problems


def package_files() -> dict[str, str]:
    return {p.relative_to(ROOT).as_posix(): p.read_text() for p in sorted(PACKAGE.rglob("*.py"))}


def test_the_document_names_every_layer_it_allows():
    assert {"base", "data", "reference", "generators", "metrics", "pipeline", "report", "frontdoor"} <= set(LAYERS)
    for name, (modules, allowed) in LAYERS.items():
        assert modules, name
        assert allowed <= set(LAYERS), (name, allowed - set(LAYERS))
    assert LAYERS["base"][1] == set()


def test_every_module_is_in_exactly_one_layer():
    for rel in package_files():
        assert layer_of(rel) is not None, f"{rel} is in no layer of ARCHITECTURE.md"
    for name, (modules, _) in LAYERS.items():
        for m in modules:
            assert (ROOT / m).exists(), f"ARCHITECTURE.md names {m} (layer {name}), which does not exist"


def test_no_import_crosses_a_layer_the_document_forbids():
    assert forbidden_arrows(package_files()) == []


def test_the_checker_sees_imports_inside_functions_and_relative_ones():
    """A known case: the checker must catch what the layering forbids, wherever the import stands."""
    fake = {
        "bench/generators/fake.py": "def curve():\n    from bench.metrics.fidelity import frechet_distance\n",
        "bench/metrics/fake.py": "from ..run import run_suite\n",
        "bench/specs.py": "import bench.reference.pinned\n",
        "bench/report/fake.py": "from bench.data.samples import read_samples\nfrom bench import errors\n",
    }
    problems = forbidden_arrows(fake)
    assert any("bench/generators/fake.py:2" in p and "generators → metrics" in p for p in problems)
    assert any("bench/metrics/fake.py:1" in p and "metrics → pipeline" in p for p in problems)
    assert any("bench/specs.py:1" in p and "base → reference" in p for p in problems)
    assert not any("bench/report/fake.py" in p for p in problems)  # report → data and → base are allowed


def test_the_base_layer_and_every_spec_load_without_torch_or_pil():
    """The base layer imports no torch or PIL, and every suite, task and model spec loads (parameters
    validated) with neither in sys.modules."""
    modules = [m for m in LAYERS["base"][0] if m.endswith(".py")]
    code = "\n".join([
        "import sys",
        *[f"import {m[:-3].replace('/', '.').removesuffix('.__init__')}" for m in modules],
        "from bench.specs import list_models, list_suites, list_tasks, load_model, load_suite, load_task, "
        "reference_recipe",
        "for n in list_suites(): reference_recipe(load_suite(n))",
        "for n in list_tasks(): load_task(n)",
        "for n in list_models(): load_model(n)",
        "bad = sorted(m for m in ('torch', 'PIL', 'diffusers', 'transformers') if m in sys.modules)",
        "print('loaded:', bad)",
        "sys.exit(1 if bad else 0)",
    ])
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "loaded: []" in out.stdout


def test_built_in_generators_use_the_parameters_specs_validate():
    from bench.recipes import GENERATOR_PARAMS
    from bench.registry import generator_class

    for kind, params in GENERATOR_PARAMS.items():
        assert generator_class(kind).Params is params, kind


def test_the_python_versions_allowed_are_the_ones_that_work():
    """The package reads TOML with tomllib (Python 3.11+) and has no fallback: pyproject must not promise 3.10."""
    assert 'requires-python = ">=3.11"' in (ROOT / "pyproject.toml").read_text()
    assert not [p for p in PACKAGE.rglob("*.py") if re.search(r"\btomli\b", p.read_text())]
