"""Leaderboards and paper figures, rendered from result JSON files alone.

``collection`` reads and vets ``leaderboards/<suite>/results/*.json`` and groups them by
comparability; ``metrics`` picks numbers out of a result defensively (a missing metric is ``None``);
``leaderboard`` renders the Markdown table and the static HTML page; ``figures`` the paper figures.
Nothing here reads run folders or datasets, so anyone can regenerate both from the result files.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("bench.report")


def suite_dir(leaderboards_dir: str | Path, suite: str) -> Path:
    """``leaderboards/<suite>``; a suite given as a ``.toml`` path is named by its file stem."""
    name = Path(suite).stem if suite.endswith(".toml") else suite
    return Path(leaderboards_dir) / name


def render_all(suite: str, leaderboards_dir: str | Path = "leaderboards", out=print) -> dict:
    """Figures first (so the page can embed them), then the leaderboard. Returns what was written."""
    from bench.report.figures import render_figures
    from bench.report.leaderboard import render_leaderboard

    figs = render_figures(suite, leaderboards_dir, out=out)
    board = render_leaderboard(suite, leaderboards_dir, out=out)
    return {"figures": figs, **board}
