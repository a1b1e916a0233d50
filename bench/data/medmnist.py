"""MedMNIST 2D ``.npz`` files: metadata from the ``medmnist`` package, checks, and the embedded sample.

A file is ``<subset>.npz`` (28 px) or ``<subset>_<size>.npz`` (MedMNIST+), with the keys
``{train,val,test}_{images,labels}``; images ``(N, S, S)`` or ``(N, S, S, 3)`` uint8, labels ``(N,)``
or ``(N, 1)``. Counts are checked against ``n_samples`` and the MD5 against the official value; a
mismatch is a warning that is recorded in every result.
"""

from __future__ import annotations

import hashlib
import os
import re
import zipfile
from pathlib import Path

import numpy as np

from bench.errors import BenchError

OFFICIAL_SPLITS = ("train", "val", "test")

# The phrase each subset contributes to prompts ("a {modality} image of {label}").
MODALITY_PHRASES = {
    "pathmnist": "colon pathology",
    "chestmnist": "chest X-ray",
    "dermamnist": "dermatoscopic",
    "octmnist": "retinal OCT",
    "pneumoniamnist": "chest X-ray",
    "retinamnist": "fundus photograph",
    "breastmnist": "breast ultrasound",
    "bloodmnist": "blood cell microscopy",
    "tissuemnist": "kidney tissue microscopy",
    "organamnist": "axial abdominal CT",
    "organcmnist": "coronal abdominal CT",
    "organsmnist": "sagittal abdominal CT",
}

EMBEDDED_DIR = Path(__file__).resolve().parent / "embedded"
EMBEDDED_FILE = EMBEDDED_DIR / "medmnist_sample.npz"
# images per class and official split in the embedded sample
EMBEDDED_PER_CLASS = {"train": 60, "val": 15, "test": 40}
EMBEDDED_SUBSETS = ("bloodmnist", "organamnist", "breastmnist")


def info(subset: str) -> dict:
    """The ``medmnist`` package's metadata for one 2D subset (label names, task, licence, counts, MD5)."""
    from medmnist.info import INFO

    if subset not in INFO or subset not in MODALITY_PHRASES:
        known = ", ".join(sorted(MODALITY_PHRASES))
        raise BenchError(f"unknown MedMNIST 2D subset {subset!r}", fix=f"known subsets: {known}")
    return INFO[subset]


def class_names(subset: str) -> tuple[str, ...]:
    """Label names for prompts: MedMNIST's, without parentheticals ("immature granulocytes")."""
    labels = info(subset)["label"]
    names = []
    for k in sorted(labels, key=int):
        name = re.sub(r"\s*\(.*?\)\s*", " ", labels[k]).strip()
        names.append(name.replace("normal, benign", "normal or benign tissue"))
    return tuple(names)


def file_name(subset: str, size: int) -> str:
    return f"{subset}.npz" if size == 28 else f"{subset}_{size}.npz"


def md5_file(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def data_root(root: str | None) -> Path | None:
    root = root or os.environ.get("MEDSYN_DATA")
    return Path(root).expanduser() if root else None


def download(subset: str, size: int, root: Path) -> Path:
    """Fetch the official file with the ``medmnist`` package (needs network access to Zenodo)."""
    import medmnist

    cls = getattr(medmnist, info(subset)["python_class"])
    root.mkdir(parents=True, exist_ok=True)
    try:
        cls(split="train", download=True, root=str(root), size=size)
    except Exception as exc:  # network errors come in many types
        raise BenchError(f"could not download {subset} ({type(exc).__name__}: {exc})",
                         where=str(root / file_name(subset, size)),
                         fix="download the .npz file by hand and pass its folder with --data-root "
                             "or MEDSYN_DATA") from exc
    return root / file_name(subset, size)


def data_folder(root: str | None, subset: str) -> Path:
    """The data root (``--data-root``, else ``$MEDSYN_DATA``), refused if unset or not a folder."""
    folder = data_root(root)
    if folder is None:
        raise BenchError(f"no data root for MedMNIST subset {subset!r}",
                         fix="pass --data-root DIR or set MEDSYN_DATA to a folder of MedMNIST .npz files")
    if not folder.is_dir():
        raise BenchError("data root is not a folder", where=str(folder),
                         fix="pass --data-root DIR or set MEDSYN_DATA to a folder of MedMNIST .npz files")
    return folder


def locate(subset: str, size: int, root: str | None) -> Path:
    """The official file of a subset in the data root; never downloads (see :func:`fetch_missing`)."""
    folder = data_folder(root, subset)
    path = folder / file_name(subset, size)
    if not path.is_file():
        raise BenchError(f"{file_name(subset, size)} not found in the data root", where=str(folder),
                         fix="copy the official file there, or fetch it (network needed): "
                             "medsyn-bench data download --suite SUITE --data-root DIR")
    return path


def fetch_missing(subsets: list[str], size: int, root: str | None, log=print) -> list[Path]:
    """The one place the suite reaches the network: download the official files of ``subsets`` that are
    not in the data root yet, with the ``medmnist`` package (``medsyn-bench data download``)."""
    out = []
    for subset in subsets:
        folder = data_folder(root, subset)
        path = folder / file_name(subset, size)
        if path.is_file():
            log(f"  {path.name}: present")
        else:
            log(f"  {path.name}: downloading")
            path = download(subset, size, folder)
        out.append(path)
    return out


def open_npz(path: Path, what: str, fix: str):
    """Open an ``.npz`` without pickles; (archive, its keys), or one clear error naming the file."""
    try:
        z = np.load(path, allow_pickle=False)
        return z, set(z.files)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise BenchError(f"{what} ({exc})", where=str(path), fix=fix) from exc


def read_npz(path: Path, prefix: str = "") -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read and check the arrays of one file: ``{split: (images NHW[C] uint8, labels (N,) int64)}``."""
    z, keys = open_npz(path, "not a readable .npz file", "re-download the file (it is corrupt or truncated)")
    out = {}
    with z:
        for split in OFFICIAL_SPLITS:
            ki, kl = f"{prefix}{split}_images", f"{prefix}{split}_labels"
            if ki not in keys or kl not in keys:
                raise BenchError(f"missing arrays {ki!r}/{kl!r} (found: {', '.join(sorted(keys))})",
                                 where=str(path), fix="use an official MedMNIST 2D .npz file")
            try:
                images, labels = z[ki], z[kl]
            except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
                raise BenchError(f"array {ki!r} is corrupt ({exc})", where=str(path),
                                 fix="re-download the file") from exc
            out[split] = (_check_images(images, f"{path} [{ki}]"), _check_labels(labels, len(images), f"{path} [{kl}]"))
    return out


def _check_images(images: np.ndarray, where: str) -> np.ndarray:
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if not (images.ndim == 3 or (images.ndim == 4 and images.shape[-1] == 3)) or images.shape[1] != images.shape[2]:
        raise BenchError(f"images have shape {images.shape}, expected (N, S, S) or (N, S, S, 3)", where=where)
    if images.dtype != np.uint8:
        if np.issubdtype(images.dtype, np.floating) and not np.isfinite(images).all():
            raise BenchError("images contain NaN or infinite values", where=where,
                             fix="re-download the file or clean the array")
        if images.min() < 0 or images.max() > 255:
            raise BenchError(f"pixel values span [{images.min()}, {images.max()}], expected 0..255", where=where)
        images = images.round().astype(np.uint8)
    return images


def _check_labels(labels: np.ndarray, n: int, where: str) -> np.ndarray:
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise BenchError(f"labels have shape {labels.shape}; only single-label subsets ((N,) or (N, 1)) "
                         "are supported", where=where)
    if len(labels) != n:
        raise BenchError(f"{len(labels)} labels for {n} images", where=where)
    if np.issubdtype(labels.dtype, np.floating) and not np.isfinite(labels).all():
        raise BenchError("labels contain NaN", where=where)
    return labels.astype(np.int64)


def load_subset(subset: str, size: int, root: str | None):
    """Load one official file; returns (arrays by split, warnings, provenance)."""
    meta = info(subset)
    path = locate(subset, size, root)
    arrays = read_npz(path)
    warnings = []
    counts = {s: len(arrays[s][1]) for s in OFFICIAL_SPLITS}
    if counts != meta["n_samples"]:
        warnings.append(f"{path.name}: split counts {counts} differ from the official {meta['n_samples']}")
    md5_key = "MD5" if size == 28 else f"MD5_{size}"
    md5 = md5_file(path)
    md5_ok = md5 == meta.get(md5_key)
    if not md5_ok:
        warnings.append(f"{path.name}: MD5 {md5} differs from the official {meta.get(md5_key)} "
                        "(counts verified, bytes not)")
    prov = {"file": path.name, "md5": md5, "md5_verified": md5_ok, "licence": meta["license"],
            "counts": counts}
    return arrays, warnings, prov


def make_embedded_sample(root: str | None, out: Path = EMBEDDED_FILE, seed: int = 0,
                         subsets=EMBEDDED_SUBSETS, per_class: dict[str, int] | None = None) -> dict:
    """Build the committed sample: ``per_class`` images of every class and official split (fixed seed).

    Stored keys: ``<subset>/<split>_images``, ``_labels`` and ``_index`` (row in the official file).
    """
    from bench.io import sha256_file

    per_class = per_class or EMBEDDED_PER_CLASS
    arrays_out: dict[str, np.ndarray] = {}
    summary = {}
    for subset in subsets:
        arrays, warnings, prov = load_subset(subset, 28, root)
        rng = np.random.default_rng(seed)
        summary[subset] = {"source": prov, "warnings": warnings, "counts": {}}
        for split in OFFICIAL_SPLITS:
            images, labels = arrays[split]
            picked = []
            for c in range(len(class_names(subset))):
                idx = np.flatnonzero(labels == c)
                picked.append(np.sort(rng.choice(idx, size=min(per_class[split], len(idx)), replace=False)))
            idx = np.sort(np.concatenate(picked))
            arrays_out[f"{subset}/{split}_images"] = images[idx]
            arrays_out[f"{subset}/{split}_labels"] = labels[idx].astype(np.uint8)
            arrays_out[f"{subset}/{split}_index"] = idx.astype(np.int32)
            summary[subset]["counts"][split] = int(len(idx))
    import io as _io

    buf = _io.BytesIO()
    np.savez_compressed(buf, **arrays_out)
    from bench.io import atomic_write_bytes

    atomic_write_bytes(out, buf.getvalue())
    summary["file"] = str(out)
    summary["sha256"] = sha256_file(out)
    summary["bytes"] = out.stat().st_size
    return summary


def load_embedded(subset: str, path: Path = EMBEDDED_FILE):
    if not path.is_file():
        raise BenchError("the embedded sample is missing", where=str(path),
                         fix="restore it from git, or rebuild it: medsyn-bench data make-sample --data-root DIR")
    z, keys = open_npz(path, "the embedded sample is corrupt",
                       "restore it with git checkout, or rebuild it with medsyn-bench data make-sample")
    if f"{subset}/train_images" not in keys:
        have = sorted({k.split("/")[0] for k in keys})
        raise BenchError(f"subset {subset!r} is not in the embedded sample", where=str(path),
                         fix=f"embedded subsets: {', '.join(have)}; use source = \"medmnist\" for others")
    with z:
        arrays = {s: (_check_images(z[f"{subset}/{s}_images"], f"{path} [{subset}/{s}]"),
                      _check_labels(z[f"{subset}/{s}_labels"], len(z[f"{subset}/{s}_images"]), f"{path} [{subset}/{s}]"))
                  for s in OFFICIAL_SPLITS}
        index = {s: z[f"{subset}/{s}_index"].astype(np.int64) for s in OFFICIAL_SPLITS}
    return arrays, index
