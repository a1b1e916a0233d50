"""Leaderboard and figures: rendered from result files alone, refusing bad or non-comparable ones,
escaping hostile strings, a submission end to end, and the page in a real headless browser."""

from __future__ import annotations

import base64
import copy
import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import utility_v2, browser_or_skip, with_columns

from bench.errors import BenchError
from bench.io import atomic_write_json, read_json, sha256_json
from bench.results import SCHEMA_VERSION, validate_result

MODS = ("bloodmnist", "breastmnist")
PROMPTS = {"bloodmnist": ["a blood cell microscopy image of basophil", "a blood cell microscopy image of platelet"],
           "breastmnist": ["a breast ultrasound image of malignant", "a breast ultrasound image of normal tissue"]}
REF = {"classifier": "a" * 64, "clip": "b" * 64, "encoder": "c" * 64}
SPLITS = {"train": {"n": 100, "index_sha256": "1" * 64, "pixels_sha256": "2" * 64},
          "holdout": {"n": 40, "index_sha256": "3" * 64, "pixels_sha256": "4" * 64}}
HOSTILE = "<svg onload=alert(1)><script>alert(1)$\\frac{$"  # HTML, script and a broken TeX formula
HOSTILE_PROMPT = "</script><script>alert(2)</script><img src=x onerror=alert(3)>"


def png_b64(arr: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def tile(seed: int, grey: bool, size: int = 28) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    blob = 255 * np.exp(-(((yy - size / 2) ** 2 + (xx - size / 2) ** 2) / (2 * (size / 5 + seed % 5) ** 2)))
    img = np.clip(blob[..., None] + rng.normal(0, 20, (size, size, 1 if grey else 3)), 0, 255).astype(np.uint8)
    return img[..., 0] if grey else img


def metrics_for(q: float, mods=MODS, seed: int = 0) -> dict:
    """Metrics in the agreed convention; ``q`` in [0, 1] is how good the generator is."""
    rng = np.random.default_rng(seed)
    ci = lambda v, w=0.05: [v - w, v + w]  # noqa: E731
    fid = {"fd": 400 * (1 - q) + 5, "kid": 0.2 * (1 - q), "precision": q, "recall": 0.9 * q, "cmmd": 2 * (1 - q)}
    ali = {"clip_score": 20 + 10 * q, "retrieval_top1": 0.3 + 0.6 * q, "conditional_accuracy": 0.1 + 0.8 * q}
    mem = {"near_copy_rate": 0.01 + 0.02 * q, "distance_ratio": 1.0 - 0.1 * q, "carlini_rate": 0.0}
    budgets = ("1", "5", "20")
    gains = {b: {m: {arm: {"accuracy": {"mean": (0.1 * q - 0.02) / (1 + i) * (1 if arm == "mixed" else 0.6),
                                        "ci": [(0.1 * q - 0.07) / (1 + i), (0.1 * q + 0.03) / (1 + i)],
                                        "p_value": 0.04}}
                         for arm in ("mixed", "synthetic")} for m in mods}
             for i, b in enumerate(budgets)}
    return {
        "fidelity": {"pooled": {**fid, **{k + "_ci": ci(v) for k, v in fid.items()}},
                     "per_modality": {m: {k: v * (1 + 0.2 * j) for k, v in fid.items()} for j, m in enumerate(mods)}},
        "alignment": {"pooled": {**ali, **{k + "_ci": ci(v) for k, v in ali.items()}},
                      "per_modality": {m: {k: v * (1 - 0.1 * j) for k, v in ali.items()} for j, m in enumerate(mods)}},
        "memorisation": {"pooled": mem, "per_modality": {m: dict(mem) for m in mods},
                         "distances": {"synthetic": list(rng.gamma(4, 0.05 + 0.05 * q, 60)),
                                       "holdout": list(rng.gamma(4, 0.1, 60))},
                         "closest_pairs": [{"synthetic": png_b64(tile(i + seed, i % 2 == 0)),
                                            "train": png_b64(tile(i + seed + 1, i % 2 == 0)), "distance": 0.02 * (i + 1)}
                                           for i in range(3)]},
        "utility": {"pooled": {"gain_mixed_acc": gains["1"][mods[0]]["mixed"]["accuracy"]["mean"],
                               "gain_mixed_acc_ci": gains["1"][mods[0]]["mixed"]["accuracy"]["ci"],
                               "gain_synthetic_acc": gains["1"][mods[0]]["synthetic"]["accuracy"]["mean"],
                               "gain_synthetic_acc_ci": gains["1"][mods[0]]["synthetic"]["accuracy"]["ci"]},
                    "per_modality": {m: {f"gain_{arm}_acc{sfx}": gains["1"][m][arm]["accuracy"][k]
                                         for arm in ("mixed", "synthetic") for sfx, k in (("", "mean"), ("_ci", "ci"))}
                                     for m in mods},
                    "gains": gains,
                    **{k: v for k, v in utility_v2(q, tuple(mods) + ("pooled",)).items() if k != "gains"}},
        "foundation": {"pooled": {"synthetic:linear_accuracy@1%": 0.3 + q / 4,
                                  "synthetic:linear_accuracy@1%_ci": [0.25 + q / 4, 0.35 + q / 4]},
                       "probes": {src: {b: {"linear_accuracy" if src != "scratch" else "finetune_accuracy":
                                                {"mean": 0.3 + q / 4 + 0.1 * k, "ci": [0.25 + q / 4 + 0.1 * k,
                                                                                      0.35 + q / 4 + 0.1 * k]}}
                                        for k, b in enumerate(("1%", "10%", "100%"))}
                                  for src in ("real", "synthetic", "both", "scratch")}},
    }


TASKS = ("fidelity", "alignment", "memorisation", "utility", "foundation")


def make_result(name: str, role: str = "generalist", kind: str = "ldm", q: float = 0.5, mods=MODS,
                reference=None, splits=None, version: int = 1, suite: str = "demo", metrics=None,
                budget=None, fit=None, seed: int = 0) -> dict:
    splits = copy.deepcopy(splits or SPLITS)
    prompts = [p for m in mods for p in PROMPTS[m]]
    gallery = {p: [png_b64(tile(seed + 7 * i + k, p.startswith("a breast"))) for k in range(2)]
               for i, p in enumerate(prompts)}
    r = {
        "schema_version": SCHEMA_VERSION,
        "suite": {"name": suite, "version": version, "spec": {"name": suite, "data": {"subsets": list(MODS)}},
                  "tasks": {t: {"task": t, "params": {}} for t in TASKS}},
        "generator": {"name": name, "kind": kind, "role": role, "spec": {"name": name.split("@")[0], "kind": kind},
                      "modalities": list(mods), "budget": budget},
        "seeds": {"suite": 0, "splits": 0, "sampling": 0},
        "data": {"dataset_sha256": sha256_json(splits), "splits": splits,
                 "budgets": {"1": {"n_images": 4}, "5": {"n_images": 20}, "20": {"n_images": 80}},
                 "prompts": prompts, "prompt_modality": {p: m for m in mods for p in PROMPTS[m]}},
        "reference": dict(REF if reference is None else reference),
        "packages": {}, "git_commit": None, "created": f"2025-01-0{1 + seed % 9}T00:00:00+00:00",
        "wall_time_s": 1.0,
        "compute": {"fit": fit if fit is not None else {"wall_s": 0.0}, "sample": {"wall_s": 0.1}},
        "metrics": with_columns(metrics_for(q, mods, seed) if metrics is None else metrics),
        "gallery": gallery,
        "warnings": [],
    }
    validate_result(r, name)
    return r


def demo_results() -> list[dict]:
    """A full leaderboard: generalist, specialists, an external submission and the baselines."""
    ldm_fit = {"flops": 3.0e15, "wall_s": 3600.0, "params": 3.2e6,
               "checkpoints": [{"fraction": f, "flops": 3.0e15 * f, "wall_s": 3600 * f, "fd": 60 + 200 * (1 - f)}
                               for f in (0.25, 0.5, 0.75)],
               "autoencoder": {"train_wall_s": 600.0, "gate_curve": [
                   {"step": s, "train_wall_s": 2.0 * s, "accuracy": {"originals": 0.9, "reconstructions": 0.5 + s / 1000}}
                   for s in (100, 200, 300)]},
               "curve": [{"step": s, "train_wall_s": 3.6 * s, "conditional_accuracy": s / 2000} for s in (250, 500, 1000)]}
    out = [make_result("ldm-tiny", q=0.7, fit=ldm_fit, seed=1),
           make_result("ext-gen", role="external", kind="images", q=0.4, seed=2),
           make_result("holdout", role="baseline", kind="holdout", q=1.0, seed=3),
           make_result("noise", role="baseline", kind="noise", q=0.0, seed=4),
           make_result("memoriser", role="baseline", kind="memoriser", q=0.98, seed=5)]
    for j, m in enumerate(MODS):
        out.append(make_result(f"ldm-tiny@{m}", role="specialist", q=0.6 - 0.1 * j, mods=(m,), budget="equal-steps",
                               fit={"flops": 2.5e15, "wall_s": 3000.0}, seed=6 + j))
    # two controlled-degradation ladders: blur makes every metric worse; the "memorised" rungs here get
    # *fewer* near copies as they go (a made-up failure the sensitivity section must report)
    for d in ("blur", "memorised"):
        for sev in (0.5, 1.0):
            r = make_result(f"degraded-{d}@{sev:.2f}", role="ladder", kind="degraded", q=1.0 - 0.4 * sev, seed=8)
            r["generator"]["spec"]["params"] = {"degradation": d, "severity": sev}
            out.append(r)
    return out


def publish(root: Path, results: list[dict], suite: str = "demo") -> Path:
    folder = root / suite / "results"
    for r in results:
        atomic_write_json(folder / f"{r['generator']['name']}.json", r)
    return folder


@pytest.fixture(scope="module")
def demo_board(tmp_path_factory):
    """The demo leaderboard, rendered once per module (tests that change it work on a copy)."""
    from bench.report import render_all

    root = tmp_path_factory.mktemp("boards")
    publish(root, demo_results())
    lines = []
    out = render_all("demo", root, out=lines.append)
    # every figure has data, except the reader study's (no study published here)
    assert not [line for line in lines if "FAILED" in line or ("skipped" in line and "reader_study" not in line)], lines
    return root / "demo", out


# -- rendering ------------------------------------------------------------------------------------

def test_renders_table_page_and_every_figure(demo_board):
    folder, out = demo_board
    md = (folder / "README.md").read_text()
    page = (folder / "index.html").read_text()
    # every column of the issue is there
    for col in ("generator", "role", "family", "training compute", "FD", "KID", "precision", "recall", "CMMD", "CLIP score",
                "retrieval", "conditional accuracy", "near-copy rate", "utility gain", "reference sha256"):
        assert col in md and col in page, col
    # baselines are shown apart, as bounds
    gens, bounds = md.split("## Modality")[0].split("### Bounds")
    assert "ldm-tiny" in gens and "*holdout*" in bounds and "holdout" not in gens
    assert "3 PFLOP · 60 min" in md
    assert "classifier:aaaaaaaa" in md
    # the gain at the smallest budget with its CI
    assert re.search(r"\+0\.050 \\?\[0\.000, 0\.100\\?\]", md)
    # per-modality sections, figures embedded by relative links that exist
    for m in MODS:
        assert f'id="mod-{m}"' in page and f"## Modality: {m}" in md
    # one page model: the same sections, in the same order, in both renderings
    import html as _html

    assert re.findall(r"^## (.+)$", md, re.M) == [_html.unescape(t) for t in re.findall(r"<h2>(.*?)</h2>", page)]
    assert len(re.findall(r"^## ", md, re.M)) == 8  # leaderboard, two modalities, figures, findings, utility regimes, sensitivity, validity
    assert "## Utility regimes" in md and "pretrain → finetune" in md and "real-data equivalent" in md
    srcs = re.findall(r'<img src="([^"]+)"', page)
    assert srcs and all((folder / s).is_file() for s in srcs)
    stems = {p.stem for p in out["figures"]}
    assert stems == {"samples_bloodmnist", "samples_breastmnist", "fd_per_modality", "utility_gain",
                     "memorisation_distances", "memorisation_closest_pairs", "quality_vs_compute",
                     "alignment_per_modality", "foundation_probes", "training_curve", "utility_regimes",
                     "utility_quantity", "utility_equivalent", "metric_sensitivity", "metric_validity"}
    for s in stems:
        assert (folder / "figures" / f"{s}.png").stat().st_size > 1000
        assert (folder / "figures" / f"{s}.pdf").read_bytes().startswith(b"%PDF")
    # the findings: one row per claim, each with a verdict
    assert "## Findings" in md and 'id="findings"' in page
    findings = md.split("## Findings")[1].split("\n## ")[0]
    assert "| 2 | Training one generalist costs less" in findings
    assert all(v in ("supported", "not supported", "inconclusive", "not measured")
               for v in re.findall(r"^\| \w+ \|[^|]*\|[^|]*\| ([^|]+?) \|", findings, re.M))
    # no server, no CDN: nothing is fetched from elsewhere
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    assert "ablations.md" not in md  # no ablation table published for this suite: no link to one


def test_links_the_ablation_table_when_published(tmp_path):
    from bench.report import render_all

    publish(tmp_path, demo_results())
    (tmp_path / "demo" / "ablations.md").write_text("# Ablations\n")
    render_all("demo", tmp_path, out=lambda m: None)
    assert "[ablations.md](ablations.md)" in (tmp_path / "demo" / "README.md").read_text()


def test_missing_and_malformed_metrics_render_as_dashes(tmp_path):
    from bench.report import render_all

    bare = make_result("bare", metrics={})
    odd = make_result("odd", metrics={"fidelity": {"pooled": {"fd": "n/a", "kid_ci": [1]}, "per_modality": [1, 2]},
                                      "utility": {"gains": {"1": "x"}, "pooled": None},
                                      "alignment": {"pooled": {"clip_score": None}}, "foundation": {"pooled": []},
                                      "memorisation": {"closest_pairs": [["not png", "nor this"], 5]}})
    with pytest.raises(BenchError, match="metrics/junk"):  # a task's metrics are an object with its declarations
        validate_result({**odd, "metrics": {**odd["metrics"], "junk": 3}}, "odd")
    publish(tmp_path, [bare, odd])
    lines = []
    out = render_all("demo", tmp_path, out=lines.append)
    md = (tmp_path / "demo" / "README.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| odd"))
    assert row.count("—") == 14  # every metric column (the reader-study ones are not shown: no study)
    # only the sample grids have data; every other figure says why it is skipped
    assert {p.stem for p in out["figures"]} == {"samples_bloodmnist", "samples_breastmnist"}
    skipped = [line for line in lines if "skipped" in line]
    assert len(skipped) == 14 and all("(" in line for line in skipped)
    assert not [line for line in lines if "FAILED" in line]


def test_stale_figures_are_removed(demo_board, tmp_path):
    from bench.report.figures import render_figures

    folder = tmp_path / "demo"
    shutil.copytree(demo_board[0], folder)
    for p in (folder / "results").glob("*.json"):
        r = json.loads(p.read_text())
        r["metrics"] = {}
        atomic_write_json(p, r)
    render_figures("demo", tmp_path, out=lambda s: None)
    assert not (folder / "figures" / "utility_gain.png").exists()
    assert (folder / "figures" / "samples_bloodmnist.png").exists()


# -- refusal and comparability --------------------------------------------------------------------

def test_refuses_bad_files_by_name_and_keeps_the_others(tmp_path, capsys):
    from bench.cli import main

    good = make_result("good", q=0.6)
    folder = publish(tmp_path, [good])
    bad_schema = make_result("bad-schema")
    del bad_schema["generator"]["role"]
    (folder / "bad-schema.json").write_text(json.dumps(bad_schema))
    tampered = make_result("tampered")
    tampered["data"]["splits"]["train"]["n"] = 99  # the dataset hash no longer matches the splits
    (folder / "tampered.json").write_text(json.dumps(tampered))
    (folder / "not-json.json").write_text("{oops")
    (folder / "renamed.json").write_text(json.dumps(make_result("someone-else")))
    (folder / "other-suite.json").write_text(json.dumps(make_result("other-suite", suite="elsewhere")))

    assert main(["leaderboard", "--suite", "demo", "--leaderboards-dir", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    md = (tmp_path / "demo" / "README.md").read_text()
    page = (tmp_path / "demo" / "index.html").read_text()
    reasons = {"bad-schema.json": "'role' is a required property", "tampered.json": "dataset_sha256",
               "not-json.json": "not valid JSON", "renamed.json": "does not match its generator",
               "other-suite.json": "suite 'elsewhere'"}
    for f, why in reasons.items():
        assert re.search(rf"refused {re.escape(f)}: .*{re.escape(why)}", printed), (f, printed)
        assert f in md and f in page
    assert "| good |" in md and "1 comparable results" in printed
    assert main(["figures", "--suite", "demo", "--leaderboards-dir", str(tmp_path)]) == 0
    assert (tmp_path / "demo" / "figures" / "fd_per_modality.png").is_file()
    assert main(["leaderboard", "--suite", "nothing-here", "--leaderboards-dir", str(tmp_path)]) == 2
    assert "no results folder" in capsys.readouterr().err


def test_non_comparable_results_get_their_own_table_with_the_reason(tmp_path):
    from bench.report.collection import load_collection
    from bench.report.leaderboard import render_leaderboard

    other_splits = copy.deepcopy(SPLITS)
    other_splits["holdout"]["n"] = 41
    publish(tmp_path, [make_result("a", seed=1), make_result("b", seed=2),
                       make_result("new-clip", reference={**REF, "clip": "d" * 64}, seed=3),
                       make_result("other-data", splits=other_splits, seed=5)])
    coll = load_collection("demo", tmp_path)
    assert [e.name for e in coll.main.entries] == ["a", "b"]
    reasons = {g.entries[0].name: g.reason for g in coll.others}
    assert "reference 'clip' sha256 dddddddddddd" in reasons["new-clip"]
    assert "dataset sha256" in reasons["other-data"]
    render_leaderboard("demo", tmp_path, out=lambda s: None)
    md = (tmp_path / "demo" / "README.md").read_text()
    main_part, rest = md.split("## Not comparable", 1)
    assert "| a |" in main_part and "new-clip" not in main_part and "new-clip" in rest
    page = (tmp_path / "demo" / "index.html").read_text()
    assert page.count('class="notcomparable"') == 2


def test_two_suite_versions_are_never_on_one_page(tmp_path):
    """The newest version is the page, even with fewer results; older results are listed by name only."""
    from bench.report.collection import load_collection
    from bench.report.leaderboard import render_leaderboard

    publish(tmp_path, [make_result("a", seed=1), make_result("b", seed=2), make_result("c", seed=3),
                       make_result("v2-gen", version=2, seed=4)])
    coll = load_collection("demo", tmp_path)
    assert [e.name for e in coll.main.entries] == ["v2-gen"] and coll.others == []
    assert [e.name for e in coll.superseded] == ["a", "b", "c"]
    render_leaderboard("demo", tmp_path, out=lambda s: None)
    md = (tmp_path / "demo" / "README.md").read_text()
    assert "Suite version 2" in md and "Suite version 1" not in md
    superseded = md.split("## Superseded results", 1)[1]
    assert "version 1: a, b, c" in superseded and "| a |" not in md and "| b |" not in md
    assert "medsyn-bench rescore --suite demo" in superseded
    assert 'id="superseded"' in (tmp_path / "demo" / "index.html").read_text()


# -- escaping -------------------------------------------------------------------------------------

def hostile_results() -> list[dict]:
    r = make_result(HOSTILE, q=0.3, seed=3)
    r["generator"]["budget"] = "<b>x</b>"
    r["reference"] = dict(REF)
    r["gallery"][HOSTILE_PROMPT] = r["gallery"].pop(PROMPTS["bloodmnist"][0])
    r["data"]["prompts"][0] = HOSTILE_PROMPT
    r["data"]["prompt_modality"][HOSTILE_PROMPT] = "bloodmnist"
    r["generator"]["modalities"] = ["bloodmnist", HOSTILE_PROMPT]
    r["metrics"]["fidelity"]["per_modality"][HOSTILE_PROMPT] = {"fd": 1.0}
    validate_result(r, "hostile")
    return [r, make_result("fine", q=0.6, seed=4)]


def test_hostile_generator_name_and_prompt_are_inert(tmp_path):
    from bench.report import render_all

    folder = publish(tmp_path, hostile_results())
    (folder / "<img src=x onerror=alert(4)>.json").write_text("{}")
    lines = []
    out = render_all("demo", tmp_path, out=lines.append)
    assert not [line for line in lines if "FAILED" in line], lines
    assert "samples_bloodmnist" in {p.stem for p in out["figures"]}
    page = (tmp_path / "demo" / "index.html").read_text()
    md = (tmp_path / "demo" / "README.md").read_text()
    assert page.count("<script") == 1  # only the page's own sorter
    for text in (page, md):
        assert "<svg" not in text and "<img src=x" not in text and "<script>alert" not in text
        assert "onerror=alert" not in text.replace("&lt;img src=x onerror=alert", "")
    assert "&lt;svg onload=alert(1)&gt;&lt;script&gt;alert(1)" in page
    assert "Content-Security-Policy" in page and "'unsafe-inline'" not in page.split("script-src")[1].split(";")[0]
    # a modality only the hostile submission claims does not redefine "covers the suite": the other
    # generator stays ranked in the pooled table
    board = page.split('id="board"')[1].split("</table>")[0]
    assert 'class="rows gens"' in board and 'data-v="fine"' in board.split('class="rows gens"')[1]


# -- submission, end to end -----------------------------------------------------------------------

TINY_SUITE = """\
kind = "suite"
name = "tinysub"
version = 1
description = "test suite: embedded sample, two images per prompt, no tasks"
tasks = []
[data]
source = "embedded"
subsets = ["bloodmnist", "breastmnist"]
[splits]
budgets = [1, 5]
[sampling]
n_per_prompt = 2
[generators]
models = ["holdout"]
"""


def test_submit_a_png_folder_end_to_end(tmp_path, capsys):
    from bench.cli import main

    suite = tmp_path / "tinysub.toml"
    suite.write_text(TINY_SUITE)
    runs, boards = tmp_path / "runs", tmp_path / "boards"
    common = ["--runs-dir", str(runs), "--leaderboards-dir", str(boards), "--device", "cpu"]
    assert main(["run", "--suite", str(suite), *common]) == 0
    assert (boards / "tinysub" / "index.html").is_file()  # `run` ends by rendering
    # the submission: the manifest template of `prompts`, filled with held-out images
    sub = tmp_path / "submission"
    assert main(["prompts", "--suite", str(suite), "--out", str(sub / "manifest.csv")]) == 0
    for png in (runs / "tinysub" / "holdout" / "samples").rglob("*.png"):
        rel = png.relative_to(runs / "tinysub" / "holdout" / "samples")
        (sub / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(png, sub / rel)
    capsys.readouterr()
    assert main(["submit", "--suite", str(suite), "--images", str(sub), "--name", "my-gen", *common]) == 0
    r = json.loads((boards / "tinysub" / "results" / "my-gen.json").read_text())
    assert r["generator"]["role"] == "external" and r["generator"]["kind"] == "images"
    assert r["gallery"] and len(r["data"]["prompts"]) == len(r["gallery"])
    md = (boards / "tinysub" / "README.md").read_text()
    assert "| my-gen | external |" in md and "*holdout*" in md
    assert "my-gen" in (boards / "tinysub" / "index.html").read_text()
    assert (boards / "tinysub" / "figures" / "samples_bloodmnist.png").is_file()

    # validation errors are the images generator's; a bad name is refused before any work
    lines = (sub / "manifest.csv").read_text().splitlines()
    (sub / "manifest.csv").write_text("\n".join(lines + ["bloodmnist/class00_00000.png,a prompt nobody asked for,x,y"]))
    capsys.readouterr()
    assert main(["submit", "--suite", str(suite), "--images", str(sub), "--name", "my-gen2", *common]) == 2
    assert "unknown prompt 'a prompt nobody asked for'" in capsys.readouterr().err
    assert main(["submit", "--suite", str(suite), "--images", str(sub), "--name", "../evil", *common]) == 2
    assert "invalid submission name" in capsys.readouterr().err
    assert main(["submit", "--suite", str(suite), "--images", str(sub), "--name", "holdout", *common]) == 2
    assert not (boards / "tinysub" / "results" / "my-gen2.json").exists()


# -- the page in a real headless browser ----------------------------------------------------------

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")

HARNESS = """<script>
(function () {
  var errors = [], alerts = [];
  window.addEventListener("error", function (e) {
    errors.push("error: " + (e.message || (e.target && (e.target.src || e.target.href)) || "resource"));
  }, true);
  document.addEventListener("securitypolicyviolation", function (e) {
    errors.push("csp: " + e.violatedDirective + " " + e.blockedURI);
  });
  var ce = console.error;
  console.error = function () { errors.push("console: " + Array.prototype.join.call(arguments, " ")); ce.apply(console, arguments); };
  window.alert = function (m) { alerts.push(String(m)); };
  function column(table, i) {
    return Array.prototype.map.call(table.querySelectorAll("tbody.rows.gens tr"), function (r) {
      return r.cells[i].getAttribute("data-v");
    });
  }
  window.addEventListener("load", function () {
    setTimeout(function () {
      var out = {errors: errors, alerts: alerts};
      try {
        var table = document.getElementById("board");
        var th = table.querySelectorAll("thead th")[COL];
        out.before = column(table, COL);
        th.click(); out.first = column(table, COL); out.sort1 = th.getAttribute("aria-sort");
        th.click(); out.second = column(table, COL); out.sort2 = th.getAttribute("aria-sort");
        out.images = Array.prototype.map.call(document.images, function (im) { return im.naturalWidth; });
      } catch (e) { out.errors.push("harness: " + e); }
      var pre = document.createElement("pre"); pre.id = "harness-result";
      pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
    }, 200);
  });
})();
</script>"""


def find_browser() -> str | None:
    env = os.environ.get("MEDSYN_BROWSER")
    if env:
        return env if shutil.which(env) else None
    return next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)


def browser_args(browser: str, profile: Path) -> list[str]:
    args = [browser, "--headless", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
            "--disable-extensions", f"--user-data-dir={profile}", "--allow-file-access-from-files"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
    return args


def test_page_in_headless_browser(demo_board, tmp_path):
    from bench.report.leaderboard import render_leaderboard

    browser = browser_or_skip(find_browser(), "the leaderboard page (or set MEDSYN_BROWSER to a Chrome/Chromium binary)")
    shutil.copytree(demo_board[0], tmp_path / "demo")  # its figures included
    publish(tmp_path, hostile_results())
    render_leaderboard("demo", tmp_path, out=lambda s: None)
    page = tmp_path / "demo" / "index.html"
    col = int(re.search(r'data-col="(\d+)"[^>]*>FD ↓</th>', page.read_text()).group(1))  # the first table's
    # the harness goes before the page's Content-Security-Policy, so the policy still governs the page
    text = page.read_text().replace("<head>", "<head>" + HARNESS.replace("COL", str(col)), 1)
    probe = page.with_name("probe.html")
    probe.write_text(text)
    try:
        proc = subprocess.run(browser_args(browser, tmp_path / "profile")
                              + ["--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
                              capture_output=True, text=True, timeout=90)
    except subprocess.TimeoutExpired:
        pytest.skip(f"{browser} did not finish in 90 s")
    m = re.search(r'<pre id="harness-result">(.*?)</pre>', proc.stdout, re.S)
    assert m, f"page did not load in {browser}: {proc.stderr[-2000:]}"
    import html as _html

    res = json.loads(_html.unescape(m.group(1)))
    assert res["errors"] == [] and res["alerts"] == [], res
    nums = lambda xs: [float(x) for x in xs if x]  # noqa: E731
    assert res["sort1"] == "ascending" and res["sort2"] == "descending"
    assert nums(res["first"]) == sorted(nums(res["before"]))
    assert nums(res["second"]) == sorted(nums(res["before"]), reverse=True)
    assert nums(res["first"]) != nums(res["second"])
    assert res["images"] and all(w > 0 for w in res["images"]), "a figure did not load"


def test_closest_pair_fields_are_matched_by_name():
    from bench.report.figures.closest_pairs import parse_pair

    syn, train = tile(1, True), tile(2, False)
    # sorted keys, as result files store them: "sample_index" sorts before "synthetic"
    item = {"distance": 0.1, "prompt": "p", "sample_index": 3, "synthetic": png_b64(syn), "train": png_b64(train),
            "train_index": 5}
    a, b, d = parse_pair(item)
    assert (a[..., 0] == syn).all() and (b == train).all() and d == 0.1
    a, b, d = parse_pair([png_b64(syn), png_b64(train), 0.2])
    assert (a[..., 0] == syn).all() and d == 0.2
    assert parse_pair({"synthetic": "not a png", "train": 3}) is None


def test_the_memorisation_figure_draws_each_modalitys_near_copy_threshold():
    """The histogram's data holds the thresholds the memorisation task writes (thresholds[space][modality]):
    the figure once looked them up under another key and never drew the line."""
    from bench.report.collection import load_collection
    from bench.report.figures.memorisation_distances import memorisation_hist_data

    root = Path(__file__).resolve().parent.parent
    coll = load_collection("smoke", root / "leaderboards")
    data = {e.name: thr for e, _, _, thr in memorisation_hist_data(coll.main.entries)}
    assert data and set(data) <= {e.name for e in coll.main.entries}
    for name, thresholds in data.items():
        committed = read_json(root / "leaderboards" / "smoke" / "results" / f"{name}.json")
        written = committed["metrics"]["memorisation"]["thresholds"]["clip"]
        assert thresholds == {m: written[m] for m in committed["generator"]["modalities"]}, name
    assert set(data["ldm-tiny"]) == {"bloodmnist", "organamnist", "breastmnist"}
    assert set(data["ldm-tiny@breastmnist"]) == {"breastmnist"}  # a specialist: its own modality's


def test_sensitivity_section_and_rows_compared_on_what_they_cover(demo_board):
    folder, _ = demo_board
    readme = (folder / "README.md").read_text()
    board, _, rest = readme.partition("## Modality:")
    assert "ldm-tiny@bloodmnist" not in board and "ldm-tiny@bloodmnist" in rest  # one modality: its own table
    assert "2 generator(s) of one or some modalities" in board and "| ldm-tiny |" in board
    assert "degraded-" not in readme.split("## Metric sensitivity")[0]  # rungs stay out of every table
    sens = readme.split("## Metric sensitivity: controlled degradations")[1].split("\n## ")[0]
    rows = {line.split("|")[1].strip(): line for line in sens.splitlines() if line.startswith("| blur") or
            line.startswith("| memorised")}
    assert set(rows) == {"blur", "memorised"}
    assert "+1.00 ✓" in rows["blur"] and "−1.00 ✗ wrong way" in rows["memorised"]
    assert "Failed their ladders: near-copy rate on memorised (wrong way)." in sens
    assert (folder / "figures" / "metric_sensitivity.png").is_file()
    html = (folder / "index.html").read_text()
    assert 'id="sensitivity"' in html and "wrong way" in html


def test_metric_validity_is_the_rank_correlation_over_generator_modality_cells(demo_board):
    """Known case: in the demo every metric is monotone in the generator's quality q, and so are its
    gains, so each better-signed metric has rho = +1 with every gain, except the near-copy rate, which
    the demo makes rise with q (rho = -1). Checked against scipy on the cells themselves."""
    from scipy.stats import kendalltau, spearmanr

    from bench.report.collection import load_collection
    from bench.report.validity import cells, validity

    folder, _ = demo_board
    coll = load_collection("demo", folder.parent)
    rows = coll.main.entries + coll.main.ladders
    cols, targets, table = validity(rows)
    assert targets[:2] == ["synthetic@1", "mixed@1"] and "mixed@20" in targets
    fd = table[("fd", "mixed@1")]
    pts = cells(rows, fd.column, "mixed", "1")
    assert fd.n_cells == len(pts) == sum(len(e.modalities) for e in rows)
    x, y = [p[1] for p in pts], [p[2] for p in pts]
    assert fd.spearman == pytest.approx(spearmanr(x, y).statistic) and fd.kendall == pytest.approx(kendalltau(x, y).statistic)
    assert fd.spearman > 0.95 and fd.ci[0] > 0.5
    assert table[("near_copy_rate", "mixed@1")].spearman < -0.95
    readme = (folder / "README.md").read_text()
    assert "## Metric validity: which metric predicts utility?" in readme
    assert (folder / "figures" / "metric_validity.png").is_file()


def test_over_alignment_is_flagged_against_the_holdout_baseline():
    """A generator whose CLIP score beats the held-out real images' while its recall is under half of
    theirs is flagged; one with the real images' recall is not."""
    from bench.report.collection import Entry
    from bench.report.validity import over_alignment

    def entry(name, role, kind, clip, recall):
        m = metrics_for(0.5)
        m["alignment"]["pooled"]["clip_score"] = clip
        m["fidelity"]["pooled"]["recall"] = recall
        return Entry(Path(f"{name}.json"), make_result(name, role=role, kind=kind, metrics=m))

    rows = [entry("holdout", "baseline", "holdout", 67.9, 0.91), entry("ldm-small", "generalist", "ldm", 68.7, 0.29),
            entry("ldm-honest", "generalist", "ldm", 68.7, 0.88), entry("noise", "baseline", "noise", 70.0, 0.01)]
    flagged = over_alignment(rows)
    assert [(f.name, f.clip_score, f.recall_real) for f in flagged] == [("ldm-small", 68.7, 0.91)]


def test_rows_the_spec_declares_without_a_result_are_listed(tmp_path):
    """A declared row with no result of the current version is listed under "Not yet run" (read from the
    spec the newest result recorded); a page with every declared row has no such section."""
    from bench.report.leaderboard import render_leaderboard

    boards = tmp_path / "leaderboards"
    shutil.copytree(Path(__file__).resolve().parent.parent / "leaderboards" / "smoke" / "results", boards / "smoke" / "results")
    render_leaderboard("smoke", boards, out=lambda m: None)
    assert "## Not yet run" not in (boards / "smoke" / "README.md").read_text()
    (boards / "smoke" / "results" / "noise.json").unlink()
    (boards / "smoke" / "results" / "ldm-tiny@breastmnist-eqcompute.json").unlink()
    render_leaderboard("smoke", boards, out=lambda m: None)
    page = (boards / "smoke" / "README.md").read_text()
    pending = page.split("## Not yet run")[1].split("\n## ")[0]
    assert "declares 2 rows" in pending and "- noise, ldm-tiny@breastmnist-eqcompute" in pending
    assert 'id="not-yet-run"' in (boards / "smoke" / "index.html").read_text()


def test_quality_vs_compute_draws_each_suite_of_specialists_at_its_own_row(tmp_path, monkeypatch):
    """A suite of specialists is drawn from its own result (summed compute, mean per-modality FD), in its
    members' colour; the small suite's committed results, whose suites' compute must equal their members'."""
    import bench.report.figures.quality_vs_compute as qvc
    from bench.report.collection import load_collection
    from bench.report.values import metric, training_compute

    root = Path(__file__).resolve().parent.parent
    from bench.report.figures import figure_rows

    entries = figure_rows(load_collection("small", root / "leaderboards").main, "quality_vs_compute")
    suites = [e for e in entries if e.role == "specialist-suite"]
    assert suites
    figs = []
    monkeypatch.setattr(qvc, "save", lambda fig, folder, name: figs.append(fig) or [])
    qvc.fig_quality_compute(entries, tmp_path)
    ax = figs[0].axes[0]
    drawn = {c.get_label(): c for c in ax.collections}
    by_name = {e.name: e for e in entries}
    for s in suites:
        members = [by_name[m] for m in s.result["generator"]["spec"]["params"]["members"]]
        assert training_compute(s.result)[0] == pytest.approx(sum(training_compute(m.result)[0] for m in members))
        label = f"{qvc.series(members[0])}, all together"
        (x, y), = drawn[label].get_offsets()
        assert x == pytest.approx(training_compute(s.result)[0] / 1e12)
        assert y == pytest.approx(np.mean([metric(s.result, "fd", m)[0] for m in s.modalities]))
        one = drawn[f"{qvc.series(members[0])}, one modality each"]
        assert np.allclose(drawn[label].get_facecolor()[0][:3], one.get_facecolor()[0][:3])


@pytest.mark.parametrize("suite", ["smoke", "small"])
def test_committed_pages_are_what_the_report_renders_now(suite, tmp_path):
    """A change of the report re-renders the committed leaderboards: each committed page is the one its
    result files give today (`medsyn-bench leaderboard --suite SUITE` to refresh it)."""
    from bench.report.leaderboard import render_leaderboard

    root = Path(__file__).resolve().parent.parent / "leaderboards"
    shutil.copytree(root / suite, tmp_path / suite, ignore=shutil.ignore_patterns("*.npz"))
    render_leaderboard(suite, tmp_path, out=lambda s: None)
    for page in ("README.md", "index.html"):
        assert (tmp_path / suite / page).read_text() == (root / suite / page).read_text(), (
            f"leaderboards/{suite}/{page} is stale: run `medsyn-bench leaderboard --suite {suite}`")
