"""The sequence data format of the foundation task: cine sequences (or single images) + report CSV.

A folder holds one file per sequence and ``sequences.csv``::

    path,report,labels,lvef
    case000.npy,"Cine MRI, short axis. The left ventricle is dilated ... LVEF 31 %.",dilated cardiomyopathy,31.2
    case001.nii.gz,"... normal size and function. LVEF 62 %.",normal,62.0
    case002.npy,"... thickened walls ... small pericardial effusion.",hypertrophic cardiomyopathy;pericardial effusion,71.5

- ``path`` (required): a file inside the folder: ``.npy`` of shape frames × H × W (or H × W for one
  frame, or frames × H × W × C with C = 1 or 3), or NIfTI ``.nii``/``.nii.gz`` read with nibabel as
  (x, y[, slice], t): the array is transposed to t × y × x and, for 4-D volumes, the middle slice kept.
- ``report`` (required): the report text the encoder is pretrained against.
- ``labels`` (required column, may be empty): diagnoses, multi-label, separated by ``;``.
- every other column is a numeric target (e.g. ``lvef``) unless it is ``split`` (train/test, optional)
  or ``modality`` (a group for per-group results, optional); an empty cell is a missing value.

Sequence length: every sequence is brought to ``frames`` frames. ``frame_rule="sample"`` (default)
samples ``frames`` evenly spaced frames over the whole sequence (nearest frame; the first and last are
kept, so a full cardiac cycle stays a full cycle; shorter sequences repeat frames); ``"pad"`` keeps
the first ``frames`` frames and pads a short sequence by repeating its last frame. Frames must share
one H × W unless ``size`` is given (then every frame is resized bilinearly to size × size). Intensities
are scaled per sequence to [0, 1] (min–max), since MRI intensities have no absolute unit.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.errors import BenchError

CSV_NAME = "sequences.csv"
RESERVED = ("path", "report", "labels", "split", "modality")
FRAME_RULES = ("sample", "pad")


@dataclass
class SequenceSet:
    """Sequences with their reports, multi-hot diagnoses and numeric targets.

    ``frames``: float32 (N, T, C, H, W) in [0, 1]. ``labels``: uint8 (N, K). ``targets``: float64 (N, R),
    NaN where missing. ``exclusive``: indices of labels that form a one-of-K group (accuracy is computed
    over these, on rows with exactly one of them). ``label_groups``: (K,) group of each label (-1: all),
    ``groups``: (N,) group of each row; groups are modalities in the 2D suite.
    """

    frames: np.ndarray
    texts: list[str]
    labels: np.ndarray
    label_names: list[str]
    targets: np.ndarray
    target_names: list[str]
    label_prompts: list[str] = field(default_factory=list)  # zero-shot prompt per label
    exclusive: list[int] = field(default_factory=list)
    groups: np.ndarray | None = None
    group_names: list[str] = field(default_factory=list)
    label_groups: np.ndarray | None = None
    split: list[str] = field(default_factory=list)

    def __post_init__(self):
        n = len(self.frames)
        if not self.label_prompts:
            self.label_prompts = list(self.label_names)
        if self.groups is None:
            self.groups = np.zeros(n, np.int64)
            self.group_names = self.group_names or ["all"]
        if self.label_groups is None:
            self.label_groups = np.full(len(self.label_names), -1, np.int64)
        if not (len(self.texts) == len(self.labels) == len(self.targets) == len(self.groups) == n):
            raise BenchError(f"sequence set: {n} sequences but {len(self.texts)} reports, {len(self.labels)} "
                             f"label rows, {len(self.targets)} target rows")

    def __len__(self) -> int:
        return int(len(self.frames))

    def subset(self, idx) -> "SequenceSet":
        idx = np.asarray(idx, dtype=np.int64)
        return SequenceSet(self.frames[idx], [self.texts[i] for i in idx], self.labels[idx], self.label_names,
                           self.targets[idx], self.target_names, self.label_prompts, self.exclusive,
                           self.groups[idx], self.group_names, self.label_groups,
                           [self.split[i] for i in idx] if self.split else [])

    def by_split(self, name: str) -> "SequenceSet":
        return self.subset([i for i, s in enumerate(self.split) if s == name])

    def strata(self) -> np.ndarray:
        """A class key per row for stratified label budgets: the exclusive label, else the label set."""
        if self.exclusive:
            sub = self.labels[:, self.exclusive]
            return np.where(sub.sum(1) == 1, sub.argmax(1), -1)
        keys = ["".join(map(str, row)) for row in self.labels]
        table = {k: i for i, k in enumerate(sorted(set(keys)))}
        return np.array([table[k] for k in keys], np.int64)


def fit_frames(arr: np.ndarray, frames: int, rule: str = "sample") -> np.ndarray:
    """Bring a (T, ...) sequence to ``frames`` frames by the documented rule ("sample" or "pad")."""
    t = arr.shape[0]
    if rule == "sample":
        idx = np.rint(np.linspace(0, t - 1, frames)).astype(np.int64) if frames > 1 else np.array([t // 2])
    elif rule == "pad":
        idx = np.minimum(np.arange(frames), t - 1)
    else:
        raise BenchError(f"unknown frame rule {rule!r}", fix=f"use one of: {', '.join(FRAME_RULES)}")
    return arr[idx]


def normalise(seq: np.ndarray) -> np.ndarray:
    """Min–max scale one sequence to [0, 1] (a constant sequence becomes zeros)."""
    seq = seq.astype(np.float32)
    lo, hi = float(seq.min()), float(seq.max())
    return (seq - lo) / (hi - lo) if hi > lo else np.zeros_like(seq)


def _as_tchw(arr: np.ndarray, where: str) -> np.ndarray:
    """(H, W) / (T, H, W) / (T, H, W, C) → (T, C, H, W)."""
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim == 3:
        return arr[:, None]
    if arr.ndim == 4 and arr.shape[-1] in (1, 3):
        return np.moveaxis(arr, -1, 1)
    raise BenchError(f"array of shape {arr.shape} is not frames × H × W (or frames × H × W × 1|3)", where=where,
                     fix="save each sequence as a (frames, H, W) array")


def load_array(path: Path, where: str) -> np.ndarray:
    """Read one sequence file (.npy or NIfTI) as float32 (T, C, H, W), not yet normalised or resized."""
    name = path.name.lower()
    if name.endswith(".npy"):
        try:
            arr = np.load(path, allow_pickle=False)
        except Exception as exc:  # truncated file, pickled object, not an .npy
            raise BenchError(f"not a readable .npy array ({exc})", where=where,
                             fix="save it with numpy.save(path, array) (numeric, not pickled)") from exc
    elif name.endswith(".nii") or name.endswith(".nii.gz"):
        try:
            import nibabel as nib

            arr = np.asarray(nib.load(str(path)).get_fdata(dtype=np.float32))
        except ImportError as exc:
            raise BenchError("reading NIfTI needs nibabel", where=where, fix="pip install nibabel") from exc
        except Exception as exc:  # nibabel raises several types for corrupt or truncated files
            raise BenchError(f"NIfTI file does not load ({type(exc).__name__}: {exc})", where=where,
                             fix="check the file opens with nibabel.load(); re-export it from the scanner or "
                                 "converter") from exc
        if arr.ndim == 4:
            arr = arr[:, :, arr.shape[2] // 2, :]  # (x, y, slice, t): the middle slice
        if arr.ndim > 4:
            raise BenchError(f"NIfTI of shape {arr.shape}: expected (x, y), (x, y, t) or (x, y, slice, t)",
                             where=where)
        arr = arr.T if arr.ndim == 2 else np.transpose(arr, (2, 1, 0))  # → (t, y, x)
    else:
        raise BenchError(f"unsupported sequence file {path.name!r}", where=where, fix="use .npy, .nii or .nii.gz")
    if not np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_:
        raise BenchError(f"array has dtype {arr.dtype}, expected numbers", where=where)
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        raise BenchError("array contains NaN or infinite values", where=where)
    return _as_tchw(arr, where)


def _resize(seq: np.ndarray, size: int) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(seq))
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).numpy()


def read_sequence_folder(folder: str | Path, frames: int = 16, frame_rule: str = "sample", size: int | None = None,
                         csv_name: str = CSV_NAME, targets: list[str] | None = None) -> SequenceSet:
    """Read a folder in the format above. ``targets`` restricts the numeric columns (default: all extra)."""
    from bench.data.folder import read_csv_rows
    from bench.data.images import safe_path

    folder = Path(folder)
    if not folder.is_dir():
        raise BenchError("sequence folder not found", where=str(folder))
    if frames < 1:
        raise BenchError(f"frames must be at least 1, got {frames}", where="frames")
    if frame_rule not in FRAME_RULES:
        raise BenchError(f"unknown frame rule {frame_rule!r}", where="frame_rule", fix=f"use one of: {', '.join(FRAME_RULES)}")
    csv_path = folder / csv_name
    rows = read_csv_rows(csv_path, required=("path", "report"))
    columns = list(rows[0])
    if "labels" not in columns:
        raise BenchError(f"missing column labels (found: {', '.join(columns)})", where=str(csv_path),
                         fix="add a labels column: diagnoses separated by ';' (it may be empty in a row)")
    extra = [c for c in columns if c not in RESERVED]
    if targets is None:
        targets = extra
    missing = [t for t in targets if t not in columns]
    if missing:
        raise BenchError(f"missing target column(s) {', '.join(missing)} (found: {', '.join(columns)})",
                         where=str(csv_path), fix="add the column or remove it from the task's targets")
    label_names = sorted({l.strip() for r in rows for l in r["labels"].split(";") if l.strip()})
    lab_index = {n: i for i, n in enumerate(label_names)}
    seqs, labels, tvals, shapes = [], np.zeros((len(rows), len(label_names)), np.uint8), [], set()
    for i, row in enumerate(rows):
        where = f"{csv_path} line {i + 2}"
        arr = load_array(safe_path(folder, row["path"], where), where)
        if size:
            arr = _resize(arr, size)
        shapes.add(arr.shape[1:])
        seqs.append(normalise(fit_frames(arr, frames, frame_rule)))
        for l in row["labels"].split(";"):
            if l.strip():
                labels[i, lab_index[l.strip()]] = 1
        vals = []
        for t in targets:
            v = row.get(t, "")
            try:
                x = float(v) if v != "" else math.nan
            except ValueError:
                raise BenchError(f"target {t!r} = {v!r} is not a number", where=where,
                                 fix="write a number (decimal point, no unit) or leave the cell empty") from None
            if math.isinf(x):
                raise BenchError(f"target {t!r} = {v!r} is not finite", where=where)
            vals.append(x)
        tvals.append(vals)
    if len(shapes) > 1:
        raise BenchError(f"sequences differ in channels × H × W: {sorted(shapes)}", where=str(csv_path),
                         fix="pass size=N (task param `size`) to resize every frame to N × N")
    split = [r.get("split", "") or "train" for r in rows] if "split" in columns else []
    bad = sorted({s for s in split if s not in ("train", "val", "test")})
    if bad:
        raise BenchError(f"unknown split {bad[0]!r}", where=str(csv_path), fix="use train, val or test")
    groups, group_names = None, []
    if "modality" in columns:
        group_names = sorted({r["modality"] or "unknown" for r in rows})
        groups = np.array([group_names.index(r["modality"] or "unknown") for r in rows], np.int64)
    exclusive = list(range(len(label_names))) if len(label_names) and (labels.sum(1) == 1).all() else []
    return SequenceSet(np.stack(seqs), [r["report"] for r in rows], labels, label_names,
                       np.asarray(tvals, np.float64).reshape(len(rows), len(targets)), list(targets),
                       exclusive=exclusive, groups=groups, group_names=group_names, split=split)


def write_sequence_folder(folder: str | Path, seqs: SequenceSet, scale: float = 255.0) -> Path:
    """Write ``seqs`` in the format above (``.npy`` frames × H × W as uint8, one per sequence)."""
    from bench.io import atomic_write_bytes, atomic_write_text

    folder = Path(folder)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["path", "report", "labels", *seqs.target_names] + (["split"] if seqs.split else []))
    for i in range(len(seqs)):
        arr = np.clip(np.rint(seqs.frames[i] * scale), 0, 255).astype(np.uint8)
        arr = arr[:, 0] if arr.shape[1] == 1 else np.moveaxis(arr, 1, -1)
        b = io.BytesIO()
        np.save(b, arr)
        atomic_write_bytes(folder / f"case{i:05d}.npy", b.getvalue())
        labels = ";".join(seqs.label_names[k] for k in np.flatnonzero(seqs.labels[i]))
        vals = ["" if math.isnan(v) else f"{v:.2f}" for v in seqs.targets[i]]
        w.writerow([f"case{i:05d}.npy", seqs.texts[i], labels, *vals] + ([seqs.split[i]] if seqs.split else []))
    return atomic_write_text(folder / CSV_NAME, buf.getvalue())
