"""Checking an external submission (a folder of images + ``manifest.csv``) before any work is done.

:func:`check_submission` reads the manifest and every file it lists once, and collects every problem
it finds (never stopping at the first): paths that leave the folder, missing or unreadable files,
images over the pixel cap (refused from the header, before decoding), images that do not decode,
wrong size, unsupported modes, wrong channels for the prompt's modality, unknown prompts, paths or
contents listed twice, and prompts with too few images. The rules are those the scoring run applies
(``bench.data.images``), plus the exact suite size, which the run would otherwise resize to.

Text from the submission (paths, prompts) stays data: it is shown with ``repr`` in messages.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from bench.data.dataset import Dataset
from bench.data.images import GREY_MODES, IMAGE_FORMATS, MAX_PIXELS, to_array
from bench.errors import BenchError
from bench.io import sha256_file, sha256_json

MANIFEST = "manifest.csv"
REQUIRED = ("path", "prompt")
IN_MEMORY_BYTES = 64 << 20  # files up to this size are read once into memory, larger ones streamed twice
ACCEPTED_MODES = ("grey: L, LA, 1, 16-bit I;16, 32-bit I, float F (scaled min-max to 8 bits); "
                  "colour: RGB, RGBA, P (palette)")

# problem kinds, in the order they are printed, with their group titles
KINDS = {
    "manifest": "manifest",
    "path": "paths that are empty, absolute or lead outside the folder",
    "file": "files missing or not regular files",
    "pixels": "images over the pixel cap (decompression bombs)",
    "decode": "files that do not decode as images",
    "size": "wrong image size",
    "mode": "unsupported mode or bit depth",
    "channels": "wrong channels for the modality",
    "prompt": "unknown prompts",
    "duplicate": "listed twice",
    "count": "too few images for a prompt",
    "extra": "more images than needed",
}


@dataclass(frozen=True)
class Problem:
    """One finding: its kind (a key of ``KINDS``), the manifest line (header = 1; None for the whole
    manifest or a prompt), the row's path as listed, what is wrong and how to fix it."""

    kind: str
    message: str
    fix: str
    line: int | None = None
    path: str | None = None

    def render(self) -> str:
        where = f"{MANIFEST} line {self.line}" if self.line else MANIFEST
        return f"{where}: {self.message} — fix: {self.fix}"


@dataclass
class SubmissionReport:
    """What :func:`check_submission` found; ``ok`` when there is no problem (warnings allowed)."""

    folder: Path
    suite: str
    n_per_prompt: int
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    rows: int = 0
    usable: int = 0  # rows without any problem
    images_per_prompt: dict[str, int] = field(default_factory=dict)  # canonical prompt → usable images
    bytes_read: int = 0
    content_sha256: str | None = None  # over sorted (path, sha256) of the listed files and the manifest

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        return f"{len(self.problems)} problem{'s' * (len(self.problems) != 1)} in {self.folder / MANIFEST}"

    def counts(self) -> str:
        per = list(self.images_per_prompt.values()) or [0]
        return (f"{self.rows} rows, {self.usable} usable images; {len(self.images_per_prompt)} prompts × "
                f"{self.n_per_prompt} needed (found {min(per)} to {max(per)} per prompt)")

    def problem_lines(self, limit: int | None = None) -> list[str]:
        """Every problem as one line, grouped by kind with a count; after ``limit`` lines, '… and K more'."""
        return _grouped(self.problems, limit)

    def warning_lines(self) -> list[str]:
        return _grouped(self.warnings, None)


def _grouped(problems: list[Problem], limit: int | None) -> list[str]:
    out, shown = [], 0
    for kind, title in KINDS.items():
        group = [p for p in problems if p.kind == kind]
        if not group:
            continue
        out.append(f"{title} ({len(group)}):")
        for p in group:
            if limit is not None and shown >= limit:
                out.append(f"… and {len(problems) - shown} more")
                return out
            out.append(f"  {p.render()}")
            shown += 1
    return out


def _show(text: str, limit: int = 120) -> str:
    """Submitted text for a message: ``repr`` (control characters escaped), cut when very long."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "…"


def check_submission(folder: Path, dataset: Dataset, n_per_prompt: int, suite: str | None = None) -> SubmissionReport:
    """Check a submission folder against a suite's dataset; every problem is collected in the report."""
    folder = Path(folder)
    suite = suite or dataset.name
    report = SubmissionReport(folder, suite, n_per_prompt)
    template = f"medsyn-bench prompts --suite {suite} --out {folder / MANIFEST}"
    parsed = _read_manifest(folder, template)
    if isinstance(parsed, Problem):
        report.problems.append(parsed)
        return report
    manifest_sha, rows = parsed
    report.rows = len(rows)
    if not rows:
        report.problems.append(Problem("manifest", "the manifest has a header but no rows",
                                       f"list one row per image (template: {template})"))
        return report

    lookup = dataset.prompt_lookup()
    size = dataset.image_size
    root_real = folder.resolve()
    files = {MANIFEST: manifest_sha}  # listed path → sha256, for the content hash
    seen_target: dict[Path, int] = {}
    seen_sha: dict[str, tuple[int, str]] = {}
    usable_by_class: dict[int, int] = {}
    listed_by_class: dict[int, int] = {}
    for line, row in rows:
        rel, prompt = row.get("path", ""), row.get("prompt", "")
        found: list[tuple[str, str, str]] = []
        req = lookup.get(prompt)
        if req is None:
            found.append(("prompt", f"unknown prompt {_show(prompt)}",
                          f"use the suite's prompts exactly (template: {template})"))
        else:
            listed_by_class[req.cls] = listed_by_class.get(req.cls, 0) + 1
        target, problem = _resolve(folder, root_real, rel)
        if problem:
            found.append(problem)
        elif target in seen_target:
            found.append(("duplicate", f"path {_show(rel)} is listed again (first at line {seen_target[target]})",
                          "list each image once"))
            target = None
        if target is not None:
            seen_target[target] = line
            try:
                sha, source, n_bytes = _hash(target)
            except OSError as exc:
                found.append(("file", f"file {_show(rel)} cannot be read ({exc.strerror or exc})",
                              "make the file readable"))
            else:
                report.bytes_read += n_bytes
                files[Path(os.path.normpath(rel)).as_posix()] = sha
                if sha in seen_sha:
                    first, first_path = seen_sha[sha]
                    found.append(("duplicate", f"{_show(rel)} has the same bytes as {_show(first_path)} "
                                  f"(line {first})", "submit a distinct image for each row"))
                else:
                    seen_sha[sha] = (line, rel)
                    channels = None if req is None else dataset.modalities[req.modality].channels
                    modality = None if req is None else dataset.modalities[req.modality].key
                    found += _image_problems(source, size, channels, modality)
        for kind, message, fix in found:
            report.problems.append(Problem(kind, message, fix, line, rel))
        if not found:
            report.usable += 1
            usable_by_class[req.cls] = usable_by_class.get(req.cls, 0) + 1

    for p in dataset.prompt_requests():
        have = usable_by_class.get(p.cls, 0)
        report.images_per_prompt[p.text] = have
        if have < n_per_prompt:
            broken = listed_by_class.get(p.cls, 0) - have
            extra = f" ({broken} more listed, with problems above)" if broken else ""
            report.problems.append(Problem(
                "count", f"prompt {_show(p.text)}: {have} usable image(s) of {n_per_prompt} needed{extra}",
                f"submit at least {n_per_prompt} images for every prompt (template: {template})"))
        elif have > n_per_prompt:
            report.warnings.append(Problem(
                "extra", f"prompt {_show(p.text)}: {have} images, {n_per_prompt} needed",
                f"only the first {n_per_prompt} in manifest order are used; drop the others"))
    report.content_sha256 = sha256_json(sorted(files.items()))
    return report


def _read_manifest(folder: Path, template: str) -> Problem | tuple[str, list[tuple[int, dict[str, str]]]]:
    """(sha256 of the manifest, [(line, row)]) or the one problem that stops the check.

    Lines are physical lines of the file (header = 1), so a blank line or a quoted field spanning
    lines does not shift them. Values are stripped, as the scoring run reads them."""
    path = folder / MANIFEST
    fix = f"write {MANIFEST} with the columns path,prompt (template: {template})"
    if not folder.is_dir():
        return Problem("manifest", f"image folder {str(folder)!r} not found", "pass the folder that holds manifest.csv")
    if not path.is_file():
        return Problem("manifest", f"{MANIFEST} not found in the folder", fix)
    try:
        data = path.read_bytes()
        text = data.decode("utf-8")
    except OSError as exc:
        return Problem("manifest", f"{MANIFEST} cannot be read ({exc.strerror or exc})", "make the file readable")
    except UnicodeDecodeError as exc:
        return Problem("manifest", f"{MANIFEST} is not UTF-8 text ({exc})", "save the manifest as UTF-8")
    reader = csv.reader(io.StringIO(text, newline=""))
    rows, last = [], 0
    try:
        header = [c.strip() for c in next(reader, [])]
        last = reader.line_num
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            bom = " (it starts with a byte-order mark: save as UTF-8 without BOM)" if text.startswith("\ufeff") else ""
            return Problem("manifest", f"missing column(s) {', '.join(missing)} (found: "
                           f"{', '.join(_show(c, 40) for c in header) or 'none'}){bom}", fix, 1)
        for values in reader:
            start, last = last + 1, reader.line_num
            if values:  # blank lines are skipped, as csv.DictReader does
                rows.append((start, {k: (values[i].strip() if i < len(values) else "")
                                     for i, k in enumerate(header) if k}))
    except csv.Error as exc:
        return Problem("manifest", f"{MANIFEST} is not valid CSV near line {last + 1} ({exc})",
                       "write it with a CSV library (quote fields that hold commas, quotes or newlines)")
    return hashlib.sha256(data).hexdigest(), rows


def _resolve(folder: Path, root_real: Path, rel: str) -> tuple[Path | None, tuple[str, str, str] | None]:
    """The listed file inside the folder, or the path problem (the rules of ``images.safe_path``)."""
    keep_inside = ("keep every image inside the folder (no '..', no symlinks that lead out) "
                   "and list it by its path there")
    if not rel:
        return None, ("path", "empty path", "give every row the image's path inside the folder")
    if os.path.isabs(rel) or Path(rel).drive:
        return None, ("path", f"path {_show(rel)} is absolute", keep_inside)
    if "\x00" in rel:
        return None, ("path", f"path {_show(rel)} holds a NUL character", "use plain file names")
    try:
        target = (folder / rel).resolve()
        if target != root_real and root_real not in target.parents:
            how = "through '..'" if ".." in Path(rel).parts else "through a symlink"
            return None, ("path", f"path {_show(rel)} leads outside the folder ({how})", keep_inside)
        if not target.exists():
            return None, ("file", f"file {_show(rel)} not found", "save the image at that path or correct the manifest")
        if not target.is_file():
            what = "a folder" if target.is_dir() else "not a regular file"
            return None, ("file", f"{_show(rel)} is {what}", "list image files only")
    except (OSError, RuntimeError, ValueError) as exc:  # symlink loops, names too long
        return None, ("path", f"path {_show(rel)} cannot be resolved ({exc})", keep_inside)
    return target, None


def _hash(path: Path) -> tuple[str, Path | io.BytesIO, int]:
    """(sha256, something PIL can open, size): small files are read once into memory."""
    n = path.stat().st_size
    if n > IN_MEMORY_BYTES:
        return sha256_file(path), path, n
    data = path.read_bytes()
    return hashlib.sha256(data).hexdigest(), io.BytesIO(data), len(data)


def _image_problems(source, size: int, channels: int | None, modality: str | None) -> list[tuple[str, str, str]]:
    """The image rules of one file: pixel cap from the header first, then decode, size, mode, channels."""
    reexport = "re-export the file as PNG"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(source, formats=IMAGE_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        return [("pixels", f"refused before decoding: a decompression bomb ({exc})", f"save at {size}×{size} px")]
    except Image.UnidentifiedImageError:
        return [("decode", f"not a {'/'.join(IMAGE_FORMATS)} image", reexport)]
    except Exception as exc:  # hostile bytes may raise anything; each is a file that does not decode
        return [("decode", f"image header does not decode ({type(exc).__name__}: {exc})", reexport)]
    with im:
        w, h = im.size
        if w * h > MAX_PIXELS:
            return [("pixels", f"image claims {w}×{h} px, over the {MAX_PIXELS}-pixel cap (refused before decoding)",
                     f"save at {size}×{size} px")]
        found = []
        if (w, h) != (size, size):
            found.append(("size", f"image is {w}×{h} px; this suite needs {size}×{size}",
                          f"save at {size}×{size} px"))
        try:
            im.load()
        except Exception as exc:
            return found + [("decode", f"image does not decode ({type(exc).__name__}: {exc})", reexport)]
        side = min(w, h)
        try:  # to_array's own rules (a square crop, so a wrong size costs no resize)
            arr, native = to_array(im if w == h else im.crop((0, 0, side, side)), side, "")
        except BenchError as exc:
            if im.mode in GREY_MODES:  # a mode to_array converts, refused for its values
                return found + [("mode", f"{exc.message} (mode {im.mode!r})",
                                 "write finite values, or save as 8-bit (L) or 16-bit (I;16) grey")]
            return found + [("mode", f"unsupported image mode {im.mode!r}",
                             f"save in an accepted mode ({ACCEPTED_MODES})")]
        except Exception as exc:
            return found + [("decode", f"image does not convert ({type(exc).__name__}: {exc})", reexport)]
        if channels == 1 and native == 3 and not (np.array_equal(arr[..., 0], arr[..., 1])
                                                   and np.array_equal(arr[..., 1], arr[..., 2])):
            found.append(("channels", f"modality {modality!r} is grey, but this is a colour image (mode "
                          f"{im.mode!r}) whose channels differ",
                          "save it as grey (L or 16-bit I;16), or as RGB with three equal channels"))
        elif channels == 3 and native == 1:
            found.append(("channels", f"modality {modality!r} is colour, but this is a grey image (mode {im.mode!r})",
                          "save it as RGB (RGB, RGBA or a palette image P)"))
        return found
