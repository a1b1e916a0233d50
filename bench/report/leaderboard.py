"""The leaderboard of one suite: ``leaderboards/<suite>/README.md`` and ``index.html``.

Built from the vetted result files alone (:mod:`bench.report.collection`) as one page model
(:mod:`bench.report.page`), rendered to Markdown and, through an autoescaping Jinja2 template, to HTML
(:mod:`bench.report.html`). The main table holds the comparable results; sanity baselines are shown
apart, as the bounds a generator should sit between; each modality has its own table and figures;
results that are not comparable get their own table with the reason; refused files are listed with
theirs. The columns are those the results declare (:mod:`bench.columns`).
"""

from __future__ import annotations

from pathlib import Path

from bench.columns import MetricColumn
from bench.io import atomic_write_text
from bench.report import log
from bench.report.collection import ROLE_ORDER, Collection, Entry, Group, generalist, load_collection
from bench.report.figures.captions import caption, modality_of_figure, slug
from bench.report.findings import findings
from bench.report.html import render_html
from bench.report.page import Bullets, Cell, Figure, Page, Paragraph, RowGroup, Section, Subsection, Table, text
from bench.report.page import render_markdown
from bench.report.spread import difference_threshold, metric_spread, pooled_seed_sd, seed_of, seed_replicas
from bench.report.values import (DASH, columns_of, dig, fmt, fmt_ci, fmt_compute, interval, metric, number,
                                 short_hashes, task_of_kind, training_compute)
from bench.specs import GeneratorsSpec

BOUND_NOTE = {"holdout": "ceiling: real held-out images", "noise": "floor: noise matched to pixel statistics",
              "mean": "floor: the mean image", "memoriser": "copies training images: memorisation must flag it"}


def role_label(e: Entry) -> str:
    budget = e.result["generator"].get("budget")
    if e.role == "specialist-suite":
        return f"suite of specialists ({budget})" if budget else "suite of specialists"
    return f"{e.role} ({budget})" if e.role == "specialist" and budget else e.role


def value_cell(v: float | None, ci: tuple[float, float] | None, col_ci: bool, signed: bool) -> Cell:
    text = fmt(v, signed)
    if col_ci and v is not None and ci is not None:
        text += " " + fmt_ci(ci, v)
    return Cell(text, v)


def columns(entries: list[Entry], modality: str | None = None) -> list[MetricColumn]:
    """The columns the entries' results declare (per modality: those reported per modality), without
    the optional ones (a published reader study) that no entry has a value for."""
    cols = columns_of([e.result for e in entries])
    if modality is not None:
        cols = [c for c in cols if c.per_modality is not None]

    def has(c: MetricColumn) -> bool:
        return any(metric(e.result, c.key, modality)[0] is not None for e in entries)

    return [c for c in cols if not c.optional or has(c)]


ROLE_HELP = ("generalist / specialist / external generator, a suite of specialists (one model's per-modality "
             "specialists together, each prompt answered by its modality's specialist), or a baseline bound")
FAMILY_HELP = ("the generator kind: ldm (latent diffusion UNet), pixel-diffusion (UNet on pixels), latent-flow "
               "(flow-matching latent transformer), gigagan (text-conditioned GAN), images (a submitted folder), "
               "or the baseline's kind; a suite of specialists has its members' family")


def pooled_row(e: Entry, cols: list[MetricColumn], family: str | None = None) -> list[Cell]:
    """One row of a pooled table; ``family`` defaults to the row's kind (Group.family says otherwise for a
    suite of specialists)."""
    r = e.result
    family = family or e.kind
    flops, wall = training_compute(r)
    cells = [Cell(e.name, e.name.lower(), title=r["generator"]["kind"]),
             Cell(role_label(e), role_label(e), title=BOUND_NOTE.get(e.kind, "") if e.role == "baseline" else ""),
             Cell(family, family), Cell(fmt_compute(r), flops if flops is not None else wall)]
    for c in cols:
        v, ci = metric(r, c.key)
        cells.append(value_cell(v, ci, c.show_ci, c.signed))
    ref = short_hashes(r["reference"])
    cells.append(Cell(ref, ref, title=", ".join(f"{k}: {v}" for k, v in sorted(r["reference"].items()))))
    return cells


def pooled_headers(cols: list[MetricColumn]) -> tuple[list[str], list[str]]:
    """(headers, help texts) of the pooled table."""
    return (["generator", "role", "family", "training compute"] + [c.label + c.arrow for c in cols] + ["reference sha256"],
            ["", ROLE_HELP, FAMILY_HELP, "FLOPs and wall time of the fit"]
            + [c.help for c in cols] + ["first 8 hex digits of each pinned reference network's sha256"])


def modality_row(e: Entry, modality: str, cols: list[MetricColumn]) -> list[Cell]:
    r = e.result
    cells = [Cell(e.name, e.name.lower(), title=r["generator"]["kind"]), Cell(role_label(e), role_label(e)),
             Cell(e.kind, e.kind)]
    for c in cols:
        v, ci = metric(r, c.key, modality)
        cells.append(value_cell(v, ci, c.show_ci, c.signed))
    return cells


def modality_headers(cols: list[MetricColumn]) -> tuple[list[str], list[str]]:
    return (["generator", "role", "family"] + [c.label + c.arrow for c in cols],
            ["", ROLE_HELP, FAMILY_HELP] + [c.help for c in cols])


def order(entries: list[Entry]) -> list[Entry]:
    """By the ranked columns the results declare (rank 1 first: the utility gain, then FD), best first
    and missing last; then role and name."""
    ranked = sorted((c for c in columns_of([e.result for e in entries]) if c.rank is not None),
                    key=lambda c: c.rank)

    def key(e: Entry):
        out = []
        for c in ranked:
            v, _ = metric(e.result, c.key)
            out += [v is None, -(v or 0.0) if c.better == "higher" else (v or 0.0)]
        return (*out, ROLE_ORDER.get(e.role, 9), e.name)
    return sorted(entries, key=key)


def split_bounds(entries: list[Entry]) -> tuple[list[Entry], list[Entry]]:
    es = order(entries)
    return [e for e in es if e.role != "baseline"], [e for e in es if e.role == "baseline"]


def suite_modalities(group: Group) -> list[str]:
    """The modalities the suite declares (its spec's data subsets). A generator "covers the suite" when it
    covers all of them; a modality only some submission claims does not widen what full coverage means.
    Results written without the declaration fall back to the modalities their entries cover."""
    for e in group.entries:
        subsets = dig(e.result, "suite", "spec", "data", "subsets")
        if isinstance(subsets, list) and subsets:
            return [str(m) for m in subsets]
    return modalities_of(group)


def modalities_of(group: Group) -> list[str]:
    """Every modality some entry of the group covers, in first-seen order."""
    out: list[str] = []
    for e in group.entries:
        for m in e.modalities:
            if m not in out:
                out.append(m)
    return out


def figure_files(coll: Collection) -> list[Path]:
    d = coll.folder / "figures"
    return sorted(d.glob("*.png")) if d.is_dir() else []


READER_HEADERS = ["study", "generator", "readers", "answers", "reader accuracy", "reader AUC ↓",
                  "human alignment (1–5) ↑", "real images' alignment", "Spearman ρ vs CLIP score"]
READER_HELP = ["published analysis file", "", "readers who answered", "answers on this generator's and the real items",
               "share of correct real/synthetic calls", "0.5 = readers cannot tell these images from real ones",
               "mean match rating of this generator's images (95% CI over items)",
               "the same rating for the real (held-out) images, for reference",
               "rank correlation of human alignment with the domain-CLIP score over (generator, modality) cells"]


def _count(v: float | None) -> Cell:
    return Cell(DASH if v is None else str(int(v)), v)


def reader_study_rows(coll: Collection) -> list[list[Cell]]:
    """One row per (published study, generator), newest study first."""
    rows = []
    for st in sorted(coll.reader_studies, key=lambda s: str(s.analysis.get("created", "")), reverse=True):
        a = st.analysis
        real = number(dig(a, "real", "all", "alignment", "mean"))
        rho = number(dig(a, "correlation", "clip_score", "spearman_rho"))
        n_readers = number(dig(a, "readers", "n"))
        for g, entry in sorted(st.generators.items()):
            d, al = dig(entry, "all", "detection") or {}, dig(entry, "all", "alignment") or {}
            mean = number(al.get("mean"))
            rows.append([Cell(st.name, st.name), Cell(g, g.lower()),
                         _count(n_readers), _count(number(d.get("n_answers"))),
                         value_cell(number(d.get("accuracy")), None, False, False),
                         value_cell(number(d.get("auc")), None, False, False),
                         value_cell(mean, interval(al.get("ci95")), True, False),
                         value_cell(real, None, False, False), value_cell(rho, None, False, True)])
    return rows


FINDING_HEADERS = ["#", "claim", "measured", "verdict", "by the rule"]
FINDING_HELP = ["", "", "the numbers, with 95% intervals", "supported / not supported / inconclusive",
                "the rule applied (see bench/report/findings.py)"]


FINDINGS_INTRO = ("Each claim checked against the results above for the generalist {gen}, by the rule in the last "
                  "column (definitions: bench/report/findings.py); regenerated with the table.")


def finding_rows(group) -> tuple[str, list[list[Cell]]]:
    """(the generalist's name, one row per claim)."""
    gen = getattr(generalist(group.entries), "name", "")
    rows = [[Cell(f.number, f.number), Cell(f.claim, f.claim), Cell(f.measured, f.measured),
             Cell(f.verdict, f.verdict), Cell(f.why, f.why)] for f in findings(group)]
    return gen, rows


REGIME_ARMS = [("real", "real only"), ("real+augment", "+ weak aug."), ("real+strong", "+ strong aug."),
               ("synthetic", "synthetic only"), ("mixed", "real + synthetic"), ("pretrain+finetune", "pretrain → finetune")]
REGIME_HELP = {"real": "the budget's real images", "real+augment": "real, with flips and 2-px shifts",
               "real+strong": "real, with TrivialAugmentWide and MixUp/CutMix",
               "synthetic": "the generator's images only (no real image)",
               "mixed": "real plus the generator's images", "pretrain+finetune":
               "trained on the generator's images, then fine-tuned on the real ones"}


def _equivalent_text(e: dict | None) -> Cell:
    m = number(dig(e, "multiplier")) if isinstance(e, dict) else None
    if m is None:
        return Cell(DASH, None)
    sign = {"beyond": "≥ ", "below": "≤ "}.get(e.get("status"), "")
    ci = interval(e.get("multiplier_ci"))
    return Cell(f"{sign}{m:.2g}×" + (f" [{ci[0]:.2g}, {ci[1]:.2g}]" if ci and e.get("status") == "within" else ""), m)


def regime_rows(entries: list[Entry]) -> list[list[Cell]]:
    """Per generator and budget: pooled test accuracy of every arm (mean over seeds) and the real-data
    equivalent of real + synthetic."""
    rows = []
    for e in order(entries):
        u = task_of_kind(e.result, "utility") or {}
        cells, eq = u.get("cells") or {}, u.get("equivalent") or {}
        for b in sorted(cells, key=int):
            row = [Cell(e.name, e.name.lower()), Cell(b, int(b))]
            for arm, _ in REGIME_ARMS:
                c = dig(cells, b, "pooled", arm, "accuracy")
                v = number(dig(c, "mean")) if isinstance(c, dict) else None
                row.append(value_cell(v, None, False, False))
            row.append(_equivalent_text(dig(eq, b, "pooled", "mixed")))
            rows.append(row)
    return rows


def sanity_rows(entries: list[Entry]) -> list[list[Cell]]:
    """The utility recipe's real arm on each modality's whole training split (shared by every result:
    taken from the first result that has it) beside the MedMNIST v2 ResNet-18 (28 px) figure."""
    sanity = next((s for s in (dig(task_of_kind(e.result, "utility"), "sanity") for e in entries)
                   if isinstance(s, dict) and s), {})
    rows = []
    for m, s in sorted(sanity.items()):
        acc = dig(s, "accuracy") or {}
        mean, ref = number(acc.get("mean")), number(s.get("medmnist_resnet18_28"))
        within = s.get("within_bar")
        rows.append([Cell(m, m), _count(number(s.get("n_train"))), _count(number(s.get("steps"))),
                     value_cell(mean, interval(acc.get("ci")), True, False), value_cell(ref, None, False, False),
                     Cell(DASH if number(s.get("gap_points")) is None else f"{s['gap_points']:+.1f}",
                          number(s.get("gap_points"))),
                     Cell(DASH if within is None else "yes" if within else "no", within)])
    return rows


def _utility_section(main: Group) -> Section | None:
    regimes, sanity = regime_rows(main.entries), sanity_rows(main.entries)
    if not regimes and not sanity:
        return None
    blocks = []
    if regimes:
        blocks += [Paragraph(text("Pooled test accuracy of each training regime per real-data budget (real images per "
                                  "class; mean over seeds), and how many real images per class the real-only ladder "
                                  "needs to match real + synthetic, as a multiple of the budget (≥: past the ladder's "
                                  "top, a lower bound; 95% CI over seeds).")),
                   Table("regimes", ["generator", "budget"] + [label for _, label in REGIME_ARMS]
                         + ["real-data equivalent"], ["", "real images per class"]
                         + [REGIME_HELP[a] for a, _ in REGIME_ARMS]
                         + ["real images per class the real ladder needs to match real + synthetic, over the budget"],
                         [RowGroup("", "rows", regimes)])]
    if sanity:
        blocks += [Paragraph(text("Sanity row: the same classifier recipe trained on each modality's whole training "
                                  "split, beside MedMNIST v2's ResNet-18 at 28 px (its bar: within 5 points).")),
                   Table("sanity", ["modality", "training images", "steps", "test accuracy", "MedMNIST v2 ResNet-18 (28)",
                                    "gap (points)", "within 5 points"],
                         ["", "", "optimisation steps (the recipe's rule)", "mean over seeds, 95% CI",
                          "Yang et al. 2023, Table 3", "MedMNIST minus ours, percentage points", ""],
                         [RowGroup("", "rows", sanity)])]
    return Section("utility-regimes", "Utility regimes", blocks, nav="Utility regimes")


SENSITIVITY_MARK = {"worse": "✓", "weakly worse": "~", "does not move": "✗ does not move", "wrong way": "✗ wrong way",
                    "too few rungs": "(too few rungs)"}


def _sensitivity_section(main: Group) -> Section | None:
    """Each metric's worse-direction Spearman correlation with each ladder's severity (bench.report.sensitivity)."""
    from bench.recipes import DEGRADATIONS
    from bench.report.sensitivity import failures, sensitivity

    table = sensitivity(main.entries, main.ladders)
    if not table:
        return None
    labels: list[tuple[str, str]] = []
    for cells in table.values():
        for c in cells:
            if (c.column.label + c.column.arrow, c.column.help) not in labels:
                labels.append((c.column.label + c.column.arrow, c.column.help))
    rows = []
    for d, cells in table.items():
        by_label = {c.column.label + c.column.arrow: c for c in cells}
        row = [Cell(d, d, title=DEGRADATIONS[d].what), Cell(str(len(cells[0].severities) if cells else 0),
                                                           len(cells[0].severities) if cells else 0)]
        for lab, _ in labels:
            c = by_label.get(lab)
            if c is None:
                row.append(Cell(DASH, None))
                continue
            rho = DASH if c.rho_worse is None else f"{c.rho_worse:+.2f}".replace("-", "−")
            shown = f"{rho} {SENSITIVITY_MARK[c.verdict]}" if c.expected else f"({rho})"
            row.append(Cell(shown, c.rho_worse, title="severity → value: " + ", ".join(
                f"{s:g} → {fmt(v)}" for s, v in zip(c.severities, c.values))))
        rows.append(row)
    failed = failures(table)
    blocks = [Paragraph(text(
        "Controlled degradations of the held-out real images (no training; severity 0 is the holdout baseline). "
        "Each cell is the metric's Spearman correlation with severity, signed so that +1 means it gets "
        "monotonically worse as the images do. A mark means this ladder must worsen that metric: ✓ ρ ≥ 0.9, "
        "~ 0.5 ≤ ρ < 0.9, ✗ it does not move (|ρ| < 0.5) or moves the wrong way (ρ ≤ −0.5); parentheses: no "
        "stated expectation. Ladder rows run the utility task's reduced plan (synthetic only at the smallest "
        "budget, as each result's protocol says).")),
        Table("sensitivity", ["ladder", "severities"] + [lab for lab, _ in labels],
              ["what severity 1 means (hover)", "points, the holdout baseline included"] + [h for _, h in labels],
              [RowGroup("", "rows", rows)])]
    blocks.append(Paragraph(text(
        "Failed their ladders: " + "; ".join(f"{c.column.label} on {d} ({c.verdict})" for d, c in failed) + "."
        if failed else "Every metric a ladder must worsen got at least weakly worse.")))
    return Section("sensitivity", "Metric sensitivity: controlled degradations", blocks, nav="Sensitivity")


def _validity_section(main: Group) -> Section | None:
    """Rank correlation of every metric with the utility gains over (generator, modality) cells."""
    from bench.report.validity import over_alignment, validity

    rows = main.per_modality_entries + main.ladders + main.variants  # (generator, modality) cells
    cols, targets, table = validity(rows)
    if not targets or not any(c.spearman is not None for c in table.values()):
        return None
    body = []
    for c in (c for c in cols if any(table[(c.key, t)].spearman is not None for t in targets)):
        row = [Cell(c.label + c.arrow, c.label.lower(), title=c.help)]
        for t in targets:
            k = table.get((c.key, t))
            if k is None or k.spearman is None:
                row.append(Cell(DASH, None))
                continue
            ci = "" if k.ci is None else f" [{k.ci[0]:+.2f}, {k.ci[1]:+.2f}]"
            mark = " ✓" if k.ci is not None and k.ci[0] > 0 else " ✗" if k.ci is not None and k.ci[1] < 0 else ""
            row.append(Cell(f"{k.spearman:+.2f}{ci}{mark}".replace("-", "−"), k.spearman,
                            title=f"Kendall τ {k.kendall:+.2f}; {k.n_cells} cells of {k.n_generators} generators"))
        body.append(row)
    rungs = "".join(f", {n} {what}" for n, what in ((len(main.variants), "variants"),
                                                      (len(main.ladders), "degradation rungs")) if n)
    blocks = [Paragraph(text(
        f"Does a metric rank generators the way their images' utility does? Spearman's ρ between each metric "
        f"(signed so that higher is better) and each utility gain (arm@real images per class), over the "
        f"(generator, modality) cells of this page's {len(main.entries)} generators and baselines{rungs}, with a "
        "95% bootstrap interval over generators. ✓: the interval is above 0 (the metric predicts that gain); ✗: "
        "below 0 (it ranks them the wrong way: the near-copy rate is expected here, since copies of training "
        "images are useful training data). Hover for Kendall's τ and the counts.")),
        Table("validity", ["metric"] + targets, ["the metric, signed so that higher is better"]
              + [f"accuracy gain of the {t.split('@')[0]} arm over real-only at {t.split('@')[1]} real images per class"
                 for t in targets], [RowGroup("", "rows", body)], text_columns=1)]
    flagged = over_alignment(main.entries + main.variants)
    if flagged:
        blocks.append(Paragraph(text(
            "Over-alignment: alignment above the held-out real images' while coverage is far below theirs "
            "(recall or within-prompt diversity under half of real images'): a CLIP score that rewards "
            "prototypical images, not better ones.")))
        blocks.append(Bullets([text(
            f"{f.name}: CLIP score {fmt(f.clip_score)} vs {fmt(f.clip_score_real)} for held-out real images; "
            f"recall {fmt(f.recall)} vs {fmt(f.recall_real)}"
            + (f"; diversity {fmt(f.diversity_ratio)} × real" if f.diversity_ratio is not None else "")) for f in flagged]))
    return Section("validity", "Metric validity: which metric predicts utility?", blocks, nav="Validity")


def _variants_section(main: Group) -> Section | None:
    """Each row that has variants, then its variants (checkpoints, guidance scales, training seeds), with the
    pooled columns; then the generator-seed spread of the rows with seed replicas (bench.report.spread)."""
    if not main.variants:
        return None
    by_base: dict[str, list[Entry]] = {}
    for v in main.variants:
        by_base.setdefault(v.result["generator"].get("variant_of", ""), []).append(v)
    rows = {e.name: e for e in main.entries}
    cols = columns(main.entries + main.variants)
    headers, helps = pooled_headers(cols)
    groups = [RowGroup(f"{base}: the row, then its variants", f"variants-{i}",
                       ([pooled_row(rows[base], cols, main.family(rows[base]))] if base in rows else [])
                       + [pooled_row(v, cols, main.family(v)) for v in sorted(vs, key=lambda v: v.name)])
              for i, (base, vs) in enumerate(sorted(by_base.items()))]
    blocks = [Paragraph(text(
        "Variants of the suite's rows ([generators] variants in the suite spec): the row's model with the "
        "parameters in its name changed — a kept checkpoint (steps), another guidance scale, another training "
        "seed. They are not ranked; they are cells of metric validity, and seed replicas give the spread "
        "below. A specialist's pooled values are its one modality's.")),
        Table("variants", headers, helps, groups)]
    reps = seed_replicas(main.entries, main.variants)
    if reps:
        body = []
        for name, runs in reps.items():
            row = [Cell(name, name.lower()), Cell(", ".join(str(seed_of(e)) for e in runs), len(runs))]
            for c in cols:
                sp = metric_spread(runs, c.key)
                row.append(Cell(DASH, None) if sp is None else
                           Cell(fmt(sp.mean, c.signed) + (" " + fmt_ci(sp.ci, sp.mean) if sp.ci else ""), sp.mean,
                                title="per seed: " + ", ".join(f"{s}: {fmt(v, c.signed)}" for s, v in zip(sp.seeds, sp.values))))
            body.append(row)
        blocks += [Paragraph(text(
            "Generator-seed spread: each row with seed replicas, over its training seeds (initialisation, data "
            "order, sampling noise): the mean and a 95% Student-t interval over seeds (a multiple: the geometric "
            "mean, its interval on the log scale; a bounded value's interval clipped to its range; hover for "
            "each seed's value). Two rows whose intervals overlap are not distinguishable given the generators' own "
            "training noise; Findings 1 and 5 use these intervals where they exist.")),
            Table("seed-spread", ["row", "training seeds"] + [c.label + c.arrow for c in cols],
                  ["the row trained with its own seed and its replicas'", ""] + [c.help for c in cols],
                  [RowGroup("", "rows", body)])]
    return Section("variants", "Variants and generator-seed spread", blocks, nav="Variants")


def _group_blocks(g: Group, table_id: str, heading: bool = True) -> list:
    """The pooled table of one comparable group: the generators that cover every modality of the suite
    (a pooled value over one modality is not comparable with one over all of them: single specialists
    are ranked in their modality's table), then the baselines as bounds."""
    gens, bounds = split_bounds(g.entries)
    every = set(suite_modalities(g))
    partial = [x for x in gens if not every <= set(x.modalities)]
    gens = [x for x in gens if every <= set(x.modalities)]
    cols = columns(gens + bounds)
    headers, helps = pooled_headers(cols)
    blocks = []
    if heading:
        blocks.append(Paragraph(
            text(f"Suite version {g.version}; dataset sha256 ") + [("hash", g.dataset_sha256)]
            + text("; reference networks: ")
            + ([sp for i, (k, v) in enumerate(sorted(g.reference.items()))
                for sp in ([("text", ", ")] if i else []) + [("text", f"{k} "), ("hash", v)]] or text("none"))
            + text(f"; {len(g.entries)} results.")))
    blocks.append(Table(table_id, headers, helps, [
        RowGroup("Generators", "gens", [pooled_row(x, cols, g.family(x)) for x in gens], empty="None yet.",
                 note=(f"Covering every modality of the suite. {len(partial)} generator(s) of one or some "
                       "modalities (specialists) are ranked in their modality's table below: their pooled "
                       "values cover other data." if partial else "")
                      + (" A suite of specialists is one model's specialists together (each prompt answered by "
                         "its modality's specialist; compute summed): the generalist's rival over every modality."
                         if any(x.role == "specialist-suite" for x in gens) else "")),
        RowGroup("Bounds: sanity baselines", "bounds", [pooled_row(x, cols, g.family(x)) for x in bounds],
                 note="Not competitors: the held-out real images are the ceiling, noise the floor, and the "
                      "memoriser must be caught by the near-copy rate.")]))
    if (noise := _training_noise(g, gens, cols)) is not None:
        blocks.append(noise)
    return blocks


def _training_noise(g: Group, gens: list[Entry], cols: list[MetricColumn]) -> Paragraph | None:
    """Which rows of the pooled table are distinguishable from its first on the headline column given the
    generators' own training noise: the seed standard deviation s pooled over every row with training-seed
    replicas (bench.report.spread), assumed common to all rows. A row with replicas is its mean over
    them; two rows over n₁ and n₂ seeds are told apart when their values differ by more than
    t · s · √(1/n₁ + 1/n₂)."""
    head = next((c for c in cols if c.rank == 1), None)
    reps = seed_replicas(g.entries, g.variants)
    if head is None or not reps or not gens:
        return None
    pooled = pooled_seed_sd([metric_spread(runs, head.key) for runs in reps.values()])
    if pooled is None:
        return None
    sd, df = pooled
    rows = []
    for x in order(gens):
        sp = metric_spread(reps[x.name], head.key) if x.name in reps else None
        v = sp.mean if sp is not None else metric(x.result, head.key)[0]
        if v is not None:
            rows.append((x.name, v, sp.n if sp is not None else 1))
    if len(rows) < 2:
        return None
    (top, best, n_top), rest = rows[0], rows[1:]
    apart = {name: abs(best - v) > difference_threshold(sd, df, n_top, n) for name, v, n in rest}
    near = [f"{name} ({fmt(v, head.signed)})" for name, v, _ in rest if not apart[name]]
    far = [f"{name} ({fmt(v, head.signed)})" for name, v, _ in rest if apart[name]]
    return Paragraph(text(
        f"Training noise on the headline column ({head.label}): between training seeds a row moves with a "
        f"standard deviation of {fmt(sd)}, pooled over the {len(reps)} rows with seed replicas ({df} degrees of "
        "freedom; a specialist's value covers one modality, so its noise is if anything larger than a pooled "
        "row's and the estimate errs towards 'not distinguishable'). Assuming every row's training noise is "
        "that size, two rows of one training run each are distinguishable when their values differ by more "
        f"than t · √2 · s = {fmt(difference_threshold(sd, df))} (a row with replicas: its mean over them, "
        f"t · s · √(1/n₁ + 1/n₂)). Not distinguishable from the first row, {top} ({fmt(best, head.signed)}): "
        + (", ".join(near) or "none") + "; distinguishable from it: " + (", ".join(far) or "none") + "."))


def _figure(path: Path) -> Figure:
    pdf = path.with_suffix(".pdf")
    return Figure(f"figures/{path.name}", caption(path.stem), f"figures/{pdf.name}" if pdf.is_file() else "")


def build_page(coll: Collection) -> Page:
    """The leaderboard of one suite as a page model (rendered to README.md and index.html)."""
    suite = coll.suite
    page = Page([("text", "Leaderboard: "), ("code", suite), ("text", " suite")],
                text("Rendered from ") + [("code", "results/*.json")] + text(" alone: ")
                + [("code", f"medsyn-bench leaderboard --suite {suite}")]
                + text(" regenerates this page (README.md and index.html); ") + [("code", "medsyn-bench figures")]
                + text(" the figures. ↑ higher is better, ↓ lower is better; — not measured. Utility gains are "
                       "accuracy differences over real-only training at the smallest real-data budget, with 95% "
                       "confidence intervals."))
    main = coll.main
    page.sections.append(Section("leaderboard", "Leaderboard (pooled over modalities)",
                                 _group_blocks(main, "board") if main is not None
                                 else [Paragraph(text("No comparable results yet."))], nav="Leaderboard"))
    figs = figure_files(coll) if main is not None else []
    mod_figs = {f: modality_of_figure(f.stem) for f in figs}
    for m in modalities_of(main) if main is not None else []:
        rows = [x for x in order(main.per_modality_entries) if m in x.modalities]
        cols = columns(rows, m)
        table = Table(f"board-{m}", *modality_headers(cols), [
            RowGroup("Generators", "gens", [modality_row(x, m, cols) for x in rows if x.role != "baseline"]),
            RowGroup("Bounds: sanity baselines", "bounds", [modality_row(x, m, cols) for x in rows
                                                            if x.role == "baseline"])])
        page.sections.append(Section(f"mod-{m}", f"Modality: {m}",
                                     [table] + [_figure(f) for f, fm in mod_figs.items() if fm == slug(m)], nav=m))
    general = [f for f, fm in mod_figs.items() if fm is None]
    if general:
        page.sections.append(Section("figures", "Figures", [_figure(f) for f in general], nav="Figures"))
    if main is not None and any(x.role == "generalist" for x in main.entries):
        gen, rows = finding_rows(main)
        page.sections.append(Section("findings", "Findings", [
            Paragraph(text(FINDINGS_INTRO.format(gen=gen))),
            Table("findings", FINDING_HEADERS, FINDING_HELP, [RowGroup("", "rows", rows)])], nav="Findings"))
    utility = _utility_section(main) if main is not None else None
    if utility is not None:
        page.sections.append(utility)
    for build in (_variants_section, _sensitivity_section, _validity_section):
        extra = build(main) if main is not None else None
        if extra is not None:
            page.sections.append(extra)
    if coll.reader_studies:
        page.sections.append(Section("reader-studies", "Reader studies", [
            Paragraph(text("Blinded clinician ratings (") + [("code", "medsyn-bench reader-study analyse STUDY --publish")]
                      + text("): can readers tell each generator's images from real held-out ones, and do the "
                             "images match their text?")),
            Table("reader-studies", READER_HEADERS, READER_HELP, [RowGroup("", "rows", reader_study_rows(coll))])],
            nav="Reader studies"))
    if coll.others:
        page.sections.append(Section("not-comparable", "Not comparable with the leaderboard", [
            Subsection(f"Not comparable: {g.reason}", _group_blocks(g, f"other-{i}", heading=False), css="notcomparable")
            for i, g in enumerate(coll.others)], nav="Not comparable"))
    pending = _not_yet_run_section(coll)
    if pending is not None:
        page.sections.append(pending)
    if coll.superseded:
        by_version: dict[int, list[str]] = {}
        for e in coll.superseded:
            by_version.setdefault(e.result["suite"]["version"], []).append(e.name)
        current = main.version if main is not None else "?"
        page.sections.append(Section("superseded", "Superseded results", [
            Paragraph(text(f"Results of older versions of this suite are not shown beside version {current} (a "
                           "protocol change makes their numbers incomparable). Rerun them with ")
                      + [("code", f"medsyn-bench run --suite {suite} --generators NAME")]
                      + text(", or rescore a published sample set with ")
                      + [("code", f"medsyn-bench rescore --suite {suite} --generators NAME")] + text(":")),
            Bullets([text(f"version {v}: " + ", ".join(names)) for v, names in sorted(by_version.items())])],
            nav="Superseded"))
    if coll.refused:
        page.sections.append(Section("refused", "Refused result files", [
            Bullets([[("code", r.file), ("text", f": {r.reason}")] for r in coll.refused])],
            nav="Refused files", css="refused"))
    if (coll.folder / "ablations.md").is_file():
        page.sections.append(Section("training-recipe", "Training recipe", [Paragraph(
            text("What each one-parameter change of the LDM recipe did at equal training compute: ")
            + [("link", "ablations.md", "ablations.md")] + text(" (") + [("code", "medsyn-bench ablations")]
            + text(")."))], nav="Training recipe"))
    return page


def _not_yet_run_section(coll: Collection) -> Section | None:
    """The rows the suite spec declares — as the newest result of this version recorded it — that have no
    result of this version yet (None when every declared row has one)."""
    current = [e for g in coll.groups for e in (*g.entries, *g.variants, *g.ladders)]
    if not current:
        return None
    newest = max(current, key=lambda e: e.result.get("created", ""))
    modalities = max((e.result["generator"].get("modalities") or [] for e in current), key=len)
    declared = GeneratorsSpec.recorded(newest.result["suite"].get("spec", {}).get("generators")).row_names(modalities)
    have = {e.name for e in current}
    missing = [name for name in declared if name not in have]
    if not missing:
        return None
    return Section("not-yet-run", "Not yet run", [
        Paragraph(text(f"The suite spec, as its newest result ({newest.name}) recorded it, declares {len(missing)} "
                       f"rows that have no version-{coll.main.version} result yet; the findings that need them "
                       "say so. Run one with ")
                  + [("code", f"medsyn-bench run --suite {coll.suite} --generators NAME")] + text(":")),
        Bullets([text(", ".join(missing))])], nav="Not yet run")


def render_leaderboard(suite: str, leaderboards_dir: str | Path = "leaderboards", out=print) -> dict:
    """Write ``README.md`` and ``index.html`` for a suite; returns their paths and the refused files."""
    coll = load_collection(suite, leaderboards_dir)
    page = build_page(coll)
    md_path = atomic_write_text(coll.folder / "README.md", render_markdown(page))
    html_path = atomic_write_text(coll.folder / "index.html", render_html(page))
    n = len(coll.main.entries) if coll.main else 0
    out(f"leaderboard: {n} comparable results, {sum(len(g.entries) for g in coll.others)} not comparable, "
        f"{len(coll.refused)} refused → {md_path}, {html_path}")
    for r in coll.refused:
        out(f"  refused {r.file}: {r.reason}")
    for g in coll.others:
        out(f"  not comparable ({', '.join(x.name for x in g.entries)}): {g.reason}")
    log.info("wrote %s and %s", md_path, html_path)
    return {"readme": md_path, "html": html_path, "refused": coll.refused}
