"""Paper figures of one suite, from its comparable result files alone (PNG and PDF, one style): one
module per figure, the shared style in ``style``, captions in ``captions``.

Every figure is sized for a paper column (3.5 in; 7.16 in for the wide ones) and skips cleanly, with
the reason logged, when the results hold no data for it:

- ``samples_<modality>``: the gallery of every prompt, real held-out images beside each generator;
- ``fd_per_modality``: Fréchet distance per modality, generalist vs specialists (baselines as bounds);
- ``utility_gain``: accuracy gain over real-only vs the real-data budget, one line per generator and
  arm (real+synthetic solid, synthetic only dashed), 95% CI bands;
- ``utility_regimes``: the generalist's test accuracy vs real images per class: the real-only ladder
  beside augmentation, synthetic, real + synthetic and pretrain + fine-tune at the generator budgets;
- ``utility_quantity``: accuracy vs synthetic images per class, synthetic only and real + synthetic;
- ``utility_equivalent``: the real-data-equivalent multiplier of real + synthetic vs the real budget;
- ``memorisation_distances``: nearest-training-image distances of synthetic vs held-out real images;
- ``memorisation_closest_pairs``: each generator's closest synthetic/training pairs;
- ``quality_vs_compute``: FD against training compute (checkpoints where recorded; the specialists'
  summed cost beside the generalist's);
- ``alignment_per_modality``: CLIP score and conditional accuracy per modality;
- ``foundation_probes``: linear-probe accuracy vs label budget of encoders pretrained contrastively on
  real, synthetic and real + synthetic pairs, and trained from scratch (fine-tuned), with 95% CIs;
- ``training_curve``: the LDMs' conditional accuracy over training, one panel per modality;
- ``reader_study``: reader AUC and human alignment, where a published reader study rates the generators;
- ``metric_sensitivity``: each metric's worse-direction rank correlation with the severity of each
  controlled-degradation ladder;
- ``metric_validity``: each metric's rank correlation with the utility gains over (generator, modality)
  cells, ladder rows included (these two are the figures that see the ladder rows).

A new figure is a module here with a function ``(entries, folder) -> paths`` that raises ``Skip`` when
the results hold no data for it, listed in ``FIGURES`` with its caption in ``captions.CAPTIONS``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from bench.report import log
from bench.report.collection import load_collection
from bench.report.figures.alignment_per_modality import fig_alignment
from bench.report.figures.captions import CAPTIONS
from bench.report.figures.closest_pairs import fig_closest_pairs
from bench.report.figures.fd_per_modality import fig_fd
from bench.report.figures.foundation_probes import fig_foundation
from bench.report.figures.memorisation_distances import fig_memorisation_hist
from bench.report.figures.metric_sensitivity import fig_metric_sensitivity
from bench.report.figures.metric_validity import fig_metric_validity
from bench.report.figures.quality_vs_compute import fig_quality_compute
from bench.report.figures.reader_study import fig_reader_study
from bench.report.figures.samples import fig_samples
from bench.report.figures.style import Skip
from bench.report.figures.training_curve import fig_training_curve
from bench.report.figures.utility_equivalent import fig_utility_equivalent
from bench.report.figures.utility_gain import fig_utility
from bench.report.figures.utility_quantity import fig_utility_quantity
from bench.report.figures.utility_regimes import fig_utility_regimes


FIGURES: list[tuple[str, Callable]] = [
    ("samples", fig_samples),
    ("fd_per_modality", fig_fd),
    ("utility_gain", fig_utility),
    ("utility_regimes", fig_utility_regimes),
    ("utility_quantity", fig_utility_quantity),
    ("utility_equivalent", fig_utility_equivalent),
    ("memorisation_distances", fig_memorisation_hist),
    ("memorisation_closest_pairs", fig_closest_pairs),
    ("quality_vs_compute", fig_quality_compute),
    ("alignment_per_modality", fig_alignment),
    ("foundation_probes", fig_foundation),
    ("training_curve", fig_training_curve),
    ("reader_study", fig_reader_study),
    ("metric_sensitivity", fig_metric_sensitivity),
    ("metric_validity", fig_metric_validity),
]
LADDER_FIGURES = {"metric_sensitivity", "metric_validity"}  # figures that are handed the ladder rows beside the leaderboard's
VARIANT_FIGURES = {"metric_validity"}  # ... and the variant rows (checkpoints, guidance scales, seeds)
SUITE_FIGURES = {"quality_vs_compute"}  # figures that draw the suites of specialists as rows of their own


def figure_rows(group, name: str) -> list:
    """The rows figure ``name`` is handed: the leaderboard's rows without the suites of specialists (in
    per-modality figures a suite repeats its specialists) unless it draws them, plus ladders and variants
    where it uses them."""
    rows = group.entries if name in SUITE_FIGURES else group.per_modality_entries
    return (rows + (group.ladders if name in LADDER_FIGURES else [])
            + (group.variants if name in VARIANT_FIGURES else []))


def render_figures(suite: str, leaderboards_dir: str | Path = "leaderboards", out=print) -> list[Path]:
    """Write every figure the comparable results have data for; remove stale ones; return the paths."""
    coll = load_collection(suite, leaderboards_dir)
    folder = coll.folder / "figures"
    written: list[Path] = []
    if coll.main is None:
        out("figures: no comparable results")
        return written
    for name, fn in FIGURES:
        try:
            res = fn(figure_rows(coll.main, name), folder)
        except Skip as exc:
            out(f"  figure {name}: skipped ({exc})")
            log.info("figure %s skipped: %s", name, exc)
            continue
        except Exception as exc:  # noqa: BLE001 - one unexpected result layout must not cost the others
            import matplotlib.pyplot as plt

            plt.close("all")
            out(f"  figure {name}: FAILED ({type(exc).__name__}: {exc}); the other figures are unaffected")
            log.warning("figure %s failed", name, exc_info=True)
            continue
        paths = [p for ps in res.values() for p in ps] if isinstance(res, dict) else res
        written += paths
    keep = {p.name for p in written}
    if folder.is_dir():
        for f in folder.iterdir():
            if f.suffix in (".png", ".pdf") and f.name not in keep and _is_ours(f.stem):
                f.unlink()
    out(f"figures: {len({p.stem for p in written})} written → {folder}")
    return written


def _is_ours(stem: str) -> bool:
    return stem.startswith("samples_") or stem in CAPTIONS
