"""``reader_study``: reader AUC per generator and human alignment against the CLIP score.
"""

from __future__ import annotations

from pathlib import Path

from bench.report.collection import Entry
from bench.report.figures.style import in_plot_order, palette, plain, pyplot, save, series, Skip, WIDE_IN
from bench.report.values import metric


def fig_reader_study(entries: list[Entry], folder: Path) -> list[Path]:
    plt, sns = pyplot()
    rows = []
    for e in in_plot_order(entries):
        auc, _ = metric(e.result, "reader_auc")
        human, ci = metric(e.result, "human_alignment")
        clip, _ = metric(e.result, "clip_score")
        if auc is not None or human is not None:
            rows.append((e, auc, human, ci, clip))
    if not rows:
        raise Skip("no published reader study rates these generators "
                   "(medsyn-bench reader-study analyse STUDY --publish)")
    colours = palette(entries)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(WIDE_IN * 0.8, 2.4))
    names = [plain(e.name) for e, *_ in rows]
    ax1.barh(range(len(rows)), [a if a is not None else 0 for _, a, *_ in rows],
             color=[colours.get(series(e)) for e, *_ in rows])
    ax1.axvline(0.5, color="#888", lw=0.8, ls="--")
    ax1.set_yticks(range(len(rows)))
    ax1.set_yticklabels(names)
    ax1.invert_yaxis()
    ax1.set_xlim(0, 1)
    ax1.set_xlabel("reader AUC, real vs synthetic ↓")
    for e, _, human, ci, clip in rows:
        if human is None or clip is None:
            continue
        err = [[human - ci[0]], [ci[1] - human]] if ci else None
        ax2.errorbar([clip], [human], yerr=err, fmt="o", ms=4, capsize=2, color=colours.get(series(e)))
        ax2.annotate(plain(e.name), (clip, human), xytext=(3, 3), textcoords="offset points", fontsize=6)
    ax2.set_xlabel("domain-CLIP score ↑")
    ax2.set_ylabel("human alignment (1–5) ↑")
    ax2.set_ylim(0.8, 5.3)
    sns.despine(fig=fig)
    fig.tight_layout()
    return save(fig, folder, "reader_study")
