"""The task interface: suite-level preparation once, then one evaluation per generator.

A task (fidelity, alignment, memorisation, utility, ...) is registered by name with
``@register_task`` and configured by a ``tasks/<name>.toml`` file whose ``[params]`` table is
validated against the task's ``Params`` dataclass (suites can override keys in ``[overrides.<task>]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bench.columns import MetricColumn
from bench.stages import SuiteContext


class Task:
    name: ClassVar[str] = ""
    # The folder under ``ctx.shared_dir`` whose stage markers this task's ``prepare`` writes, when those
    # markers hold the whole of the suite-level work (metrics, no weights beside them): the run publishes
    # them with the suite's results and seeds them from there, so that every result of a suite version is
    # paired with one set of real-data arms, whichever machine or session computed it.
    shared_stages: ClassVar[str | None] = None
    # The folder under a generator's run folder whose stages each depend on one modality's images only
    # (the utility task's classifier cells): a suite of specialists, which answers each modality with its
    # member's own images, reuses its members' ones (bench.run.reuse_member_stages).
    modality_stages: ClassVar[str | None] = None

    @dataclass
    class Params:
        pass

    def __init__(self, params, ctx: SuiteContext):
        self.params = params
        self.ctx = ctx

    def prepare(self) -> None:
        """Suite-level work shared by all generators (train reference networks, real-only arms).
        Must be resumable (use ``ctx.stage``) and may add to ``ctx.reference_hashes``."""

    @classmethod
    def columns(cls, params) -> list[MetricColumn]:
        """The metrics this task reports, as the result declares them (:mod:`bench.columns`): a pure
        function of the task's parameters, written beside its metrics by the run."""
        return []

    def evaluate(self, gen) -> dict:
        """Metrics for one generator. ``gen`` is a :class:`bench.run.GeneratorRun`."""
        raise NotImplementedError
