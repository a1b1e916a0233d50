"""The web app readers answer in: FastAPI, one HTML page with inline CSS and JS (no CDN; works offline).

A reader signs in with their code (printed by ``reader-study create``), sees one image at a time with
its prompt and answers: real or synthetic, how confident (1–5), and how well the image matches the
text (1–5). Answers are saved one by one, so a reader can stop at any time and come back with the
same code; items come in the reader's own fixed random order.

Blinding: the app reads only the reader-facing parts of the store (items: token, image, prompt;
the reader's own answers). It never reads the answer key, never serves study metadata other than
the title, and serves images by random token only. A code belongs to one study; tokens of another
study are unknown to its readers (404).

Errors are JSON ``{"error": "…"}`` with a 4xx status: 401 no or unknown code, 404 unknown item or
image, 422 malformed request (with the field at fault).
"""

from typing import Optional

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr
from starlette.exceptions import HTTPException as StarletteHTTPException

from bench.readerstudy.store import Reader, Study, open_study

COOKIE = "medsyn_reader"
HEADER = "X-Study-Code"


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: StrictStr = Field(min_length=1, max_length=64)


class Answer(BaseModel):
    """One answer: real (true) or synthetic (false), confidence 1–5, image–text match 1–5."""

    model_config = ConfigDict(extra="forbid")
    token: StrictStr = Field(min_length=1, max_length=64)
    real: StrictBool
    confidence: StrictInt = Field(ge=1, le=5)
    alignment: StrictInt = Field(ge=1, le=5)
    elapsed_ms: Optional[StrictInt] = Field(default=None, ge=0, le=86_400_000)


class Problem(Exception):
    """A 4xx answer with a one-line JSON message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def create_app(studies: list) -> FastAPI:
    """The app for one or more study folders (or :class:`Study` objects); a code opens its own study."""
    studies = [s if isinstance(s, Study) else open_study(s) for s in studies]
    app = FastAPI(title="medsyn-bench reader study", docs_url=None, redoc_url=None, openapi_url=None)

    def error(status: int, message: str, **extra) -> JSONResponse:
        return JSONResponse({"error": message, **extra}, status_code=status, headers={"Cache-Control": "no-store"})

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem):
        return error(exc.status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        fields = []
        for e in exc.errors():
            loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body") or "body"
            fields.append(f"{loc}: {e.get('msg', 'invalid')}")
        what = "answer" if request.url.path.endswith("/answer") else "request"
        return error(422, f"malformed {what}: " + "; ".join(fields), fields=fields)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        return error(exc.status_code, str(exc.detail) if exc.status_code != 404 else "not found")

    @app.middleware("http")
    async def _headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
            "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
        return response

    def find_reader(code: Optional[str]) -> Optional[tuple]:
        if not code:
            return None
        for study in studies:
            reader = study.reader_by_code(code)
            if reader is not None:
                return study, reader
        return None

    def signed_in(request: Request) -> tuple[Study, Reader]:
        code = request.headers.get(HEADER) or request.cookies.get(COOKIE)
        if not code:
            raise Problem(401, "not signed in: sign in with your study code first")
        found = find_reader(code)
        if found is None:
            raise Problem(401, "unknown study code: check the code you were given, or sign in again")
        return found

    def progress(study: Study, reader: Reader, items: Optional[list] = None) -> dict:
        items = items if items is not None else study.reader_items(reader)
        answered = study.answers_of(reader)
        nxt = next((i for i, it in enumerate(items) if it.id not in answered), None)
        return {"answered": len(answered), "total": len(items), "next_index": nxt}

    @app.get("/", response_class=HTMLResponse)
    def page() -> HTMLResponse:
        return HTMLResponse(PAGE)

    @app.get("/healthz")
    def healthz() -> dict:
        return {"ok": True}

    @app.post("/api/signin")
    def signin(body: SignIn) -> JSONResponse:
        found = find_reader(body.code)
        if found is None:
            raise Problem(401, "unknown study code: check the code you were given (e.g. K7QM-2XHD-9RTA)")
        study, reader = found
        resp = JSONResponse({"title": study.title(), "reader": reader.name, **progress(study, reader)})
        resp.set_cookie(COOKIE, reader.code, httponly=True, samesite="strict", max_age=90 * 24 * 3600)
        return resp

    @app.post("/api/signout")
    def signout() -> JSONResponse:
        resp = JSONResponse({"signed_out": True})
        resp.delete_cookie(COOKIE)
        return resp

    @app.get("/api/state")
    def state(request: Request) -> dict:
        study, reader = signed_in(request)
        return {"title": study.title(), "reader": reader.name, **progress(study, reader)}

    @app.get("/api/item/{index}")
    def item(index: int, request: Request) -> dict:
        study, reader = signed_in(request)
        items = study.reader_items(reader)
        if not 0 <= index < len(items):
            raise Problem(404, f"no item {index}: this study has items 0 to {len(items) - 1}")
        it = items[index]
        return {"index": index, "total": len(items), "token": it.token, "prompt": it.prompt,
                "image": f"/api/image/{it.token}", "answer": study.answers_of(reader).get(it.id)}

    @app.get("/api/image/{token}")
    def image(token: str, request: Request) -> Response:
        study, _ = signed_in(request)
        it = study.item_by_token(token)
        if it is None:
            raise Problem(404, "no such image in your study")
        path = study.images_dir / it.image
        if not path.is_file():
            raise Problem(404, "the image file of this item is missing from the study folder")
        return Response(path.read_bytes(), media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})

    @app.post("/api/answer")
    def answer(body: Answer, request: Request) -> dict:
        study, reader = signed_in(request)
        it = study.item_by_token(body.token)
        if it is None:
            raise Problem(404, "no such item in your study")
        study.save_answer(reader, it, body.real, body.confidence, body.alignment, body.elapsed_ms)
        return {"saved": True, **progress(study, reader)}

    return app


def serve(studies: list, host: str = "127.0.0.1", port: int = 8000) -> None:
    import uvicorn

    app = create_app(studies)
    uvicorn.run(app, host=host, port=port, log_level="info")


PAGE = r"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Reader study</title>
<style>
  :root { --fg:#1d2330; --muted:#5b6475; --bg:#f5f6f8; --card:#fff; --acc:#2456c9; --sel:#dbe6ff; --line:#d5d9e0; }
  * { box-sizing: border-box; }
  body { margin:0; font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--fg); background:var(--bg); }
  header { display:flex; align-items:center; gap:1rem; padding:.6rem 1.2rem; background:var(--card); border-bottom:1px solid var(--line); }
  header h1 { font-size:1.1rem; margin:0; flex:1; }
  #who { color:var(--muted); font-size:.9rem; }
  .bar { width:220px; height:10px; background:#e6e9ef; border-radius:5px; overflow:hidden; }
  .bar > div { height:100%; background:var(--acc); width:0; transition:width .2s; }
  #count { font-variant-numeric: tabular-nums; min-width:5.5em; text-align:right; }
  main { max-width:1000px; margin:1.2rem auto; padding:0 1rem; }
  .card { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:1.2rem; }
  #signin { max-width:420px; margin:4rem auto; }
  #signin input { font:inherit; font-size:1.2rem; letter-spacing:.08em; width:100%; padding:.5rem; margin:.5rem 0 1rem; text-transform:uppercase; }
  .rate { display:grid; grid-template-columns: minmax(280px, 420px) 1fr; gap:1.5rem; align-items:start; }
  .imgbox { background:#000; border-radius:8px; display:flex; align-items:center; justify-content:center; aspect-ratio:1; }
  .imgbox img { width:100%; height:100%; object-fit:contain; }
  .imgbox img.small { image-rendering: pixelated; }
  .prompt { font-size:1.1rem; padding:.6rem .8rem; background:#f0f3f9; border-left:4px solid var(--acc); border-radius:4px; margin:0 0 1rem; }
  .q { border:2px solid transparent; border-radius:8px; padding:.5rem .7rem; margin-bottom:.6rem; }
  .q.active { border-color:var(--acc); background:#fafbff; }
  .q h3 { margin:0 0 .4rem; font-size:1rem; }
  .q .hint { color:var(--muted); font-size:.85rem; }
  .opts { display:flex; gap:.4rem; flex-wrap:wrap; }
  button { font:inherit; padding:.45rem .9rem; border:1px solid var(--line); border-radius:6px; background:#fff; cursor:pointer; }
  button:hover { border-color:var(--acc); }
  button.on { background:var(--sel); border-color:var(--acc); font-weight:600; }
  button.primary { background:var(--acc); color:#fff; border-color:var(--acc); }
  button.primary:disabled { opacity:.45; cursor:not-allowed; }
  button.primary kbd { background:transparent; color:#fff; border-color:rgba(255,255,255,.7); }
  .nav { display:flex; gap:.6rem; justify-content:space-between; margin-top:1rem; }
  kbd { font: .8rem ui-monospace, monospace; border:1px solid var(--line); border-bottom-width:2px; border-radius:4px; padding:0 .3rem; background:#fff; }
  .keys { color:var(--muted); font-size:.85rem; margin-top:1rem; }
  #msg { color:#b00020; min-height:1.3em; }
  .hidden { display:none !important; }
  a { color:var(--acc); }
</style></head>
<body>
<header><h1 id="title">Reader study</h1><span id="who"></span>
  <div class="bar hidden" id="bar" aria-hidden="true"><div id="barfill"></div></div><span id="count"></span>
  <button id="signout" class="hidden">Sign out</button></header>
<main>
  <section id="signin" class="card hidden">
    <h2>Sign in</h2>
    <p>Enter the study code you were given. You can stop at any time and come back later with the same code.</p>
    <form id="signinform"><label for="code">Study code</label>
      <input id="code" name="code" autocomplete="off" placeholder="XXXX-XXXX-XXXX" autofocus>
      <button class="primary" type="submit">Start</button></form>
    <p id="signinmsg" role="alert" style="color:#b00020"></p>
  </section>
  <section id="rating" class="card hidden">
    <div class="rate">
      <div class="imgbox"><img id="img" alt="image to rate"></div>
      <div>
        <p class="prompt" id="prompt"></p>
        <div class="q" data-q="real"><h3>1. Is this image real or synthetic?</h3>
          <div class="opts"><button data-real="true"><kbd>R</kbd> Real</button><button data-real="false"><kbd>S</kbd> Synthetic</button></div></div>
        <div class="q" data-q="confidence"><h3>2. How confident are you? <span class="hint">1 = guessing · 5 = certain</span></h3>
          <div class="opts" id="conf"></div></div>
        <div class="q" data-q="alignment"><h3>3. Does the image match the text? <span class="hint">1 = not at all · 5 = perfectly</span></h3>
          <div class="opts" id="align"></div></div>
        <div class="nav"><button id="back"><kbd>&larr;</kbd> Back</button>
          <button id="save" class="primary" disabled>Save &amp; next <kbd>Enter</kbd></button></div>
        <p id="msg" role="alert"></p>
      </div>
    </div>
    <p class="keys">Keys: <kbd>R</kbd>/<kbd>S</kbd> real/synthetic · <kbd>1</kbd>–<kbd>5</kbd> rate the highlighted question
      · <kbd>&uarr;</kbd>/<kbd>&darr;</kbd> change question · <kbd>Enter</kbd> save &amp; next · <kbd>&larr;</kbd>/<kbd>&rarr;</kbd> previous/next image</p>
  </section>
  <section id="done" class="card hidden">
    <h2>All images rated &mdash; thank you!</h2>
    <p>Your answers are saved. You can go <a href="#" id="review">back to revise</a> them, or sign out and close this page.</p>
  </section>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const Q = ["real", "confidence", "alignment"];
let st = null, cur = null, ans = {}, active = 0, shownAt = 0, busy = false;

for (const [box, key] of [["conf", "confidence"], ["align", "alignment"]]) {
  for (let v = 1; v <= 5; v++) {
    const b = document.createElement("button");
    b.textContent = v; b.dataset[key] = v;
    b.addEventListener("click", () => setValue(key, v));
    $(box).appendChild(b);
  }
}
document.querySelectorAll("[data-real]").forEach((b) =>
  b.addEventListener("click", () => setValue("real", b.dataset.real === "true")));

async function api(method, path, body) {
  const r = await fetch(path, { method, headers: body ? { "Content-Type": "application/json" } : {},
                                body: body ? JSON.stringify(body) : undefined, credentials: "same-origin" });
  let data = {};
  try { data = await r.json(); } catch (e) {}
  if (!r.ok) { const err = new Error(data.error || ("HTTP " + r.status)); err.status = r.status; throw err; }
  return data;
}
function show(id) { for (const s of ["signin", "rating", "done"]) $(s).classList.toggle("hidden", s !== id); }
function setProgress(p) {
  st = Object.assign(st || {}, p);
  $("count").textContent = st.answered + " / " + st.total;
  $("barfill").style.width = (st.total ? 100 * st.answered / st.total : 0) + "%";
}
function render() {
  document.querySelectorAll("[data-real]").forEach((b) => b.classList.toggle("on", ans.real !== undefined && String(ans.real) === b.dataset.real));
  document.querySelectorAll("[data-confidence]").forEach((b) => b.classList.toggle("on", Number(b.dataset.confidence) === ans.confidence));
  document.querySelectorAll("[data-alignment]").forEach((b) => b.classList.toggle("on", Number(b.dataset.alignment) === ans.alignment));
  document.querySelectorAll(".q").forEach((q) => q.classList.toggle("active", q.dataset.q === Q[active]));
  $("save").disabled = !complete();
  $("back").disabled = !cur || cur.index === 0;
}
function complete() { return ans.real !== undefined && ans.confidence && ans.alignment; }
function setValue(key, v) {
  ans[key] = v;
  const i = Q.indexOf(key);
  active = Math.min(i + 1, Q.length - 1);
  while (active < Q.length - 1 && ans[Q[active]] !== undefined) active++;
  $("msg").textContent = "";
  render();
}
async function load(index) {
  if (index === null || index === undefined) { show("done"); return; }
  cur = await api("GET", "/api/item/" + index);
  ans = cur.answer ? Object.assign({}, cur.answer) : {};
  active = 0;
  const img = $("img");
  img.onload = () => img.classList.toggle("small", img.naturalWidth < 160);
  img.src = cur.image;
  $("prompt").textContent = cur.prompt;
  $("rating").dataset.index = cur.index;
  shownAt = performance.now();
  show("rating"); render();
}
async function save() {
  if (!complete() || busy) return;
  busy = true;
  try {
    const p = await api("POST", "/api/answer", { token: cur.token, real: ans.real, confidence: ans.confidence,
      alignment: ans.alignment, elapsed_ms: Math.round(performance.now() - shownAt) });
    // revising an earlier answer walks forward item by item; otherwise jump to the first unanswered
    const after = cur.answer && cur.index + 1 < p.total ? cur.index + 1 : p.next_index;
    await load(after);
    setProgress(p);
  } catch (e) { $("msg").textContent = "Not saved: " + e.message; }
  finally { busy = false; }
}
async function start() {
  try {
    const s = await api("GET", "/api/state");
    $("title").textContent = s.title; $("who").textContent = s.reader;
    $("signout").classList.remove("hidden"); $("bar").classList.remove("hidden");
    setProgress(s);
    await load(s.next_index);
  } catch (e) {
    if (e.status === 401) { show("signin"); $("code").focus(); } else { $("msg").textContent = e.message; }
  }
}
$("signinform").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try { await api("POST", "/api/signin", { code: $("code").value.trim() }); await start(); }
  catch (e) { $("signinmsg").textContent = e.message; }
});
$("signout").addEventListener("click", async () => { await api("POST", "/api/signout"); location.reload(); });
$("save").addEventListener("click", save);
$("back").addEventListener("click", () => { if (cur && cur.index > 0) load(cur.index - 1); });
$("review").addEventListener("click", (ev) => { ev.preventDefault(); load(0); });
document.addEventListener("keydown", (ev) => {
  if ($("rating").classList.contains("hidden") || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (busy) { ev.preventDefault(); return; }  // the next image is still loading
  const k = ev.key;
  if (k === "r" || k === "R") setValue("real", true);
  else if (k === "s" || k === "S") setValue("real", false);
  else if (k >= "1" && k <= "5") { const q = Q[active] === "real" ? "confidence" : Q[active]; setValue(q, Number(k)); }
  else if (k === "ArrowUp") { active = Math.max(0, active - 1); render(); }
  else if (k === "ArrowDown") { active = Math.min(Q.length - 1, active + 1); render(); }
  else if (k === "Enter") { save(); }
  else if (k === "ArrowLeft" || k === "Backspace") { if (cur && cur.index > 0) load(cur.index - 1); }
  else if (k === "ArrowRight") { if (cur && cur.answer && cur.index + 1 < cur.total) load(cur.index + 1); }
  else return;
  ev.preventDefault();
});
start();
</script>
</body></html>
"""
