"""A leaderboard page as data, and its Markdown rendering.

One model — a title, an introduction and sections of paragraphs, tables and figures — is built once
from the results (:mod:`bench.report.leaderboard`) and rendered twice: to Markdown here
(``README.md``) and to HTML by a Jinja2 template with autoescape (:mod:`bench.report.html`,
``index.html``). Text is plain everywhere in the model; each renderer makes it inert in its own
format (Markdown punctuation escaped here, HTML escaped by the template engine).

Inline text is a list of spans ``(kind, text)``: ``"text"``, ``"code"`` (monospace), ``"hash"``
(a hash, monospace) or ``("link", text, href)`` with a relative href.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Union

Span = tuple  # ("text" | "code" | "hash", text) or ("link", text, href)


def text(s: str) -> list[Span]:
    return [("text", str(s))]


@dataclass
class Cell:
    text: str  # display text (plain)
    sort: float | str | None  # sort key (None: missing, always last)
    title: str = ""  # tooltip in HTML


@dataclass
class RowGroup:
    """Rows of a table under one label (HTML: a labelled ``tbody`` sorted on its own; Markdown: a
    sub-heading and a table of its own)."""

    label: str
    css: str  # "gens" | "bounds" | "rows"
    rows: list[list[Cell]]
    note: str = ""  # a sentence under the label
    empty: str = ""  # what to say when there are no rows ("" = leave the group out)


@dataclass
class Table:
    id: str
    headers: list[str]
    helps: list[str]  # one per header: its definition (HTML: the header's title)
    groups: list[RowGroup]
    text_columns: int = 2  # leading columns sorted as text, the rest as numbers (unless "reference…")


@dataclass
class Paragraph:
    spans: list[Span]


@dataclass
class Bullets:
    items: list[list[Span]]


@dataclass
class Figure:
    src: str  # relative to the page, e.g. figures/fd_per_modality.png
    caption: str
    pdf: str = ""  # the PDF beside it, relative, when there is one


@dataclass
class Subsection:
    title: str
    blocks: list["Block"]
    css: str = ""


Block = Union[Paragraph, Bullets, Table, Figure, Subsection]


@dataclass
class Section:
    id: str
    title: str
    blocks: list[Block]
    nav: str = ""  # its link text in the page's navigation ("" = not linked)
    css: str = ""


@dataclass
class Page:
    title: list[Span]  # the heading; its plain text is the HTML <title>
    intro: list[Span]
    sections: list[Section] = field(default_factory=list)


# -- Markdown ------------------------------------------------------------------------------------

MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]|#"})


def md(s: str, strip: bool = True) -> str:
    """Plain text made inert in Markdown: HTML-escaped, Markdown punctuation escaped, one line (runs of
    white space made one space; stripped unless ``strip`` is false, for text between spans)."""
    s = re.sub(r"\s+", " ", str(s))
    return html.escape(s.strip() if strip else s, quote=False).translate(MD_SPECIAL)


def md_code(s: str) -> str:
    """A code span; text holding a backtick or HTML punctuation is written as escaped plain text instead
    (a code span is literal in CommonMark, but not in every Markdown renderer)."""
    s = " ".join(str(s).split())
    return md(s) if not s or any(c in s for c in "`<>&") else f"`{s}`"


def plain(spans: list[Span]) -> str:
    return "".join(sp[1] for sp in spans)


def md_spans(spans: list[Span]) -> str:
    out = []
    for sp in spans:
        kind, body = sp[0], sp[1]
        if kind in ("code", "hash"):
            out.append(md_code(body))
        elif kind == "link":
            out.append(f"[{md(body)}]({sp[2]})")
        else:
            out.append(md(body, strip=False))
    return "".join(out).strip()


def md_table(headers: list[str], rows: list[list[Cell]], italic: bool = False) -> str:
    lines = ["| " + " | ".join(md(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    for cells in rows:
        texts = [md(c.text) for c in cells]
        if italic:
            texts[0] = f"*{texts[0]}*"
        lines.append("| " + " | ".join(texts) + " |")
    return "\n".join(lines)


def md_block(b: Block, level: int) -> list[str]:
    if isinstance(b, Paragraph):
        return [md_spans(b.spans), ""]
    if isinstance(b, Bullets):
        return [f"- {md_spans(item)}" for item in b.items] + [""]
    if isinstance(b, Figure):
        return [f"![{md(b.caption)}]({b.src})", "", f"*{md(b.caption)}*", ""]
    if isinstance(b, Subsection):
        out = [f"{'#' * (level + 1)} {md(b.title)}", ""]
        for inner in b.blocks:
            out += md_block(inner, level + 1)
        return out
    out = []
    labelled = len([g for g in b.groups if g.rows or g.empty]) > 1 or any(g.empty for g in b.groups)
    for g in b.groups:
        if not g.rows and not g.empty:
            continue
        if g.label and labelled:
            out += [f"{'#' * (level + 1)} {md(g.label)}", ""]
        if g.note:
            out += [md(g.note), ""]
        out += [md_table(b.headers, g.rows, italic=g.css == "bounds"), ""] if g.rows else [md(g.empty), ""]
    return out


def render_markdown(page: Page) -> str:
    out = [f"# {md_spans(page.title)}", "", md_spans(page.intro), ""]
    for s in page.sections:
        out += [f"## {md(s.title)}", ""]
        for b in s.blocks:
            out += md_block(b, 2)
    return "\n".join(out).rstrip() + "\n"
