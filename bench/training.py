"""The one training loop of every network the suite trains.

The reference classifier, the domain CLIP, the foundation sequence encoder and its fine-tuning probes,
the LDM's autoencoder and its UNet all train through :func:`train_steps`: exactly ``steps`` optimiser
steps (from ``start``, for a resumed run), each

1. ``model.train()``, then ``loss_of(step, micro)`` — the caller draws its seeded batch and returns the
   loss tensor (one call per micro-batch when ``grad_accum`` > 1);
2. a non-finite loss raises :class:`bench.errors.NonFiniteLoss` before it reaches the weights, naming
   what was trained, the step, and the fix (``on_nonfinite`` may say where the last good state is);
3. backward (through ``accelerator.backward`` when an :class:`accelerate.Accelerator` is given, inside
   ``accelerator.accumulate`` so gradient accumulation and multi-process runs are Accelerate's),
   ``optimizer.step()``, ``optimizer.zero_grad(set_to_none=True)``, ``scheduler.step()`` if any;
4. ``after_step(done)`` (e.g. an EMA update), then every hook ``(done, loss) -> stop?``: evaluation,
   checkpoints, logging, early stopping. A hook that returns ``True`` (the literal) ends training after
   that step; any other value, ``None`` included, goes on.

Seeding is the caller's: each caller draws its batches from its own ``torch.Generator``, so the
loop adds no randomness. Returns the last loss and the number of steps done.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Iterable

import torch

from bench.errors import NonFiniteLoss

Hook = Callable[[int, float], "bool | None"]


@dataclass
class Trained:
    loss: float  # the last step's loss (the last micro-batch's under accumulation)
    done: int  # steps done, counted from 0 (a resumed run includes the steps before ``start``)
    stopped_early: bool


def every(n: int, fn: Callable[[int, float], "bool | None"], last: int | None = None) -> Hook:
    """A hook calling ``fn(done, loss)`` every ``n`` steps (and at step ``last`` when given)."""
    def hook(done: int, loss: float):
        if (n and done % n == 0) or (last is not None and done == last):
            return fn(done, loss)
        return None
    return hook


def train_steps(model: torch.nn.Module, optimizer, loss_of: Callable[[int, int], torch.Tensor], steps: int, *,
                what: str, start: int = 0, grad_accum: int = 1, scheduler=None, accelerator=None,
                after_step: Callable[[int], None] | None = None, hooks: Iterable[Hook] = (),
                fix: str = "lower the learning rate (or use mixed_precision = \"no\"), then rerun",
                on_nonfinite: Callable[[], tuple[str | None, str]] | None = None) -> Trained:
    """Run the loop described in the module docstring; ``what`` names the network in errors."""
    hooks = list(hooks)
    loss_v, done = float("nan"), start
    for step in range(start, steps):
        model.train()
        for micro in range(grad_accum):
            ctx = accelerator.accumulate(model) if accelerator is not None else contextlib.nullcontext()
            with ctx:
                loss = loss_of(step, micro)
                loss_v = float(loss.detach())
                if loss_v != loss_v or loss_v in (float("inf"), float("-inf")):
                    where, fix_now = on_nonfinite() if on_nonfinite is not None else (None, fix)
                    raise NonFiniteLoss(f"{what}: training loss became {loss_v} at step {step + 1} of {steps}",
                                        where=where, fix=fix_now)
                if accelerator is not None:
                    accelerator.backward(loss)
                else:
                    loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
        if scheduler is not None:
            scheduler.step()
        done = step + 1
        if after_step is not None:
            after_step(done)
        stop = False
        for hook in hooks:
            stop = hook(done, loss_v) is True or stop  # only the literal True stops; None, counts, … go on
        if stop:
            return Trained(loss_v, done, done < steps)
    return Trained(loss_v, done, False)
