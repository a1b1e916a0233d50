"""Measured compute: FLOPs of one step counted by ``torch.utils.flop_counter.FlopCounterMode``.

A FLOP here is one floating-point multiply or add as PyTorch's counter defines it (a matmul of
(m, k) by (k, n) counts 2·m·k·n); totals are "FLOPs of one measured step × number of steps", never
estimated from sizes. Wall times are seconds of ``time.perf_counter``.
"""

from __future__ import annotations

from typing import Callable

import torch


class _GlobalOnly:
    """Stands in for ``FlopCounterMode``'s module tracker: every FLOP is counted under "Global" only."""

    parents = {"Global"}

    def __enter__(self):
        return self

    def __exit__(self, *args):
        return None


def conv_backward_flops(grad_out_shape, x_shape, w_shape, _bias, _stride, _padding, _dilation, transposed,
                        _output_padding, _groups, output_mask, out_shape, **kwargs) -> int:
    """FLOPs of a convolution's backward: one forward's worth for the input gradient and one for the
    weight gradient, whatever the groups. torch's own formula ignores ``groups`` there ("I skip those for
    the sake of brevity"), so a grouped convolution's backward is counted ``groups`` times too high: the
    per-sample modulated convolutions of a StyleGAN-type generator (groups = batch) made a GAN step's
    count grow with the square of the batch."""
    from torch.utils.flop_counter import conv_flop_count

    forward = conv_flop_count(list(x_shape), list(w_shape), list(grad_out_shape), transposed)
    return forward * (int(bool(output_mask[0])) + int(bool(output_mask[1])))


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs executed by ``fn()`` (forward and, if ``fn`` calls it, backward): ``FlopCounterMode``'s
    total with a convolution backward that respects groups (:func:`conv_backward_flops`), and without its
    per-module breakdown, whose hooks fail on a module called under ``no_grad`` with inputs that require
    grad (gigagan-pytorch's trainer: "Expected gradient function to be set")."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False,
                              custom_mapping={torch.ops.aten.convolution_backward: conv_backward_flops})
    counter.mod_tracker = _GlobalOnly()
    with counter:
        fn()
    return int(counter.get_total_flops())


def n_params(module: torch.nn.Module, trainable_only: bool = False) -> int:
    return int(sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only))
