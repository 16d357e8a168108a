"""What every route of the rating app shares: the settings, the running app's state, and who is asking.

Routes declare who may call them as a FastAPI dependency (`caller: RaterApi`, `caller: AdminForm`,
...). The dependency does the part that needs no database: it reads the bearer token or the
session cookie, and picks up the CSRF
token a state-changing request sent (the `x-csrf-token` header, or the form's `csrf_token`). The
route then calls `caller.signed_in(tx)` inside its own transaction, which looks the token or
session up and checks the CSRF token against the session's. The lookup is deliberately not a
dependency: holding the SQLite lock across the thread-pool hops between a dependency and its
endpoint can exhaust the pool while the lock holder waits for a thread.
"""
import threading
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment

from mhcompare.judge.redaction import Redactor
from mhcompare.judge.rubric import Dimension
from mhcompare.judge.security import client_address, digest, same_secret
from mhcompare.judge.store import ratings, sessions
from mhcompare.judge.store.db import Database
from mhcompare.judge.store.live import LiveSettings
from mhcompare.judge.store.sign_ins import SignInThrottle

RATER_COOKIE, ADMIN_COOKIE, LOGIN_CSRF_COOKIE = "mhc_rater", "mhc_admin", "mhc_login_csrf"
CSRF_FIELD, CSRF_HEADER = "csrf_token", "x-csrf-token"
TYPE_LABELS = {"counselling": "心理咨询", "psychoeducation": "心理科普", "crisis": "危机干预"}


@dataclass(frozen=True)
class AppSettings:
    database_url: str
    rules: ratings.Rules
    rubric: tuple[Dimension, ...]
    admin_token: str
    redact: tuple[str, ...] = ()
    secure_cookies: bool = False
    max_body_bytes: int = 65536
    sign_in_failures_per_minute: int = 10
    trusted_proxies: tuple[str, ...] = ()  # peers whose X-Forwarded-For names the real client
    live: LiveSettings | None = None  # judge.live: live blind chats; None when off


@dataclass
class Judge:
    """The running app's state (app.state.judge), made once by create_app."""
    settings: AppSettings
    database: Database
    redact: Redactor
    throttle: SignInThrottle        # raters' sign-ins
    admin_throttle: SignInThrottle  # the organiser's, counted apart
    templates: Environment
    http: object = None  # httpx.Client for the live chats' models; None when judge.live is off
    contents: dict = field(default_factory=dict)  # item id -> its redacted conversations (fixed while running)
    # rater id -> {a live turn being streamed to them: how to stop sending it}; a deactivated rater's
    # streams are stopped at once (the turns still finish and are stored)
    live_streams: dict = field(default_factory=dict)
    streams_lock: threading.Lock = field(default_factory=threading.Lock)

    def stop_streams(self, rater_id: int) -> int:
        with self.streams_lock:
            stops = list(self.live_streams.pop(rater_id, {}).values())
        for stop in stops:
            stop()
        return len(stops)

    def __post_init__(self):
        self.rules: ratings.Rules = self.settings.rules
        self.rubric: list[Dimension] = list(self.settings.rubric)
        self.rubric_view = [{"key": d.key, "label": d.label, "question": d.question, "anchors": list(d.anchors)}
                            for d in self.rubric]  # the rubric as the JSON API gives it

    def page(self, name: str, status: int = 200, headers=None, **context) -> HTMLResponse:
        return HTMLResponse(self.templates.get_template(name).render(**context), status_code=status, headers=headers)


def get_judge(request: Request) -> Judge:
    return request.app.state.judge


JudgeState = Annotated[Judge, Depends(get_judge)]


def token_hash(token: str) -> str:
    """Invitation tokens are 192 random bits, so a plain SHA-256 is enough to store them safely."""
    return digest(token)


# ---------------------------------------------------------------- errors the app turns into answers
class NeedsLogin(Exception):
    pass


class CsrfRefused(Exception):
    """A state-changing request with a session cookie but without that session's CSRF token."""


class WrongBearer(Exception):
    """A bearer token that opened nothing, met inside a route's transaction. The app's handler
    (app.wrong_bearer) counts it once that transaction is over: the count needs a transaction of its
    own that commits (the route's is rolled back), and on SQLite one cannot start while the
    route's holds the database."""

    def __init__(self, caller: "Caller"):
        super().__init__("a bearer token that opened nothing")
        self.caller = caller


class Throttled(Exception):
    def __init__(self, retry_after: int):
        super().__init__(f"too many failed sign-ins; retry in {retry_after} s")
        self.retry_after = retry_after


def address(request: Request) -> str:
    """The client: the peer, or what a configured trusted proxy says it forwarded for."""
    peer = request.client.host if request.client else None
    return client_address(peer, request.headers.get("x-forwarded-for"),
                          frozenset(get_judge(request).settings.trusted_proxies))


def wrong_token(judge: Judge, request: Request, token: str, admin: bool = False) -> None:
    """A token that opened nothing: 429 when this address, or this very token, has failed too often
    (a guesser is told to stop); else the failure is counted (in the database, for every worker)
    and logged. A valid token is never throttled, so others behind the same address still get in;
    the organiser is counted apart. Call it outside any transaction."""
    throttle = judge.admin_throttle if admin else judge.throttle
    wait = throttle.count_failure(address(request), request.url.path, token)
    if wait:
        raise Throttled(wait)


def check_csrf(auth: "Auth", submitted: str | None) -> None:
    if auth.login is not None and not same_secret(submitted, auth.login.csrf):
        raise CsrfRefused()


# ---------------------------------------------------------------- who is asking
@dataclass(frozen=True)
class Auth:
    """Who is asking: a rater (None for the organiser), and the browser session if it came by cookie
    (None for a bearer token, which needs no CSRF token: other sites cannot make a browser send it)."""
    rater: ratings.RaterRow | None
    login: sessions.SessionRow | None


@dataclass(frozen=True)
class Caller:
    """A request's credentials, read without the database: a bearer token or a session cookie."""
    judge: Judge
    request: Request
    admin: bool          # the organiser's routes: admin token or admin session
    api: bool            # not signed in: 401 (the JSON API) or a redirect to the sign-in page
    posting: bool        # state-changing: the session's CSRF token must come with it
    bearer: str | None
    csrf_sent: str | None

    def find(self, tx) -> Auth | None:
        """The rater or organiser these credentials belong to, or None. A wrong bearer token raises
        WrongBearer: a failed sign-in from this address, counted after the transaction (429 past
        the limit)."""
        if self.bearer is not None:
            known = (same_secret(self.bearer, self.judge.settings.admin_token) if self.admin
                     else ratings.rater_for_token(tx, token_hash(self.bearer)))
            if not known:
                raise WrongBearer(self)
            return Auth(None if self.admin else known, None)
        cookie = ADMIN_COOKIE if self.admin else RATER_COOKIE
        login = sessions.find(tx, self.request.cookies.get(cookie), admin=self.admin)
        if self.admin:
            return Auth(None, login) if login else None
        rater = sessions.rater_of(tx, login) if login else None
        return Auth(rater, login) if rater else None

    def signed_in(self, tx) -> Auth:
        """Who is asking, or 401 / the sign-in page; for a state-changing request, CSRF-checked."""
        auth = self.find(tx)
        if auth is None:
            raise self.not_signed_in()
        if self.posting:
            check_csrf(auth, self.csrf_sent)
        return auth


    def not_signed_in(self) -> Exception:
        """What a caller who is nobody gets: the sign-in page, or 401 from the JSON API."""
        if not self.api:
            return NeedsLogin()
        what = "admin token required" if self.admin else "sign in with your invitation token"
        return HTTPException(401, f"{what} (Authorization: Bearer ...)", headers={"WWW-Authenticate": "Bearer"})


class Asking:
    """The dependency that makes a Caller: which credentials a route accepts and how it answers."""

    def __init__(self, *, admin: bool = False, api: bool = False, posting: bool = False):
        self.admin, self.api, self.posting = admin, api, posting

    async def __call__(self, request: Request) -> Caller:
        judge = get_judge(request)
        header = request.headers.get("authorization", "")
        bearer = header[7:].strip() if header.lower().startswith("bearer ") else None
        csrf = None
        if self.posting:
            csrf = request.headers.get(CSRF_HEADER) if self.api else (await request.form()).get(CSRF_FIELD)
            csrf = csrf if isinstance(csrf, str) else None  # a file upload is no token
        return Caller(judge, request, self.admin, self.api, self.posting, bearer, csrf)


RaterApi = Annotated[Caller, Depends(Asking(api=True))]
RaterApiPost = Annotated[Caller, Depends(Asking(api=True, posting=True))]
RaterPage = Annotated[Caller, Depends(Asking())]
RaterForm = Annotated[Caller, Depends(Asking(posting=True))]
AdminApi = Annotated[Caller, Depends(Asking(admin=True, api=True))]
AdminApiPost = Annotated[Caller, Depends(Asking(admin=True, api=True, posting=True))]
AdminPage = Annotated[Caller, Depends(Asking(admin=True))]
AdminForm = Annotated[Caller, Depends(Asking(admin=True, posting=True))]
