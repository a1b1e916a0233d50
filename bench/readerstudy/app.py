"""The web app readers answer in: FastAPI, one HTML page with inline CSS and JS (no CDN; works offline),
rendered from ``templates/`` by Jinja2 with autoescape; its Content-Security-Policy allows that one
stylesheet and that one script by their sha256, nothing else inline.

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

from pathlib import Path
from typing import Optional

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr
from starlette.exceptions import HTTPException as StarletteHTTPException

from bench.io import csp_hash
from bench.readerstudy.store import Reader, Study, open_study

TEMPLATES = Path(__file__).resolve().parent / "templates"

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


def study_page() -> tuple[str, str, str]:
    """The reader's page, rendered from ``templates/study.html`` by Jinja2 with autoescape, and the CSP
    sources (sha256) of its one stylesheet and one script: nothing else inline may run."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined
    from markupsafe import Markup

    css, js = (TEMPLATES / "study.css").read_text(), (TEMPLATES / "study.js").read_text()
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined)
    html = env.get_template("study.html").render(css=Markup(css), js=Markup(js))
    return html, csp_hash(css), csp_hash(js)


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

    html, css_src, js_src = study_page()

    @app.middleware("http")
    async def _headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Security-Policy"] = (
            f"default-src 'none'; img-src 'self'; style-src {css_src}; script-src {js_src}; "
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
        return HTMLResponse(html)

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

