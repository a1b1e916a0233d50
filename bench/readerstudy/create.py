"""Build a study: a balanced, shuffled, blinded set of real held-out and synthetic images.

Half the items (rounded down) are real images from the suite's ``holdout`` split; the rest are split
evenly between the named generators, read from their run folders
(``<runs-dir>/<suite>/<generator>/samples/manifest.csv``). Synthetic items are drawn round-robin over
modalities, then over classes, so every modality and class is covered; real items are matched to the
classes of the synthetic ones, so real and synthetic images show the same prompts. Each item is shown
with its class prompt.

Blinding: every image — real or synthetic — is decoded and re-encoded the same way (same size, same
PNG encoder, no metadata) and saved under a random file name; readers see only a random token; the
truth (real or which generator) lives in the ``answer_key`` table, which the web app never reads.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np

from bench.errors import BenchError
from bench.readerstudy.store import IMAGES_DIR, Reader, Study, now_iso


def _round_robin(groups: dict, k: int, rng: np.random.Generator) -> list:
    """Take ``k`` elements from nested ``{modality: {class: [indices]}}``, cycling over modalities, then
    over each modality's classes (both in random order), each time a random unused element."""
    pools = {m: {c: list(rng.permutation(v)) for c, v in cls.items()} for m, cls in groups.items()}
    mods = [m for m in rng.permutation(sorted(pools))]
    cls_order = {m: [c for c in rng.permutation(sorted(pools[m]))] for m in mods}
    cls_pos = {m: 0 for m in mods}
    out: list = []
    while len(out) < k:
        progressed = False
        for m in mods:
            if len(out) >= k:
                break
            order = cls_order[m]
            for _ in range(len(order)):
                c = order[cls_pos[m] % len(order)]
                cls_pos[m] += 1
                if pools[m][c]:
                    out.append(pools[m][c].pop())
                    progressed = True
                    break
        if not progressed:
            break
    return out


def create_study(suite: str, generators: list[str], n: int, runs_dir: Path = Path("runs"),
                 out: Path | None = None, readers: int = 3, seed: int = 0, title: str = "Reader study",
                 data_root: str | None = None, log=print) -> tuple[Study, list[Reader]]:
    """Create the study folder ``out``; returns the study and its readers (with their sign-in codes)."""
    from bench.data import load_dataset
    from bench.data.folder import read_csv_rows
    from bench.data.images import png_bytes
    from bench.data.samples import read_samples
    from bench.specs import load_suite

    generators = [g.strip() for g in generators if g.strip()]
    if not generators:
        raise BenchError("no generators named", fix="pass --generators A,B (run folders under --runs-dir)")
    if len(set(generators)) != len(generators):
        raise BenchError(f"a generator is named twice in {','.join(generators)}", fix="name each generator once")
    if n < 2 * len(generators):
        raise BenchError(f"--n {n} is too small for {len(generators)} generator(s)",
                         fix=f"use --n {2 * len(generators)} or more (half real, half synthetic)")
    if readers < 1:
        raise BenchError("--readers must be at least 1", fix="e.g. --readers 3")
    spec = load_suite(suite)
    dataset = load_dataset(spec, data_root)
    out = Path(out) if out else Path("studies") / f"{spec.name}-{now_iso()[:19].replace(':', '').replace('-', '')}"
    if out.exists() and any(out.iterdir()):
        raise BenchError("the study folder exists and is not empty", where=str(out),
                         fix="choose another --out folder, or delete this one to start over")
    rng = np.random.default_rng(seed)
    n_real = n // 2
    n_syn = n - n_real
    per_gen = [n_syn // len(generators) + (1 if i < n_syn % len(generators) else 0) for i in range(len(generators))]

    items: list[dict] = []
    chosen_classes: list[int] = []
    for gen, k in zip(generators, per_gen):
        folder = Path(runs_dir) / spec.name / gen / "samples"
        if not (folder / "manifest.csv").is_file():
            raise BenchError(f"no samples of generator {gen!r} for suite {spec.name!r}", where=str(folder),
                             fix=f"run: medsyn-bench run --suite {suite} --generators {gen} --runs-dir {runs_dir}")
        samples = read_samples(folder, dataset)
        paths = [r["path"] for r in read_csv_rows(folder / "manifest.csv", required=("path", "prompt"))]
        groups: dict = defaultdict(lambda: defaultdict(list))
        for i, req in enumerate(samples.requests):
            groups[req.modality][req.cls].append(i)
        picked = _round_robin(groups, k, rng)
        if len(picked) < k:
            raise BenchError(f"generator {gen!r} has only {len(picked)} images, the study needs {k}",
                             where=str(folder), fix="use a smaller --n or sample more images")
        for i in picked:
            req = samples.requests[int(i)]
            mod = dataset.modalities[req.modality]
            items.append({"array": samples.images[int(i)], "channels": mod.channels, "prompt": req.text,
                          "is_real": False, "source": gen, "modality": mod.key, "label": mod.class_names[req.label],
                          "origin": str((folder / paths[int(i)]).resolve())})
            chosen_classes.append(req.cls)

    hold = dataset.splits["holdout"]
    unused = {c: list(rng.permutation(np.flatnonzero(hold.classes == c))) for c in np.unique(hold.classes)}
    wanted = list(rng.permutation(chosen_classes))
    classes = [wanted[j % len(wanted)] for j in range(n_real)]
    for c in classes:
        c = int(c)
        if not unused.get(c):  # class exhausted: another class of the same modality
            m = dataset.class_table()[c][0]
            spare = [d for d, v in unused.items() if v and dataset.class_table()[int(d)][0] == m]
            if not spare:
                raise BenchError(f"the holdout split has too few images for {n_real} real items",
                                 fix="use a smaller --n")
            c = int(spare[0])
        j = int(unused[c].pop())
        m, label = dataset.class_table()[c]
        mod = dataset.modalities[m]
        items.append({"array": hold.images[j], "channels": mod.channels, "prompt": dataset.prompt(c),
                      "is_real": True, "source": "real", "modality": mod.key, "label": mod.class_names[label],
                      "origin": f"{spec.name} holdout split row {j} (source index {int(hold.source_index[j])})"})

    order = rng.permutation(len(items))
    items = [items[int(i)] for i in order]

    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        study = Study(tmp)
        study.initialise({
            "title": title, "suite": spec.name, "suite_version": spec.version, "generators": generators,
            "n": len(items), "n_real": n_real, "per_generator": dict(zip(generators, per_gen)), "seed": seed,
            "runs_dir": str(Path(runs_dir).resolve()), "created": now_iso(), "image_size": dataset.image_size,
            "modalities": [m.key for m in dataset.modalities], "study_format": 1})
        (tmp / IMAGES_DIR).mkdir()
        rows = []
        for it in items:
            name = secrets.token_hex(16) + ".png"
            (tmp / IMAGES_DIR / name).write_bytes(png_bytes(it.pop("array"), it.pop("channels")))
            rows.append({**it, "image": name, "token": secrets.token_urlsafe(12)})
        study.add_items(rows)
        reader_rows = [study.add_reader() for _ in range(readers)]
        if out.exists():
            out.rmdir()  # empty (checked above)
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    study = Study(out)
    log(f"study {out}: {len(items)} images ({n_real} real, "
        + ", ".join(f"{k} {g}" for g, k in zip(generators, per_gen)) + f"), {readers} reader code(s)")
    return study, reader_rows
