"""``foundation_probes``: linear-probe accuracy vs label budget of encoders pretrained contrastively on
real, synthetic and real + synthetic pairs, and trained from scratch (fine-tuned), with 95% CIs.
"""

from __future__ import annotations

from pathlib import Path

from bench.report.collection import Entry
from bench.report.figures.style import in_plot_order, plain, pyplot, save, Skip, WIDE_IN
from bench.report.values import dig, number, task_of_kind


FOUNDATION_SOURCES = (("real", "linear_accuracy", "-"), ("synthetic", "linear_accuracy", "--"),
                      ("both", "linear_accuracy", ":"), ("scratch", "finetune_accuracy", "-."))


def fig_foundation(entries: list[Entry], folder: Path) -> list[Path]:
    plt, sns = pyplot()
    data = {e.name: dig(task_of_kind(e.result, "foundation"), "probes") for e in in_plot_order(entries)}
    data = {k: v for k, v in data.items() if isinstance(v, dict)}
    if not data:
        raise Skip("no foundation probes in the results (foundation task not run, or skipped for every generator)")
    fig, axes = plt.subplots(1, len(data), figsize=(min(WIDE_IN, 2.4 * len(data) + 0.6), 2.4), squeeze=False,
                             sharey=True)
    for ax, (name, probes) in zip(axes.flat, data.items()):
        for source, metric, style in FOUNDATION_SOURCES:
            budgets = [b for b in probes.get(source, {}) if b.endswith("%")]
            budgets.sort(key=lambda b: float(b[:-1]))
            pts = [(float(b[:-1]), dig(probes, source, b, metric)) for b in budgets]
            pts = [(x, c) for x, c in pts if isinstance(c, dict) and number(c.get("mean")) is not None]
            if not pts:
                continue
            xs = [x for x, _ in pts]
            ys = [c["mean"] for _, c in pts]
            err = [[y - (c.get("ci") or [y, y])[0] for y, (_, c) in zip(ys, pts)],
                   [(c.get("ci") or [y, y])[1] - y for y, (_, c) in zip(ys, pts)]]
            label = f"{source} ({'linear' if metric.startswith('linear') else 'fine-tune'})"
            ax.errorbar(xs, ys, yerr=err, ls=style, marker="o", ms=2.5, capsize=2, lw=1, label=label)
        chance = dig(probes, "real", "zero-shot", "chance_accuracy", "mean")
        if number(chance) is not None:
            ax.axhline(chance, color="#888", lw=0.6, zorder=0)
        ax.set_xscale("log")
        ticks = sorted({float(b[:-1]) for src in probes.values() if isinstance(src, dict) for b in src
                        if b.endswith("%")})
        ax.set_xticks(ticks)
        ax.set_xticklabels([f"{t:g}" for t in ticks])
        ax.minorticks_off()
        ax.set_title(plain(name))
        ax.set_xlabel("labels used (%)")
        sns.despine(ax=ax)
    axes.flat[0].set_ylabel("probe test accuracy")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, frameon=False, loc="lower center", ncol=min(4, len(labels)))
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    return save(fig, folder, "foundation_probes")
