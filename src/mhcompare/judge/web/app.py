"""The blind rating web app: raters sign in with an invitation token and rate anonymous items.

    /login, /rate           rater pages (server-rendered, work without JavaScript)
    /api/...                the same as JSON (OpenAPI description at /openapi.json)
    /admin, /api/admin/...  the organiser: invitations, deactivation, progress, blinding, export
    /live, /api/live/...    live blind chats, when judge.live.enabled (live_app.py)

Raters see random public ids and redacted text (redaction.py), never a model name, a seed or
another rater's scores. Each submit is stored at once (and fsynced), so closing the browser loses
nothing: the next visit resumes at the first unrated item; a half-filled form is kept in the
browser until submitted. Browsers hold a server-side session (sessions.py), scripts send
`Authorization: Bearer <token>`; rater and admin credentials are separate. Cross-site requests,
token guessing and spreadsheet formulas in exports are dealt with in security.py.
"""
import csv
import io
import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Literal

from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader
from pydantic import BaseModel, Field, StrictInt, model_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import func, select

from mhcompare.judge.store import blinding, live, sessions
from mhcompare.judge.store import ratings as service
from mhcompare.judge.store.db import Assignment, Item, Rater, Rating, open_database
from mhcompare.judge.store.live import LiveSettings
from mhcompare.judge.redaction import Redactor
from mhcompare.judge.rubric import Dimension
from mhcompare.judge.security import (
    UNSTORABLE_TEXT,
    SignInThrottle,
    UnstorableText,
    admin_token_problem,
    check_storable,
    digest,
    new_secret,
    same_origin_only,
    same_secret,
    spreadsheet_safe,
    storable_urls_only,
    unstorable,
)

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
RATER_COOKIE, ADMIN_COOKIE, LOGIN_CSRF_COOKIE = "mhc_rater", "mhc_admin", "mhc_login_csrf"
CSRF_FIELD, CSRF_HEADER = "csrf_token", "x-csrf-token"
TYPE_LABELS = {"counselling": "心理咨询", "psychoeducation": "心理科普", "crisis": "危机干预"}
SIDE_LABELS = {"left": "左侧对话", "right": "右侧对话", "conversation": "对话"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # our own pages send Referer, so the same-origin check can use it
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
    sign_in_failures_per_minute: int = 10
    live: LiveSettings | None = None  # judge.live: live blind chats; None when off


def token_hash(token: str) -> str:
    """Invitation tokens are 192 random bits, so a plain SHA-256 is enough to store them safely."""
    return digest(token)
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


class JsonIn(BaseModel):
    """A request body; text no database can store (a NUL, a lone surrogate) is refused before any
    field is looked at."""

    @model_validator(mode="before")
    @classmethod
    def storable_text(cls, data):
        if unstorable(data):
            raise PydanticCustomError("unstorable_text", UNSTORABLE_TEXT)
        return data


class RatingIn(JsonIn):
    assignment_id: str = Field(max_length=64)
    scores: dict[str, dict[str, Annotated[StrictInt, Field(ge=1, le=5)]]] = Field(
        description="side (left/right, or conversation for single items) -> dimension -> 1-5")
    comment: str = Field(default="", max_length=20000)
    preference: Literal["left", "right", "tie"] | None = None


class InviteIn(JsonIn):
    name: str = Field(min_length=1, max_length=200)


class NeedsLogin(Exception):
    pass


class CsrfRefused(Exception):
    """A state-changing request with a session cookie but without that session's CSRF token."""


class Throttled(Exception):
    def __init__(self, retry_after: int):
        super().__init__(f"too many failed sign-ins; retry in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Auth:
    """Who is asking: a rater (None for the organiser), and the browser session if it came by cookie
    (None for a bearer token, which needs no CSRF token: other sites cannot make a browser send it)."""
    rater: service.RaterRow | None
    login: sessions.SessionRow | None


def csv_bytes(rows: list[dict]) -> bytes:
    """UTF-8 with a byte-order mark (so Excel reads Chinese correctly), formula cells neutralised."""
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({k: spreadsheet_safe(v) for k, v in row.items()} for row in rows)
    return out.getvalue().encode("utf-8-sig")


def json_response(data, status: int = 200) -> Response:
    """JSON of plain dicts and lists, encoded once (FastAPI's encoder walks every value of a returned
    dict again; the rater API's answers need none of that)."""
    return Response(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode(), status_code=status,
                    media_type="application/json")


def form_choices(form) -> dict:
    """A submitted rating form as plain strings, to show it again after a refusal (422)."""
    return {k: str(v) for k, v in form.items() if k != CSRF_FIELD}


def create_app(settings: AppSettings):
    problem = admin_token_problem(settings.admin_token)
    if problem:
        raise ValueError(problem)
    database = open_database(settings.database_url)
    rules, rubric = settings.rules, list(settings.rubric)
    redact = Redactor(settings.redact)
    with database.transaction() as session:
        blinding.audit(session, redact)
        live.recover(session)
    throttle = SignInThrottle(settings.sign_in_failures_per_minute, 60.0)
    templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True)
    app = FastAPI(title="mhcompare Human Judge", docs_url=None, redoc_url=None,
                  description="Blind rating of simulated counselling sessions. Raters authenticate with "
                              "`Authorization: Bearer <invitation token>`, the organiser with the admin token. "
                              "Browser sessions (cookies) must also send the page's CSRF token in "
                              f"`{CSRF_HEADER}` on POST.")
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def page(name: str, status: int = 200, headers=None, **context) -> HTMLResponse:
        return HTMLResponse(templates.get_template(name).render(**context), status_code=status, headers=headers)

    def wants_json(request: Request) -> bool:
        return request.url.path.startswith("/api/")

    # ---------------------------------------------------------------- errors
    @app.exception_handler(NeedsLogin)
    async def to_login(request: Request, exc: NeedsLogin):
        target = "/admin/login" if request.url.path.startswith("/admin") else "/login"
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, exc: CsrfRefused):
        log.warning("judge_app: refused %s %s without its CSRF token", request.method, request.url.path)
        if wants_json(request):
            return JSONResponse({"detail": f"missing or wrong CSRF token (send the page's token in {CSRF_HEADER})"},
                                status_code=403)
        return page("message.html", status=403, message="页面已过期或来源不明，请刷新页面后重试。", link="/rate")

    @app.exception_handler(Throttled)
    async def throttled(request: Request, exc: Throttled):
        headers = {"Retry-After": str(exc.retry_after)}
        if wants_json(request):
            return JSONResponse({"detail": str(exc)}, status_code=429, headers=headers)
        return login_form(request, "admin_login.html" if request.url.path.startswith("/admin") else "login.html",
                          status=429, headers=headers, error=f"尝试次数过多，请 {exc.retry_after} 秒后再试。")

    @app.exception_handler(service.Busy)
    async def busy(request: Request, exc: service.Busy):
        log.warning("judge app: %s", exc)
        if wants_json(request):
            return JSONResponse({"detail": "busy choosing items; try again"}, status_code=503,
                                headers={"Retry-After": "1"})
        return page("message.html", status=503, headers={"Retry-After": "1"}, message="系统繁忙，请稍后刷新页面。",
                    link="/rate")

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        if any(error.get("type") == "unstorable_text" for error in exc.errors()):
            return JSONResponse({"detail": UNSTORABLE_TEXT}, status_code=400)
        return await request_validation_exception_handler(request, exc)

    @app.exception_handler(UnstorableText)
    async def unstorable_form(request: Request, exc: UnstorableText):
        return JSONResponse({"detail": UNSTORABLE_TEXT}, status_code=400)

    # ---------------------------------------------------------------- who is asking
    def address(request: Request) -> str:
        return request.client.host if request.client else "unknown"

    def bearer(request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        return header[7:].strip() if header.lower().startswith("bearer ") else None

    def not_throttled(request: Request) -> None:
        wait = throttle.retry_after(address(request))
        if wait:
            raise Throttled(wait)

    def find_rater(request: Request, tx) -> Auth | None:
        token = bearer(request)
        if token is not None:
            not_throttled(request)
            rater = service.rater_for_token(tx, token_hash(token))
            if rater is None:
                throttle.failed(address(request), request.url.path)
                return None
            return Auth(rater, None)
        login = sessions.find(tx, request.cookies.get(RATER_COOKIE), admin=False)
        rater = sessions.rater_of(tx, login) if login else None
        return Auth(rater, login) if rater else None

    def find_admin(request: Request, session) -> Auth | None:
        token = bearer(request)
        if token is not None:
            not_throttled(request)
            if same_secret(token, settings.admin_token):
                return Auth(None, None)
            throttle.failed(address(request), request.url.path)
            return None
        login = sessions.find(session, request.cookies.get(ADMIN_COOKIE), admin=True)
        return Auth(None, login) if login else None

    # Each request does its database work in one thread, inside one transaction that commits before
    # the response is sent (a 201 means the rating is on disk). A rater's item and rating pages and
    # API calls run on the database's own thread(s) (Database.run), in a plain transaction (plain SQL,
    # no ORM session: Database.plain_transaction), everything else in FastAPI's thread pool; on
    # SQLite both take the database lock. Not a FastAPI dependency: holding the SQLite lock across
    # the thread-pool hops between a dependency and its endpoint can exhaust the pool while the
    # lock holder waits for a thread.
    def api_rater(request: Request, tx) -> Auth:
        auth = find_rater(request, tx)
        if auth is None:
            raise HTTPException(401, "sign in with your invitation token (Authorization: Bearer ...)",
                                headers={"WWW-Authenticate": "Bearer"})
        return auth

    def page_rater(request: Request, tx) -> Auth:
        auth = find_rater(request, tx)
        if auth is None:
            raise NeedsLogin()
        return auth

    def api_admin(request: Request, session) -> Auth:
        auth = find_admin(request, session)
        if auth is None:
            raise HTTPException(401, "admin token required (Authorization: Bearer ...)",
                                headers={"WWW-Authenticate": "Bearer"})
        return auth

    def page_admin(request: Request, session) -> Auth:
        auth = find_admin(request, session)
        if auth is None:
            raise NeedsLogin()
        return auth

    def check_csrf(auth: Auth, submitted: str | None) -> None:
        if auth.login is not None and not same_secret(submitted, auth.login.csrf):
            raise CsrfRefused()

    def set_cookie(response: Response, name: str, value: str, max_age: int) -> None:
        response.set_cookie(name, value, httponly=True, samesite="strict", secure=settings.secure_cookies,
                            max_age=max_age)

    # ---------------------------------------------------------------- signing in and out
    def login_form(request: Request, name: str, status: int = 200, headers=None, **context) -> HTMLResponse:
        """A sign-in page with a CSRF token that is also set as a cookie: a post must bring both (another
        site can make a browser send the cookie, but cannot read it to fill in the form). The browser's
        token is reused, so two open sign-in tabs both work."""
        token = request.cookies.get(LOGIN_CSRF_COOKIE) or new_secret()
        response = page(name, status=status, headers=headers, csrf=token, **context)
        set_cookie(response, LOGIN_CSRF_COOKIE, token, max_age=3600)
        return response

    def check_login_csrf(request: Request, submitted: str) -> None:
        if not same_secret(submitted, request.cookies.get(LOGIN_CSRF_COOKIE)):
            raise CsrfRefused()

    def signed_in(target: str, cookie: str, session_id: str, max_age: int) -> Response:
        response = RedirectResponse(target, status_code=303)
        set_cookie(response, cookie, session_id, max_age=max_age)
        response.delete_cookie(LOGIN_CSRF_COOKIE)
        return response

    def start_page(session) -> str:
        """Where a rater starts: the transcripts, or the live chats in a study that has only those."""
        if settings.live is not None and service.items_available(session, rules) == 0:
            return "/live"
        return "/rate"

    @app.get("/", include_in_schema=False)
    def home():
        with database.transaction() as session:
            return RedirectResponse(start_page(session), status_code=303)

    @app.get("/login", include_in_schema=False)
    def login_page(request: Request):
        return login_form(request, "login.html")

    @app.post("/login", include_in_schema=False)
    def login(request: Request, token: Annotated[str, Form(max_length=200)],
              csrf_token: Annotated[str, Form(max_length=100)] = ""):
        check_login_csrf(request, csrf_token)
        not_throttled(request)
        with database.transaction() as session:
            rater = service.rater_for_token(session, token_hash(token.strip()))
            session_id = sessions.start(session, rater, sessions.RATER_SESSION_S)[0] if rater else None
            target = start_page(session)
        if session_id is None:
            throttle.failed(address(request), "/login")
            return login_form(request, "login.html", status=401, error="邀请码无效，请核对后重试。")
        return signed_in(target, RATER_COOKIE, session_id, sessions.RATER_SESSION_S)

    def sign_out(request: Request, csrf_token: str, find, cookie: str, to: str):
        """End the session the cookie names (CSRF-checked) and send the browser to its sign-in page."""
        with database.transaction() as session:
            auth = find(request, session)
            if auth is not None:
                check_csrf(auth, csrf_token)
                sessions.end(session, request.cookies.get(cookie))
        response = RedirectResponse(to, status_code=303)
        response.delete_cookie(cookie)
        return response

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request, csrf_token: Annotated[str, Form(max_length=100)] = ""):
        return sign_out(request, csrf_token, find_rater, RATER_COOKIE, "/login")

    # ---------------------------------------------------------------- rater pages
    rubric_view = [{"key": d.key, "label": d.label, "question": d.question, "anchors": list(d.anchors)}
                   for d in rubric]
    contents: dict[int, service.ItemContent] = {}  # item id -> its redacted conversations (fixed while running)

    def redacted_content(tx, item_id: int) -> service.ItemContent:
        if item_id not in contents:
            content = service.item_content(tx, item_id)
            contents[item_id] = replace(content, a=redacted(content.a), b=content.b and redacted(content.b))
        return contents[item_id]

    def redacted(shown: service.Shown) -> service.Shown:
        return replace(shown, turns=[{"role": t["role"], "content": redact(t["content"])} for t in shown.turns])

    def item_view(tx, assignment: service.OpenItem) -> dict:
        """What a rater may see of an item: no model, seed or conversation id; text redacted."""
        content = redacted_content(tx, assignment.item_id)
        shown = service.sides(content.kind, content.a, content.b, assignment.a_on_left)
        first = next(iter(shown.values()))
        return {
            "assignment_id": assignment.public_id,
            "kind": content.kind,
            "position": assignment.position,
            "scenario": {"type": first.scenario_type, "type_label": TYPE_LABELS[first.scenario_type],
                         "title": first.scenario_title, "presenting_problem": first.presenting_problem},
            "conversations": {side: c.turns for side, c in shown.items()},
        }

    def rate_page(tx, auth: Auth, status=200, error=None, chosen=None):
        current = service.current_assignment(tx, auth.rater, rules)
        csrf = auth.login.csrf if auth.login else ""
        if current.item is None:
            return page("done.html", progress=current.progress, csrf=csrf, live_enabled=settings.live is not None)
        if chosen is not None and chosen.get("item") != current.item.public_id:
            chosen = None  # the refused form was for another item
        return page("rate.html", status=status, item=item_view(tx, current.item), progress=current.progress,
                    csrf=csrf, rubric=rubric, side_labels=SIDE_LABELS, error=error, chosen=chosen or {},
                    max_comment=rules.max_comment_chars, live_enabled=settings.live is not None)

    @app.get("/rate", include_in_schema=False)
    async def rate(request: Request):
        return await database.run(show_rate_page, request)

    def show_rate_page(request: Request) -> HTMLResponse:
        with database.plain_transaction() as tx:
            return rate_page(tx, page_rater(request, tx))

    def form_payload(form) -> dict:
        sides = service.SIDES_PAIR if rules.kind == "pair" else service.SIDES_SINGLE
        try:
            scores = {side: {d.key: int(form[f"{side}.{d.key}"]) for d in rubric if form.get(f"{side}.{d.key}")}
                      for side in sides}
        except ValueError:
            scores = None
        return {"scores": scores, "comment": str(form.get("comment", "")), "preference": form.get("preference") or None}

    def submit_from_page(request: Request, assignment_id: str, form: dict):
        with database.plain_transaction() as tx:
            auth = find_rater(request, tx)
            if auth is None:
                return RedirectResponse("/login", status_code=303)
            check_csrf(auth, form.get(CSRF_FIELD))
            try:
                service.submit(tx, auth.rater, assignment_id, form_payload(form), rules)
            except service.NotFound:
                return page("message.html", status=404, message="找不到这条待评对话。", link="/rate")
            except service.AlreadyRated:
                return page("message.html", status=409, message="这条对话你已经评过了，评分已保存。", link="/rate")
            except service.InvalidRating:
                return rate_page(tx, auth, status=422, chosen={**form_choices(form), "item": assignment_id},
                                 error="请为每个维度选择 1-5 分（评语不超过字数限制）后再提交。")
        return RedirectResponse("/rate", status_code=303)

    @app.post("/rate/{assignment_id}", include_in_schema=False)
    async def rate_submit(assignment_id: str, request: Request):
        # the form is read here; the database work runs on the database's thread, never on the event loop
        form = dict((await request.form()).items())
        check_storable(form)
        return await database.run(submit_from_page, request, assignment_id, form)

    # ---------------------------------------------------------------- rater API
    @app.get("/api/progress", tags=["rater"])
    def api_progress(request: Request) -> dict:
        """How many items you have rated, of how many."""
        with database.plain_transaction() as tx:
            return service.progress(tx, api_rater(request, tx).rater, rules)

    @app.get("/api/next", tags=["rater"])
    async def api_next(request: Request) -> dict:
        """Your current item (the same one until you rate it), or `item: null` when you are done."""
        return await database.run(next_item, request)

    def next_item(request: Request) -> Response:
        with database.plain_transaction() as tx:
            rater = api_rater(request, tx).rater
            current = service.current_assignment(tx, rater, rules)
            item = item_view(tx, current.item) if current.item else None
        return json_response({"item": item, "progress": current.progress, "rubric": rubric_view})

    @app.post("/api/ratings", tags=["rater"], status_code=201,
              responses={400: {"description": "text no database can store (a NUL or a lone surrogate)"},
                         401: {"description": "not signed in"}, 403: {"description": "cross-site, or no CSRF token"},
                         404: {"description": "not your item"}, 409: {"description": "already rated"},
                         413: {"description": "body too large"}, 422: {"description": "invalid scores or comment"},
                         429: {"description": "too many failed sign-ins from this address"}})
    async def api_rate(body: RatingIn, request: Request) -> dict:
        """Rate your item: every side on every dimension, 1-5; comment and preference optional."""
        return await database.run(store_rating, body, request)

    def store_rating(body: RatingIn, request: Request) -> Response:
        with database.plain_transaction() as tx:
            auth = api_rater(request, tx)
            check_csrf(auth, request.headers.get(CSRF_HEADER))
            try:
                stored = service.submit(tx, auth.rater, body.assignment_id, body.model_dump(), rules)
            except service.NotFound as e:
                raise HTTPException(404, str(e)) from e
            except service.AlreadyRated as e:
                raise HTTPException(409, str(e)) from e
            except service.InvalidRating as e:
                raise HTTPException(422, str(e)) from e
        return json_response({"stored": True, "rating_id": stored.rating_id, "progress": stored.progress}, status=201)

    # ---------------------------------------------------------------- organiser
    @app.get("/admin/login", include_in_schema=False)
    def admin_login_page(request: Request):
        return login_form(request, "admin_login.html")

    @app.post("/admin/login", include_in_schema=False)
    def admin_login(request: Request, token: Annotated[str, Form(max_length=500)],
                    csrf_token: Annotated[str, Form(max_length=100)] = ""):
        check_login_csrf(request, csrf_token)
        not_throttled(request)
        if not same_secret(token.strip(), settings.admin_token):
            throttle.failed(address(request), "/admin/login")
            return login_form(request, "admin_login.html", status=401, error="管理员口令错误。")
        with database.transaction() as session:
            session_id = sessions.start(session, None, sessions.ADMIN_SESSION_S)[0]
        return signed_in("/admin", ADMIN_COOKIE, session_id, sessions.ADMIN_SESSION_S)

    @app.post("/admin/logout", include_in_schema=False)
    def admin_logout(request: Request, csrf_token: Annotated[str, Form(max_length=100)] = ""):
        return sign_out(request, csrf_token, find_admin, ADMIN_COOKIE, "/admin/login")

    def overview(session) -> dict:
        raters = session.scalars(select(Rater).order_by(Rater.id)).all()
        done = dict(session.execute(  # of the kind rated now (judge.app.mode), as the raters see it
            select(Rating.rater_id, func.count(Rating.id)).join(Rating.assignment).join(Assignment.item)
            .where(Item.kind == rules.kind).group_by(Rating.rater_id)).all())
        comments = session.scalars(select(Rating).where(Rating.comment != "").order_by(Rating.id.desc())
                                   .limit(50)).unique().all()
        total = min(rules.items_per_rater, service.items_available(session, rules))
        return {"raters": [{"id": r.id, "name": r.name, "done": done.get(r.id, 0), "total": total,
                            "active": r.active} for r in raters],
                "comments": [{"rating_id": c.id, "rater_id": c.rater_id, "comment": c.comment} for c in comments],
                "blinding": blinding.summary(session),
                "live": live.overview(session) if settings.live is not None else None}

    def admin_view(session, auth: Auth, **extra) -> HTMLResponse:
        return page("admin.html", csrf=auth.login.csrf if auth.login else "", **extra, **overview(session))

    @app.get("/admin", include_in_schema=False)
    def admin_page(request: Request):
        with database.transaction() as session:
            return admin_view(session, page_admin(request, session))

    def invite(session, name: str) -> str:
        token = service.new_token()
        session.add(Rater(name=name.strip(), token_hash=token_hash(token)))
        session.flush()
        return token

    def deactivate(session, rater_id: int) -> int:
        """Mark the rater inactive (their token stops working) and end their sessions; their ratings stay."""
        rater = session.get(Rater, rater_id)
        if rater is None:
            raise HTTPException(404, "no such rater")
        rater.active = False
        return sessions.end_all_of(session, rater_id)

    @app.post("/admin/raters", include_in_schema=False)
    def admin_invite(request: Request, name: Annotated[str, Form(min_length=1, max_length=200)],
                     csrf_token: Annotated[str, Form(max_length=100)] = ""):
        check_storable(name)
        with database.transaction() as session:
            auth = page_admin(request, session)
            check_csrf(auth, csrf_token)
            token = invite(session, name)
            return admin_view(session, auth, new_rater={"name": name, "token": token})

    @app.post("/admin/raters/{rater_id}/deactivate", include_in_schema=False)
    def admin_deactivate(request: Request, rater_id: int, csrf_token: Annotated[str, Form(max_length=100)] = ""):
        with database.transaction() as session:
            check_csrf(page_admin(request, session), csrf_token)
            deactivate(session, rater_id)
        return RedirectResponse("/admin", status_code=303)

    @app.post("/api/admin/raters", tags=["admin"], status_code=201)
    def api_invite(body: InviteIn, request: Request) -> dict:
        """Create a rater; the token is returned once and stored only as a hash."""
        with database.transaction() as session:
            check_csrf(api_admin(request, session), request.headers.get(CSRF_HEADER))
            token = invite(session, body.name)
        return {"name": body.name.strip(), "token": token}

    @app.post("/api/admin/raters/{rater_id}/deactivate", tags=["admin"])
    def api_deactivate(rater_id: int, request: Request) -> dict:
        """Deactivate a rater: their token stops working and every browser session of theirs ends.
        Their ratings are kept (the export still has them)."""
        with database.transaction() as session:
            check_csrf(api_admin(request, session), request.headers.get(CSRF_HEADER))
            ended = deactivate(session, rater_id)
        return {"rater_id": rater_id, "active": False, "sessions_ended": ended}

    @app.get("/api/admin/raters", tags=["admin"])
    def api_raters(request: Request) -> dict:
        """Every rater's progress, the latest comments, and what redaction did."""
        with database.transaction() as session:
            api_admin(request, session)
            return overview(session)

    @app.get("/api/admin/blinding", tags=["admin"])
    def api_blinding(request: Request) -> dict:
        """Per model: turns redaction changed; and the conversations still naming a model afterwards."""
        with database.transaction() as session:
            api_admin(request, session)
            return blinding.summary(session)

    @app.get("/api/admin/export.json", tags=["admin"])
    def api_export_json(request: Request) -> dict:
        """All scores (one row per rater x conversation x dimension) and pairwise votes, with model names;
        `source` says ai_client (transcripts) or live. `live_turns`: every live reply, raw and as shown,
        failures and the crisis rule screen."""
        with database.transaction() as session:
            api_admin(request, session)
            scores, votes, turns = live.export_all(session)
        return {"scores": scores, "votes": votes, "live_turns": turns}

    @app.get("/api/admin/export.csv", tags=["admin"])
    def api_export_csv(request: Request, table: Literal["scores", "votes", "live_turns"] = "scores") -> Response:
        """One table as CSV (UTF-8 with BOM; cells starting =, +, -, @ get a leading '): `scores`, `votes`
        or `live_turns`."""
        with database.transaction() as session:
            api_admin(request, session)
            tables = dict(zip(("scores", "votes", "live_turns"), live.export_all(session), strict=True))
        return Response(csv_bytes(tables[table]), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="human_judge_{table}.csv"'})

    if settings.live is not None:
        from mhcompare.judge.web.routes.live import Hooks, add_live_routes

        add_live_routes(app, Hooks(database=database, settings=settings.live, rules=rules, rubric=rubric,
                                   redactor=redact, page=page, api_rater=api_rater, page_rater=page_rater,
                                   check_csrf=check_csrf, type_labels=TYPE_LABELS, csrf_header=CSRF_HEADER,
                                   csrf_field=CSRF_FIELD), JsonIn)

    asgi = BodySizeLimit(with_security_headers(same_origin_only(storable_urls_only(app))), settings.max_body_bytes)
    asgi.database = database  # for tests and tools: the app's own connections
    return asgi
