"""Findings: the suite's scientific claims, each checked against the comparable results with a stated rule.

Rendered into the leaderboard's README from result files alone, so a rerun of the suite regenerates
the verdicts with the numbers. Each claim is *supported*, *not supported* or *inconclusive* by the rule
written next to it (95 % intervals are the results' own: bootstrap for pooled metrics, t-intervals
over seeds for utility gains and foundation probes):

1. The generalist matches its specialists (per modality, fidelity and alignment): supported when, in
   every modality, its FD is at most the equal-compute specialist's and its conditional accuracy at
   least that specialist's minus 0.02; not supported when its FD is higher in every modality. Per-modality
   conditional accuracies are shown with their 95 % Wilson interval over the modality's samples. Where
   both rows have seed replicas (bench.report.spread), a modality is judged by the means over training
   seeds, and a difference whose seed intervals overlap counts as a match (not distinguishable).
2. The generalist costs less than the specialists: supported when its UNet training FLOPs are below
   the sum over the equal-steps specialists (the autoencoder is shared, so it is left out of both).
3. The generalist's images follow their text: supported when the interval of its conditional accuracy
   lies above the noise baseline's; the share of the noise-to-holdout gap it closes is given per metric.
4. The generalist does not copy its training images: supported when its near-copy rate is not
   significantly above the held-out real images' (interval lower bound at most holdout's upper bound)
   and the memoriser *is* caught (otherwise the test has no power: inconclusive); not supported when
   the rate is significantly above holdout's.
5. Synthetic data helps a classifier (per budget; synthetic only and real + synthetic vs real only):
   supported when the gain's interval is above 0, not supported when below 0, else inconclusive. Where
   the generalist has seed replicas, the interval is the one over its training seeds (each seed's gain is
   its mean over classifier seeds), which also holds the generator's own training noise.
6. Contrastive pretraining on synthetic image–text pairs is as good as on real pairs (linear probe at
   each label budget): the seed-paired difference synthetic − real with a t-interval; supported when
   its lower bound is above −0.02 (a 2-point non-inferiority margin), not supported when its upper
   bound is below −0.02, else inconclusive.
7. Synthetic data beats the best cheap alternative (per budget): real + synthetic against the better (by
   mean pooled accuracy) of the weak and strong augmentation arms, the seed-paired difference with a
   t-interval; supported when above 0, not supported when below 0, else inconclusive. (The better arm is
   picked by its mean, which favours the alternative slightly.)
8. Synthetic pretraining, then real fine-tuning beats mixing (RoentGen-v2; per budget): the seed-paired
   difference pretrain→finetune − real + synthetic; the same rule.
9. The generalist's images are worth at least the budget again in real images (MediSyn's "2× the real
   data"; per budget): the real-data-equivalent multiplier of real + synthetic (real images per class the
   real-only ladder needs to match it, over the budget; geometric mean over seeds, t-interval in log n);
   supported when the interval's lower bound is at least 2, not supported when its upper bound is below
   2, else inconclusive. Seeds past the ladder's top count at its top, so the interval is then a lower
   bound, which keeps "supported" sound.
10. One generator family gives the most useful synthetic data per CPU-hour: each family's generalist
   (one row per kind, ablation variants left out) by its pooled real + synthetic accuracy gain at the
   smallest budget (per seed, the seeds' real arm shared) over the CPU-hours its data cost (training the
   denoiser and its autoencoder, counted in full for every latent family although the suite shares it,
   plus sampling; the wall times its result records). Supported when the leader's gain interval lies
   above 0 and its seed-paired per-hour lead over the runner-up has an interval above 0; not supported
   when no family's gain interval lies above 0 (no family's data pays for itself at that budget); else
   inconclusive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bench.stats import wilson_interval
from bench.report.collection import Entry, Group, generalist
from bench.report.spread import distinguishable, metric_spread, seed_replicas, spread
from bench.report.values import (DASH, dig, fmt, fmt_ci, fmt_flops, fmt_seconds, interval, metric, number,
                                 task_of_kind, training_compute, utility_gain)

SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE = "supported", "not supported", "inconclusive"
COND_ACC_TOLERANCE = 0.02  # claim 1
NONINFERIORITY = 0.02  # claim 6


@dataclass
class Finding:
    number: str  # "1", "5a", ...
    claim: str
    measured: str  # the numbers, plain text
    verdict: str  # SUPPORTED | NOT_SUPPORTED | INCONCLUSIVE, or "not measured"
    why: str = ""


def _by_kind(entries: list[Entry], kind: str) -> Entry | None:
    return next((e for e in entries if e.kind == kind and e.role == "baseline"), None)


def _specialists(entries: list[Entry], gen: Entry, budget: str) -> dict[str, Entry]:
    model = gen.result["generator"]["spec"].get("name")
    return {e.modalities[0]: e for e in entries
            if e.role == "specialist" and e.result["generator"].get("budget") == budget
            and e.result["generator"]["spec"].get("name") == model and len(e.modalities) == 1}


def _uncovered(gen: Entry, specialists: dict[str, Entry], budget: str) -> str | None:
    """Why a claim about the specialists of every modality cannot be judged yet: the generalist's modalities
    without a ``budget`` specialist (None when all have one)."""
    lacking = [m for m in gen.modalities if m not in specialists]
    return f"no {budget} specialist yet for {', '.join(lacking)}" if lacking else None


def _v(e: Entry | None, key: str) -> tuple[float | None, tuple[float, float] | None]:
    """The pooled value and interval of a declared column (None, None without the entry)."""
    return metric(e.result, key) if e is not None else (None, None)


def _with_ci(v: float | None, ci) -> str:
    return DASH if v is None else f"{fmt(v)} {fmt_ci(ci, v)}".strip()


def _missing(n: str, claim: str, what: str) -> Finding:
    return Finding(n, claim, DASH, "not measured", what)


def _cond_acc(e: Entry | None, m: str) -> tuple[float | None, str]:
    """Per-modality conditional accuracy and its text with a 95 % Wilson interval over the modality's
    synthetic samples (the alignment task's ``reference.n_synthetic``); no interval when n is unknown."""
    if e is None:
        return None, DASH
    acc, ci = metric(e.result, "conditional_accuracy", m)
    if acc is None:
        return None, DASH
    if ci is None:
        n = number(dig(task_of_kind(e.result, "alignment"), "reference", "n_synthetic", m))
        ci = wilson_interval(round(acc * n), int(n)) if n else None
    return acc, _with_ci(acc, ci)


def _over_seeds(a, b) -> str:
    """'x [ci] vs y [ci] over n / m training seeds: (not) distinguishable' of two SeedSpreads."""
    d = distinguishable(a, b)
    return (f"{fmt(a.mean)} {fmt_ci(a.ci, a.mean) if a.ci else ''} vs {fmt(b.mean)} {fmt_ci(b.ci, b.mean) if b.ci else ''}"
            f" over {a.n} / {b.n} training seeds" + ("" if d is None else ": distinguishable" if d else
                                                     ": not distinguishable"))


def claim_specialists(entries: list[Entry], gen: Entry | None, variants: list[Entry] = ()) -> Finding:
    claim = "The generalist matches its per-modality specialists in fidelity and text alignment"
    if gen is None:
        return _missing("1", claim, "no generalist in the results")
    eqc, eqs = _specialists(entries, gen, "equal-compute"), _specialists(entries, gen, "equal-steps")
    if not eqc:
        return _missing("1", claim, "no equal-compute specialists in the results")
    if why := _uncovered(gen, eqc, "equal-compute"):  # "in every modality": not decided on part of it
        return _missing("1", claim, why)
    reps = seed_replicas(entries, list(variants))
    parts, fd_better, fd_worse, acc_ok, seeded = [], [], [], [], 0
    for m in gen.modalities:
        c, s = eqc.get(m), eqs.get(m)
        g_fd = metric(gen.result, "fd", m)[0]
        c_fd = metric(c.result, "fd", m)[0] if c else None
        s_fd = metric(s.result, "fd", m)[0] if s else None
        (g_acc, g_txt), (c_acc, c_txt), (_, s_txt) = _cond_acc(gen, m), _cond_acc(c, m), _cond_acc(s, m)
        parts.append(f"{m}: FD {fmt(g_fd)} vs {fmt(c_fd)} (equal compute) / {fmt(s_fd)} (equal steps); "
                     f"cond. acc. {g_txt} vs {c_txt} / {s_txt}")
        runs_g, runs_c = reps.get(gen.name), reps.get(c.name) if c else None
        if runs_g and runs_c:  # generator-seed spread: worse only when distinguishably worse
            fd = [metric_spread(r, "fd", m) for r in (runs_g, runs_c)]
            acc = [metric_spread(r, "conditional_accuracy", m) for r in (runs_g, runs_c)]
            if None not in fd + acc:
                seeded += 1
                parts[-1] += f"; FD {_over_seeds(*fd)}; cond. acc. {_over_seeds(*acc)}"
                (fd_better if fd[0].mean <= fd[1].mean or distinguishable(*fd) is False else fd_worse).append(m)
                acc_ok.append(acc[0].mean >= acc[1].mean - COND_ACC_TOLERANCE or distinguishable(*acc) is False)
                continue
        if None in (g_fd, c_fd, g_acc, c_acc):
            continue
        (fd_better if g_fd <= c_fd else fd_worse).append(m)
        acc_ok.append(g_acc >= c_acc - COND_ACC_TOLERANCE)
    n = len(fd_better) + len(fd_worse)
    if n == 0:
        return _missing("1", claim, "no per-modality FD / conditional accuracy for the generalist and its specialists")
    if len(fd_better) == n and all(acc_ok):
        verdict = SUPPORTED
    elif len(fd_worse) == n:
        verdict = NOT_SUPPORTED
    else:
        verdict = INCONCLUSIVE
    return Finding("1", claim, "; ".join(parts), verdict,
                   f"FD at most the equal-compute specialist's in {len(fd_better)}/{n} modalities; conditional "
                   f"accuracy within {COND_ACC_TOLERANCE} of it or better in {sum(acc_ok)}/{n}"
                   + (f" (in {seeded} by the means over training seeds, a difference inside the seed spread "
                      "counting as a match)" if seeded else ""))


def claim_compute(entries: list[Entry], gen: Entry | None) -> Finding:
    claim = "Training one generalist costs less than training a specialist per modality"
    if gen is None:
        return _missing("2", claim, "no generalist in the results")
    eqs = _specialists(entries, gen, "equal-steps")
    g_flops, g_wall = training_compute(gen.result)
    if not eqs or g_flops is None:
        return _missing("2", claim, "no equal-steps specialists or no measured FLOPs")
    if why := _uncovered(gen, eqs, "equal-steps"):  # a partial sum would understate their cost
        return _missing("2", claim, why)
    s_flops = [training_compute(e.result)[0] for e in eqs.values()]
    s_wall = [training_compute(e.result)[1] for e in eqs.values()]
    if any(f is None for f in s_flops):
        return _missing("2", claim, "a specialist has no measured FLOPs")
    total, wall = sum(s_flops), sum(w for w in s_wall if w is not None)
    verdict = SUPPORTED if g_flops < total else NOT_SUPPORTED
    return Finding("2", claim, f"generalist {fmt_flops(g_flops)} · {fmt_seconds(g_wall)}; {len(eqs)} equal-steps "
                               f"specialists together {fmt_flops(total)} · {fmt_seconds(wall)} "
                               f"({total / g_flops:.2f}× the FLOPs)", verdict,
                   "UNet training FLOPs (one measured step × steps) and training wall time (summed over resumed runs); the autoencoder is shared")


def claim_alignment(entries: list[Entry], gen: Entry | None) -> Finding:
    claim = "The generalist's images follow their text (alignment above noise, towards held-out real images)"
    noise, hold = _by_kind(entries, "noise"), _by_kind(entries, "holdout")
    if gen is None or noise is None or hold is None:
        return _missing("3", claim, "needs the generalist, holdout and noise")
    parts = []
    for key, label in (("clip_score", "CLIP score"), ("retrieval_top1", "retrieval top-1"),
                       ("conditional_accuracy", "cond. acc.")):
        g, h, z = _v(gen, key), _v(hold, key), _v(noise, key)
        if g[0] is None:
            continue
        gap = (f"; {(g[0] - z[0]) / (h[0] - z[0]):.0%} of the noise→holdout gap"
               if None not in (h[0], z[0]) and h[0] != z[0] else "")
        parts.append(f"{label} {_with_ci(*g)} (holdout {fmt(h[0])}, noise {fmt(z[0])}{gap})")
    g_ci, z_ci = _v(gen, "conditional_accuracy")[1], _v(noise, "conditional_accuracy")[1]
    if g_ci is None or z_ci is None:
        return Finding("3", claim, "; ".join(parts) or DASH, INCONCLUSIVE, "no interval for conditional accuracy")
    verdict = SUPPORTED if g_ci[0] > z_ci[1] else NOT_SUPPORTED
    return Finding("3", claim, "; ".join(parts), verdict,
                   "conditional accuracy's interval above noise's" if verdict == SUPPORTED
                   else "conditional accuracy's interval overlaps or lies below noise's")


def claim_memorisation(entries: list[Entry], gen: Entry | None) -> Finding:
    claim = "The generalist does not copy its training images"
    hold, mem = _by_kind(entries, "holdout"), _by_kind(entries, "memoriser")
    if gen is None or hold is None:
        return _missing("4", claim, "needs the generalist and holdout")
    g, h = _v(gen, "near_copy_rate"), _v(hold, "near_copy_rate")
    m = _v(mem, "near_copy_rate")
    ratios = {e.name: number(dig(task_of_kind(e.result, "memorisation"), "pooled", "distance_ratio"))
              for e in (gen, hold, mem) if e}
    measured = (f"near-copy rate {_with_ci(*g)} (holdout {_with_ci(*h)}, memoriser {_with_ci(*m)}); distance ratio "
                + ", ".join(f"{k} {fmt(v)}" for k, v in ratios.items()))
    if g[1] is None or h[1] is None:
        return Finding("4", claim, measured, INCONCLUSIVE, "no intervals for the near-copy rates")
    if g[1][0] > h[1][1]:
        return Finding("4", claim, measured, NOT_SUPPORTED, "near-copy rate significantly above holdout's")
    if m[1] is None or m[1][0] <= h[1][1]:
        return Finding("4", claim, measured, INCONCLUSIVE, "the memoriser is not caught: the test has no power here")
    return Finding("4", claim, measured, SUPPORTED, "not above holdout's near-copy rate, while the memoriser is caught")


def claim_utility(gen: Entry | None, hold: Entry | None = None, runs: list[Entry] | None = None) -> list[Finding]:
    """Per budget and arm; the holdout baseline's gain (held-out real images in place of synthetic ones,
    the same count) is quoted beside it as the ceiling a perfect generator would reach. ``runs``: the
    generalist and its seed replicas, whose interval over training seeds then decides the verdict."""
    claim = "Synthetic data improves a real-data-limited classifier"
    gains = dig(task_of_kind(gen.result, "utility"), "gains") if gen is not None else None
    hold_gains = dig(task_of_kind(hold.result, "utility"), "gains") if hold is not None else None
    if not isinstance(gains, dict) or not gains:
        return [_missing("5", claim, "no utility gains for the generalist")]
    out = []
    budgets = sorted((b for b in gains if str(b).isdigit()), key=int)
    for i, b in enumerate(budgets):
        for arm, label in (("synthetic", "synthetic only"), ("mixed", "real + synthetic")):
            cell = dig(gains, b, "pooled", arm, "accuracy")
            if not isinstance(cell, dict):
                continue
            mean, ci, p = number(cell.get("mean")), interval(cell.get("ci")), number(cell.get("p_value"))
            sp = spread(runs, lambda e, b=b, arm=arm: utility_gain(e.result, arm, "pooled", budget=b)[0]) if runs else None
            decide = (sp.mean, sp.ci) if sp is not None and sp.ci is not None else (mean, ci)
            if decide[0] is None or decide[1] is None:
                verdict = INCONCLUSIVE
            else:
                verdict = SUPPORTED if decide[1][0] > 0 else NOT_SUPPORTED if decide[1][1] < 0 else INCONCLUSIVE
            seeds = (f"; over {sp.n} training seeds {fmt(sp.mean, signed=True)} {fmt_ci(sp.ci, sp.mean)}"
                     if sp is not None and sp.ci is not None else "")
            ceiling = number(dig(hold_gains, b, "pooled", arm, "accuracy", "mean")) if isinstance(hold_gains, dict) else None
            over = " over training seeds" if seeds else ""
            out.append(Finding(f"5{chr(ord('a') + len(out))}", f"{claim}: {label}, {b} real image{'' if b == '1' else 's'} per class",
                               f"accuracy gain {fmt(mean, signed=True)} {fmt_ci(ci, mean)}"
                               + (f", p = {fmt(p)}" if p is not None else "") + seeds
                               + (f" (holdout {fmt(ceiling, signed=True)})" if ceiling is not None else ""), verdict,
                               f"interval{over} above 0" if verdict == SUPPORTED else
                               f"interval{over} below 0: synthetic data hurts" if verdict == NOT_SUPPORTED else
                               f"interval{over} contains 0"))
    return out or [_missing("5", claim, "no pooled utility gains")]


def _paired(a: list, b: list) -> tuple[float, tuple[float, float] | None] | None:
    from scipy import stats

    if not a or len(a) != len(b):
        return None
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if len(d) < 2:
        return float(d.mean()), None
    half = float(stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d)))
    return float(d.mean()), (float(d.mean()) - half, float(d.mean()) + half)


def claim_foundation(gen: Entry | None, hold: Entry | None = None) -> list[Finding]:
    """Synthetic vs all real training pairs, per label budget; the holdout baseline's "synthetic" arm
    (as many held-out real pairs as the generator made) is quoted beside it: real pairs at equal count."""
    claim = "Contrastive pretraining on synthetic image–text pairs is as good as on real pairs"
    probes = dig(task_of_kind(gen.result, "foundation"), "probes") if gen is not None else None
    hold_probes = dig(task_of_kind(hold.result, "foundation"), "probes") if hold is not None else None
    n_syn = dig(task_of_kind(gen.result, "foundation"), "n", "synthetic_pairs") if gen is not None else None
    if not isinstance(probes, dict) or "synthetic" not in probes or "real" not in probes:
        return [_missing("6", claim, "no foundation probes for the generalist (foundation task not run)")]
    out = []
    budgets = [b for b in probes["real"] if b.endswith("%") and b in probes["synthetic"]]
    for b in sorted(budgets, key=lambda s: float(s[:-1])):
        syn, real = dig(probes, "synthetic", b, "linear_accuracy"), dig(probes, "real", b, "linear_accuracy")
        if not isinstance(syn, dict) or not isinstance(real, dict):
            continue
        diff = _paired(syn.get("values") or [], real.get("values") or [])
        if diff is None:
            continue
        mean, ci = diff
        if ci is None:
            verdict = INCONCLUSIVE
        else:
            verdict = (SUPPORTED if ci[0] > -NONINFERIORITY else NOT_SUPPORTED if ci[1] < -NONINFERIORITY
                       else INCONCLUSIVE)
        same_count = (number(dig(hold_probes, "synthetic", b, "linear_accuracy", "mean"))
                      if isinstance(hold_probes, dict) else None)
        equal = (f" (holdout's {n_syn:,} real pairs: {fmt(same_count)})" if isinstance(n_syn, int) else
                 f" (holdout: {fmt(same_count)})") if same_count is not None else ""
        out.append(Finding(f"6{chr(ord('a') + len(out))}", f"{claim}: linear probe, {b} of the labels",
                           f"synthetic {fmt(number(syn.get('mean')))} vs real {fmt(number(real.get('mean')))}{equal}; "
                           f"difference {fmt(mean, signed=True)} {fmt_ci(ci, mean)}", verdict,
                           f"non-inferiority margin {NONINFERIORITY}"))
    return out or [_missing("6", claim, "no linear-probe budgets with seed values")]


def _pooled_values(u: dict, b: str, arm: str) -> list:
    return list(dig(u, "cells", b, "pooled", arm, "accuracy", "values") or [])


def _paired_verdict(diff) -> str:
    if diff is None or diff[1] is None:
        return INCONCLUSIVE
    return SUPPORTED if diff[1][0] > 0 else NOT_SUPPORTED if diff[1][1] < 0 else INCONCLUSIVE


def claim_regimes(gen: Entry | None) -> list[Finding]:
    """Claims 7-9 (module doc), per budget of the generalist's utility task."""
    u = task_of_kind(gen.result, "utility") if gen is not None else None
    cells = dig(u, "cells")
    if not isinstance(cells, dict) or not cells:
        return [_missing("7", "Synthetic data beats the best cheap alternative", "no utility cells for the generalist")]
    out: list[Finding] = []
    budgets = sorted((b for b in cells if str(b).isdigit()), key=int)

    def per_class(b: str) -> str:
        return f"{b} real image{'' if b == '1' else 's'} per class"

    for b in budgets:  # 7: against the better augmentation arm
        alts = [(a, _pooled_values(u, b, a)) for a in ("real+augment", "real+strong") if _pooled_values(u, b, a)]
        mixed = _pooled_values(u, b, "mixed")
        if not alts or not mixed:
            continue
        arm, best = max(alts, key=lambda t: float(np.mean(t[1])))
        diff = _paired(mixed, best)
        verdict = _paired_verdict(diff)
        name = "strong augmentation" if arm == "real+strong" else "weak augmentation"
        out.append(Finding(f"7{chr(ord('a') + len(out))}",
                           f"Real + synthetic beats the best cheap alternative ({name}): {per_class(b)}",
                           f"real + synthetic {fmt(float(np.mean(mixed)))} vs {name} {fmt(float(np.mean(best)))}; "
                           f"difference {fmt(diff[0], signed=True)} {fmt_ci(diff[1], diff[0])}", verdict,
                           "seed-paired difference: interval above 0"))
    n7 = len(out)
    for b in budgets:  # 8: pretrain -> finetune against mixing
        pft, mixed = _pooled_values(u, b, "pretrain+finetune"), _pooled_values(u, b, "mixed")
        if not pft or not mixed:
            continue
        diff = _paired(pft, mixed)
        out.append(Finding(f"8{chr(ord('a') + len(out) - n7)}",
                           f"Synthetic pretraining, then real fine-tuning, beats mixing: {per_class(b)}",
                           f"pretrain→finetune {fmt(float(np.mean(pft)))} vs real + synthetic "
                           f"{fmt(float(np.mean(mixed)))}; difference {fmt(diff[0], signed=True)} "
                           f"{fmt_ci(diff[1], diff[0])}", _paired_verdict(diff),
                           "seed-paired difference: interval above 0"))
    n8 = len(out)
    eq = dig(u, "equivalent") or {}
    for b in budgets:  # 9: the real-data equivalent of mixing is at least twice the budget
        e = dig(eq, b, "pooled", "mixed")
        if not isinstance(e, dict) or number(e.get("multiplier")) is None:
            continue
        m, ci, status = number(e["multiplier"]), interval(e.get("multiplier_ci")), e.get("status")
        if ci is None:
            verdict = INCONCLUSIVE
        else:
            verdict = SUPPORTED if ci[0] >= 2 else NOT_SUPPORTED if ci[1] < 2 and status != "beyond" else INCONCLUSIVE
        bound = {"beyond": " (some seeds past the ladder's top: a lower bound)",
                 "below": " (some seeds under the ladder's bottom: an upper bound)",
                 "both": " (seeds past both ends of the ladder)"}.get(status, "")
        out.append(Finding(f"9{chr(ord('a') + len(out) - n8)}",
                           f"The generalist's images are worth at least the budget again in real images: {per_class(b)}",
                           f"real + synthetic matches {fmt(number(e.get('n_real')))} real images per class, "
                           f"{m:.2f}× the budget {fmt_ci(ci, m)}{bound}", verdict,
                           "multiplier's interval at or above 2 (MediSyn's 2×)"))
    return out or [_missing("7", "Synthetic data beats the best cheap alternative", "no regime cells")]


def data_cpu_hours(result: dict) -> float | None:
    """CPU-hours the synthetic data cost: denoiser training + autoencoder training (when the family has
    one) + sampling, from the wall times the result records; None when the fit's time is not recorded."""
    fit = (result.get("compute") or {}).get("fit") or {}
    train = training_compute(result)[1]
    if train is None:
        return None
    ae = number(dig(fit, "autoencoder", "train_wall_s")) or 0.0
    sample = number(dig(result, "compute", "sample", "sampling_wall_s"))
    if sample is None:
        sample = number(dig(result, "compute", "sample", "wall_s")) or 0.0
    return (train + ae + sample) / 3600.0


def claim_families(entries: list[Entry]) -> Finding:
    """Claim 10 (module doc)."""
    claim = "One generator family gives the most useful synthetic data per CPU-hour"
    rows: dict[str, tuple[Entry, str, list[float], float]] = {}
    for e in entries:
        if e.role != "generalist" or "+" in e.name or e.kind in rows:
            continue
        gains, hours = dig(task_of_kind(e.result, "utility"), "gains"), data_cpu_hours(e.result)
        budgets = sorted((b for b in gains if str(b).isdigit()), key=int) if isinstance(gains, dict) else []
        values = list(dig(gains, budgets[0], "pooled", "mixed", "accuracy", "values") or []) if budgets else []
        if values and hours:
            rows[e.kind] = (e, budgets[0], values, hours)
    if len(rows) < 2 or len({r[1] for r in rows.values()}) > 1 or len({len(r[2]) for r in rows.values()}) > 1:
        return _missing("10", claim, "fewer than two families with utility gains and recorded times at one budget")
    per_hour = {k: np.asarray(v, dtype=float) / h for k, (_, _, v, h) in rows.items()}
    order = sorted(per_hour, key=lambda k: -float(per_hour[k].mean()))
    lead, second = order[0], order[1]
    b = rows[lead][1]

    def gain_ci(k):
        return interval(dig(task_of_kind(rows[k][0].result, "utility"), "gains", b, "pooled", "mixed", "accuracy", "ci"))

    lead_diff = _paired(list(per_hour[lead]), list(per_hour[second]))
    measured = "; ".join(f"{rows[k][0].name} ({k}) {fmt(float(np.mean(rows[k][2])), signed=True)} "
                         f"{fmt_ci(gain_ci(k), float(np.mean(rows[k][2])))} in {rows[k][3]:.2f} h = "
                         f"{fmt(float(per_hour[k].mean()), signed=True)}/h" for k in order)
    measured = (f"real + synthetic gain at {b} real image{'' if b == '1' else 's'} per class per CPU-hour: {measured}; "
                f"{lead} leads {second} by {fmt(lead_diff[0], signed=True)}/h {fmt_ci(lead_diff[1], lead_diff[0])}")
    helps = [k for k in order if (gain_ci(k) or (0.0, 0.0))[0] > 0]
    if not helps:
        return Finding("10", claim, measured, NOT_SUPPORTED, "no family's gain interval lies above 0 at this budget")
    if lead in helps and lead_diff[1] is not None and lead_diff[1][0] > 0:
        return Finding("10", claim, measured, SUPPORTED,
                       f"{lead}: gain interval above 0 and a per-hour lead over {second} with interval above 0")
    return Finding("10", claim, measured, INCONCLUSIVE,
                   "the leader's gain or its per-hour lead over the runner-up has an interval containing 0")


def findings(group: Group) -> list[Finding]:
    entries = group.entries
    gen = generalist(entries)
    hold = _by_kind(entries, "holdout")
    runs = seed_replicas([gen], group.variants).get(gen.name) if gen is not None else None
    return ([claim_specialists(entries, gen, group.variants), claim_compute(entries, gen), claim_alignment(entries, gen),
             claim_memorisation(entries, gen)] + claim_utility(gen, hold, runs) + claim_foundation(gen, hold)
            + claim_regimes(gen) + [claim_families(entries)])
