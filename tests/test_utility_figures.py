"""The utility task's version-2 figures (regimes, synthetic quantity, real-data equivalent): each renders
from result files that hold the new output, and skips cleanly from results that do not."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from conftest import utility_v2

from bench.report.collection import Entry
from bench.report.figures import FIGURES
from bench.report.figures.captions import CAPTIONS
from bench.report.figures.style import Skip
from bench.report.figures.utility_equivalent import fig_utility_equivalent
from bench.report.figures.utility_quantity import fig_utility_quantity
from bench.report.figures.utility_regimes import fig_utility_regimes

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "leaderboards" / "smoke" / "results"
FIGS = {"utility_regimes": fig_utility_regimes, "utility_quantity": fig_utility_quantity,
        "utility_equivalent": fig_utility_equivalent}


def entry(name: str, utility: dict | None) -> Entry:
    """A committed smoke result with its utility output replaced (left as committed when None)."""
    r = json.loads((RESULTS / f"{name}.json").read_text())
    if utility is not None:
        task = next(n for n, t in r["suite"]["tasks"].items() if t["task"] == "utility")
        r["metrics"][task] = {**copy.deepcopy(r["metrics"][task]), **utility}
    return Entry(RESULTS / f"{name}.json", r)


@pytest.fixture(scope="module")
def entries() -> list[Entry]:
    return [entry("ldm-tiny", utility_v2(0.6)), entry("ldm-tiny@bloodmnist", utility_v2(0.4)),
            entry("holdout", utility_v2(0.8)), entry("noise", None)]


def test_listed_after_the_utility_gain_with_captions():
    names = [n for n, _ in FIGURES]
    i = names.index("utility_gain")
    assert names[i + 1:i + 4] == ["utility_regimes", "utility_quantity", "utility_equivalent"]
    assert all(CAPTIONS.get(n) for n in FIGS)


@pytest.mark.parametrize("name", sorted(FIGS))
def test_renders(name, entries, tmp_path):
    paths = FIGS[name](entries, tmp_path)
    assert {p.name for p in paths} == {f"{name}.png", f"{name}.pdf"}
    png = tmp_path / f"{name}.png"
    assert png.is_file() and png.stat().st_size > 1000
    assert png.read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / f"{name}.pdf").read_bytes().startswith(b"%PDF")


@pytest.mark.parametrize("name", sorted(FIGS))
def test_skips_without_the_new_output(name, tmp_path):
    # results of the version-1 protocol: cells and gains, no ladder, quantity or equivalents
    old = [entry(n, None) for n in ("ldm-tiny", "ldm-tiny@bloodmnist", "holdout")]
    for e in old:
        for key in ("ladder", "quantity", "equivalent"):
            e.result["metrics"]["utility"].pop(key, None)
    with pytest.raises(Skip):
        FIGS[name](old, tmp_path)
    # nor from results without a utility task at all
    bare = [Entry(e.path, {**e.result, "metrics": {}}) for e in old]
    with pytest.raises(Skip):
        FIGS[name](bare, tmp_path)
    assert not list(tmp_path.iterdir())


def test_regimes_need_a_generalist(entries, tmp_path):
    with pytest.raises(Skip, match="generalist"):
        fig_utility_regimes([e for e in entries if e.role != "generalist"], tmp_path)
    # the other two draw every generator that has the data
    assert fig_utility_quantity([e for e in entries if e.role != "generalist"], tmp_path)
    assert fig_utility_equivalent([e for e in entries if e.role != "generalist"], tmp_path)


def test_malformed_cells_are_left_out(tmp_path):
    u = utility_v2(0.5)
    u["ladder"]["bloodmnist"]["2"] = "n/a"
    u["cells"]["5"]["bloodmnist"]["mixed"]["accuracy"] = {"mean": None, "ci": None}
    u["quantity"]["per_modality"]["breastmnist"]["mixed"]["5"]["accuracy"]["ci"] = [0.1]
    u["equivalent"]["1"]["pooled"]["mixed"] = {"multiplier": "x", "status": "odd"}
    u["equivalent"]["5"]["pooled"]["mixed"]["status"] = "odd"
    es = [entry("ldm-tiny", u)]
    for name, fn in FIGS.items():
        assert fn(es, tmp_path), name
