"""Signing in and out, for raters (invitation token) and the organiser (admin token).

    GET  /                      to the rater's start page (transcripts, or live chats when only those)
    GET  /login, POST /login    a rater signs in with the invitation token -> a session cookie
    POST /logout                ends that session
    GET  /admin/login, POST /admin/login, POST /admin/logout    the same for the organiser

A sign-in form carries a CSRF token that is also set as a cookie: a post must bring both (another
site can make a browser send the cookie, but cannot read it to fill in the form).
"""
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mhcompare.judge.security import new_secret, same_secret
from mhcompare.judge.store import ratings, sessions
from mhcompare.judge.web.deps import (
    ADMIN_COOKIE,
    LOGIN_CSRF_COOKIE,
    RATER_COOKIE,
    AdminForm,
    Caller,
    CsrfRefused,
    Judge,
    JudgeState,
    RaterForm,
    check_csrf,
    get_judge,
    token_hash,
    wrong_token,
)

router = APIRouter(include_in_schema=False)


def set_cookie(judge: Judge, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, httponly=True, samesite="strict", secure=judge.settings.secure_cookies,
                        max_age=max_age)


def login_form(request: Request, name: str, status: int = 200, headers=None, **context) -> HTMLResponse:
    """A sign-in page with a CSRF token that is also set as a cookie. The browser's token is reused,
    so two open sign-in tabs both work."""
    judge = get_judge(request)
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or new_secret()
    response = judge.page(name, status=status, headers=headers, csrf=token, **context)
    set_cookie(judge, response, LOGIN_CSRF_COOKIE, token, max_age=3600)
    return response


def check_login_csrf(request: Request, submitted: str) -> None:
    if not same_secret(submitted, request.cookies.get(LOGIN_CSRF_COOKIE)):
        raise CsrfRefused()


def signed_in(judge: Judge, target: str, cookie: str, session_id: str, max_age: int) -> Response:
    response = RedirectResponse(target, status_code=303)
    set_cookie(judge, response, cookie, session_id, max_age=max_age)
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


def sign_out(caller: Caller, cookie: str, to: str) -> Response:
    """End the session the cookie names (CSRF-checked) and send the browser to its sign-in page."""
    with caller.judge.database.transaction() as session:
        auth = caller.find(session)
        if auth is not None:
            check_csrf(auth, caller.csrf_sent)
            sessions.end(session, caller.request.cookies.get(cookie))
    response = RedirectResponse(to, status_code=303)
    response.delete_cookie(cookie)
    return response


def start_page(judge: Judge, session) -> str:
    """Where a rater starts: the transcripts, or the live chats in a study that has only those."""
    if judge.settings.live is not None and ratings.items_available(session, judge.rules) == 0:
        return "/live"
    return "/rate"


# ---------------------------------------------------------------- raters
@router.get("/")
def home(judge: JudgeState):
    with judge.database.transaction() as session:
        return RedirectResponse(start_page(judge, session), status_code=303)


@router.get("/login")
def login_page(request: Request):
    return login_form(request, "login.html")


@router.post("/login")
def login(request: Request, judge: JudgeState, token: Annotated[str, Form(max_length=200)],
          csrf_token: Annotated[str, Form(max_length=100)] = ""):
    check_login_csrf(request, csrf_token)
    with judge.database.transaction() as session:
        rater = ratings.rater_for_token(session, token_hash(token.strip()))
        session_id = sessions.start(session, rater, sessions.RATER_SESSION_S)[0] if rater else None
        target = start_page(judge, session)
    if session_id is None:
        wrong_token(judge, request, token.strip())
        return login_form(request, "login.html", status=401, error="邀请码无效，请核对后重试。")
    return signed_in(judge, target, RATER_COOKIE, session_id, sessions.RATER_SESSION_S)


@router.post("/logout")
def logout(caller: RaterForm):
    return sign_out(caller, RATER_COOKIE, "/login")


# ---------------------------------------------------------------- the organiser
@router.get("/admin/login")
def admin_login_page(request: Request):
    return login_form(request, "admin_login.html")


@router.post("/admin/login")
def admin_login(request: Request, judge: JudgeState, token: Annotated[str, Form(max_length=500)],
                csrf_token: Annotated[str, Form(max_length=100)] = ""):
    check_login_csrf(request, csrf_token)
    if not same_secret(token.strip(), judge.settings.admin_token):
        wrong_token(judge, request, token.strip(), admin=True)
        return login_form(request, "admin_login.html", status=401, error="管理员口令错误。")
    with judge.database.transaction() as session:
        session_id = sessions.start(session, None, sessions.ADMIN_SESSION_S)[0]
    return signed_in(judge, "/admin", ADMIN_COOKIE, session_id, sessions.ADMIN_SESSION_S)


@router.post("/admin/logout")
def admin_logout(caller: AdminForm):
    return sign_out(caller, ADMIN_COOKIE, "/admin/login")
