"""The pipeline: resumable stages, results validated against the schema, safe writes, CLI errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bench.cli import main
from bench.errors import BenchError
from bench.io import atomic_write_json, run_lock
from bench.results import read_result, validate_result
from bench.run import RunOptions, run_suite
from bench.stages import stage

BASELINES = ["holdout", "noise"]


@pytest.fixture
def baseline_suite(spec_home):
    """The smoke suite restricted to two baselines and no tasks (fast)."""
    path = spec_home / "tasks" / "smoke.toml"
    text = path.read_text()
    import re

    text = re.sub(r"^tasks = \[.*?\]", "tasks = []", text, flags=re.S | re.M)
    text = re.sub(r"^specialists = .*$", "specialists = []", text, flags=re.M)
    text = re.sub(r"^models = .*$", 'models = ["holdout", "noise"]', text, flags=re.M)
    text = text.split("\n[overrides.")[0]  # the overrides close the file; their tasks are gone
    path.write_text(text)
    return spec_home


def test_run_writes_valid_results_and_resumes(baseline_suite, tmp_path):
    runs, pub = tmp_path / "runs", tmp_path / "pub"
    paths = run_suite("smoke", RunOptions(runs, publish_dir=pub, device="cpu"), log=lambda m: None)
    assert {p.name for p in paths} == {"result.json", "holdout.json", "noise.json"}
    r = read_result(pub / "smoke" / "results" / "holdout.json")
    assert r["generator"]["role"] == "baseline" and r["seeds"]["sampling"] == 0
    assert len(r["data"]["dataset_sha256"]) == 64 and set(r["data"]["budgets"]) == {"1", "2", "5", "10", "20", "50"}
    assert r["packages"]["numpy"] and r["compute"]["sample"]["n_images"] == 21 * 20
    assert len(r["gallery"]) == 21
    marker = runs / "smoke" / "holdout" / "stages" / "sample.json"
    before = marker.stat().st_mtime_ns
    run_suite("smoke", RunOptions(runs, publish_dir=pub, device="cpu"), log=lambda m: None)
    assert marker.stat().st_mtime_ns == before  # finished stage skipped


def test_changed_inputs_redo_stage(baseline_suite, tmp_path):
    runs = tmp_path / "runs"
    run_suite("smoke", RunOptions(runs, only=["holdout"], device="cpu"), log=lambda m: None)
    path = baseline_suite / "tasks" / "smoke.toml"
    path.write_text(path.read_text().replace("n_per_prompt = 20", "n_per_prompt = 3"))
    logs = []
    run_suite("smoke", RunOptions(runs, only=["holdout"], device="cpu"), log=logs.append)
    assert any("sample: inputs changed, redoing" in m for m in logs)
    assert len(list((runs / "smoke" / "holdout" / "samples").rglob("*.png"))) == 21 * 3


def test_unknown_generator_filter(baseline_suite, tmp_path):
    with pytest.raises(BenchError, match="(?s)unknown generator 'gan'.*holdout"):
        run_suite("smoke", RunOptions(tmp_path, only=["gan"], device="cpu"), log=lambda m: None)


def test_stage_marker_skips_and_redoes(tmp_path):
    calls = []
    fn = lambda: calls.append(1) or {"x": len(calls)}
    assert stage(tmp_path, "s", {"a": 1}, fn, log=lambda m: None)["output"] == {"x": 1}
    assert stage(tmp_path, "s", {"a": 1}, fn, log=lambda m: None)["skipped"]
    assert stage(tmp_path, "s", {"a": 2}, fn, log=lambda m: None)["output"] == {"x": 2}


def test_failed_write_keeps_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "result.json"
    atomic_write_json(target, {"v": 1})

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(BenchError, match="free disk space"):
        atomic_write_json(target, {"v": 2})
    monkeypatch.undo()
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]  # no temp file left behind


def test_read_only_folder(tmp_path):
    """A folder the process may not write: one clear error, the old file intact. Root ignores directory
    permissions, so under root (CI) the folder is made immutable instead (chattr +i: EPERM even for root)."""
    ro = tmp_path / "ro"
    ro.mkdir()
    atomic_write_json(ro / "r.json", {"v": 1})
    as_root = os.geteuid() == 0
    if as_root:
        subprocess.run(["chattr", "+i", str(ro)], check=True)
    else:
        ro.chmod(0o555)
    try:
        with pytest.raises(BenchError, match="writable"):
            atomic_write_json(ro / "r.json", {"v": 2})
    finally:
        if as_root:
            subprocess.run(["chattr", "-i", str(ro)], check=True)
        else:
            ro.chmod(0o755)
    assert json.loads((ro / "r.json").read_text()) == {"v": 1}


def test_permission_denied_is_clear(tmp_path, monkeypatch):
    import tempfile

    atomic_write_json(tmp_path / "r.json", {"v": 1})

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with pytest.raises(BenchError, match="make the folder writable") as exc:
        atomic_write_json(tmp_path / "r.json", {"v": 2})
    assert "r.json" in str(exc.value)
    monkeypatch.undo()
    assert json.loads((tmp_path / "r.json").read_text()) == {"v": 1}


def test_second_process_is_locked_out(tmp_path):
    with run_lock(tmp_path):
        code = ("import sys; from bench.io import run_lock\n"
                "try:\n    with run_lock(sys.argv[1]): pass\nexcept Exception as e: print(e); sys.exit(3)")
        out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 3 and "another medsyn-bench process" in out.stdout


def test_schema_refuses_bad_results(baseline_suite, tmp_path):
    run_suite("smoke", RunOptions(tmp_path, only=["noise"], device="cpu"), log=lambda m: None)
    r = json.loads((tmp_path / "smoke" / "noise" / "result.json").read_text())
    validate_result(r, "ok")
    r["data"]["dataset_sha256"] = "not-a-hash"
    with pytest.raises(BenchError, match="dataset_sha256"):
        validate_result(r, "bad.json")


def test_cli_errors_are_one_message_without_traceback(capsys):
    assert main(["run", "--suite", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "unknown suite 'nope'" in err and "Traceback" not in err
    with pytest.raises(BenchError):
        main(["--debug", "run", "--suite", "nope"])


def test_cli_help_and_list(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "quick start" in capsys.readouterr().out
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "smoke" in out and "holdout" in out and "memoriser" in out


def test_prompts_manifest_template(tmp_path, capsys):
    out = tmp_path / "manifest.csv"
    assert main(["prompts", "--suite", "smoke", "--n", "2", "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "path,prompt,label,modality" and len(lines) == 1 + 21 * 2


def test_set_makes_named_ablation_variants(smoke_dataset):
    from bench.run import generator_entries, select_entries, variant_entries
    from bench.specs import load_suite

    spec = load_suite("smoke")
    entries = select_entries(spec, generator_entries(spec, smoke_dataset), ["holdout", "ldm-tiny"])
    (v,) = variant_entries(entries, ["prediction_type=v_prediction", "lr=5e-4"])  # holdout has no such keys
    assert v.name == "ldm-tiny+prediction_type=v_prediction+lr=5e-4" and v.role == "generalist"
    assert v.model.params["lr"] == 5e-4 and v.model.params["prediction_type"] == "v_prediction"
    assert v.model.name == "ldm-tiny" and entries[1].model.params["lr"] == 1e-3  # the original is unchanged
    assert variant_entries(entries, []) == entries
    with pytest.raises(BenchError, match="prediction_type"):
        variant_entries(entries, ["prediction_type=sideways"])  # validated like the spec file
    with pytest.raises(BenchError, match="no selected generator has"):
        variant_entries(entries, ["lr_typo=1"])
    with pytest.raises(BenchError, match="not KEY=VALUE"):
        variant_entries(entries, ["lr"])


def test_run_of_some_tasks_never_replaces_a_fuller_result(baseline_suite, tmp_path):
    """``--tasks``: a run of some tasks is not published over a result that holds more (it would lose them)."""
    runs, pub = tmp_path / "runs", tmp_path / "pub"
    run_suite("smoke", RunOptions(runs, publish_dir=pub, device="cpu", only=["noise"]), log=lambda m: None)
    full = pub / "smoke" / "results" / "noise.json"
    fuller = json.loads(full.read_text())
    fuller["metrics"]["memorisation"] = {"pooled": {}}  # as if a full run had scored it
    full.write_text(json.dumps(fuller))
    before = full.read_bytes()
    with pytest.raises(BenchError, match="(?s)holds task.*memorisation.*without --tasks"):
        run_suite("smoke", RunOptions(runs, publish_dir=pub, device="cpu", only=["noise"], tasks=[]), log=lambda m: None)
    assert full.read_bytes() == before
    with pytest.raises(BenchError, match="does not run task 'utility'"):
        run_suite("smoke", RunOptions(runs, device="cpu", tasks=["utility"]), log=lambda m: None)
