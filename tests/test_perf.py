"""``medsyn-bench perf --quick`` writes a complete, well-formed report (no timing assertions)."""

from __future__ import annotations

import json

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
    assert "sampling" in capsys.readouterr().out
