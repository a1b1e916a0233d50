"""``medsyn-bench perf --quick`` writes a complete, well-formed report (no timing assertions)."""

from __future__ import annotations

import json

import pytest

from bench.cli import main
from bench.perf import MEASUREMENTS


def test_perf_quick_report_is_complete(tmp_path, capsys):
    out = tmp_path / "perf.json"
    assert main(["perf", "--quick", "--out", str(out), "--work-dir", str(tmp_path / "work")]) == 0
    report = json.loads(out.read_text())
    assert report["schema_version"] == 1 and report["quick"] is True
    assert set(report["results"]) == set(MEASUREMENTS)
    for name, res in report["results"].items():
        assert "met" in res and res["bench_wall_s"] >= 0, name
    s = report["results"]["sampling"]
    assert s["time_ratio"] > 0 and s["fd_dpm"] >= 0 and s["fd_ddpm"] >= 0
    assert report["results"]["neighbours"]["same_nearest_share"] == 1.0
    assert report["results"]["fidelity_bootstrap"]["max_abs_difference"] < 1e-8  # same values as the plain one
    assert len(report["results"]["memory"]["peak_rss_growth_kib"]) == 2
    ft = report["results"]["family_throughput"]
    assert ft["conv3x3_gflops"] > 0 and ft["matmul_peak_gflops"] > 0
    assert {f["kind"] for f in ft["families"].values()} == {"ldm", "pixel-diffusion", "latent-flow", "gigagan"}
    for name, fam in ft["families"].items():
        d, x2 = fam["variants"]["default"], fam["variants"]["batch x2"]
        assert d["share_of_peak"] == pytest.approx(d["gflops_per_s"] / ft["matmul_peak_gflops"]), name
        assert x2["gflops_per_step"] == pytest.approx(2 * d["gflops_per_step"], rel=1e-6), name  # FLOPs ∝ batch
    assert "sampling" in capsys.readouterr().out


def test_utility_projection_counts_the_tasks_own_classifiers():
    """The perf projection uses the task's plan: on `small`, 5 seeds x 3 modalities x 13 classifiers
    (3 synthetic counts, 4 mixed budgets, 2 more mixed counts, 4 pretrain->finetune budgets)."""
    from bench.metrics.utility import generator_cells
    from bench.perf import bench_utility_small

    cells = generator_cells(["real", "synthetic", "mixed", "pretrain+finetune"], [1, 5, 20, 100], [10, 30, 100], 100, 8)
    assert cells[:3] == [("synthetic", 80), ("synthetic", 240), ("synthetic", 800)]
    assert ("mixed", 808) in cells and ("pretrain+finetune", 800) in cells and ("mixed", 88) in cells
    assert len(cells) == 13
    r = bench_utility_small(quick=True)
    assert r["classifiers"] == 5 * 3 * 13 and r["projected_cpu_s"] > 0
    assert r["met"] == (r["projected_cpu_s"] <= 900)


def test_perf_only_measures_what_is_named(tmp_path, capsys):
    """`perf --only` runs just the named measurements (no ldm-tiny fit unless sampling or training is
    named), says so in the report, and refuses an unknown name with the list of known ones."""
    from bench.errors import BenchError
    from bench.perf import run_perf

    out = tmp_path / "perf.json"
    assert main(["perf", "--quick", "--only", "neighbours,memory", "--out", str(out),
                 "--work-dir", str(tmp_path / "work")]) == 0
    report = json.loads(out.read_text())
    assert set(report["results"]) == {"neighbours", "memory"} and report["only"] == ["neighbours", "memory"]
    assert not (tmp_path / "work").exists()  # nothing fitted
    table = capsys.readouterr().out
    assert "nearest neighbours" in table and "memory (streamed)" in table and "sampling" not in table
    with pytest.raises(BenchError, match="unknown perf measurement 'speed'"):
        run_perf(True, tmp_path / "bad.json", only=["speed"])
    assert not (tmp_path / "bad.json").exists()
