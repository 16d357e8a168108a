"""The blind rating web app: raters sign in with an invitation token and rate anonymous items.

    /login, /rate           rater pages (server-rendered, work without JavaScript)
    /api/...                the same as JSON (OpenAPI description at /openapi.json)
    /admin, /api/admin/...  the organiser: invitations, progress, comments, CSV/JSON export

Raters see random public ids and redacted text, never a model name, a seed or another rater's
scores. Each submit is stored at once, so closing the browser loses nothing: the next visit
resumes at the first unrated item. Rater and admin credentials are separate.
"""
import csv
import hashlib
import hmac
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader
from pydantic import BaseModel, Field, StrictInt
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from mhcompare.judge import ratings as service
from mhcompare.judge.db import Rater, Rating, open_database
from mhcompare.judge.rubric import Dimension

HERE = Path(__file__).parent
RATER_COOKIE, ADMIN_COOKIE = "mhc_rater", "mhc_admin"
TYPE_LABELS = {"counselling": "心理咨询", "psychoeducation": "心理科普", "crisis": "危机干预"}
SIDE_LABELS = {"left": "左侧对话", "right": "右侧对话", "conversation": "对话"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class AppSettings:
    database_url: str
    rules: service.Rules
    rubric: tuple[Dimension, ...]
    admin_token: str
    redact: tuple[str, ...] = ()
    secure_cookies: bool = False
    max_body_bytes: int = 65536


def token_hash(token: str) -> str:
    """Invitation tokens are 192 random bits, so a plain SHA-256 is enough to store them safely."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def redactor(words):
    """Replace words that could name a model (as a whole word, any case) with a neutral mark."""
    words = [w for w in words if w]
    if not words:
        return lambda text: text
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    pattern = re.compile(rf"(?<![A-Za-z])(?:{alternatives})(?![A-Za-z])", re.IGNORECASE)
    return lambda text: pattern.sub("[已隐去]", text)


class BodySizeLimit:
    """Refuse request bodies over the limit with 413, whether declared (Content-Length) or chunked."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.max_bytes:
                return await self.too_large(send)
            return await self.app(scope, receive, send)
        if b"transfer-encoding" not in headers:
            return await self.app(scope, receive, send)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                return await self.too_large(send)
            if not message.get("more_body"):
                break
        body, replayed = b"".join(chunks), False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)

    async def too_large(self, send):
        response = JSONResponse({"detail": f"request body over {self.max_bytes} bytes"}, status_code=413)
        await response({"type": "http"}, None, send)


def with_security_headers(app):
    """Add SECURITY_HEADERS to every response (plain ASGI: no per-request middleware overhead)."""
    extra = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def wrapped(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in extra if h[0] not in present)]
            await send(message)

        return await app(scope, receive, send_with_headers)

    return wrapped


class RatingIn(BaseModel):
    assignment_id: str = Field(max_length=64)
    scores: dict[str, dict[str, Annotated[StrictInt, Field(ge=1, le=5)]]] = Field(
        description="side (left/right, or conversation for single items) -> dimension -> 1-5")
    comment: str = Field(default="", max_length=20000)
    preference: Literal["left", "right", "tie"] | None = None


class InviteIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)


class NeedsLogin(Exception):
    pass


def create_app(settings: AppSettings) -> FastAPI:
    if len(settings.admin_token) < 16:
        raise ValueError("the admin token must be at least 16 characters; use e.g. "
                         "python -c 'import secrets; print(secrets.token_urlsafe(24))'")
    database = open_database(settings.database_url)
    rules, rubric = settings.rules, list(settings.rubric)
    redact = redactor(settings.redact)
    templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True)
    app = FastAPI(title="mhcompare Human Judge", docs_url=None, redoc_url=None,
                  description="Blind rating of simulated counselling sessions. Raters authenticate with "
                              "`Authorization: Bearer <invitation token>`, the organiser with the admin token.")
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.exception_handler(NeedsLogin)
    async def to_login(request: Request, exc: NeedsLogin):
        target = "/admin/login" if request.url.path.startswith("/admin") else "/login"
        return RedirectResponse(target, status_code=303)

    def page(name: str, status: int = 200, **context) -> HTMLResponse:
        return HTMLResponse(templates.get_template(name).render(**context), status_code=status)

    def bearer(request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        return header[7:].strip() if header.lower().startswith("bearer ") else None

    def find_rater(request: Request, session) -> Rater | None:
        token = bearer(request) or request.cookies.get(RATER_COOKIE)
        return service.rater_for_token(session, token_hash(token)) if token else None

    # Each request does its database work in one thread, inside one transaction that commits before
    # the response is sent (a 201 means the rating is on disk). Not a FastAPI dependency: holding the
    # SQLite lock across the thread-pool hops between a dependency and its endpoint can exhaust the
    # pool while the lock holder waits for a thread.
    def api_rater(request: Request, session) -> Rater:
        rater = find_rater(request, session)
        if rater is None:
            raise HTTPException(401, "sign in with your invitation token (Authorization: Bearer ...)",
                                headers={"WWW-Authenticate": "Bearer"})
        return rater

    def page_rater(request: Request, session) -> Rater:
        rater = find_rater(request, session)
        if rater is None:
            raise NeedsLogin()
        return rater

    def is_admin(request: Request) -> bool:
        token = bearer(request) or request.cookies.get(ADMIN_COOKIE) or ""
        return hmac.compare_digest(token.encode(), settings.admin_token.encode())

    def api_admin(request: Request):
        if not is_admin(request):
            raise HTTPException(401, "admin token required (Authorization: Bearer ...)",
                                headers={"WWW-Authenticate": "Bearer"})

    def page_admin(request: Request):
        if not is_admin(request):
            raise NeedsLogin()

    def set_cookie(response: Response, name: str, value: str) -> None:
        response.set_cookie(name, value, httponly=True, samesite="strict", secure=settings.secure_cookies,
                            max_age=60 * 60 * 24 * 30)

    def item_view(assignment) -> dict:
        """What a rater may see of an item: no model, seed or conversation id."""
        shown = service.sides(assignment)
        first = next(iter(shown.values()))
        return {
            "assignment_id": assignment.public_id,
            "kind": assignment.item.kind,
            "position": assignment.position,
            "scenario": {"type": first.scenario_type, "type_label": TYPE_LABELS[first.scenario_type],
                         "title": first.scenario_title, "presenting_problem": first.presenting_problem},
            "conversations": {side: [{"role": t["role"], "content": redact(t["content"])} for t in c.turns]
                              for side, c in shown.items()},
        }

    # ---------------------------------------------------------------- rater pages
    @app.get("/", include_in_schema=False)
    def home():
        return RedirectResponse("/rate", status_code=303)

    @app.get("/login", include_in_schema=False)
    def login_page():
        return page("login.html")

    @app.post("/login", include_in_schema=False)
    def login(token: Annotated[str, Form(max_length=200)]):
        with database.transaction() as session:
            known = service.rater_for_token(session, token_hash(token.strip())) is not None
        if not known:
            return page("login.html", status=401, error="邀请码无效，请核对后重试。")
        response = RedirectResponse("/rate", status_code=303)
        set_cookie(response, RATER_COOKIE, token.strip())
        return response

    @app.post("/logout", include_in_schema=False)
    def logout():
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(RATER_COOKIE)
        return response

    def rate_page(session, rater, status=200, error=None):
        assignment = service.current_assignment(session, rater, rules)
        done = service.progress(session, rater, rules)
        if assignment is None:
            return page("done.html", progress=done, rater=rater)
        return page("rate.html", status=status, item=item_view(assignment), progress=done, rater=rater,
                    rubric=rubric, side_labels=SIDE_LABELS, error=error,
                    max_comment=rules.max_comment_chars)

    @app.get("/rate", include_in_schema=False)
    def rate(request: Request):
        with database.transaction() as session:
            return rate_page(session, page_rater(request, session))

    def form_payload(form) -> dict:
        sides = service.SIDES_PAIR if rules.kind == "pair" else service.SIDES_SINGLE
        try:
            scores = {side: {d.key: int(form[f"{side}.{d.key}"]) for d in rubric if form.get(f"{side}.{d.key}")}
                      for side in sides}
        except ValueError:
            scores = None
        return {"scores": scores, "comment": str(form.get("comment", "")), "preference": form.get("preference") or None}

    def submit_from_page(request: Request, assignment_id: str, payload: dict):
        with database.transaction() as session:
            rater = find_rater(request, session)
            if rater is None:
                return RedirectResponse("/login", status_code=303)
            try:
                service.submit(session, rater, assignment_id, payload, rules)
            except service.NotFound:
                return page("message.html", status=404, message="找不到这条待评对话。", link="/rate")
            except service.AlreadyRated:
                return page("message.html", status=409, message="这条对话你已经评过了，评分已保存。", link="/rate")
            except service.InvalidRating:
                return rate_page(session, rater, status=422,
                                 error="请为每个维度选择 1-5 分（评语不超过字数限制）后再提交。")
        return RedirectResponse("/rate", status_code=303)

    @app.post("/rate/{assignment_id}", include_in_schema=False)
    async def rate_submit(assignment_id: str, request: Request):
        # the form is read here; the database work runs in the thread pool, never on the event loop
        payload = form_payload(await request.form())
        return await run_in_threadpool(submit_from_page, request, assignment_id, payload)

    # ---------------------------------------------------------------- rater API
    @app.get("/api/progress", tags=["rater"])
    def api_progress(request: Request) -> dict:
        """How many items you have rated, of how many."""
        with database.transaction() as session:
            return service.progress(session, api_rater(request, session), rules)

    @app.get("/api/next", tags=["rater"])
    def api_next(request: Request) -> dict:
        """Your current item (the same one until you rate it), or `item: null` when you are done."""
        with database.transaction() as session:
            rater = api_rater(request, session)
            assignment = service.current_assignment(session, rater, rules)
            item = item_view(assignment) if assignment else None
            done = service.progress(session, rater, rules)
        return {"item": item, "progress": done,
                "rubric": [{"key": d.key, "label": d.label, "question": d.question, "anchors": list(d.anchors)}
                           for d in rubric]}

    @app.post("/api/ratings", tags=["rater"], status_code=201,
              responses={401: {"description": "not signed in"}, 404: {"description": "not your item"},
                         409: {"description": "already rated"}, 413: {"description": "body too large"},
                         422: {"description": "invalid scores or comment"}})
    def api_rate(body: RatingIn, request: Request) -> dict:
        """Rate your item: every side on every dimension, 1-5; comment and preference optional."""
        with database.transaction() as session:
            rater = api_rater(request, session)
            try:
                rating = service.submit(session, rater, body.assignment_id, body.model_dump(), rules)
            except service.NotFound as e:
                raise HTTPException(404, str(e)) from e
            except service.AlreadyRated as e:
                raise HTTPException(409, str(e)) from e
            except service.InvalidRating as e:
                raise HTTPException(422, str(e)) from e
            stored = {"stored": True, "rating_id": rating.id, "progress": service.progress(session, rater, rules)}
        return stored

    # ---------------------------------------------------------------- organiser
    @app.get("/admin/login", include_in_schema=False)
    def admin_login_page():
        return page("admin_login.html")

    @app.post("/admin/login", include_in_schema=False)
    def admin_login(token: Annotated[str, Form(max_length=500)]):
        if not hmac.compare_digest(token.strip().encode(), settings.admin_token.encode()):
            return page("admin_login.html", status=401, error="管理员口令错误。")
        response = RedirectResponse("/admin", status_code=303)
        set_cookie(response, ADMIN_COOKIE, token.strip())
        return response

    def overview(session) -> dict:
        raters = session.scalars(select(Rater).order_by(Rater.id)).all()
        done = dict(session.execute(select(Rating.rater_id, func.count(Rating.id)).group_by(Rating.rater_id)).all())
        comments = session.scalars(select(Rating).where(Rating.comment != "").order_by(Rating.id.desc())
                                   .limit(50)).unique().all()
        total = min(rules.items_per_rater, service.items_available(session, rules))
        return {"raters": [{"id": r.id, "name": r.name, "done": done.get(r.id, 0), "total": total,
                            "active": r.active} for r in raters],
                "comments": [{"rating_id": c.id, "rater_id": c.rater_id, "comment": c.comment} for c in comments]}

    @app.get("/admin", include_in_schema=False, dependencies=[Depends(page_admin)])
    def admin_page():
        with database.transaction() as session:
            return page("admin.html", **overview(session))

    @app.post("/admin/raters", include_in_schema=False, dependencies=[Depends(page_admin)])
    def admin_invite(name: Annotated[str, Form(min_length=1, max_length=200)]):
        with database.transaction() as session:
            token = invite(session, name)
            return page("admin.html", new_rater={"name": name, "token": token}, **overview(session))

    def invite(session, name: str) -> str:
        token = service.new_token()
        session.add(Rater(name=name.strip(), token_hash=token_hash(token)))
        session.flush()
        return token

    @app.post("/api/admin/raters", tags=["admin"], status_code=201, dependencies=[Depends(api_admin)])
    def api_invite(body: InviteIn) -> dict:
        """Create a rater; the token is returned once and stored only as a hash."""
        with database.transaction() as session:
            token = invite(session, body.name)
        return {"name": body.name.strip(), "token": token}

    @app.get("/api/admin/raters", tags=["admin"], dependencies=[Depends(api_admin)])
    def api_raters() -> dict:
        """Every rater's progress, and the latest comments."""
        with database.transaction() as session:
            return overview(session)

    @app.get("/api/admin/export.json", tags=["admin"], dependencies=[Depends(api_admin)])
    def api_export_json() -> dict:
        """All scores (one row per rater x conversation x dimension) and pairwise votes, with model names."""
        with database.transaction() as session:
            scores, votes = service.export_rows(session)
        return {"scores": scores, "votes": votes}

    @app.get("/api/admin/export.csv", tags=["admin"], dependencies=[Depends(api_admin)])
    def api_export_csv(table: Literal["scores", "votes"] = "scores") -> Response:
        """One table as CSV: `scores` (default) or `votes`."""
        with database.transaction() as session:
            scores, votes = service.export_rows(session)
        rows = scores if table == "scores" else votes
        out = io.StringIO()
        if rows:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="human_judge_{table}.csv"'})

    return BodySizeLimit(with_security_headers(app), settings.max_body_bytes)
