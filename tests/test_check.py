"""``medsyn-bench check``: a submission folder is validated up front, every problem listed at once."""

from __future__ import annotations

import csv
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.cli import main
from bench.data.submission import check_submission
from bench.errors import BenchError


def make_submission(folder: Path, ds, n: int, seed: int = 0) -> list[list[str]]:
    """``n`` distinct random PNGs (native channels, suite size) per prompt and their manifest rows."""
    rng = np.random.default_rng(seed)
    rows = []
    for req in ds.prompt_requests():
        mod = ds.modalities[req.modality]
        (folder / mod.key).mkdir(parents=True, exist_ok=True)
        shape = (ds.image_size, ds.image_size) + ((3,) if mod.channels == 3 else ())
        for k in range(n):
            rel = f"{mod.key}/c{req.label:02d}_{k:03d}.png"
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(folder / rel)
            rows.append([rel, req.text])
    write_manifest(folder, rows)
    return rows


def write_manifest(folder: Path, rows: list[list[str]]) -> None:
    with open(folder / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["path", "prompt"])
        w.writerows(rows)


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width``×``height`` grey pixels and holds no pixel data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def clean20(tmp_path_factory, smoke_dataset):
    """A valid submission at the smoke suite's 20 images per prompt (420 images)."""
    folder = tmp_path_factory.mktemp("clean20")
    make_submission(folder, smoke_dataset, 20)
    return folder


def broken_submission(tmp_path: Path, ds) -> Path:
    """Two images per prompt, with one different problem on each of several rows (line = index + 2)."""
    sub = tmp_path / "sub"
    rows = make_submission(sub, ds, 2)
    rgb = lambda side: Image.fromarray(np.random.default_rng(side).integers(0, 256, (side, side, 3), dtype=np.uint8))
    rgb(28).save(tmp_path / "outside.png")
    (tmp_path / "outdir").mkdir()
    rgb(28).save(tmp_path / "outdir" / "x.png")
    rows[0][0] = "../outside.png"                                    # line 2: '..' out of the folder
    rows[2][0] = str(tmp_path / "outside.png")                       # line 4: absolute
    (sub / "bloodmnist" / "link.png").symlink_to(tmp_path / "outside.png")
    rows[4][0] = "bloodmnist/link.png"                               # line 6: symlinked file points out
    rows[6][0] = "bloodmnist/nothere.png"                            # line 8: missing
    (sub / rows[8][0]).write_bytes(b"<html>not an image</html>")     # line 10: does not decode
    rgb(30).save(sub / rows[10][0])                                  # line 12: wrong size
    (sub / "linkdir").symlink_to(tmp_path / "outdir")
    rows[12][0] = "linkdir/x.png"                                    # line 14: symlinked parent points out
    rows[14][0] = "bloodmnist"                                       # line 16: a folder
    rgb(28).save(sub / rows[16][0])                                  # line 18: colour for grey organamnist
    rows[18][1] = "<b>nope</b>\x07"                                  # line 20: unknown prompt
    rows.append(list(rows[20]))                                      # line 44: same path as line 22
    shutil.copy(sub / rows[22][0], sub / "organamnist" / "copy.png")
    rows.append(["organamnist/copy.png", rows[22][1]])               # line 45: same bytes as line 24
    rows[41][1] = rows[39][1]                                        # breast class 1: 1 of 2 images
    write_manifest(sub, rows)
    return sub


def test_a_clean_submission_passes_with_counts_and_a_content_hash(tmp_path, smoke_dataset):
    sub = tmp_path / "sub"
    rows = make_submission(sub, smoke_dataset, 2)
    report = check_submission(sub, smoke_dataset, 2)
    assert report.ok and report.problems == [] and report.warnings == []
    assert report.rows == report.usable == 42
    assert report.images_per_prompt == {p.text: 2 for p in smoke_dataset.prompt_requests()}
    assert "42 rows, 42 usable images; 21 prompts × 2 needed" in report.counts()
    h = report.content_sha256
    assert len(h) == 64 and check_submission(sub, smoke_dataset, 2).content_sha256 == h
    (sub / "notes.txt").write_text("not listed")  # files the manifest does not list are not hashed
    assert check_submission(sub, smoke_dataset, 2).content_sha256 == h
    Image.fromarray(np.zeros((28, 28, 3), dtype=np.uint8)).save(sub / rows[0][0])
    assert check_submission(sub, smoke_dataset, 2).content_sha256 != h
    # more images than needed: a warning (the first n are used), not a problem
    more = check_submission(sub, smoke_dataset, 1)
    assert more.ok and len(more.warnings) == 21 and "only the first 1" in more.warnings[0].fix


def test_a_broken_submission_reports_every_problem_with_its_line(tmp_path, smoke_dataset):
    report = check_submission(broken_submission(tmp_path, smoke_dataset), smoke_dataset, 2)
    rows = {(p.line, p.kind) for p in report.problems if p.line}
    assert rows == {(2, "path"), (4, "path"), (6, "path"), (8, "file"), (10, "decode"), (12, "size"), (14, "path"),
                    (16, "file"), (18, "channels"), (20, "prompt"), (44, "duplicate"), (45, "duplicate")}
    by_line = {p.line: p for p in report.problems if p.line}
    assert "'..'" in by_line[2].message and "absolute" in by_line[4].message
    assert "symlink" in by_line[6].message and "symlink" in by_line[14].message
    assert "30×30" in by_line[12].message and by_line[12].fix == "save at 28×28 px"
    assert "'organamnist' is grey" in by_line[18].message
    assert "first at line 22" in by_line[44].message and "line 24" in by_line[45].message
    assert "medsyn-bench prompts --suite smoke --out" in by_line[20].fix
    counts = {p.message for p in report.problems if p.kind == "count"}
    breast1 = smoke_dataset.prompt_requests()[-1].text
    assert f"prompt {breast1!r}: 1 usable image(s) of 2 needed" in counts
    basophil = smoke_dataset.prompt_requests()[0].text
    assert f"prompt {basophil!r}: 1 usable image(s) of 2 needed (1 more listed, with problems above)" in counts
    assert any(p.kind == "extra" for p in report.warnings)  # breast class 0 now has 3
    lines = report.problem_lines()
    assert "manifest.csv line 20: unknown prompt '<b>nope</b>\\x07'" in "\n".join(lines)
    assert not any("\x07" in line for line in lines)  # hostile text is shown as repr, never raw
    assert sum(line.startswith("  manifest.csv") for line in lines) == len(report.problems)


def test_a_decompression_bomb_is_refused_from_its_header(tmp_path, smoke_dataset, monkeypatch):
    from PIL import ImageFile

    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "huge.png").write_bytes(png_header(100_000, 100_000))
    (sub / "over.png").write_bytes(png_header(4097, 4096))  # just over the 4096² cap
    prompt = smoke_dataset.prompt_requests()[10].text  # a grey organamnist prompt
    write_manifest(sub, [["huge.png", prompt], ["over.png", prompt]])
    decoded = []
    original = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda im: decoded.append(im.size) or original(im))
    report = check_submission(sub, smoke_dataset, 1)
    assert [(p.line, p.kind) for p in report.problems if p.line] == [(2, "pixels"), (3, "pixels")]
    assert decoded == []


@pytest.mark.parametrize("manifest, message", [
    (None, "manifest.csv not found"),
    (b"file,text\nx.png,y\n", "missing column(s) path, prompt"),
    (b"\xef\xbb\xbfpath,prompt\nx.png,y\n", "byte-order mark"),
    (b"path,prompt\n\xff\xfe\n", "not UTF-8"),
    (b"path,prompt\n", "no rows"),
])
def test_an_unusable_manifest_is_one_problem(tmp_path, smoke_dataset, manifest, message):
    if manifest is not None:
        (tmp_path / "manifest.csv").write_bytes(manifest)
    report = check_submission(tmp_path, smoke_dataset, 1)
    assert len(report.problems) == 1 and report.problems[0].kind == "manifest"
    assert message in report.problems[0].message


def test_line_numbers_are_the_files_own_lines(tmp_path, smoke_dataset):
    (tmp_path / "manifest.csv").write_text('path,prompt\n\n"a\nb.png",x\nc.png,y\n')
    report = check_submission(tmp_path, smoke_dataset, 1)
    assert [p.line for p in report.problems if p.kind == "prompt"] == [3, 5]


def test_submit_refuses_a_broken_folder_before_any_stage(tmp_path, smoke_dataset):
    from bench.run import submit_images

    sub = tmp_path / "sub"
    rows = make_submission(sub, smoke_dataset, 2)
    write_manifest(sub, [[path, f"{prompt}!"] for path, prompt in rows])  # 42 unknown prompts + 21 counts
    runs = tmp_path / "runs"
    with pytest.raises(BenchError) as exc:
        submit_images("smoke", sub, "my-gen", runs, tmp_path / "boards", device="cpu", log=lambda m: None)
    text = str(exc.value)
    assert "63 problems in" in text and "manifest.csv line 2: unknown prompt" in text
    assert "… and 13 more" in text and "medsyn-bench check --suite smoke" in text
    assert not runs.exists() and not (tmp_path / "boards").exists()  # no stage ran, no _shared folder


def test_submit_describes_the_submission_by_its_content_hash(clean20, smoke_dataset, tmp_path, monkeypatch):
    import bench.run

    seen = {}
    monkeypatch.setattr(bench.run, "run_suite", lambda *a, **kw: seen.update(kw) or [])
    bench.run.submit_images("smoke", clean20, "my-gen", tmp_path / "runs", None, device="cpu")
    model = seen["entries"][0].model
    h = check_submission(clean20, smoke_dataset, 20).content_sha256
    assert model.description == f"submitted images (content sha256 {h})"
    assert str(clean20) not in model.description and model.params["folder"] == str(clean20.resolve())


def test_cli_check_exit_codes(clean20, tmp_path, smoke_dataset, capsys):
    assert main(["check", "--suite", "smoke", "--images", str(clean20)]) == 0
    out = capsys.readouterr().out
    h = check_submission(clean20, smoke_dataset, 20).content_sha256
    assert "ok: 420 rows, 420 usable images" in out and f"content sha256 {h}" in out
    broken = broken_submission(tmp_path, smoke_dataset)
    assert main(["check", "--suite", "smoke", "--images", str(broken)]) == 2
    captured = capsys.readouterr()
    assert "manifest.csv line 10: not a PNG/JPEG/TIFF/BMP image — fix:" in captured.out
    assert "unknown prompts (1):" in captured.out
    assert f"problems in {broken / 'manifest.csv'}" in captured.err


def test_perf_times_the_check_on_valid_fake_submissions():
    from bench.perf import bench_submission_check

    res = bench_submission_check(quick=True)
    assert set(res["by_images"]) == {"420", "2100"} and res["met"] is None
    assert all(v["problems"] == 0 and v["seconds"] > 0 for v in res["by_images"].values())


def test_only_plain_raster_formats_are_opened(tmp_path, smoke_dataset, monkeypatch):
    """An EPS file (which PIL would hand to Ghostscript) is refused as a format, never interpreted."""
    from PIL import EpsImagePlugin

    rows = make_submission(tmp_path, smoke_dataset, 1)
    (tmp_path / rows[0][0]).write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 28 28\nshowpage\n")
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", lambda *a, **k: pytest.fail("Ghostscript was called"))
    report = check_submission(tmp_path, smoke_dataset, 1)
    assert [(p.line, p.kind) for p in report.problems if p.kind == "decode"] == [(2, "decode")]
    assert "PNG/JPEG/TIFF/BMP" in report.problems[0].message
    with pytest.raises(BenchError, match="PNG/JPEG/TIFF/BMP"):
        from bench.data.images import read_image

        read_image(tmp_path / rows[0][0], "test")
