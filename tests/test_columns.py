"""Column declarations: each task says what its reported metrics are, and the report reads only that.

Checked on the committed results: every declaration points at a number; a metric the report has never
heard of reaches the table from its declaration alone; changing a declaration (label, direction)
changes the table and its row order; schema-1 results are refused with the fix, and `upgrade` brings
them back to exactly the committed files without touching a number."""

from __future__ import annotations

import copy
import json
import shutil

import pytest

from bench.columns import MetricColumn, declare, declared_columns, read_value
from bench.errors import BenchError
from bench.io import atomic_write_json, read_json
from bench.results import read_result, validate_result
from bench.specs import project_root

SMOKE = project_root() / "leaderboards" / "smoke" / "results"


def committed() -> dict[str, dict]:
    return {p.stem: read_result(p) for p in sorted(SMOKE.glob("*.json"))}


def test_every_declared_column_points_at_its_value():
    seen = set()
    for name, r in committed().items():
        cols = declared_columns(r)
        assert [c.order for c in cols] == sorted(c.order for c in cols)
        for c in cols:
            task = r["metrics"][c.task]
            if "skipped" in task:  # the foundation task runs for the suite's listed generators only
                continue
            v, ci = read_value(task, c)
            assert v is not None, (name, c.key)
            assert v == task["pooled"][c.key]  # the declared place is where the task wrote it
            if c.ci is not None:
                assert ci is not None and ci[0] <= ci[1], (name, c.key)
            if c.per_modality is not None:
                for m in r["generator"]["modalities"]:
                    pv, pci = read_value(task, c, m)
                    assert pv == task["per_modality"][m][c.key], (name, c.key, m)
                    assert (pci is not None) == (c.per_modality_ci is not None)
            seen.add((c.task, c.key))
    assert {k for _, k in seen} >= {"gain_mixed_acc", "gain_synthetic_acc", "near_copy_rate", "fd", "kid",
                                    "precision", "recall", "cmmd", "clip_score", "retrieval_top1",
                                    "conditional_accuracy", "synthetic:linear_accuracy@1%"}


def test_a_column_the_report_never_heard_of_reaches_the_table(tmp_path):
    """A new metric is one task change: its declaration is all the leaderboard needs."""
    from bench.report.leaderboard import render_leaderboard

    col = MetricColumn("laplacian_var", "Laplacian variance", "higher", "grey levels²",
                       "variance of the Laplacian of each image, averaged", value=["pooled", "laplacian_var"],
                       per_modality=["per_modality", "{modality}", "laplacian_var"], order=37)
    folder = tmp_path / "smoke" / "results"
    folder.mkdir(parents=True)
    for k, (name, r) in enumerate(committed().items()):
        r["suite"]["tasks"]["sharpness"] = {"task": "sharpness", "params": {}}  # a kind no module registers
        r["metrics"]["sharpness"] = {"pooled": {"laplacian_var": 100.0 + k},
                                     "per_modality": {m: {"laplacian_var": 50.0 + k} for m in r["generator"]["modalities"]},
                                     "columns": declare([col])}
        validate_result(r, name)
        atomic_write_json(folder / f"{name}.json", r)
    render_leaderboard("smoke", tmp_path, out=lambda s: None)
    readme = (tmp_path / "smoke" / "README.md").read_text()
    header = next(line for line in readme.splitlines() if line.startswith("| generator |"))
    cells = [c.strip() for c in header.strip("|").split("|")]
    assert "Laplacian variance ↑" in cells
    assert cells.index("Laplacian variance ↑") == cells.index("CMMD ↓") + 1  # order 37: after CMMD (34)
    ldm = next(line for line in readme.splitlines() if line.startswith("| ldm-tiny |"))
    names = list(committed())
    assert [c.strip() for c in ldm.strip("|").split("|")][cells.index("Laplacian variance ↑")] == \
        f"{100.0 + names.index('ldm-tiny'):.1f}"
    page = (tmp_path / "smoke" / "index.html").read_text()
    assert page.count(">Laplacian variance ↑</th>") == 1 + 3  # the pooled table and each modality's
    assert "variance of the Laplacian of each image, averaged" in page  # the help text is the header's title


def test_the_declarations_decide_labels_directions_and_row_order(tmp_path):
    from bench.report.leaderboard import order, render_leaderboard
    from bench.report.collection import load_collection

    folder = tmp_path / "smoke" / "results"
    folder.mkdir(parents=True)
    for name, r in committed().items():
        for c in r["metrics"]["utility"]["columns"]:
            c["rank"] = None  # rank by FD alone ...
        for c in r["metrics"]["fidelity"]["columns"]:
            if c["key"] == "fd":
                c.update(label="Fréchet distance", better="higher")  # ... with its direction flipped
        atomic_write_json(folder / f"{name}.json", r)
    render_leaderboard("smoke", tmp_path, out=lambda s: None)
    readme = (tmp_path / "smoke" / "README.md").read_text()
    assert "| Fréchet distance ↑ |" in readme and "| FD ↓ |" not in readme
    entries = load_collection("smoke", tmp_path).main.entries
    fds = [e.result["metrics"]["fidelity"]["pooled"]["fd"] for e in order(entries)]
    assert fds == sorted(fds, reverse=True)


def _as_schema_1(r: dict) -> dict:
    old = copy.deepcopy(r)
    old["schema_version"] = 1
    for m in old["metrics"].values():
        m.pop("columns")
    return old


def test_schema_1_results_are_refused_and_upgrade_restores_the_committed_files(tmp_path, capsys):
    from bench.cli import main

    folder = tmp_path / "smoke" / "results"
    folder.mkdir(parents=True)
    originals = committed()
    for name, r in originals.items():
        atomic_write_json(folder / f"{name}.json", _as_schema_1(r))
    shutil.copytree(SMOKE.parent / "samples", tmp_path / "smoke" / "samples")
    with pytest.raises(BenchError, match="schema 1") as err:
        read_result(folder / "noise.json")
    assert "medsyn-bench upgrade" in err.value.fix
    # one unreadable file: nothing is rewritten
    bad = _as_schema_1(originals["noise"])
    bad["metrics"]["mystery"] = {"pooled": {}}
    atomic_write_json(folder / "zz-bad.json", bad)
    capsys.readouterr()
    assert main(["upgrade", "--suite", "smoke", "--leaderboards-dir", str(tmp_path)]) != 0
    err_text = capsys.readouterr().err
    assert "zz-bad.json" in err_text and "'mystery'" in err_text and "fix:" in err_text
    assert read_json(folder / "noise.json")["schema_version"] == 1
    (folder / "zz-bad.json").unlink()

    assert main(["upgrade", "--suite", "smoke", "--leaderboards-dir", str(tmp_path)]) == 0
    for name, r in originals.items():
        assert read_json(folder / f"{name}.json") == json.loads(json.dumps(r)), name  # exactly the committed file
    assert (tmp_path / "smoke" / "README.md").is_file()  # re-rendered
    capsys.readouterr()
    main(["upgrade", "--suite", "smoke", "--leaderboards-dir", str(tmp_path)])
    assert "at schema 2 already" in capsys.readouterr().out


def test_a_declaration_that_lies_is_refused_by_the_schema():
    r = committed()["noise"]
    r["metrics"]["fidelity"]["columns"][0]["better"] = "sideways"
    with pytest.raises(BenchError, match="better"):
        validate_result(r, "noise")
    with pytest.raises(ValueError, match="better"):
        MetricColumn("x", "x", "sideways", "", "", value=["pooled", "x"])
