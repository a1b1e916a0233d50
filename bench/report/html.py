"""The leaderboard page (:mod:`bench.report.page`) as one static HTML file, through a Jinja2 template
with autoescape: every string of the model is escaped by the engine, none by hand.

The page needs no server and loads nothing from outside: its stylesheet and its one script (column
sorting) are inline, and a Content-Security-Policy allows exactly those two (by their sha256) and
images from the page's own folder.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from bench.io import csp_hash
from bench.report.page import Page, plain
from bench.report.values import DASH

TEMPLATES = Path(__file__).resolve().parent / "templates"


@lru_cache(maxsize=1)
def environment() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                       keep_trailing_newline=True)


def asset(name: str) -> str:
    return (TEMPLATES / name).read_text()


def sort_key(v) -> str:
    """A cell's ``data-v``: numbers as Python floats (parseFloat reads them), text as is, missing empty."""
    if v is None:
        return ""
    return repr(float(v)) if isinstance(v, (int, float)) else str(v)


def render_html(page: Page) -> str:
    css, js = asset("leaderboard.css"), asset("sort.js")
    csp = (f"default-src 'none'; img-src 'self' data:; style-src {csp_hash(css)}; "
           f"script-src {csp_hash(js)}; base-uri 'none'; form-action 'none'")
    return environment().get_template("leaderboard.html").render(
        page=page, title=plain(page.title), csp=csp, css=Markup(css), js=Markup(js), dash=DASH,
        sort_key=sort_key, kind=lambda b: type(b).__name__)
