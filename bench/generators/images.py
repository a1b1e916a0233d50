"""``images``: any external generator's output, as a folder of images and a manifest CSV.

The manifest (``path,prompt``; further columns are ignored) lists each image by its path inside the
folder and the suite prompt it was generated from (``medsyn-bench prompts --suite S`` lists them).
Validation refuses a missing file, an image that does not decode, an unknown prompt, and a path
that leaves the folder (``..``, absolute, symlinks pointing out).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.data.dataset import PromptRequest
from bench.errors import BenchError
from bench.data.samples import Samples, read_samples
from bench.generators.base import Generator
from bench.recipes import ImageFolderParams
from bench.registry import register_generator


@register_generator("images")
class ImageFolderGenerator(Generator):
    role = "external"
    machine_params = ("folder",)  # a place on the submitter's machine: not published (see run.published_spec)

    Params = ImageFolderParams

    def _folder(self) -> Path:
        if not self.params.folder:
            raise BenchError("the images generator needs params.folder", where=self.name,
                             fix="set [params] folder = \"/path/to/images\" or use medsyn-bench submit --images DIR")
        folder = Path(self.params.folder).expanduser()
        if not folder.is_dir():
            raise BenchError("image folder not found", where=str(folder))
        return folder

    def fit(self) -> dict:
        self.load()
        return {"images_submitted": int(len(self.pool.requests))}

    def load(self) -> None:
        folder = self._folder()
        if self.params.manifest != "manifest.csv":
            raise BenchError("the manifest must be called manifest.csv", where=str(folder))
        if not (folder / "manifest.csv").is_file():
            raise BenchError("manifest.csv not found in the image folder", where=str(folder),
                             fix="write manifest.csv with the columns path,prompt")
        self.pool = read_samples(folder, self.dataset)

    def sample(self, prompts: list[PromptRequest], n: int, seed: int) -> Samples:
        """The first ``n`` submitted images of each prompt, in manifest order (seed is not used)."""
        classes = self.pool.classes
        images, reqs = [], []
        for p in prompts:
            idx = np.flatnonzero(classes == p.cls)[:n]
            if len(idx) == 0:
                raise BenchError(f"no image submitted for prompt {p.text!r}", where=str(self._folder()),
                                 fix="submit images for every prompt of the suite (medsyn-bench prompts)")
            images.append(self.pool.images[idx])
            reqs += [p] * len(idx)
        return Samples(np.concatenate(images), reqs, [self.pool.seeds[0]] * len(reqs))
