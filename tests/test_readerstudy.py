"""The reader study: creation (balanced, blinded), the web API (blinding, isolation, errors,
concurrency), the analysis statistics against worked examples, and one end-to-end run in a real
headless browser (system Chromium; skipped when none is installed)."""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import browser_or_skip

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image  # noqa: E402

from bench.errors import BenchError  # noqa: E402
from bench.readerstudy import analyse as an  # noqa: E402
from bench.readerstudy.app import create_app  # noqa: E402
from bench.readerstudy.create import create_study  # noqa: E402
from bench.readerstudy.store import open_study  # noqa: E402

# Distinctive generator names, so any leak into a response is easy to spot.
GENS = ("zebragen", "quokkagen")
LEAK_WORDS = GENS + ("answer_key", "is_real", '"source"', '"origin"', "holdout", "memoris", "runs", "samples/")


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory, smoke_dataset):
    """Run folders of two fake generators for the smoke suite: noise images and copies of train images."""
    from bench.data.samples import Samples, write_samples

    ds = smoke_dataset
    root = tmp_path_factory.mktemp("runs")
    reqs = [r for r in ds.prompt_requests() for _ in range(3)]
    rng = np.random.default_rng(0)
    train = ds.splits["train"]
    for gen in GENS:
        if gen == "zebragen":
            imgs = rng.integers(0, 256, size=(len(reqs), ds.image_size, ds.image_size, 3), dtype=np.uint8)
        else:
            imgs = np.stack([train.images[np.flatnonzero(train.classes == r.cls)[0]] for r in reqs])
        write_samples(root / "smoke" / gen / "samples", Samples(imgs, reqs), ds)
    return root


def make_study(runs_dir, out, n=12, readers=2, seed=0):
    study, codes = create_study("smoke", list(GENS), n, runs_dir, out, readers=readers, seed=seed, log=lambda *a: None)
    return study, codes


@pytest.fixture
def study(runs_dir, tmp_path):
    return make_study(runs_dir, tmp_path / "study")


# -- create ----------------------------------------------------------------------------------------------
def test_create_is_balanced_and_blinded(runs_dir, tmp_path):
    study, readers = make_study(runs_dir, tmp_path / "s", n=20, readers=3)
    key = study.key_table()
    assert len(key) == 20 and len(readers) == 3
    assert sum(k["is_real"] for k in key) == 10
    assert sorted(k["source"] for k in key if not k["is_real"]) == ["quokkagen"] * 5 + ["zebragen"] * 5
    # real items show the same classes as the synthetic ones
    syn = sorted(k["label"] for k in key if not k["is_real"])
    real = sorted(k["label"] for k in key if k["is_real"])
    assert syn == real
    # every modality appears
    assert {k["modality"] for k in key} == {"bloodmnist", "organamnist", "breastmnist"}
    # shuffled: not all real items first or last
    flags = [k["is_real"] for k in key]
    assert flags != sorted(flags) and flags != sorted(flags, reverse=True)
    # images: opaque names, same size and encoding, no metadata
    files = sorted((study.folder / "images").iterdir())
    assert len(files) == 20
    sizes = set()
    for f in files:
        assert len(f.stem) == 32 and all(c in "0123456789abcdef" for c in f.stem)
        data = f.read_bytes()
        assert not any(w.encode() in data for w in GENS)
        im = Image.open(io.BytesIO(data))
        assert not im.info.get("text") and "dpi" not in im.info
        sizes.add(im.size)
    assert sizes == {(28, 28)}
    # the reader codes work; the folder has no leftovers
    assert all(study.reader_by_code(r.code.lower().replace("-", " ")) == r for r in readers)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_create_errors(runs_dir, tmp_path):
    with pytest.raises(BenchError, match="no samples of generator 'nope'"):
        create_study("smoke", ["nope"], 10, runs_dir, tmp_path / "a", log=lambda *a: None)
    with pytest.raises(BenchError, match="too small"):
        create_study("smoke", list(GENS), 3, runs_dir, tmp_path / "b", log=lambda *a: None)
    make_study(runs_dir, tmp_path / "c")
    with pytest.raises(BenchError, match="not empty"):
        make_study(runs_dir, tmp_path / "c")
    with pytest.raises(BenchError, match="no reader study"):
        open_study(tmp_path / "missing")


# -- API ------------------------------------------------------------------------------------------------
def _bodies_clean(texts):
    for t in texts:
        low = t.lower()
        for w in LEAK_WORDS:
            assert w not in low, f"{w!r} leaked in a response: {t[:200]}"


def test_reader_walkthrough_is_blinded(study):
    st, readers = study
    client = TestClient(create_app([st.folder]))
    texts = []
    r = client.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert "http://" not in r.text.replace("http://www.w3.org", "") and "https://" not in r.text  # no CDN
    texts.append(r.text)
    r = client.post("/api/signin", json={"code": readers[0].code})
    assert r.status_code == 200, r.text
    texts.append(r.text)
    state = r.json()
    assert state == {"title": "Reader study", "reader": "reader 1", "answered": 0, "total": 12, "next_index": 0}
    key = {k["prompt"] for k in st.key_table()}
    seen = set()
    for i in range(state["total"]):
        r = client.get(f"/api/item/{i}")
        assert r.status_code == 200
        texts.append(r.text)
        item = r.json()
        assert set(item) == {"index", "total", "token", "prompt", "image", "answer"}
        assert item["prompt"] in key and item["answer"] is None
        img = client.get(item["image"])
        assert img.status_code == 200 and img.headers["content-type"] == "image/png"
        assert not any(w.encode() in img.content for w in GENS)
        r = client.post("/api/answer", json={"token": item["token"], "real": i % 2 == 0, "confidence": 1 + i % 5,
                                              "alignment": 5 - i % 5, "elapsed_ms": 1200})
        assert r.status_code == 200, r.text
        texts.append(r.text)
        assert r.json()["answered"] == i + 1
        seen.add(item["token"])
    assert len(seen) == 12
    r = client.get("/api/state")
    texts.append(r.text)
    assert r.json()["next_index"] is None and r.json()["answered"] == 12
    # the reader sees their own answer when going back, and nothing else
    r = client.get("/api/item/0")
    assert r.json()["answer"] == {"real": True, "confidence": 1, "alignment": 5}
    texts.append(r.text)
    for path in ("/docs", "/openapi.json", "/redoc", "/api/key", "/study.sqlite", "/images"):
        texts.append(client.get(path).text)
    _bodies_clean(texts)
    assert len(st.answer_table()) == 12


def test_bad_codes_and_malformed_answers(study):
    st, readers = study
    client = TestClient(create_app([st.folder]))
    for body in ({"code": "AAAA-BBBB-CCCC"}, {"code": ""}, {}, {"code": 123}):
        r = client.post("/api/signin", json=body)
        assert r.status_code in (401, 422) and r.json()["error"], body
    r = client.get("/api/state")
    assert r.status_code == 401 and "sign in" in r.json()["error"]
    r = client.get("/api/item/0", headers={"X-Study-Code": "WRONG-CODE"})
    assert r.status_code == 401 and "unknown study code" in r.json()["error"]

    h = {"X-Study-Code": readers[0].code}
    token = client.get("/api/item/0", headers=h).json()["token"]
    good = {"token": token, "real": True, "confidence": 3, "alignment": 4}
    bad = [({**good, "confidence": 0}, "confidence"), ({**good, "confidence": 6}, "confidence"),
           ({**good, "alignment": "4"}, "alignment"), ({**good, "real": "yes"}, "real"),
           ({**good, "confidence": 2.5}, "confidence"), ({k: v for k, v in good.items() if k != "alignment"}, "alignment"),
           ({**good, "source": "real"}, "source"), ({**good, "elapsed_ms": -1}, "elapsed_ms")]
    for body, field in bad:
        r = client.post("/api/answer", json=body, headers=h)
        assert r.status_code == 422, body
        msg = r.json()["error"]
        assert msg.startswith("malformed answer") and field in msg, msg
    r = client.post("/api/answer", content=b"{not json", headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["error"].startswith("malformed answer")
    r = client.post("/api/answer", json={**good, "token": "nosuchtoken"}, headers=h)
    assert r.status_code == 404 and "no such item" in r.json()["error"]
    r = client.get("/api/item/99", headers=h)
    assert r.status_code == 404 and "no item 99" in r.json()["error"]
    assert client.post("/api/answer", json=good, headers=h).status_code == 200
    assert st.answer_table()[0]["confidence"] == 3


def test_reader_cannot_read_another_study(runs_dir, tmp_path):
    a, ra = make_study(runs_dir, tmp_path / "a", seed=1)
    b, rb = make_study(runs_dir, tmp_path / "b", seed=2)
    both = TestClient(create_app([a.folder, b.folder]))
    ha, hb = {"X-Study-Code": ra[0].code}, {"X-Study-Code": rb[0].code}
    tok_b = both.get("/api/item/0", headers=hb).json()["token"]
    tok_a = both.get("/api/item/0", headers=ha).json()["token"]
    assert both.get(f"/api/image/{tok_b}", headers=ha).status_code == 404
    assert both.get(f"/api/image/{tok_a}", headers=ha).status_code == 200
    r = both.post("/api/answer", json={"token": tok_b, "real": True, "confidence": 1, "alignment": 1}, headers=ha)
    assert r.status_code == 404 and "your study" in r.json()["error"]
    assert not b.answer_table() and not a.answer_table()
    only_a = TestClient(create_app([a.folder]))
    assert only_a.get("/api/state", headers=hb).status_code == 401
    # two readers of one study see the same items in their own order
    t1 = [both.get(f"/api/item/{i}", headers=ha).json()["token"] for i in range(12)]
    t2 = [both.get(f"/api/item/{i}", headers={"X-Study-Code": ra[1].code}).json()["token"] for i in range(12)]
    assert sorted(t1) == sorted(t2) and t1 != t2


def test_stop_and_come_back(study):
    st, readers = study
    app = create_app([st.folder])
    c1 = TestClient(app)
    c1.post("/api/signin", json={"code": readers[1].code})
    tokens = []
    for i in range(3):
        tok = c1.get(f"/api/item/{i}").json()["token"]
        tokens.append(tok)
        assert c1.post("/api/answer", json={"token": tok, "real": False, "confidence": 2, "alignment": 2}).status_code == 200
    c1.post("/api/signout")
    assert c1.get("/api/state").status_code == 401
    c2 = TestClient(app)  # another browser, same code
    s = c2.post("/api/signin", json={"code": readers[1].code}).json()
    assert s["answered"] == 3 and s["next_index"] == 3
    assert [c2.get(f"/api/item/{i}").json()["token"] for i in range(3)] == tokens
    # revising an answer replaces it (no duplicate)
    c2.post("/api/answer", json={"token": tokens[0], "real": True, "confidence": 5, "alignment": 5})
    rows = [r for r in st.answer_table() if r["reader"] == "reader 2"]
    assert len(rows) == 3 and sum(r["says_real"] for r in rows) == 1


def test_concurrent_answers_are_not_lost(runs_dir, tmp_path):
    st, readers = make_study(runs_dir, tmp_path / "s", n=16, readers=4)
    app = create_app([st.folder])
    errors = []
    barrier = threading.Barrier(len(readers))

    def reader_thread(code):
        try:
            client = TestClient(app)
            h = {"X-Study-Code": code}
            items = [client.get(f"/api/item/{i}", headers=h).json() for i in range(16)]
            barrier.wait()
            for it in items:
                r = client.post("/api/answer", headers=h,
                                json={"token": it["token"], "real": True, "confidence": 4, "alignment": 3})
                assert r.status_code == 200, r.text
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader_thread, args=(r.code,)) for r in readers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    rows = st.answer_table()
    assert len(rows) == 16 * 4
    assert {(r["reader"], r["item_id"]) for r in rows} == {(r.name, k["item_id"]) for r in readers for k in st.key_table()}


def test_app_never_reads_the_key():
    src = (Path(an.__file__).parent / "app.py").read_text()
    assert "answer_key" not in src and "key_table" not in src and "answer_table" not in src and ".meta()" not in src


# -- analysis statistics ------------------------------------------------------------------------------
def test_fleiss_kappa_worked_example():
    # Fleiss (1971) as worked on Wikipedia: 10 subjects, 14 raters, 5 categories → kappa 0.210
    table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
             [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    assert an.fleiss_kappa(np.array(table)) == pytest.approx(0.20993, abs=1e-4)
    assert an.fleiss_kappa(np.array([[2, 0], [2, 0]])) is None  # one category only: undefined


def test_krippendorff_alpha_worked_example():
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", 4 observers × 12 units, missing data
    n = math.nan
    data = np.array([[1, 2, 3, 3, 2, 1, 4, 1, 2, n, n, n], [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, n, 3],
                     [n, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, n], [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, n]])
    assert an.krippendorff_alpha(data, "nominal") == pytest.approx(0.743, abs=1e-3)
    assert an.krippendorff_alpha(data, "interval") == pytest.approx(0.849, abs=1e-3)
    assert an.krippendorff_alpha(data, "ordinal") == pytest.approx(0.815, abs=1e-3)
    assert an.krippendorff_alpha(data, "ratio") == pytest.approx(0.797, abs=1e-3)


def test_cohen_kappa_worked_example():
    # Wikipedia: 50 proposals, both yes 20, A yes/B no 5, A no/B yes 10, both no 15 → kappa 0.4
    a = [1] * 20 + [1] * 5 + [0] * 10 + [0] * 15
    b = [1] * 20 + [0] * 5 + [1] * 10 + [0] * 15
    assert an.cohen_kappa(a, b) == pytest.approx(0.4)


def _table():
    """Two readers; 4 real items, 4 of generator A (always spotted), 4 of generator B (looks real)."""
    rows, item = [], 0
    plan = {"real": [(1, 3), (1, 3), (0, 3), (0, 3)], "A": [(0, 5)] * 4, "B": [(1, 3), (1, 3), (0, 3), (0, 3)]}
    align = {"real": [5, 5, 4, 4], "A": [5, 5, 4, 4], "B": [1, 2, 1, 2]}
    for source, answers in plan.items():
        for (says, conf), al in zip(answers, align[source]):
            item += 1
            for reader in ("r1", "r2"):
                rows.append({"reader": reader, "item_id": item, "is_real": int(source == "real"), "source": source,
                             "modality": "m1" if item % 2 else "m2", "says_real": says, "confidence": conf,
                             "alignment": al, "label": "x", "prompt": "p"})
    return rows


def test_analysis_known_values():
    res = an.analyse_rows(_table(), ["A", "B"], ["m1", "m2"])
    a, b = res["generators"]["A"], res["generators"]["B"]
    assert a["all"]["detection"]["auc"] == pytest.approx(1.0)
    assert a["all"]["detection"]["accuracy"] == pytest.approx(0.75)
    assert b["all"]["detection"]["auc"] == pytest.approx(0.5)
    assert b["all"]["detection"]["accuracy"] == pytest.approx(0.5)
    assert a["per_modality"]["m1"]["detection"]["auc"] == pytest.approx(1.0)
    half = 3.182446305 * np.std([5, 5, 4, 4], ddof=1) / 2
    assert a["all"]["alignment"]["mean"] == pytest.approx(4.5)
    assert a["all"]["alignment"]["ci95"] == pytest.approx([4.5 - half, 4.5 + half], abs=1e-6)
    assert b["all"]["alignment"]["mean"] == pytest.approx(1.5)
    # identical readers: perfect agreement
    ag = res["overall"]["agreement"]
    assert ag["n_readers"] == 2
    assert ag["realness"]["cohen_kappa"] == pytest.approx(1.0)
    assert ag["realness"]["krippendorff_alpha"] == pytest.approx(1.0)
    assert ag["alignment"]["cohen_kappa"] == pytest.approx(1.0)
    assert res["correlation"]["skipped"]
    assert a["metrics"]["reader_study"]["pooled"]["reader_auc"] == pytest.approx(1.0)


def test_agreement_with_disagreeing_readers():
    rows = _table()
    # reader 2 flips its call on the first 3 items: a kappa we can compute by hand
    for r in rows:
        if r["reader"] == "r2" and r["item_id"] <= 3:
            r["says_real"] = 1 - r["says_real"]
    ag = an.agreement(rows)["realness"]
    r1 = [r["says_real"] for r in rows if r["reader"] == "r1"]
    r2 = [r["says_real"] for r in rows if r["reader"] == "r2"]
    po = np.mean(np.equal(r1, r2))
    pe = np.mean(r1) * np.mean(r2) + (1 - np.mean(r1)) * (1 - np.mean(r2))
    assert ag["cohen_kappa"] == pytest.approx((po - pe) / (1 - pe))
    # three readers: Fleiss' kappa and alpha appear, Cohen's does not
    rows3 = rows + [{**r, "reader": "r3"} for r in rows if r["reader"] == "r1"]
    ag3 = an.agreement(rows3)
    assert "cohen_kappa" not in ag3["realness"] and ag3["realness"]["fleiss_kappa"] is not None
    kr = pytest.importorskip("krippendorff")
    items = sorted({r["item_id"] for r in rows3})
    mat = [[next(r["says_real"] for r in rows3 if r["reader"] == rd and r["item_id"] == i) for i in items]
           for rd in ("r1", "r2", "r3")]
    assert ag3["realness"]["krippendorff_alpha"] == pytest.approx(kr.alpha(reliability_data=mat, level_of_measurement="nominal"))


def test_correlation_with_automatic_metrics():
    res = an.analyse_rows(_table(), ["A", "B"], ["m1", "m2"])
    human = {g: {"all": e["all"]["alignment"]["mean"], **{m: v["alignment"]["mean"] for m, v in e["per_modality"].items()}}
             for g, e in res["generators"].items()}
    auto = {"A": an.automatic_metrics({"metrics": {"alignment": {"pooled": {"clip_score": 0.3},
                                                                  "per_modality": {"m1": {"clip_score": 0.31}, "m2": {"clip_score": 0.29}}}}}),
            "B": an.automatic_metrics({"metrics": {"alignment": {"pooled": {"clip_score": 0.1},
                                                                  "per_modality": {"m1": {"clip_score": 0.05}, "m2": {"clip_score": 0.12}}}}})}
    c = an.correlations(human, auto)
    assert c["clip_score"]["level"] == "modality" and c["clip_score"]["n"] == 4
    # human per cell [4.5, 4.5, 1, 2] → ranks [3.5, 3.5, 1, 2]; automatic ranks [4, 3, 1, 2]
    assert c["clip_score"]["spearman_rho"] == pytest.approx(4.5 / math.sqrt(4.5 * 5))
    assert an.correlations(human, {"A": {}, "B": {}})["skipped"]
    assert an.automatic_metrics({"metrics": {"x": "broken"}}) == {}


def test_analyse_study_writes_json_and_figure(study):
    st, readers = study
    for reader in readers:
        for it in st.reader_items(reader)[:10]:
            st.save_answer(reader, it, True, 3, 4)
    json_path, png_path = an.analyse_study(st.folder)
    res = json.loads(json_path.read_text())
    assert res["readers"]["n_answers"] == 20 and set(res["generators"]) == set(GENS)
    assert res["readers_complete"] == []
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any("no result JSON" in w for w in res["warnings"])


# -- end to end in a real browser -------------------------------------------------------------------
def _chromium() -> str | None:
    for name in (os.environ.get("MEDSYN_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and (shutil.which(name) or Path(name).is_file()):
            return shutil.which(name) or name
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Server:
    """uvicorn on 127.0.0.1 in a thread; stops when the test ends."""

    def __init__(self, app):
        import uvicorn

        self.port = _free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)


def test_browser_end_to_end(runs_dir, tmp_path):
    chromium = browser_or_skip(_chromium(), "the reader-study app (or set MEDSYN_CHROMIUM)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install -e '.[dev]')")
    st, readers = make_study(runs_dir, tmp_path / "s", n=8, readers=1)
    with _Server(create_app([st.folder])) as url, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 720})
            page.goto(url + "/")
            page.fill("#code", readers[0].code.lower())
            page.keyboard.press("Enter")
            page.wait_for_selector("#rating:not(.hidden)")
            expect = sync_api.expect
            assert page.inner_text("#count") == "0 / 8"
            for i in range(8):
                expect(page.locator("#img")).to_have_js_property("complete", True)
                if i % 2 == 0:  # keyboard: R/S, confidence, alignment, Enter
                    page.keyboard.press("r" if i % 4 == 0 else "s")
                    page.keyboard.press(str(1 + i % 5))
                    page.keyboard.press(str(5 - i % 5))
                    page.keyboard.press("Enter")
                else:  # mouse
                    page.click("button[data-real='false']")
                    page.click("#conf button[data-confidence='4']")
                    page.click("#align button[data-alignment='2']")
                    if i == 1 and os.environ.get("MEDSYN_SCREENSHOT"):
                        page.screenshot(path=os.environ["MEDSYN_SCREENSHOT"])
                    page.click("#save")
                expect(page.locator("#count")).to_have_text(f"{i + 1} / 8")
            page.wait_for_selector("#done:not(.hidden)")
            assert "thank you" in page.inner_text("#done").lower()
        finally:
            browser.close()
    json_path, _ = an.analyse_study(st.folder)
    res = json.loads(json_path.read_text())
    assert res["readers"]["n_answers"] == 8 and res["readers_complete"] == ["reader 1"]
    rows = st.answer_table()
    assert sorted((r["says_real"], r["confidence"], r["alignment"]) for r in rows) == sorted(
        [(1, 1, 5), (0, 3, 3), (1, 5, 1), (0, 2, 4)] + [(0, 4, 2)] * 4)
    assert all(r["elapsed_ms"] is not None for r in rows)


# -- published analyses on the leaderboard ---------------------------------------------------------
def _fake_analysis(version: int) -> dict:
    """An analysis of two smoke generators: readers catch every noise image, never a holdout one;
    holdout images are rated 5 for alignment, noise images 1 and 2."""
    rows, item = [], 0
    for source, is_real in (("real", 1), ("holdout", 0), ("noise", 0)):
        for k in range(4):
            item += 1
            for reader in ("r1", "r2"):
                caught = source == "noise"
                rows.append({"item_id": item, "reader": reader, "source": source, "is_real": is_real,
                             "modality": "bloodmnist", "says_real": int(not caught), "confidence": 4,
                             "alignment": 5 if source != "noise" else 1 + (k % 2)})
    body = an.analyse_rows(rows, ["holdout", "noise"], ["bloodmnist"])
    return {"schema": an.SCHEMA, "created": "2026-11-25T00:00:00Z",
            "study": {"suite": "smoke", "suite_version": version, "generators": ["holdout", "noise"]}, **body}


def test_published_study_reaches_leaderboard_and_figure(tmp_path):
    from bench.io import atomic_write_json
    from bench.report import render_all
    from bench.specs import load_suite, project_root

    boards = tmp_path / "leaderboards"
    shutil.copytree(project_root() / "leaderboards" / "smoke" / "results", boards / "smoke" / "results")
    study = tmp_path / "study-1"
    study.mkdir()
    atomic_write_json(study / an.ANALYSIS_JSON, _fake_analysis(load_suite("smoke").version))
    published = an.publish_analysis(study, boards)
    assert published == boards / "smoke" / "reader-studies" / "study-1.json"
    (boards / "smoke" / "reader-studies" / "broken.json").write_text('{"schema": "something else"}')

    out = render_all("smoke", boards, out=lambda m: None)
    readme = out["readme"].read_text()
    assert "## Reader studies" in readme
    # the noise generator's row: readers always right (accuracy 1, AUC 1), alignment mean 1.5
    noise_row = next(line for line in readme.splitlines() if line.startswith("| study-1 | noise"))
    assert noise_row.startswith("| study-1 | noise | 2 | 16 | 1.00 | 1.00 | 1.50 \\[")
    holdout = next(line for line in readme.splitlines() if line.startswith("| *holdout* |"))
    assert "| 0.500 | 5.00 \\[5.00, 5.00\\] |" in holdout  # reader AUC and human alignment in the main table
    assert any(r.file == "reader-studies/broken.json" for r in out["refused"])
    assert (boards / "smoke" / "figures" / "reader_study.png").is_file()
    assert "reader-studies" in out["html"].read_text()


def test_publish_needs_an_analysis(tmp_path):
    with pytest.raises(BenchError, match="no analysis yet"):
        an.publish_analysis(tmp_path, tmp_path / "boards")
