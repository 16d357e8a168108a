"""The blind rating web app: raters sign in with an invitation token and rate anonymous items.

    /, /login, /logout      signing in and out (routes/signin.py; the organiser's /admin/login too)
    /rate, /api/...         rater pages and the same as JSON (routes/rater.py; OpenAPI at /openapi.json)
    /admin, /api/admin/...  the organiser: invitations, deactivation, progress, blinding, export (routes/admin.py)
    /live, /api/live/...    live blind chats, when judge.live.enabled (routes/live.py)

Raters see random public ids and redacted text (redaction.py), never a model name, a seed or
another rater's scores. Each submit is stored at once (and fsynced), so closing the browser loses
nothing: the next visit resumes at the first unrated item; a half-filled form is kept in the
browser until submitted. Browsers hold a server-side session (sessions.py), scripts send
`Authorization: Bearer <token>`; rater and admin credentials are separate. Cross-site requests,
token guessing (counted in the database: store/sign_ins.py) and spreadsheet formulas in exports are
dealt with in security.py.

This module only assembles the app: its state, the answers to errors, the routers, the static
files and the ASGI layers around it. Who may call a route is a dependency (deps.py).
"""
import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader

from mhcompare.judge.redaction import Redactor
from mhcompare.judge.security import (
    UNSTORABLE_TEXT,
    UnstorableText,
    admin_token_problem,
    same_origin_only,
    storable_urls_only,
)
from mhcompare.judge.store import blinding, live, ratings
from mhcompare.judge.store.db import open_database
from mhcompare.judge.store.sign_ins import SignInThrottle
from mhcompare.judge.web.deps import (
    CSRF_HEADER,
    AppSettings,
    CsrfRefused,
    Judge,
    NeedsLogin,
    Throttled,
    WrongBearer,
    get_judge,
    wrong_token,
)
from mhcompare.judge.web.middleware import BodySizeLimit, with_security_headers
from mhcompare.judge.web.routes import admin, rater, signin

__all__ = ["AppSettings", "create_app"]
log = logging.getLogger(__name__)
HERE = Path(__file__).parent


def create_app(settings: AppSettings):
    problem = admin_token_problem(settings.admin_token)
    if problem:
        raise ValueError(problem)
    database = open_database(settings.database_url)
    redact = Redactor(settings.redact)
    with database.transaction() as session:
        blinding.audit(session, redact)
        live.recover(session)
    app = FastAPI(title="mhcompare Human Judge", docs_url=None, redoc_url=None,
                  description="Blind rating of simulated counselling sessions. Raters authenticate with "
                              "`Authorization: Bearer <invitation token>`, the organiser with the admin token. "
                              "Browser sessions (cookies) must also send the page's CSRF token in "
                              f"`{CSRF_HEADER}` on POST.")
    limit = settings.sign_in_failures_per_minute
    app.state.judge = Judge(settings, database, redact,
                            throttle=SignInThrottle(database, "rater", limit, 60.0),
                            admin_throttle=SignInThrottle(database, "admin", limit, 60.0),
                            templates=Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True),
                            http=live_http_client() if settings.live is not None else None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for exception, handler in ERROR_HANDLERS.items():
        app.add_exception_handler(exception, handler)
    for router in (signin.router, rater.router, admin.router):
        app.include_router(router)
    if settings.live is not None:
        from mhcompare.judge.web.routes import live as live_routes

        app.include_router(live_routes.router)
    asgi = BodySizeLimit(with_security_headers(same_origin_only(storable_urls_only(app))), settings.max_body_bytes)
    asgi.database = database  # for tests and tools: the app's own connections
    return asgi


def live_http_client():
    import httpx

    return httpx.Client(limits=httpx.Limits(max_connections=512, max_keepalive_connections=64))


# ---------------------------------------------------------------- errors
def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


async def to_login(request: Request, exc: NeedsLogin):
    target = "/admin/login" if request.url.path.startswith("/admin") else "/login"
    return RedirectResponse(target, status_code=303)


async def csrf_refused(request: Request, exc: CsrfRefused):
    log.warning("judge_app: refused %s %s without its CSRF token", request.method, request.url.path)
    if wants_json(request):
        return JSONResponse({"detail": f"missing or wrong CSRF token (send the page's token in {CSRF_HEADER})"},
                            status_code=403)
    return get_judge(request).page("message.html", status=403, message="页面已过期或来源不明，请刷新页面后重试。",
                                   link="/rate")


async def throttled(request: Request, exc: Throttled):
    headers = {"Retry-After": str(exc.retry_after)}
    if wants_json(request):
        return JSONResponse({"detail": str(exc)}, status_code=429, headers=headers)
    return signin.login_form(request, "admin_login.html" if request.url.path.startswith("/admin") else "login.html",
                             status=429, headers=headers, error=f"尝试次数过多，请 {exc.retry_after} 秒后再试。")


async def wrong_bearer(request: Request, exc: WrongBearer):
    """A bearer token that opened nothing inside a route: counted now that the route's transaction
    is over, then 429 past the limit, else what anyone not signed in gets."""
    caller = exc.caller
    try:
        await caller.judge.database.run(wrong_token, caller.judge, request, caller.bearer, caller.admin)
    except Throttled as refused:
        return await throttled(request, refused)
    answer = caller.not_signed_in()
    if isinstance(answer, NeedsLogin):
        return await to_login(request, answer)
    return await http_exception_handler(request, answer)


async def busy(request: Request, exc: ratings.Busy):
    log.warning("judge app: %s", exc)
    if wants_json(request):
        return JSONResponse({"detail": "busy choosing items; try again"}, status_code=503,
                            headers={"Retry-After": "1"})
    return get_judge(request).page("message.html", status=503, headers={"Retry-After": "1"},
                                   message="系统繁忙，请稍后刷新页面。", link="/rate")


async def invalid_request(request: Request, exc: RequestValidationError):
    if any(error.get("type") == "unstorable_text" for error in exc.errors()):
        return JSONResponse({"detail": UNSTORABLE_TEXT}, status_code=400)
    return await request_validation_exception_handler(request, exc)


async def unstorable_form(request: Request, exc: UnstorableText):
    return JSONResponse({"detail": UNSTORABLE_TEXT}, status_code=400)


ERROR_HANDLERS = {NeedsLogin: to_login, CsrfRefused: csrf_refused, Throttled: throttled, WrongBearer: wrong_bearer,
                  ratings.Busy: busy, RequestValidationError: invalid_request, UnstorableText: unstorable_form}
