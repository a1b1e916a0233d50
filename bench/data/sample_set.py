"""Published sample sets: one generator's images for one suite, as one compressed, hashed file.

Every published result has its sample set beside it (``leaderboards/<suite>/samples/<generator>.npz``,
sha256 in the result's ``samples``), so any result can be rescored with new metrics or new reference
networks without fitting the generator again (``medsyn-bench rescore``).

Format ``medsyn-sample-set/1``: a zip of ``.npy`` arrays (``numpy.load(path)`` reads it, no pickle):

- ``images``: uint8, (N, S, S, 3), the images as the suite's tasks see them (after the PNG round trip;
  grey modalities have three equal channels);
- ``prompts``: str, (P,), the distinct prompt texts; ``prompt_index``: int32, (N,), each image's prompt;
- ``seeds``: int64, (N,), the sampling seed recorded for each image;
- ``meta``: a JSON string: format, suite, suite version, generator, image size, counts.

The zip is written with fixed timestamps and member order, so the same images give the same bytes
(and the same sha256) on every machine.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from bench.errors import BenchError
from bench.io import atomic_write_bytes, sha256_bytes, sha256_file

FORMAT = "medsyn-sample-set/1"
MEMBERS = ("images", "prompts", "prompt_index", "seeds", "meta")
_EPOCH = (1980, 1, 1, 0, 0, 0)


def sample_set_bytes(images: np.ndarray, texts: list[str], seeds: list[int], meta: dict) -> bytes:
    """The file's bytes for images (N, S, S, 3) uint8 with their prompt texts and seeds."""
    images = np.ascontiguousarray(images, dtype=np.uint8)
    if images.ndim != 4 or images.shape[3] != 3 or len(images) != len(texts) or len(texts) != len(seeds):
        raise BenchError(f"sample set needs (N, S, S, 3) images with one prompt and seed each, got "
                         f"{images.shape}, {len(texts)} prompts, {len(seeds)} seeds")
    prompts = list(dict.fromkeys(texts))
    lookup = {t: i for i, t in enumerate(prompts)}
    meta = {"format": FORMAT, **meta, "n_images": int(len(images)), "n_prompts": len(prompts),
            "image_size": int(images.shape[1])}
    arrays = {"images": images, "prompts": np.array(prompts, dtype=np.str_),
              "prompt_index": np.array([lookup[t] for t in texts], dtype=np.int32),
              "seeds": np.asarray(seeds, dtype=np.int64),
              "meta": np.array(json.dumps(meta, sort_keys=True), dtype=np.str_)}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name in MEMBERS:
            member = io.BytesIO()
            np.lib.format.write_array(member, arrays[name], allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, member.getvalue(), compresslevel=9)
    return buf.getvalue()


def write_sample_set(path: Path, images: np.ndarray, texts: list[str], seeds: list[int], meta: dict) -> dict:
    """Write the sample set atomically; returns what a result records of it (file name, sha256, count)."""
    data = sample_set_bytes(images, texts, seeds, meta)
    atomic_write_bytes(path, data)
    return {"file": f"samples/{Path(path).name}", "format": FORMAT, "sha256": sha256_bytes(data),
            "n_images": int(len(images))}


def read_sample_set(path: Path, expected_sha256: str | None = None) -> tuple[np.ndarray, list[str], list[int], dict]:
    """(images, prompt text per image, seed per image, meta) of a sample set, refusing a file whose
    sha256 differs from ``expected_sha256`` or that is not in this format."""
    path = Path(path)
    fix = "restore it with `git checkout`, or regenerate it with `medsyn-bench run` for that generator"
    if not path.is_file():
        raise BenchError("sample set not found", where=str(path), fix=fix)
    if expected_sha256 is not None:
        actual = sha256_file(path)
        if actual != expected_sha256:
            raise BenchError(f"sample set has sha256 {actual[:16]}…, its result names {expected_sha256[:16]}…",
                             where=str(path), fix=fix)
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [m for m in MEMBERS if m not in z.files]
            if missing:
                raise BenchError(f"not a {FORMAT} file (missing {', '.join(missing)})", where=str(path), fix=fix)
            images, prompts = z["images"], [str(t) for t in z["prompts"]]
            index, seeds, meta = z["prompt_index"], z["seeds"].tolist(), json.loads(str(z["meta"]))
    except BenchError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise BenchError(f"sample set does not load ({exc})", where=str(path), fix=fix) from exc
    if meta.get("format") != FORMAT or images.dtype != np.uint8 or images.ndim != 4 \
            or len(index) != len(images) or len(seeds) != len(images) \
            or (len(index) and (index.min() < 0 or index.max() >= len(prompts))):
        raise BenchError(f"not a consistent {FORMAT} file", where=str(path), fix=fix)
    return images, [prompts[i] for i in index], seeds, meta
