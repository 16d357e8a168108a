"""The live chat's web routes, added to the rating app when judge.live.enabled is true.

    /live                           the rater's page: scenario, both conversations, message box, rating
    POST /api/live                  start (or resume) a session        -> 201 {session}
    GET  /api/live                  the current session, progress and rubric
    POST /api/live/{id}/turn        send a message; the answer is a Server-Sent Events stream of
                                    both replies (live_chat.py: delta/replace/reply/failed, then done)
    POST /api/live/{id}/end         end the conversation (then rate it)
    POST /api/live/{id}/rating      rate both sides, prefer A, B or tie -> 201

Authentication, CSRF and Origin checks are the app's (app.py), passed in as `Hooks`. The client's
message is committed before the stream starts, both replies before its `done` event; a turn runs
to the end in its own thread even when the browser goes away, so nothing asked is lost. Without
JavaScript the page's forms do the same, the turn answered as a whole.
"""
import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from fastapi import HTTPException, Request
from fastapi.responses import RedirectResponse, StreamingResponse
from pydantic import Field, StrictInt
from starlette.concurrency import run_in_threadpool

from mhcompare.judge.store import live
from mhcompare.judge.store.live import LiveError, LiveSettings, TurnJob
from mhcompare.judge.live_chat import ask_both
from mhcompare.judge.security import check_storable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Hooks:
    """What the live routes borrow from create_app: the database, settings, and its auth helpers."""
    database: object
    settings: LiveSettings
    rules: object
    rubric: list
    redactor: Callable
    page: Callable          # (template, status=..., **context) -> HTMLResponse
    api_rater: Callable     # (request, session) -> Auth, or 401
    page_rater: Callable    # (request, session) -> Auth, or redirect to /login
    check_csrf: Callable    # (auth, token) -> None, or 403
    type_labels: dict
    csrf_header: str
    csrf_field: str


def sse(event: str, data: dict) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def rubric_json(rubric) -> list[dict]:
    return [{"key": d.key, "label": d.label, "question": d.question, "anchors": list(d.anchors)} for d in rubric]


def add_live_routes(app, hooks: Hooks, message_model) -> None:
    """Register the routes; `message_model` is the app's JSON body base (valid Unicode only)."""
    database, settings = hooks.database, hooks.settings
    http = httpx.Client(limits=httpx.Limits(max_connections=512, max_keepalive_connections=64))

    class MessageIn(message_model):
        message: str = Field(max_length=20000, description="what the client says this turn")

    class LiveRatingIn(message_model):
        scores: dict[str, dict[str, StrictInt]] = Field(description="A and B -> dimension -> 1-5")
        comment: str = Field(default="", max_length=20000)
        preference: str | None = Field(default=None, description="A, B or tie")

    def view(live_session) -> dict:
        return live.view(live_session, settings, hooks.type_labels)

    def refused(e: LiveError):
        return HTTPException(e.status, str(e))

    def run_turn(job: TurnJob, emit: Callable[[str, dict], None]) -> None:
        """Ask both models, store both outcomes (committed), then say `done`."""
        results = ask_both(http, job.asks, settings.generation, hooks.redactor, emit)
        try:
            with database.transaction() as session:
                done = live.store_replies(session, job, results, settings, hooks.redactor)
        except Exception:
            log.exception("judge_app: could not store live turn %s", job.turn_id)
            emit("error", {"message": "回复没能保存，请刷新页面后重试。"})
            return
        emit("done", done)

    # ---------------------------------------------------------------- rater page
    def live_page(session, auth, status=200, error=None, chosen=None):
        current = live.current(session, auth.rater)
        return hooks.page("live.html", status=status, csrf=auth.login.csrf if auth.login else "",
                          live=view(current) if current else None,
                          progress=live.progress(session, auth.rater, settings), rubric=hooks.rubric,
                          error=error, chosen=chosen or {}, max_comment=hooks.rules.max_comment_chars,
                          max_message=settings.max_message_chars)

    def message_page(e: LiveError):
        return hooks.page("message.html", status=e.status, message=str(e), link="/live")

    @app.get("/live", include_in_schema=False)
    def live_get(request: Request):
        with database.transaction() as session:
            return live_page(session, hooks.page_rater(request, session))

    def from_page(request: Request, form: dict, action: Callable):
        """A form post: signed in, CSRF-checked, `action(session, auth)`; then back to /live."""
        with database.transaction() as session:
            auth = hooks.page_rater(request, session)
            hooks.check_csrf(auth, form.get(hooks.csrf_field))
            try:
                result = action(session, auth)
            except LiveError as e:
                return message_page(e)
        if isinstance(result, TurnJob):  # a turn without JavaScript: answered as a whole
            run_turn(result, lambda *_: None)
        return RedirectResponse("/live", status_code=303)

    async def form_of(request: Request) -> dict:
        form = dict((await request.form()).items())
        check_storable(form)  # a NUL or lone surrogate: 400 (app.py's handler), not a database error
        return form

    @app.post("/live/start", include_in_schema=False)
    async def live_start_form(request: Request):
        form = await form_of(request)
        return await run_in_threadpool(from_page, request, form,
                                       lambda session, auth: live.start(session, auth.rater, settings))

    @app.post("/live/{session_id}/turn", include_in_schema=False)
    async def live_turn_form(session_id: str, request: Request):
        form = await form_of(request)
        return await run_in_threadpool(from_page, request, form, lambda session, auth: live.begin_turn(
            session, live.find(session, auth.rater, session_id), str(form.get("message", "")), settings))

    @app.post("/live/{session_id}/end", include_in_schema=False)
    async def live_end_form(session_id: str, request: Request):
        form = await form_of(request)
        return await run_in_threadpool(from_page, request, form, lambda session, auth: live.end_by_rater(
            live.find(session, auth.rater, session_id)))

    def form_rating(form: dict) -> dict:
        try:
            scores = {label: {d.key: int(form[f"{label}.{d.key}"]) for d in hooks.rubric
                              if form.get(f"{label}.{d.key}")} for label in live.LABELS}
        except ValueError:
            scores = None
        return {"scores": scores, "comment": str(form.get("comment", "")), "preference": form.get("preference") or None}

    def rate_from_page(request: Request, session_id: str, form: dict):
        with database.transaction() as session:
            auth = hooks.page_rater(request, session)
            hooks.check_csrf(auth, form.get(hooks.csrf_field))
            try:
                live.submit_rating(session, live.find(session, auth.rater, session_id), form_rating(form), hooks.rules)
            except LiveError as e:
                if e.status != 422:
                    return message_page(e)
                chosen = {k: str(v) for k, v in form.items() if k != hooks.csrf_field}
                return live_page(session, auth, status=422, chosen=chosen,
                                 error="请为 A、B 两段对话的每个维度选择 1-5 分（评语不超过字数限制）后再提交。")
        return RedirectResponse("/live", status_code=303)

    @app.post("/live/{session_id}/rate", include_in_schema=False)
    async def live_rate_form(session_id: str, request: Request):
        form = await form_of(request)
        return await run_in_threadpool(rate_from_page, request, session_id, form)

    # ---------------------------------------------------------------- rater API
    @app.get("/api/live", tags=["live"])
    def api_live(request: Request) -> dict:
        """Your current live session (`session: null` when none is open), progress, and the rubric."""
        with database.transaction() as session:
            rater = hooks.api_rater(request, session).rater
            current = live.current(session, rater)
            return {"session": view(current) if current else None,
                    "progress": live.progress(session, rater, settings), "rubric": rubric_json(hooks.rubric)}

    @app.post("/api/live", tags=["live"], status_code=201)
    def api_live_start(request: Request) -> dict:
        """Start a live session (or get back the one you have not rated yet)."""
        with database.transaction() as session:
            auth = hooks.api_rater(request, session)
            hooks.check_csrf(auth, request.headers.get(hooks.csrf_header))
            try:
                return {"session": view(live.start(session, auth.rater, settings))}
            except LiveError as e:
                raise refused(e) from e

    def begin(request: Request, session_id: str, message: str) -> TurnJob:
        with database.transaction() as session:
            auth = hooks.api_rater(request, session)
            hooks.check_csrf(auth, request.headers.get(hooks.csrf_header))
            try:
                return live.begin_turn(session, live.find(session, auth.rater, session_id), message, settings)
            except LiveError as e:
                raise refused(e) from e

    @app.post("/api/live/{session_id}/turn", tags=["live"],
              responses={200: {"content": {"text/event-stream": {}},
                               "description": "Server-Sent Events: delta, replace, reply, failed {side: A|B}; "
                                              "then done {turn, turns_left, ended} once both are stored"},
                         409: {"description": "ended, at the turn limit, or a turn still in flight"},
                         422: {"description": "empty or too long"}})
    async def api_turn(session_id: str, body: MessageIn, request: Request):
        """Say something as the client: both models answer at once, streamed side by side."""
        job = await run_in_threadpool(begin, request, session_id, body.message)
        loop, queue = asyncio.get_running_loop(), asyncio.Queue()

        def emit(event: str, data: dict) -> None:
            with contextlib.suppress(RuntimeError):  # the app is shutting down: the turn is still stored
                loop.call_soon_threadsafe(queue.put_nowait, (event, data))

        threading.Thread(target=run_turn, args=(job, emit), daemon=True, name=f"live-turn-{job.turn_id}").start()

        async def events():
            yield sse("turn", {"turn": job.number})
            while True:
                event, data = await queue.get()
                yield sse(event, data)
                if event in ("done", "error"):
                    return

        return StreamingResponse(events(), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"})

    @app.post("/api/live/{session_id}/end", tags=["live"])
    def api_end(session_id: str, request: Request) -> dict:
        """End the conversation before the turn limit; then rate it."""
        with database.transaction() as session:
            auth = hooks.api_rater(request, session)
            hooks.check_csrf(auth, request.headers.get(hooks.csrf_header))
            try:
                current = live.find(session, auth.rater, session_id)
                live.end_by_rater(current)
            except LiveError as e:
                raise refused(e) from e
            return {"session": view(current)}

    @app.post("/api/live/{session_id}/rating", tags=["live"], status_code=201)
    def api_live_rating(session_id: str, body: LiveRatingIn, request: Request) -> dict:
        """Rate an ended session: A and B on every dimension, 1-5; preference A, B or tie (optional)."""
        with database.transaction() as session:
            auth = hooks.api_rater(request, session)
            hooks.check_csrf(auth, request.headers.get(hooks.csrf_header))
            try:
                rating = live.submit_rating(session, live.find(session, auth.rater, session_id), body.model_dump(),
                                            hooks.rules)
            except LiveError as e:
                raise refused(e) from e
            session.flush()
            return {"stored": True, "rating_id": rating.id, "progress": live.progress(session, auth.rater, settings)}
