"""When two scorings of the same sample set agree: the tolerances of a cross-machine rescore.

Same samples, same shipped reference networks, same code, another CPU: the feature extractors run
the same float32 operations with another summation order (AVX2 and AVX-512 reduce in blocks of other
widths; a multi-threaded reduction splits differently), so features differ by about one float32 ulp
(relative 1e-7). What follows for each kind of metric:

- **continuous statistics** of the features (``fd``, ``kid``, ``cmmd``, ``clip_score``, distance medians
  and ratios, and their bootstrap bounds): equal within a relative 1e-3 (plus 1e-6 absolute, for values
  near 0) — the statistics are smooth in the features, and 1e-3 is four orders above the feature noise
  while still far below any difference the leaderboard reports;
- **shares of samples** (``precision``, ``recall``, ``conditional_accuracy``, ``retrieval_top1``,
  near-copy and Carlini rates): a sample sitting on a decision boundary (an argmax tie, a k-NN radius,
  a threshold) may flip, so they agree within 2 samples' worth or 0.5 %, whichever is larger;
- **utility** (classifiers *trained* on the samples): training is chaotic, so float noise of one ulp,
  amplified through the optimiser steps, acts on part of the cells like another draw of the training
  seed. Measured on the committed smoke results rescored with oneDNN's convolutions switched off (another
  summation order, a stand-in for another CPU): 209 of 360 per-seed accuracies kept their value, the
  others moved by 1 to 25 test images; CI's machine moved the ``noise`` row's cells the same way, out of
  the 2-image slack this module first allowed. So a rescored mean gain agrees when it differs from the
  committed mean by no more than two independent k-seed means of the same cell would, at 99 %:
  ``|new - old| <= t(0.995, df) * s * sqrt(2 / k) + 2 / n``, with ``s`` the result's seed standard
  deviation pooled over all gain cells of that modality and metric (every budget and arm, ``df`` their
  summed degrees of freedom; one cell's 2-3 seeds are too few, and they may coincide), ``k`` the seeds,
  and 2 / n two test images (n the modality's test images; for the pooled gain the modalities' mean) for
  the granularity of accuracy. On the stand-in above the largest ratio of a shift to this bound was 0.35.

On the machine that made a result, a rescore at the same thread count reproduces it exactly (tested):
the tolerances are for other machines and other thread counts.
"""

from __future__ import annotations

import math

REL_TOL = 1e-3
ABS_TOL = 1e-6
SHARE_SAMPLES = 2
SHARE_FRACTION = 0.005
SHARES = ("precision", "recall", "conditional_accuracy", "retrieval_top1", "near_copy_rate", "carlini_rate",
          "pixel_near_copy_rate", "pixel_carlini_rate", "modality_accuracy")
FEATURE_TASKS = ("fidelity", "alignment", "memorisation")


def _is_share(key: str) -> bool:
    base = key[:-3] if key.endswith("_ci") else key
    return base in SHARES


def _close(key: str, new: float, old: float, n: int) -> bool:
    if _is_share(key):
        return abs(new - old) <= max(SHARE_SAMPLES / max(n, 1), SHARE_FRACTION) + 1e-12
    return abs(new - old) <= REL_TOL * abs(old) + ABS_TOL


def _numbers(block: dict) -> dict[str, float]:
    """key → value of a flat metrics block (``pooled`` or one modality's), CI bounds as key[0]/key[1]."""
    out = {}
    for k, v in block.items():
        if isinstance(v, bool) or v is None:
            continue
        if isinstance(v, (int, float)):
            out[k] = float(v)
        elif isinstance(v, list) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v):
            out[f"{k}[0]"], out[f"{k}[1]"] = float(v[0]), float(v[1])
    return out


def feature_disagreements(task: str, new: dict, old: dict) -> list[str]:
    """Where a rescored fidelity/alignment/memorisation block leaves the tolerances (empty: agrees).
    Compares the pooled and per-modality numbers; ``n`` for shares is the task's synthetic count."""
    n_pool = (old.get("reference", {}).get("n_synthetic", {}) or {}).get("pooled") or 0
    problems = []
    blocks = [("pooled", new.get("pooled", {}), old.get("pooled", {}), n_pool)]
    for mod, block in (old.get("per_modality") or {}).items():
        n_mod = (old.get("reference", {}).get("n_synthetic", {}) or {}).get(mod) or n_pool
        blocks.append((mod, (new.get("per_modality") or {}).get(mod, {}), block, n_mod))
    for where, nb, ob, n in blocks:
        a, b = _numbers(nb), _numbers(ob)
        for key in sorted(b):
            if key not in a:
                problems.append(f"{task} {where} {key}: missing in the rescored result")
            elif math.isfinite(b[key]) and not _close(key.split("[")[0], a[key], b[key], n or 1):
                problems.append(f"{task} {where} {key}: {a[key]:.6g} vs committed {b[key]:.6g}")
    return problems


def n_test_images(result: dict) -> dict[str, int]:
    """Test images per modality (and pooled: the mean slack is taken over the modalities), as a reference
    task that scored against the test split records them (``reference.n_real``); {} when none did."""
    for task in FEATURE_TASKS:
        ref = (result.get("metrics", {}).get(task) or {}).get("reference") or {}
        if ref.get("real_split") == "test" and isinstance(ref.get("n_real"), dict):
            return {m: int(n) for m, n in ref["n_real"].items() if m != "pooled" and n}
    return {}


def utility_slack(n_test: dict[str, int], modality: str) -> float:
    """2 test images' worth of accuracy for a modality; the modalities' mean for the pooled gain."""
    if modality in n_test:
        return SHARE_SAMPLES / n_test[modality]
    return sum(SHARE_SAMPLES / n for n in n_test.values()) / len(n_test) if n_test else 0.0


def pooled_seed_sd(gains: dict, modality: str, metric: str) -> tuple[float, int]:
    """(s, df): the seed standard deviation of a utility result's gains for one modality and metric,
    pooled over every budget and arm (sum of squared deviations from each cell's mean / summed n - 1)."""
    ss, df = 0.0, 0
    for mods in gains.values():
        for metrics in (mods.get(modality) or {}).values():
            values = (metrics.get(metric) or {}).get("values") or []
            if len(values) > 1:
                mean = sum(values) / len(values)
                ss += sum((v - mean) ** 2 for v in values)
                df += len(values) - 1
    return (math.sqrt(ss / df) if df else 0.0), df


def utility_tolerance(gains: dict, modality: str, metric: str, seeds: int, n_test: dict[str, int]) -> float:
    """How far a rescored mean gain may lie from the committed one (fraction points): what two independent
    ``seeds``-seed means of the same cell differ by at 99 %, plus 2 test images (module docstring)."""
    from scipy import stats

    s, df = pooled_seed_sd(gains, modality, metric)
    spread = stats.t.ppf(0.995, df) * s * math.sqrt(2 / seeds) if df and seeds else 0.0
    return float(spread + utility_slack(n_test, modality))


def utility_disagreements(new: dict, old: dict, n_test: dict[str, int] | None = None) -> list[str]:
    """Where a rescored mean utility gain lies further from the committed mean than
    :func:`utility_tolerance` (empty: agrees)."""
    n_test = n_test or {}
    problems = []
    gains = old.get("gains") or {}
    for budget, mods in gains.items():
        for mod, arms in mods.items():
            for arm, metrics in arms.items():
                for metric, cell in metrics.items():
                    try:
                        mean = new["gains"][budget][mod][arm][metric]["mean"]
                    except (KeyError, TypeError):
                        problems.append(f"utility n={budget} {mod} {arm} {metric}: missing in the rescored result")
                        continue
                    tol = utility_tolerance(gains, mod, metric, len(cell.get("values") or []), n_test) + 1e-9
                    if abs(mean - cell["mean"]) > tol:
                        problems.append(f"utility n={budget} {mod} {arm} {metric}: {mean:+.4f} vs committed "
                                        f"{cell['mean']:+.4f} (tolerance ± {tol:.4f})")
    return problems


def result_disagreements(new: dict, old: dict, tasks: list[str] | None = None) -> list[str]:
    """Every place where a rescored result leaves the tolerances of its committed original."""
    problems = []
    for task in tasks or sorted(set(old["metrics"]) & set(new["metrics"])):
        if task in FEATURE_TASKS:
            problems += feature_disagreements(task, new["metrics"][task], old["metrics"][task])
        elif task == "utility":
            problems += utility_disagreements(new["metrics"][task], old["metrics"][task], n_test_images(old))
    return problems
