"""The one interface every generator implements: ``fit()`` then ``sample(prompts, n, seed)``.

A generator is built with its validated parameters, the suite's dataset, a work folder it owns
(``runs/<suite>/<generator>/fit``), the modalities it covers (all for a generalist, one for a
specialist) and a :class:`GeneratorContext`: what the run hands it (the suite's shared folder, the
device, its budget share, and for generators that check themselves while they train, the judge and the
curve's FD scorer). ``fit`` trains and saves its state to the work folder and returns compute facts;
``load`` restores that state in a later process, so a finished fit is never redone; ``sample`` returns
``Samples`` whose ``info`` says how they were made (sampler, steps, FLOPs, wall time).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar

import numpy as np

from bench.data.dataset import Dataset, PromptRequest
from bench.data.samples import Samples
from bench.errors import BenchError
from bench.recipes import NoParams


@dataclass
class GeneratorContext:
    """What a run hands a generator at construction (``bench.run.build_generator``)."""

    shared_dir: Path  # suite-level cache shared by all generators: runs/<suite>/_shared
    device: str = "cpu"
    budget_scale: float = 1.0  # specialists under "equal-compute" train for this fraction of the steps
    judge: Callable | None = None  # uint8 images → predicted global classes (the reference classifier)
    judge_sha256: str = ""  # the judge's weights' sha256 (part of every cache key it decides)
    fd_to: Callable | None = None  # real images → (images → FD to them in the reference features)
    ignore_autoencoder_gate: bool = False  # train the LDM's UNet even on an autoencoder that failed its gate
    # a suite of specialists: member row name → {"samples": its Samples, "fit": its fit record's output}
    members: dict | None = None


class Generator:
    """Base class. Subclasses set ``Params`` (a dataclass) and implement ``fit``/``load``/``sample``."""

    kind: ClassVar[str] = ""
    role: ClassVar[str] = "baseline"  # baseline | generalist | specialist | specialist-suite | external | ladder
    judged: ClassVar[bool] = False  # checks itself against the reference networks while fitting (the LDM)
    # its samples are a pure function of the suite's data and the sampling seed (no training): the run does
    # not publish its sample set, and rescoring regenerates it and checks it against the result's sha256
    regenerable: ClassVar[bool] = False

    Params = NoParams

    def __init__(self, name: str, params, dataset: Dataset, workdir: Path,
                 modalities: list[int] | None = None, context: GeneratorContext | None = None):
        self.name = name
        self.params = params
        self.dataset = dataset
        self.workdir = Path(workdir)
        self.modalities = list(range(len(dataset.modalities))) if modalities is None else list(modalities)
        self.context = context or GeneratorContext(shared_dir=self.workdir.parent.parent / "_shared")
        self.device = self.context.device
        self.shared_dir = self.context.shared_dir
        self.budget_scale = self.context.budget_scale

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
