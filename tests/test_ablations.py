"""The ablation table: the curve point at equal training time per variant, deltas, Wilson intervals
(checked on closed-form cases), the rendered Markdown, and clear refusals."""

from __future__ import annotations

import pytest

from bench.errors import BenchError
from bench.io import atomic_write_json, read_json
from bench.report.ablations import (collect_ablations, publish_ablations, render_ablations, settings_of,
                                    wilson_interval)


def point(step, minutes, acc, fd, n=168):
    return {"step": step, "train_wall_s": minutes * 60, "conditional_accuracy": acc, "n_samples": n,
            "per_modality": {"bloodmnist": acc / 2, "organamnist": acc}, "fd_val": fd, "curve_key": "k",
            "per_modality_modality_accuracy": {"bloodmnist": 0.25, "organamnist": 1.0}}


def write_fit(suite_dir, name, curve, flops_per_step=1e9):
    atomic_write_json(suite_dir / name / "stages" / "fit.json",
                      {"stage": "fit", "input_hash": "h", "wall_s": 1.0,
                       "output": {"curve": curve, "flops_per_step": flops_per_step}})


def test_wilson_interval_known_cases():
    # closed forms with z = 1.959964: k = 0 → (0, z²/(n+z²)), k = n → (n/(n+z²), 1); 5/10 → 0.2366..0.7634
    z2 = 1.959964 ** 2
    assert wilson_interval(0, 10) == pytest.approx((0.0, z2 / (10 + z2)), abs=1e-6)
    assert wilson_interval(168, 168) == pytest.approx((168 / (168 + z2), 1.0), abs=1e-6)
    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert all(v != v for v in wilson_interval(0, 0))  # no samples: NaN, not a made-up interval


def test_rows_are_read_at_equal_training_time(tmp_path):
    suite = tmp_path / "small"
    write_fit(suite, "ldm-small", [point(1000, 10, 0.40, 9.0), point(2000, 20, 0.50, 7.0), point(3000, 30, 0.52, 6.5)])
    # the same FLOPs per step, slowed down by other work on the machine: still read at step 2000
    write_fit(suite, "ldm-small+snr_gamma=5", [point(1000, 10, 0.45, 8.0), point(2000, 35, 0.60, 6.0)])
    # twice the FLOPs per step: read at step 1000, not 2000
    write_fit(suite, "ldm-small+unet_layers_per_block=3", [point(1000, 21, 0.55, 7.5), point(2000, 42, 0.7, 5.0)],
              flops_per_step=2e9)
    write_fit(suite, "ldm-smaller", [point(2000, 20, 0.9, 1.0)])  # another generator, not a variant
    data = collect_ablations(suite, "ldm-small")
    assert data["at_step"] == 2000  # the last step every variant reached
    rows = {r["name"]: r for r in data["rows"]}
    assert set(rows) == {"ldm-small", "ldm-small+snr_gamma=5", "ldm-small+unet_layers_per_block=3"}
    assert rows["ldm-small+snr_gamma=5"]["step"] == 2000
    assert rows["ldm-small+snr_gamma=5"]["delta_conditional_accuracy"] == pytest.approx(0.10)
    assert rows["ldm-small+snr_gamma=5"]["delta_fd_val"] == pytest.approx(-1.0)
    assert rows["ldm-small+unet_layers_per_block=3"]["step"] == 1000
    assert rows["ldm-small+snr_gamma=5"]["settings"] == {"snr_gamma": "5"}
    assert collect_ablations(suite, "ldm-small", at_step=1000)["rows"][1]["step"] == 1000
    js, md = publish_ablations(suite, "ldm-small", tmp_path / "lb")
    text = md.read_text()
    assert "`snr_gamma=5`" in text and "+0.100" in text and "| 2,000 | 20.0 | 0.500 |" in text
    assert data["matched_on"] == "flops"
    # without FLOPs for some row, every row is matched on wall time
    write_fit(suite, "ldm-small+snr_gamma=5", [point(1000, 10, 0.45, 8.0), point(2000, 35, 0.60, 6.0)], None)
    walls = {r["name"]: r["step"] for r in collect_ablations(suite, "ldm-small")["rows"]}
    assert walls["ldm-small+snr_gamma=5"] == 1000 and walls["ldm-small+unet_layers_per_block=3"] == 1000
    assert "0.30 (0.25)" in text  # blood's class accuracy at step 2000 of the snr variant, in-modality share
    assert render_ablations(read_json(js)) == text


def test_refusals(tmp_path):
    suite = tmp_path / "small"
    with pytest.raises(BenchError, match="no finished fit"):
        collect_ablations(suite, "ldm-small")
    write_fit(suite, "ldm-small", [])
    with pytest.raises(BenchError, match="no training curve"):
        collect_ablations(suite, "ldm-small")
    write_fit(suite, "ldm-small", [point(1000, 10, 0.4, 9.0)])
    with pytest.raises(BenchError, match="no curve point at step 5"):
        collect_ablations(suite, "ldm-small", at_step=5)
    with pytest.raises(BenchError, match="not an ablations file"):
        render_ablations({"schema": "other"})
    assert settings_of("ldm-small", "ldm-small+lr=5e-4+ema_decay=0") == {"lr": "5e-4", "ema_decay": "0"}
