"""``specialist-suite``: the per-modality specialists of one model and budget rule, taken together.

MediSyn's "coordinated suite of task-specific models" is the generalist's fair rival: it covers every
modality, as the generalist does, so its pooled numbers are comparable with the generalist's (a single
specialist's pooled value covers one modality only). Nothing is trained here: each prompt is answered
by the specialist of its modality, with that specialist's own images in its own order (so every
per-modality number of the suite equals its specialist's), and the suite's training compute is the sum
of its members'. The run samples the members first and hands their samples and fit records over
(``GeneratorContext.members``, ``bench.run.sample_generator``).
"""

from __future__ import annotations

import numpy as np

from bench.data.dataset import PromptRequest
from bench.data.samples import Samples
from bench.errors import BenchError
from bench.generators.base import Generator
from bench.recipes import SpecialistSuiteParams
from bench.registry import register_generator

SUMMED = ("train_flops", "train_wall_s", "unet_train_flops", "images_seen")  # compute facts added over members


@register_generator("specialist-suite")
class SpecialistSuite(Generator):
    """Every prompt answered by the member specialist that covers its modality (module doc)."""

    role = "specialist-suite"
    Params = SpecialistSuiteParams

    def _members(self) -> dict:
        members = self.context.members
        if not members or sorted(members) != sorted(self.params.members):
            raise BenchError(f"{self.name}: the run did not hand over the samples of its members "
                             f"({', '.join(self.params.members) or 'none named'})",
                             fix="run it through medsyn-bench run, which samples the specialists first")
        return members

    def fit(self) -> dict:
        """Nothing to train: the members' compute, summed, and each member's own facts."""
        fits = {name: dict(m["fit"]) for name, m in self._members().items()}
        out = {"members": {name: {k: f[k] for k in SUMMED if isinstance(f.get(k), (int, float))}
                           for name, f in fits.items()}}
        for k in SUMMED:
            values = [f.get(k) for f in fits.values()]
            if values and all(isinstance(v, (int, float)) for v in values):
                out[k] = sum(values)
        return out

    def sample(self, prompts: list[PromptRequest], n: int, seed: int) -> Samples:
        """The member's first ``n`` images of each prompt, in the order of ``prompts``."""
        self.check_prompts(prompts)
        by_modality = {}
        for name, m in self._members().items():
            for mod in set(m["samples"].modality.tolist()):
                if mod in by_modality:
                    raise BenchError(f"{self.name}: members {by_modality[mod][0]} and {name} both cover modality "
                                     f"{self.dataset.modalities[mod].key!r}")
                by_modality[mod] = (name, m["samples"])
        images, reqs, seeds = [], [], []
        for p in prompts:
            if p.modality not in by_modality:
                raise BenchError(f"{self.name}: no member covers modality {self.dataset.modalities[p.modality].key!r}",
                                 fix=f"members: {', '.join(self.params.members)}")
            name, s = by_modality[p.modality]
            rows = [i for i, t in enumerate(s.texts) if t == p.text][:n]
            if len(rows) < n:
                raise BenchError(f"{self.name}: member {name} has {len(rows)} images of {p.text!r}, {n} are needed")
            images.append(s.images[rows])
            reqs += [p] * n
            seeds += [s.seeds[i] for i in rows]
        return Samples(np.concatenate(images), reqs, seeds,
                       info={"sampler": "the members' own samples",
                             "members": sorted(name for name, _ in by_modality.values())})
