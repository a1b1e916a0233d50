"""The one interface every generator implements: ``fit()`` then ``sample(prompts, n, seed)``.

A generator is built with its validated parameters, the suite's dataset, a work folder it owns
(``runs/<suite>/<generator>/fit``) and the modalities it covers (all for a generalist, one for a
specialist). ``fit`` trains and saves its state to the work folder and returns compute facts;
``load`` restores that state in a later process, so a finished fit is never redone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from bench.data.dataset import Dataset, PromptRequest
from bench.data.samples import Samples
from bench.errors import BenchError


class Generator:
    """Base class. Subclasses set ``Params`` (a dataclass) and implement ``fit``/``load``/``sample``."""

    kind: ClassVar[str] = ""
    role: ClassVar[str] = "baseline"  # baseline | generalist | specialist | external
    budget_scale: float = 1.0  # specialists under "equal-compute" train for a fraction of the steps

    @dataclass
    class Params:
        pass

    def __init__(self, name: str, params, dataset: Dataset, workdir: Path,
                 modalities: list[int] | None = None, device: str = "cpu"):
        self.name = name
        self.params = params
        self.dataset = dataset
        self.workdir = Path(workdir)
        self.modalities = list(range(len(dataset.modalities))) if modalities is None else list(modalities)
        self.device = device
        self.shared_dir = self.workdir.parent.parent / "_shared"  # suite-level cache (set by the run)

    def train_split(self):
        """The real training images this generator may learn from (its modalities only)."""
        train = self.dataset.splits["train"]
        return train.subset(np.flatnonzero(np.isin(train.modality, self.modalities)))

    def fit(self) -> dict:
        """Learn from the training split; save state into ``self.workdir``; return compute facts."""
        return {}

    def load(self) -> None:
        """Restore the state that ``fit`` saved."""

    def sample(self, prompts: list[PromptRequest], n: int, seed: int) -> Samples:
        raise NotImplementedError

    def check_prompts(self, prompts: list[PromptRequest]) -> None:
        for p in prompts:
            if p.modality not in self.modalities:
                raise BenchError(f"{self.name} does not cover modality "
                                 f"{self.dataset.modalities[p.modality].key!r} (prompt {p.text!r})")
