"""The ablation table of an LDM recipe: what each one-parameter change did at equal training CPU time.

An ablation is a ``run --set KEY=VALUE --fit-only`` variant of a base LDM (``ldm-small+snr_gamma=5``)
in the same runs folder; each fit records its training curve (conditional accuracy of a fixed set of
samples per prompt, judged by the reference classifier, and FD to the validation images' reference
features, at every kept checkpoint, with the UNet's training wall time). :func:`collect_ablations`
reads the fit stages of the base and its variants and, for each, takes the curve point whose training
compute is closest to the base's at ``at_step``: equal FLOPs (measured per step × steps), the same step
for changes that keep the step's cost, and unlike wall time not moved by other work on the machine;
into ``ablations.json``; :func:`render_ablations` writes the Markdown table from that file only.
Conditional accuracy carries a 95 % Wilson interval over its samples.
"""

from __future__ import annotations

import re
from pathlib import Path

from bench.errors import BenchError
from bench.io import atomic_write_json, atomic_write_text, read_json
from bench.stats import wilson_interval
from bench.stages import now_iso

SCHEMA = "medsyn-bench/ablations/1"


def settings_of(base: str, name: str) -> dict[str, str]:
    """The ``KEY=VALUE`` changes in a variant's name (``ldm-small+lr=5e-4+ema_decay=0`` → two)."""
    rest = name[len(base):]
    return dict(m.groups() for m in re.finditer(r"\+([A-Za-z0-9_]+)=([^+]*)", rest))


def _fits(suite_dir: Path, base: str) -> dict[str, dict]:
    out = {}
    for marker in sorted(suite_dir.glob(f"{base}*/stages/fit.json")):
        name = marker.parent.parent.name
        if name != base and not name.startswith(base + "+"):
            continue
        out[name] = read_json(marker)["output"]
    if base not in out:
        raise BenchError(f"no finished fit of {base!r}", where=str(suite_dir / base / "stages" / "fit.json"),
                         fix=f"run `medsyn-bench run --suite {suite_dir.name} --generators {base} --fit-only` first")
    return out


def collect_ablations(suite_dir: Path, base: str, at_step: int | None = None) -> dict:
    """The ablation table's data (see the module docstring) from the fit stages under ``suite_dir``."""
    fits = _fits(Path(suite_dir), base)
    curve = {c["step"]: c for c in fits[base].get("curve", [])}
    if not curve:
        raise BenchError(f"the fit of {base!r} has no training curve",
                         where=str(Path(suite_dir) / base / "stages" / "fit.json"),
                         fix="set curve_samples > 0 in its model spec and refit (the run needs the reference networks)")
    if at_step is None:
        variant_steps = [max(c["step"] for c in f["curve"]) for f in fits.values() if f.get("curve")]
        at_step = max(s for s in curve if s <= min(variant_steps))
    if at_step not in curve:
        raise BenchError(f"{base!r} has no curve point at step {at_step}", fix=f"choose one of {sorted(curve)}")

    def cost(fit: dict, c: dict) -> float:
        """Training compute at curve point c: FLOPs when measured, else wall seconds."""
        return fit["flops_per_step"] * c["step"] if fit.get("flops_per_step") else c["train_wall_s"]

    if any(not f.get("flops_per_step") for f in fits.values()):
        for f in fits.values():
            f.pop("flops_per_step", None)  # one axis for all rows: wall time when any lacks FLOPs
    target = cost(fits[base], curve[at_step])
    rows = []
    for name, fit in fits.items():
        points = fit.get("curve", [])
        if not points:
            continue
        pt = min(points, key=lambda c: abs(cost(fit, c) - target))
        hits = round(pt["conditional_accuracy"] * pt["n_samples"])
        rows.append({
            "name": name, "settings": settings_of(base, name), "step": pt["step"],
            "unet_minutes": pt["train_wall_s"] / 60, "unet_flops": cost(fit, pt) if fit.get("flops_per_step") else None,
            "autoencoder_minutes": (fit.get("autoencoder", {}).get("train_wall_s") or 0) / 60,
            "conditional_accuracy": pt["conditional_accuracy"],
            "conditional_accuracy_ci": list(wilson_interval(hits, pt["n_samples"])),
            "n_samples": pt["n_samples"], "per_modality": pt.get("per_modality", {}), "fd_val": pt.get("fd_val"),
            "modality_accuracy": pt.get("modality_accuracy"),
            "per_modality_modality_accuracy": pt.get("per_modality_modality_accuracy", {}),
            "curve_key": pt.get("curve_key", ""), "checkpoints_adopted_from": fit.get("checkpoints_adopted_from", ""),
        })
    ref = next(r for r in rows if r["name"] == base)
    for r in rows:
        r["delta_conditional_accuracy"] = r["conditional_accuracy"] - ref["conditional_accuracy"]
        r["delta_fd_val"] = (r["fd_val"] - ref["fd_val"]) if r["fd_val"] is not None and ref["fd_val"] is not None else None
    rows.sort(key=lambda r: (r["name"] != base, r["name"]))
    return {"schema": SCHEMA, "suite": Path(suite_dir).name, "base": base, "at_step": at_step,
            "matched_on": "flops" if fits[base].get("flops_per_step") else "wall_s",
            "target_unet_minutes": curve[at_step]["train_wall_s"] / 60, "created": now_iso(), "rows": rows,
            "base_curve": fits[base]["curve"]}


def render_ablations(data: dict) -> str:
    """Markdown of an ``ablations.json`` (schema checked)."""
    if data.get("schema") != SCHEMA:
        raise BenchError(f"not an ablations file (schema {data.get('schema')!r}, expected {SCHEMA!r})",
                         fix="regenerate it with `medsyn-bench ablations`")
    mods = list(dict.fromkeys(k for r in data["rows"] for k in r["per_modality"]))

    def per_mod(point: dict, m: str) -> str:
        """Class accuracy of modality m, with (when measured) the share in the right modality."""
        acc = point.get("per_modality", {}).get(m)
        if acc is None:
            return ""
        right = point.get("per_modality_modality_accuracy", {}).get(m)
        return f"{acc:.2f}" + ("" if right is None else f" ({right:.2f})")

    lines = [f"# Ablations of `{data['base']}` on the `{data['suite']}` suite at equal training compute", "",
             f"Each row changes one thing (`run --set KEY=VALUE`) and is read at the kept checkpoint whose UNet "
             f"training {'FLOPs are' if data['matched_on'] == 'flops' else 'time is'} closest to the base's at step "
             f"{data['at_step']:,} ({data['target_unet_minutes']:.1f} CPU-minutes for the base). Conditional accuracy: share of "
             f"{data['rows'][0]['n_samples']} fixed-noise samples (the same number per validation prompt) that the reference "
             "classifier puts in the asked-for class (chance: one over the number of classes), with its 95 % Wilson interval; FD val: "
             "Fréchet distance of those samples to the validation images in the domain CLIP's features (few "
             "samples, so biased upwards; compare rows, not suites). Per modality: class accuracy, and in "
             "brackets the share of samples the classifier puts in any class of the asked-for modality. "
             "`steps` in a variant's name only says how long it ran. Generated from `ablations.json` by "
             "`medsyn-bench ablations`.", "",
             "| variant | step | UNet CPU-min | cond. acc. [95 % CI] | Δ | " + " | ".join(mods)
             + " | FD val | Δ FD |",
             "|---|---:|---:|---|---:|" + "---:|" * len(mods) + "---:|---:|"]

    def signed(v, f):
        return "" if v is None else format(v, "+" + f)

    for r in data["rows"]:
        label = "**base**" if r["name"] == data["base"] else ", ".join(
            f"`{k}={v}`" for k, v in r["settings"].items() if k != "steps") or "(steps only)"
        lo, hi = r["conditional_accuracy_ci"]
        lines.append(
            f"| {label} | {r['step']:,} | {r['unet_minutes']:.1f} | {r['conditional_accuracy']:.3f} [{lo:.2f}, {hi:.2f}] | "
            f"{signed(r['delta_conditional_accuracy'], '.3f') if r['name'] != data['base'] else ''} | "
            + " | ".join(per_mod(r, m) for m in mods)
            + f" | {'' if r['fd_val'] is None else format(r['fd_val'], '.3f')} | "
            f"{signed(r['delta_fd_val'], '.3f') if r['name'] != data['base'] else ''} |")
    lines += ["", "Training curve of the base (every kept checkpoint):", "",
              "| step | UNet CPU-min | cond. acc. | " + " | ".join(mods) + " | FD val |",
              "|---:|---:|---:|" + "---:|" * len(mods) + "---:|"]
    for c in data["base_curve"]:
        lines.append(f"| {c['step']:,} | {c['train_wall_s'] / 60:.1f} | {c['conditional_accuracy']:.3f} | "
                     + " | ".join(per_mod(c, m) for m in mods)
                     + f" | {'' if c.get('fd_val') is None else format(c['fd_val'], '.3f')} |")
    return "\n".join(lines) + "\n"


def publish_ablations(suite_dir: Path, base: str, out_dir: Path, at_step: int | None = None) -> tuple[Path, Path]:
    """Write ``out_dir/ablations.json`` (collected) and ``out_dir/ablations.md`` (rendered from it)."""
    data = collect_ablations(suite_dir, base, at_step)
    js = atomic_write_json(Path(out_dir) / "ablations.json", data)
    md = atomic_write_text(Path(out_dir) / "ablations.md", render_ablations(read_json(js)))
    return js, md
