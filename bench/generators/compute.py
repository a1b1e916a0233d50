"""Measured compute: FLOPs of one step counted by ``torch.utils.flop_counter.FlopCounterMode``.

A FLOP here is one floating-point multiply or add as PyTorch's counter defines it (a matmul of
(m, k) by (k, n) counts 2·m·k·n); totals are "FLOPs of one measured step × number of steps", never
estimated from sizes. Wall times are seconds of ``time.perf_counter``.
"""

from __future__ import annotations

from typing import Callable

import torch


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs executed by ``fn()`` (forward and, if ``fn`` calls it, backward)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def n_params(module: torch.nn.Module, trainable_only: bool = False) -> int:
    return int(sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only))
