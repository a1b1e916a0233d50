"""Analyse a study's answers: can readers tell real from synthetic, do images match their text, do
readers agree, and do the automatic alignment metrics agree with them.

Per generator (its items against the real items) and per modality:

* detection: accuracy of the real/synthetic call, and the ROC AUC of the reader's "realness" score
  (+confidence when the reader says real, −confidence when synthetic) for telling real images from
  this generator's; 0.5 = readers cannot tell them apart, 1.0 = they always can. Pooled over all
  answers, and per reader.
* alignment: the mean "does the image match the text?" rating (1–5): each item's ratings are averaged
  over readers, then the mean over items gets a 95 % t-interval (items are the unit of sampling).
  Real items get the same numbers as a reference.
* agreement between readers (overall and per generator): Cohen's kappa when there are exactly two
  readers (quadratic-weighted for the ordinal alignment rating), Fleiss' kappa (items every reader
  rated) when there are three or more, and Krippendorff's alpha (any number of readers, missing
  answers allowed; nominal for real/synthetic, ordinal for alignment) when there are two or more.
* correlation (Spearman) between the mean human alignment rating and each automatic alignment metric
  of the generators' result JSON (``metrics.<task>.per_modality`` cells, else ``pooled``), where those
  metrics exist; skipped with a reason otherwise.

Writes ``analysis.json`` (atomically) and ``analysis.png`` into the study folder.
"""

from __future__ import annotations

import io
import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from bench.columns import declare, pooled_column
from bench.io import atomic_write_bytes, atomic_write_json, read_json
from bench.readerstudy.store import now_iso, open_study

ANALYSIS_JSON = "analysis.json"
SCHEMA = "medsyn-bench/reader-study/2"  # the analysis file's format (the leaderboard checks it); 2: column declarations
ANALYSIS_PNG = "analysis.png"
AUTOMATIC_KEYS = ("clip_score", "retrieval_top1", "conditional_accuracy")
ALL = "all"


# What a published study adds to the leaderboard (declared beside the numbers, see bench.columns).
READER_COLUMNS = [
    pooled_column("reader_auc", "reader AUC", "lower", "",
                  "published reader study: ROC AUC of clinicians telling this generator's images from real ones "
                  "(0.5 = indistinguishable)", order=50, optional=True),
    pooled_column("human_alignment", "human alignment (1–5)", "higher", "rating 1–5",
                  "published reader study: mean 'does the image match the text?' rating, 1-5 (95% CI over items)",
                  ci=True, per_modality_ci=True, show_ci=True, order=51, optional=True),
]


# -- agreement statistics, from their definitions -----------------------------------------------------

def fleiss_kappa(counts: np.ndarray) -> float | None:
    """Fleiss' kappa from an (items × categories) table of how many raters chose each category.
    Every item must have the same number of raters (≥ 2)."""
    counts = np.asarray(counts, dtype=float)
    n_items = counts.shape[0]
    n = counts.sum(axis=1)
    if n_items == 0 or n[0] < 2 or not np.all(n == n[0]):
        return None
    n = n[0]
    p_j = counts.sum(axis=0) / (n_items * n)
    p_i = ((counts ** 2).sum(axis=1) - n) / (n * (n - 1))
    p_bar, p_e = p_i.mean(), float((p_j ** 2).sum())
    if p_e >= 1.0:
        return None  # every rating in one category: agreement is undefined
    return float((p_bar - p_e) / (1.0 - p_e))


def krippendorff_alpha(data: np.ndarray, level: str = "nominal") -> float | None:
    """Krippendorff's alpha from a (raters × units) array with NaN for missing ratings.

    Built from the coincidence matrix: units with fewer than two ratings are not pairable and are
    dropped; alpha = 1 − D_o / D_e with the difference function of ``level`` (nominal, ordinal,
    interval or ratio)."""
    data = np.asarray(data, dtype=float)
    values = np.unique(data[~np.isnan(data)])
    if values.size == 0:
        return None
    index = {v: i for i, v in enumerate(values)}
    k = len(values)
    o = np.zeros((k, k))
    for unit in data.T:
        vals = unit[~np.isnan(unit)]
        m = len(vals)
        if m < 2:
            continue
        c = np.zeros(k)
        for v in vals:
            c[index[v]] += 1
        o += (np.outer(c, c) - np.diag(c)) / (m - 1)
    n_c = o.sum(axis=1)
    n = n_c.sum()
    if n <= 1:
        return None
    if level == "nominal":
        d2 = 1.0 - np.eye(k)
    elif level == "interval":
        d2 = (values[:, None] - values[None, :]) ** 2
    elif level == "ratio":
        s = values[:, None] + values[None, :]
        d2 = np.where(s == 0, 0.0, ((values[:, None] - values[None, :]) / np.where(s == 0, 1, s)) ** 2)
    elif level == "ordinal":
        cum = np.cumsum(n_c)
        d2 = np.zeros((k, k))
        for a in range(k):
            for b in range(k):
                lo, hi = min(a, b), max(a, b)
                d2[a, b] = (cum[hi] - (cum[lo - 1] if lo > 0 else 0.0) - (n_c[a] + n_c[b]) / 2) ** 2
    else:
        raise ValueError(f"unknown level {level!r}")
    d_o = (o * d2).sum() / n
    d_e = (np.outer(n_c, n_c) * d2).sum() / (n * (n - 1))
    if d_e == 0:
        return None
    return float(1.0 - d_o / d_e)


def cohen_kappa(a: Iterable, b: Iterable, weights: str | None = None) -> float | None:
    from sklearn.metrics import cohen_kappa_score

    a, b = list(a), list(b)
    if len(a) < 2 or len(set(a) | set(b)) < 2:
        return None
    k = cohen_kappa_score(a, b, weights=weights)
    return float(k) if math.isfinite(k) else None


# -- per-group summaries ------------------------------------------------------------------------------
def realness_score(says_real: int, confidence: int) -> int:
    """+confidence for "real", −confidence for "synthetic": higher = more sure the image is real."""
    return int(confidence) if says_real else -int(confidence)


def _auc(truth: list[int], score: list[float]) -> float | None:
    from sklearn.metrics import roc_auc_score

    if len(set(truth)) < 2:
        return None
    return float(roc_auc_score(truth, score))


def detection(rows: list[dict]) -> dict[str, Any]:
    """Accuracy and AUC of telling real (1) from synthetic (0), pooled and per reader."""
    out: dict[str, Any] = {"n_answers": len(rows), "n_items": len({r["item_id"] for r in rows}),
                           "n_real_answers": sum(int(r["is_real"]) for r in rows)}
    if not rows:
        return out | {"accuracy": None, "auc": None, "per_reader": {}}
    truth = [int(r["is_real"]) for r in rows]
    score = [realness_score(r["says_real"], r["confidence"]) for r in rows]
    out["accuracy"] = float(np.mean([int(r["says_real"]) == int(r["is_real"]) for r in rows]))
    out["auc"] = _auc(truth, score)
    per = {}
    by_reader = defaultdict(list)
    for r in rows:
        by_reader[r["reader"]].append(r)
    for name, rr in sorted(by_reader.items()):
        per[name] = {"n": len(rr),
                     "accuracy": float(np.mean([int(r["says_real"]) == int(r["is_real"]) for r in rr])),
                     "auc": _auc([int(r["is_real"]) for r in rr],
                                 [realness_score(r["says_real"], r["confidence"]) for r in rr])}
    out["per_reader"] = per
    aucs = [p["auc"] for p in per.values() if p["auc"] is not None]
    out["mean_reader_auc"] = float(np.mean(aucs)) if aucs else None
    return out


def mean_ci(values: list[float], level: float = 0.95) -> dict[str, Any]:
    """Mean with a t-interval (None when fewer than two values)."""
    from scipy import stats

    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return {"mean": None, "ci": None, "n": 0}
    mean = float(v.mean())
    if v.size < 2:
        return {"mean": mean, "ci": None, "n": int(v.size)}
    half = float(stats.t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return {"mean": mean, "ci": [mean - half, mean + half], "n": int(v.size)}


def alignment(rows: list[dict]) -> dict[str, Any]:
    """Mean image–text match rating: item means over readers, then a 95 % CI over items."""
    per_item = defaultdict(list)
    for r in rows:
        per_item[r["item_id"]].append(r["alignment"])
    s = mean_ci([float(np.mean(v)) for v in per_item.values()])
    return {"mean": s["mean"], "ci95": s["ci"], "n_items": s["n"], "n_ratings": len(rows)}


def agreement(rows: list[dict]) -> dict[str, Any]:
    """Inter-reader agreement on the real/synthetic call and on the alignment rating."""
    readers = sorted({r["reader"] for r in rows})
    items = sorted({r["item_id"] for r in rows})
    out: dict[str, Any] = {"n_readers": len(readers), "n_items": len(items)}
    if len(readers) < 2:
        return out | {"note": "agreement needs answers from two or more readers"}
    ri, ii = {r: i for i, r in enumerate(readers)}, {it: i for i, it in enumerate(items)}
    mats = {f: np.full((len(readers), len(items)), np.nan) for f in ("says_real", "alignment")}
    for r in rows:
        for f, m in mats.items():
            m[ri[r["reader"]], ii[r["item_id"]]] = r[f]
    for field, name, level, weights in (("says_real", "realness", "nominal", None),
                                        ("alignment", "alignment", "ordinal", "quadratic")):
        m = mats[field]
        res: dict[str, Any] = {"krippendorff_alpha": krippendorff_alpha(m, level), "alpha_level": level}
        full = ~np.isnan(m).any(axis=0)
        res["n_items_all_readers"] = int(full.sum())
        if len(readers) == 2:
            both = m[:, full]
            res["cohen_kappa"] = cohen_kappa(both[0].astype(int), both[1].astype(int), weights)
            res["cohen_weights"] = weights or "none"
        else:
            cats = [0, 1] if field == "says_real" else [1, 2, 3, 4, 5]
            counts = np.array([[int((m[:, j] == c).sum()) for c in cats] for j in np.flatnonzero(full)]).reshape(-1, len(cats))
            res["fleiss_kappa"] = fleiss_kappa(counts) if len(counts) else None
        out[name] = res
    return out


# -- automatic metrics ---------------------------------------------------------------------------------
def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(float(v)) else None


def automatic_metrics(result: dict) -> dict[str, dict[str, float]]:
    """``{key: {"all": pooled, modality: value}}`` of the alignment metrics a result reports."""
    out: dict[str, dict[str, float]] = {}
    metrics = result.get("metrics") if isinstance(result, dict) else None
    if not isinstance(metrics, dict):
        return out
    tasks = sorted(metrics, key=lambda n: ("align" not in n.lower() and "clip" not in n.lower(), n))
    for key in AUTOMATIC_KEYS:
        for t in tasks:
            m = metrics[t]
            if not isinstance(m, dict):
                continue
            cells = {}
            pooled = m.get("pooled")
            if isinstance(pooled, dict) and _number(pooled.get(key)) is not None:
                cells[ALL] = _number(pooled.get(key))
            pm = m.get("per_modality")
            if isinstance(pm, dict):
                for mod, d in pm.items():
                    if isinstance(d, dict) and _number(d.get(key)) is not None:
                        cells[mod] = _number(d.get(key))
            if cells:
                out[key] = cells
                break
    return out


def correlations(human: dict[str, dict[str, float | None]], auto: dict[str, dict[str, dict[str, float]]]) -> dict:
    """Spearman correlation between mean human alignment and each automatic metric, over
    (generator, modality) cells (pooled cells when no per-modality numbers exist)."""
    from scipy.stats import spearmanr

    if not any(auto.values()):
        return {"skipped": "no automatic alignment metrics (clip_score, retrieval_top1, conditional_accuracy) "
                           "in the generators' result JSON; run a suite with an alignment task"}
    out: dict[str, Any] = {}
    for key in AUTOMATIC_KEYS:
        pts = []
        for level in ("modality", "pooled"):
            pts = []
            for gen, cells in human.items():
                a = auto.get(gen, {}).get(key, {})
                for mod, h in cells.items():
                    if h is None or mod not in a or (mod == ALL) != (level == "pooled"):
                        continue
                    pts.append((gen, mod, h, a[mod]))
            if len(pts) >= 3:
                break
        if not pts:
            continue
        entry: dict[str, Any] = {"level": level, "n": len(pts),
                                 "points": [{"generator": g, "modality": m, "human": h, "automatic": v} for g, m, h, v in pts]}
        hs, vs = [p[2] for p in pts], [p[3] for p in pts]
        if len(pts) < 3 or len(set(hs)) < 2 or len(set(vs)) < 2:
            entry |= {"spearman_rho": None, "p_value": None, "note": "needs 3 or more cells with varying values"}
        else:
            rho, p = spearmanr(hs, vs)
            entry |= {"spearman_rho": _number(rho), "p_value": _number(p)}
        out[key] = entry
    return out or {"skipped": "the automatic metrics do not cover the studied generators and modalities"}


# -- the whole analysis --------------------------------------------------------------------------------
def analyse_rows(rows: list[dict], generators: list[str], modalities: list[str],
                 auto: dict[str, dict[str, dict[str, float]]] | None = None) -> dict[str, Any]:
    """The analysis of an answer table (rows as :meth:`bench.readerstudy.store.Study.answer_table` returns them)."""
    auto = auto or {}
    real = [r for r in rows if r["is_real"]]
    mods = [m for m in modalities if any(r["modality"] == m for r in rows)] or sorted({r["modality"] for r in rows})
    gens: dict[str, Any] = {}
    human_cells: dict[str, dict[str, float | None]] = {}
    for g in generators:
        syn = [r for r in rows if r["source"] == g and not r["is_real"]]
        both = syn + real
        entry: dict[str, Any] = {ALL: {"detection": detection(both), "alignment": alignment(syn)}, "per_modality": {}}
        for m in mods:
            syn_m = [r for r in syn if r["modality"] == m]
            if not syn_m:
                continue
            entry["per_modality"][m] = {"detection": detection(syn_m + [r for r in real if r["modality"] == m]),
                                        "alignment": alignment(syn_m)}
        entry["agreement"] = agreement(both)
        entry["automatic"] = auto.get(g, {})
        human_cells[g] = {ALL: entry[ALL]["alignment"]["mean"],
                          **{m: v["alignment"]["mean"] for m, v in entry["per_modality"].items()}}
        d, a = entry[ALL]["detection"], entry[ALL]["alignment"]
        entry["metrics"] = {"reader_study": {
            "pooled": {"reader_accuracy": d["accuracy"], "reader_auc": d["auc"],
                       "human_alignment": a["mean"], "human_alignment_ci": a["ci95"]},
            "per_modality": {m: {"reader_accuracy": v["detection"]["accuracy"], "reader_auc": v["detection"]["auc"],
                                 "human_alignment": v["alignment"]["mean"],
                                 "human_alignment_ci": v["alignment"]["ci95"]}
                             for m, v in entry["per_modality"].items()},
            "columns": declare(READER_COLUMNS)}}
        gens[g] = entry
    readers = defaultdict(int)
    for r in rows:
        readers[r["reader"]] += 1
    return {
        "readers": {"n": len(readers), "answers_per_reader": dict(sorted(readers.items())), "n_answers": len(rows)},
        "overall": {"detection": detection(rows), "agreement": agreement(rows)},
        "real": {ALL: {"alignment": alignment(real)},
                 "per_modality": {m: {"alignment": alignment([r for r in real if r["modality"] == m])}
                                  for m in mods if any(r["modality"] == m for r in real)}},
        "generators": gens,
        "correlation": correlations(human_cells, auto),
    }


def load_automatic(runs_dir: Path, suite: str, generators: list[str]) -> tuple[dict, list[str]]:
    auto, notes = {}, []
    for g in generators:
        path = Path(runs_dir) / suite / g / "result.json"
        if not path.is_file():
            notes.append(f"no result JSON for {g} at {path}: no automatic metrics to compare with")
            continue
        try:
            auto[g] = automatic_metrics(read_json(path))
        except Exception as exc:  # a broken result file must not stop the human analysis
            notes.append(f"could not read {path}: {exc}")
    return auto, notes


def analyse_study(folder: str | Path, runs_dir: str | Path | None = None) -> tuple[Path, Path]:
    """Analyse a study folder; returns the paths of ``analysis.json`` and ``analysis.png``."""
    study = open_study(folder)
    meta = study.meta()
    rows = study.answer_table()
    generators = list(meta.get("generators", []))
    runs_dir = Path(runs_dir) if runs_dir else Path(meta.get("runs_dir", "runs"))
    auto, notes = load_automatic(runs_dir, meta.get("suite", ""), generators)
    result = analyse_rows(rows, generators, list(meta.get("modalities", [])), auto)
    n_items = len(study.key_table())
    result = {
        "schema": SCHEMA,
        "study": {"folder": study.folder.resolve().name, "title": meta.get("title"), "suite": meta.get("suite"),
                  "suite_version": meta.get("suite_version"), "generators": generators, "n_items": n_items,
                  "n_real": meta.get("n_real"), "per_generator": meta.get("per_generator"),
                  "created": meta.get("created"), "runs_dir": str(runs_dir)},
        "readers_complete": [r.name for r in study.readers()
                             if result["readers"]["answers_per_reader"].get(r.name, 0) == n_items],
        **result,
        "created": now_iso(),
        "figure": ANALYSIS_PNG,
        "warnings": notes + ([] if rows else ["no answers yet"]),
    }
    json_path = atomic_write_json(study.folder / ANALYSIS_JSON, result)
    png_path = atomic_write_bytes(study.folder / ANALYSIS_PNG, figure_png(result))
    return json_path, png_path


def publish_analysis(folder: str | Path, leaderboards_dir: str | Path = "leaderboards") -> Path:
    """Copy a study's ``analysis.json`` to ``leaderboards/<suite>/reader-studies/<study>.json`` (atomically),
    where the leaderboard and its figures read it. Returns the published path."""
    from bench.errors import BenchError

    src = Path(folder) / ANALYSIS_JSON
    if not src.is_file():
        raise BenchError("the study has no analysis yet", where=str(src),
                         fix=f"run `medsyn-bench reader-study analyse {folder}` first")
    analysis = read_json(src)
    suite = (analysis.get("study") or {}).get("suite")
    if not suite:
        raise BenchError("analysis.json names no suite", where=str(src), fix="re-run the analysis")
    return atomic_write_json(Path(leaderboards_dir) / suite / "reader-studies" / f"{Path(folder).resolve().name}.json",
                             analysis)


def figure_png(result: dict) -> bytes:
    """Detection AUC per generator and modality; mean alignment with 95 % CI; human vs automatic."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gens = list(result["generators"])
    corr = result.get("correlation", {})
    scatter = next((k for k in AUTOMATIC_KEYS if isinstance(corr.get(k), dict) and corr[k].get("points")), None)
    fig, axes = plt.subplots(1, 3 if scatter else 2, figsize=(13 if scatter else 9.5, 4))
    ax = axes[0]
    mods = sorted({m for g in gens for m in result["generators"][g]["per_modality"]})
    cols = [ALL] + mods
    width = 0.8 / max(len(cols), 1)
    for j, col in enumerate(cols):
        vals = []
        for g in gens:
            e = result["generators"][g]
            d = e[ALL]["detection"] if col == ALL else e["per_modality"].get(col, {}).get("detection", {})
            vals.append(d.get("auc") if d.get("auc") is not None else np.nan)
        ax.bar(np.arange(len(gens)) + (j - (len(cols) - 1) / 2) * width, vals, width, label=col)
    ax.axhline(0.5, color="k", ls="--", lw=1)
    ax.set_ylim(0, 1)
    ax.set_xticks(range(len(gens)), gens)
    ax.set_ylabel("reader AUC, real vs synthetic")
    ax.set_title("Can readers tell? (0.5 = no)")
    ax.legend(fontsize=7)
    ax = axes[1]
    labels = ["real"] + gens
    cells = [result["real"][ALL]["alignment"]] + [result["generators"][g][ALL]["alignment"] for g in gens]
    means = [c["mean"] if c["mean"] is not None else np.nan for c in cells]
    err = [[(c["mean"] - c["ci95"][0]) if c["ci95"] else 0 for c in cells],
           [(c["ci95"][1] - c["mean"]) if c["ci95"] else 0 for c in cells]]
    ax.bar(range(len(labels)), means, yerr=err, capsize=4, color=["#888"] + ["C0"] * len(gens))
    ax.set_ylim(0, 5.2)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_ylabel("image–text match (1–5), 95% CI")
    ax.set_title("Text alignment rated by readers")
    if scatter:
        ax = axes[2]
        pts = corr[scatter]["points"]
        ax.scatter([p["automatic"] for p in pts], [p["human"] for p in pts])
        for p in pts:
            ax.annotate(f"{p['generator']}/{p['modality']}", (p["automatic"], p["human"]), fontsize=6)
        rho = corr[scatter].get("spearman_rho")
        ax.set_title(f"human vs {scatter}" + (f" (Spearman ρ={rho:.2f})" if rho is not None else ""))
        ax.set_xlabel(scatter)
        ax.set_ylabel("mean human alignment")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()
