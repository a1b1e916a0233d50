"""Reading and writing image files safely: path containment, decode checks, mode and size rules.

Resize rule (recorded in every result): none when the image already has the suite's size; otherwise
PIL Lanczos (antialiased) to a square of the suite's size.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from bench.errors import BenchError
from bench.io import atomic_write_bytes

MAX_PIXELS = 4096 * 4096  # refuse absurd images before decoding them (decompression bombs)
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
RESIZE_RULE = "none at the suite size; else PIL Lanczos to a square"
GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}
# The only formats opened: plain raster formats with no embedded programs (PIL would otherwise try every
# format it knows, EPS included, which runs Ghostscript where it is installed).
IMAGE_FORMATS = ("PNG", "JPEG", "TIFF", "BMP")


def safe_path(root: Path, rel: str, where: str) -> Path:
    """Resolve ``rel`` inside ``root``; refuse absolute paths, ``..`` and symlinks that lead outside."""
    if not rel or os.path.isabs(rel) or Path(rel).drive:
        raise BenchError(f"path {rel!r} must be relative to the folder", where=where,
                         fix="list files by their path inside the folder")
    root_real = root.resolve()
    target = (root / rel).resolve()
    if root_real != target and root_real not in target.parents:
        raise BenchError(f"path {rel!r} points outside the folder {root}", where=where,
                         fix="keep every image inside the folder (no '..', no symlinks out)")
    if not target.is_file():
        raise BenchError(f"image file {rel!r} not found", where=where)
    return target


def read_image(path: Path, where: str) -> Image.Image:
    """Open and fully decode one image, refusing corrupt files and images over MAX_PIXELS."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(path, formats=IMAGE_FORMATS)
        with im:
            if im.width * im.height > MAX_PIXELS:
                raise BenchError(f"image is {im.width}x{im.height}, over the {MAX_PIXELS}-pixel cap",
                                 where=f"{where}: {path}")
            im.load()
            return im.copy()
    except BenchError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BenchError(f"refused as a decompression bomb ({exc})", where=f"{where}: {path}") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise BenchError(f"image does not decode as {'/'.join(IMAGE_FORMATS)} ({exc})", where=f"{where}: {path}",
                         fix="re-export the file as PNG or JPEG") from exc


def to_array(im: Image.Image, size: int, where: str) -> tuple[np.ndarray, int]:
    """Convert a decoded image to uint8 (size, size, 3) and its native channel count (1 or 3)."""
    if im.mode in GREY_MODES:
        if im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
            arr = np.asarray(im, dtype=np.float64)
            if not np.isfinite(arr).all():
                raise BenchError("image has NaN or infinite pixels", where=where)
            lo, hi = float(arr.min()), float(arr.max())
            arr = (arr - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(arr)
            im = Image.fromarray(arr.round().astype(np.uint8), mode="L")
        else:
            im = im.convert("L")
        channels = 1
    elif im.mode in ("RGB", "RGBA", "P", "CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        im = im.convert("RGB")
        channels = 3
    else:
        raise BenchError(f"unsupported image mode {im.mode!r}", where=where,
                         fix="convert the image to grey (L) or RGB")
    if im.size != (size, size):
        im = im.resize((size, size), Image.Resampling.LANCZOS)
    arr = np.asarray(im, dtype=np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    return arr, channels


def to_native(arr: np.ndarray, channels: int) -> np.ndarray:
    """Three-channel uint8 image back to its modality's native channels (grey = channel mean)."""
    if channels == 1:
        return arr.astype(np.float32).mean(axis=2).round().astype(np.uint8)
    return arr


def png_bytes(arr: np.ndarray, channels: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(to_native(arr, channels)).save(buf, format="PNG")
    return buf.getvalue()


def write_png(path: Path, arr: np.ndarray, channels: int) -> None:
    atomic_write_bytes(path, png_bytes(arr, channels))
