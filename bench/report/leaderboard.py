"""The leaderboard of one suite: ``leaderboards/<suite>/README.md`` and ``index.html``.

Rendered from the vetted result files alone (:mod:`bench.report.collection`). The main table holds the
comparable results; sanity baselines are shown apart, as the bounds a generator should sit between;
results that are not comparable get their own table with the reason; refused files are listed with
theirs. The HTML page is one static file: no server, no CDN, a few lines of inline JavaScript that sort
the columns, a Content-Security-Policy that allows only that script, and every string HTML-escaped.
"""

from __future__ import annotations

import base64
import hashlib
import html
from dataclasses import dataclass
from pathlib import Path

from bench.io import atomic_write_text
from bench.report import log
from bench.report.collection import Collection, Entry, Group, load_collection
from bench.report.values import (DASH, METRIC_COLUMNS, Column, fmt, fmt_ci, fmt_compute, per_modality, pooled,
                                 short_hashes, training_compute, utility_gain)

ROLE_ORDER = {"generalist": 0, "specialist": 1, "external": 2, "baseline": 3}
BOUND_NOTE = {"holdout": "ceiling: real held-out images", "noise": "floor: noise matched to pixel statistics",
              "mean": "floor: the mean image", "memoriser": "copies training images: memorisation must flag it"}
MODALITY_COLUMNS = [c for c in METRIC_COLUMNS if c.family not in ("utility", "foundation")]
UTILITY_ARMS = (("mixed", "utility gain, real+synthetic"), ("synthetic", "utility gain, synthetic only"))


@dataclass
class Cell:
    text: str  # display text (plain; escaped on output)
    sort: float | str | None  # sort key (None: missing, always last)
    title: str = ""


def role_label(e: Entry) -> str:
    budget = e.result["generator"].get("budget")
    return f"{e.role} ({budget})" if e.role == "specialist" and budget else e.role


def value_cell(v: float | None, ci: tuple[float, float] | None, col_ci: bool, signed: bool) -> Cell:
    text = fmt(v, signed)
    if col_ci and v is not None and ci is not None:
        text += " " + fmt_ci(ci, v)
    return Cell(text, v)


def shown(cols: list[Column], entries: list[Entry], modality: str | None = None) -> list[Column]:
    """``cols`` without the optional ones (reader study) that no entry has a value for."""
    def has(c: Column) -> bool:
        get = (lambda e: per_modality(e.result, c.key, modality, c.family)) if modality else \
            (lambda e: pooled(e.result, c.key, c.family))
        return any(get(e)[0] is not None for e in entries)

    return [c for c in cols if not c.optional or has(c)]


def pooled_row(e: Entry, cols: list[Column] = METRIC_COLUMNS) -> list[Cell]:
    r = e.result
    flops, wall = training_compute(r)
    cells = [Cell(e.name, e.name.lower(), title=r["generator"]["kind"]),
             Cell(role_label(e), role_label(e), title=BOUND_NOTE.get(e.kind, "") if e.role == "baseline" else ""),
             Cell(fmt_compute(r), flops if flops is not None else wall)]
    for c in cols:
        v, ci = pooled(r, c.key, c.family)
        cells.append(value_cell(v, ci, c.ci, c.signed))
    ref = short_hashes(r["reference"])
    cells.append(Cell(ref, ref, title=", ".join(f"{k}: {v}" for k, v in sorted(r["reference"].items()))))
    return cells


def pooled_headers(cols: list[Column] = METRIC_COLUMNS) -> tuple[list[str], list[str]]:
    """(headers, help texts) of the pooled table."""
    return (["generator", "kind", "training compute"] + [c.label + c.arrow for c in cols] + ["reference sha256"],
            ["", "generalist / specialist / external generator, or a baseline bound", "FLOPs and wall time of the fit"]
            + [c.help for c in cols] + ["first 8 hex digits of each pinned reference network's sha256"])


POOLED_HEADERS = pooled_headers()[0]


def modality_row(e: Entry, modality: str, cols: list[Column] = MODALITY_COLUMNS) -> list[Cell]:
    r = e.result
    cells = [Cell(e.name, e.name.lower(), title=r["generator"]["kind"]), Cell(role_label(e), role_label(e))]
    for arm, _ in UTILITY_ARMS:
        v, ci = utility_gain(r, arm, modality)
        cells.append(value_cell(v, ci, True, True))
    for c in cols:
        v, ci = per_modality(r, c.key, modality, c.family)
        cells.append(value_cell(v, ci, c.ci, c.signed))
    return cells


def modality_headers(cols: list[Column] = MODALITY_COLUMNS) -> tuple[list[str], list[str]]:
    return (["generator", "kind"] + [label + " ↑" for _, label in UTILITY_ARMS] + [c.label + c.arrow for c in cols],
            ["", ""] + ["accuracy gain over real-only at the smallest budget (95% CI)"] * 2 + [c.help for c in cols])


def order(entries: list[Entry]) -> list[Entry]:
    """Best utility gain first (missing last), then lowest FD, then name."""
    def key(e: Entry):
        g, _ = pooled(e.result, "gain_mixed_acc", "utility")
        f, _ = pooled(e.result, "fd", "fidelity")
        return (g is None, -(g or 0.0), f is None, f or 0.0, ROLE_ORDER.get(e.role, 9), e.name)
    return sorted(entries, key=key)


def split_bounds(entries: list[Entry]) -> tuple[list[Entry], list[Entry]]:
    es = order(entries)
    return [e for e in es if e.role != "baseline"], [e for e in es if e.role == "baseline"]


def modalities_of(group: Group) -> list[str]:
    out: list[str] = []
    for e in group.entries:
        for m in e.modalities:
            if m not in out:
                out.append(m)
    return out


def figure_files(coll: Collection) -> list[Path]:
    d = coll.folder / "figures"
    return sorted(d.glob("*.png")) if d.is_dir() else []


# -- Markdown -------------------------------------------------------------------------------------

MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]|#"})


def md(text: str) -> str:
    """Plain text made inert in a Markdown table cell: HTML-escaped, Markdown punctuation escaped."""
    return html.escape(" ".join(str(text).split()), quote=False).translate(MD_SPECIAL)


def md_table(headers: list[str], rows: list[list[Cell]], italic: bool = False) -> str:
    lines = ["| " + " | ".join(md(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    for cells in rows:
        texts = [md(c.text) for c in cells]
        if italic:
            texts[0] = f"*{texts[0]}*"
        lines.append("| " + " | ".join(texts) + " |")
    return "\n".join(lines)


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
    from bench.report.values import dig, interval, number

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
    from bench.report.findings import findings, generalist

    gen = getattr(generalist(group.entries), "name", "")
    rows = [[Cell(f.number, f.number), Cell(f.claim, f.claim), Cell(f.measured, f.measured),
             Cell(f.verdict, f.verdict), Cell(f.why, f.why)] for f in findings(group)]
    return gen, rows


def render_markdown(coll: Collection) -> str:
    out = [f"# Leaderboard: `{md(coll.suite)}` suite", "",
           f"Rendered from `results/*.json` alone: `medsyn-bench leaderboard --suite {md(coll.suite)}` "
           "regenerates this page and `index.html`; `medsyn-bench figures` the figures. "
           "↑ higher is better, ↓ lower is better; — not measured. Utility gains are at the smallest "
           "real-data budget, with 95% confidence intervals.", ""]
    main = coll.main
    if main is None:
        out += ["No comparable results yet.", ""]
    else:
        out += _md_group(main)
    for g in coll.others:
        out += ["## Not comparable with the leaderboard above", "", f"Reason: {md(g.reason)}.", ""]
        out += _md_group(g, heading=False)
    if main is not None and any(x.role == "generalist" for x in main.entries):
        gen, rows = finding_rows(main)
        out += ["## Findings", "", md(FINDINGS_INTRO.format(gen=gen)), "", md_table(FINDING_HEADERS, rows), ""]
    if coll.reader_studies:
        out += ["## Reader studies", "",
                "Blinded clinician ratings (`medsyn-bench reader-study analyse STUDY --publish`): can readers tell "
                "each generator's images from real held-out ones, and do the images match their text?", ""]
        out += [md_table(READER_HEADERS, reader_study_rows(coll)), ""]
    if coll.refused:
        out += ["## Refused result files", ""]
        out += [f"- `{md(r.file)}`: {md(r.reason)}" for r in coll.refused] + [""]
    if (coll.folder / "ablations.md").is_file():
        out += ["## Training recipe", "",
                "What each one-parameter change of the LDM recipe did at equal training compute: "
                "[ablations.md](ablations.md) (`medsyn-bench ablations`).", ""]
    figs = figure_files(coll)
    if figs and main is not None:
        from bench.report.figures.captions import caption

        out += ["## Figures", ""]
        for f in figs:
            out += [f"![{md(caption(f.stem))}](figures/{f.name})", "", f"*{md(caption(f.stem))}*", ""]
    return "\n".join(out).rstrip() + "\n"


def _md_group(g: Group, heading: bool = True) -> list[str]:
    gens, bounds = split_bounds(g.entries)
    out = []
    if heading:
        out += [f"Suite version {g.version}; dataset sha256 `{g.dataset_sha256}`; reference networks: "
                + (", ".join(f"{md(k)} `{v}`" for k, v in sorted(g.reference.items())) or "none") + ".", ""]
    out += ["### Generators", ""]
    cols = shown(METRIC_COLUMNS, g.entries)
    heads = pooled_headers(cols)[0]
    out += [md_table(heads, [pooled_row(e, cols) for e in gens]), ""] if gens else ["None yet.", ""]
    if bounds:
        out += ["### Bounds: sanity baselines", "",
                "Not competitors: the held-out real images are the ceiling, noise the floor, and the "
                "memoriser must be caught by the near-copy rate.", ""]
        out += [md_table(heads, [pooled_row(e, cols) for e in bounds], italic=True), ""]
    return out


# -- HTML -----------------------------------------------------------------------------------------

SORT_JS = """\
function sortBy(th) {
  var table = th.closest("table"), col = +th.getAttribute("data-col");
  var asc = th.getAttribute("aria-sort") !== "ascending", num = th.getAttribute("data-type") === "num";
  table.querySelectorAll("th[data-col]").forEach(function (h) { h.removeAttribute("aria-sort"); });
  th.setAttribute("aria-sort", asc ? "ascending" : "descending");
  table.querySelectorAll("tbody.rows").forEach(function (tb) {
    var rows = Array.prototype.slice.call(tb.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col].getAttribute("data-v"), y = b.cells[col].getAttribute("data-v");
      if (x === "" || y === "") { return (x === "") - (y === ""); }
      var c = num ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
      return asc ? c : -c;
    });
    rows.forEach(function (r) { tb.appendChild(r); });
  });
}
document.querySelectorAll("table.sortable th[data-col]").forEach(function (th) {
  th.tabIndex = 0;
  th.addEventListener("click", function () { sortBy(th); });
  th.addEventListener("keydown", function (e) {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(th); }
  });
});
"""

CSS = """\
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em auto; max-width: 1400px;
       padding: 0 1em; color: #1b1b1b; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
h3 { font-size: 1.05em; }
code, .hash { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.9em; }
.wrap { overflow-x: auto; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 13px; }
th, td { padding: 0.3em 0.6em; border-bottom: 1px solid #e4e4e4; text-align: right; white-space: nowrap; }
th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align: left; }
thead th { background: #f4f4f4; position: sticky; top: 0; }
th[data-col] { cursor: pointer; user-select: none; }
th[data-col]:hover { background: #e8eef7; }
th[aria-sort=ascending]::after { content: " \\25B2"; font-size: 0.7em; }
th[aria-sort=descending]::after { content: " \\25BC"; font-size: 0.7em; }
tbody.label th { text-align: left; background: #fafafa; font-weight: 600; color: #555; }
tbody.bounds td { font-style: italic; color: #555; }
td.missing { color: #aaa; }
.note { color: #555; }
.notcomparable { border-left: 4px solid #d08c2e; padding-left: 1em; }
.refused { border-left: 4px solid #c0392b; padding-left: 1em; }
figure { margin: 1em 0; } figure img { max-width: min(100%, 900px); border: 1px solid #eee; }
figcaption { color: #444; font-size: 0.9em; }
nav a { margin-right: 1em; }
"""


def e(text) -> str:
    return html.escape(str(text), quote=True)


def csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def html_table(headers: list[str], helps: list[str], groups: list[tuple[str, str, list[list[Cell]]]],
               table_id: str) -> str:
    """A sortable table: ``groups`` are (label, css class, rows); each group sorts on its own."""
    out = [f'<div class="wrap"><table class="sortable" id="{e(table_id)}"><thead><tr>']
    for i, (h, t) in enumerate(zip(headers, helps)):
        kind = "text" if i in (0, 1) or h.startswith("reference") else "num"
        out.append(f'<th scope="col" data-col="{i}" data-type="{kind}" title="{e(t)}">{e(h)}</th>')
    out.append("</tr></thead>")
    for label, cls, rows in groups:
        if not rows:
            continue
        if label:
            out.append(f'<tbody class="label"><tr><th colspan="{len(headers)}">{e(label)}</th></tr></tbody>')
        out.append(f'<tbody class="rows {e(cls)}">')
        for cells in rows:
            out.append("<tr>")
            for c in cells:
                v = "" if c.sort is None else (repr(float(c.sort)) if isinstance(c.sort, (int, float)) else str(c.sort))
                attrs = f' data-v="{e(v)}"'
                if c.title:
                    attrs += f' title="{e(c.title)}"'
                if c.text == DASH:
                    attrs += ' class="missing"'
                out.append(f"<td{attrs}>{e(c.text)}</td>")
            out.append("</tr>")
        out.append("</tbody>")
    out.append("</table></div>")
    return "".join(out)


def _html_group(g: Group, table_id: str) -> str:
    gens, bounds = split_bounds(g.entries)
    cols = shown(METRIC_COLUMNS, g.entries)
    groups = [("Generators" if bounds else "", "gens", [pooled_row(x, cols) for x in gens]),
              ("Bounds: sanity baselines (not competitors)", "bounds", [pooled_row(x, cols) for x in bounds])]
    return html_table(*pooled_headers(cols), groups, table_id)


def figure_html(path: Path, caption: str) -> str:
    rel = f"figures/{path.name}"
    pdf = path.with_suffix(".pdf")
    link = f' (<a href="figures/{e(pdf.name)}">PDF</a>)' if pdf.is_file() else ""
    return (f'<figure><img src="{e(rel)}" alt="{e(caption)}" loading="lazy">'
            f"<figcaption>{e(caption)}{link}</figcaption></figure>")


def render_html(coll: Collection) -> str:
    from bench.report.figures.captions import caption, modality_of_figure, slug

    title = f"medsyn-bench leaderboard: {coll.suite}"
    body = [f"<h1>{e(title)}</h1>",
            f'<p class="note">Rendered from <code>results/*.json</code> alone '
            f"(<code>medsyn-bench leaderboard --suite {e(coll.suite)}</code>). ↑ higher is better, ↓ lower is "
            "better, — not measured. Utility gains are accuracy differences over real-only training at the "
            "smallest real-data budget, with 95% confidence intervals. Click a column header to sort.</p>"]
    main = coll.main
    figs = figure_files(coll) if main is not None else []
    mod_figs = {f: modality_of_figure(f.stem) for f in figs}
    modalities = modalities_of(main) if main else []
    nav = ['<a href="#leaderboard">Leaderboard</a>'] + [f'<a href="#mod-{e(m)}">{e(m)}</a>' for m in modalities]
    if any(m is None for m in mod_figs.values()):
        nav.append('<a href="#figures">Figures</a>')
    if coll.others:
        nav.append('<a href="#not-comparable">Not comparable</a>')
    if main is not None and any(x.role == "generalist" for x in main.entries):
        nav.append('<a href="#findings">Findings</a>')
    if coll.reader_studies:
        nav.append('<a href="#reader-studies">Reader studies</a>')
    if coll.refused:
        nav.append('<a href="#refused">Refused files</a>')
    body.append("<nav>" + "".join(nav) + "</nav>")

    body.append('<section id="leaderboard"><h2>Leaderboard (pooled over modalities)</h2>')
    if main is None:
        body.append("<p>No comparable results yet.</p>")
    else:
        refs = ", ".join(f"{e(k)} <span class=hash>{e(v)}</span>" for k, v in sorted(main.reference.items()))
        body.append(f'<p class="note">Suite version {e(main.version)}; dataset sha256 '
                    f'<span class="hash">{e(main.dataset_sha256)}</span>; reference networks: {refs or "none"}; '
                    f"{len(main.entries)} results.</p>")
        body.append(_html_group(main, "board"))
    body.append("</section>")

    for m in modalities:
        rows = [x for x in order(main.entries) if m in x.modalities]
        cols = shown(MODALITY_COLUMNS, rows, m)
        gens = [modality_row(x, m, cols) for x in rows if x.role != "baseline"]
        bounds = [modality_row(x, m, cols) for x in rows if x.role == "baseline"]
        body.append(f'<section id="mod-{e(m)}"><h2>Modality: {e(m)}</h2>')
        body.append(html_table(*modality_headers(cols),
                               [("Generators" if bounds else "", "gens", gens),
                                ("Bounds: sanity baselines", "bounds", bounds)], f"board-{m}"))
        for f, fm in mod_figs.items():
            if fm == slug(m):
                body.append(figure_html(f, caption(f.stem)))
        body.append("</section>")

    general = [f for f, fm in mod_figs.items() if fm is None]
    if general:
        body.append('<section id="figures"><h2>Figures</h2>')
        body += [figure_html(f, caption(f.stem)) for f in general]
        body.append("</section>")

    if main is not None and any(x.role == "generalist" for x in main.entries):
        gen, rows = finding_rows(main)
        body.append(f'<section id="findings"><h2>Findings</h2><p class="note">{e(FINDINGS_INTRO.format(gen=gen))}</p>')
        body.append(html_table(FINDING_HEADERS, FINDING_HELP, [("", "rows", rows)], "findings"))
        body.append("</section>")

    if coll.reader_studies:
        body.append('<section id="reader-studies"><h2>Reader studies</h2><p class="note">Blinded clinician '
                    "ratings: can readers tell each generator's images from real held-out ones, and do the images "
                    "match their text?</p>")
        body.append(html_table(READER_HEADERS, READER_HELP, [("", "rows", reader_study_rows(coll))], "reader-studies"))
        body.append("</section>")

    if coll.others:
        body.append('<section id="not-comparable"><h2>Not comparable with the leaderboard</h2>')
        for i, g in enumerate(coll.others):
            body.append(f'<div class="notcomparable"><h3>Not comparable: {e(g.reason)}</h3>')
            body.append(_html_group(g, f"other-{i}"))
            body.append("</div>")
        body.append("</section>")
    if coll.refused:
        body.append('<section id="refused" class="refused"><h2>Refused result files</h2><ul>')
        body += [f"<li><code>{e(r.file)}</code>: {e(r.reason)}</li>" for r in coll.refused]
        body.append("</ul></section>")

    csp = (f"default-src 'none'; img-src 'self' data:; style-src {csp_hash(CSS)}; "
           f"script-src {csp_hash(SORT_JS)}; base-uri 'none'; form-action 'none'")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{e(csp)}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{e(title)}</title><style>{CSS}</style></head>\n<body>\n"
            + "\n".join(body) + f"\n<script>{SORT_JS}</script>\n</body></html>\n")


def render_leaderboard(suite: str, leaderboards_dir: str | Path = "leaderboards", out=print) -> dict:
    """Write ``README.md`` and ``index.html`` for a suite; returns their paths and the refused files."""
    coll = load_collection(suite, leaderboards_dir)
    md_path = atomic_write_text(coll.folder / "README.md", render_markdown(coll))
    html_path = atomic_write_text(coll.folder / "index.html", render_html(coll))
    n = len(coll.main.entries) if coll.main else 0
    out(f"leaderboard: {n} comparable results, {sum(len(g.entries) for g in coll.others)} not comparable, "
        f"{len(coll.refused)} refused → {md_path}, {html_path}")
    for r in coll.refused:
        out(f"  refused {r.file}: {r.reason}")
    for g in coll.others:
        out(f"  not comparable ({', '.join(x.name for x in g.entries)}): {g.reason}")
    log.info("wrote %s and %s", md_path, html_path)
    return {"readme": md_path, "html": html_path, "refused": coll.refused}
