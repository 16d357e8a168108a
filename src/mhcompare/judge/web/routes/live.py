"""The live chat's web routes, added to the rating app when judge.live.enabled is true.

    /live                           the rater's page: scenario, both conversations, message box, rating
    POST /api/live                  start (or resume) a session        -> 201 {session}
    GET  /api/live                  the current session, progress and rubric
    POST /api/live/{id}/turn        send a message; the answer is a Server-Sent Events stream of
                                    both replies (live_chat.py: delta/replace/reply/failed, then done)
    POST /api/live/{id}/end         end the conversation (then rate it)
    POST /api/live/{id}/rating      rate both sides, prefer A, B or tie -> 201

Authentication and CSRF are the app's dependencies (deps.py), as for every route. The client's
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

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from mhcompare.judge.live_chat import ask_both
from mhcompare.judge.security import check_storable
from mhcompare.judge.store import live
from mhcompare.judge.store.live import LiveError, TurnJob
from mhcompare.judge.web.bodies import LiveRatingIn, MessageIn
from mhcompare.judge.web.deps import (
    CSRF_FIELD,
    TYPE_LABELS,
    Auth,
    Caller,
    Judge,
    RaterApi,
    RaterApiPost,
    RaterForm,
    RaterPage,
)

log = logging.getLogger(__name__)
router = APIRouter()
DEACTIVATED = "你的评分账号已被组织者停用，这次对话已结束。"


def sse(event: str, data: dict) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def view(judge: Judge, live_session) -> dict:
    return live.view(live_session, judge.settings.live, TYPE_LABELS)


def refused(e: LiveError):
    return HTTPException(e.status, str(e))


def run_turn(judge: Judge, job: TurnJob, emit: Callable[[str, dict], None]) -> None:
    """Ask both models, store both outcomes (committed), then say `done`."""
    settings = judge.settings.live
    results = ask_both(judge.http, job.asks, settings.generation, judge.redact, emit)
    try:
        with judge.database.transaction() as session:
            done = live.store_replies(session, job, results, settings, judge.redact)
    except Exception:
        log.exception("judge_app: could not store live turn %s", job.turn_id)
        emit("error", {"message": "回复没能保存，请刷新页面后重试。"})
        return
    emit("done", done)


# ---------------------------------------------------------------- rater page
def live_page(judge: Judge, session, auth: Auth, status=200, error=None, chosen=None):
    settings = judge.settings.live
    current = live.current(session, auth.rater)
    return judge.page("live.html", status=status, csrf=auth.login.csrf if auth.login else "",
                      live=view(judge, current) if current else None,
                      progress=live.progress(session, auth.rater, settings), rubric=judge.rubric,
                      error=error, chosen=chosen or {}, max_comment=judge.rules.max_comment_chars,
                      max_message=settings.max_message_chars)


def message_page(judge: Judge, e: LiveError):
    return judge.page("message.html", status=e.status, message=str(e), link="/live")


@router.get("/live", include_in_schema=False)
def live_get(caller: RaterPage):
    with caller.judge.database.transaction() as session:
        return live_page(caller.judge, session, caller.signed_in(session))


def from_page(caller: Caller, action: Callable):
    """A form post: signed in, CSRF-checked, `action(session, auth)`; then back to /live."""
    with caller.judge.database.transaction() as session:
        auth = caller.signed_in(session)
        try:
            result = action(session, auth)
        except LiveError as e:
            return message_page(caller.judge, e)
    if isinstance(result, TurnJob):  # a turn without JavaScript: answered as a whole
        run_turn(caller.judge, result, lambda *_: None)
    return RedirectResponse("/live", status_code=303)


async def form_of(request: Request) -> dict:
    form = dict((await request.form()).items())
    check_storable(form)  # a NUL or lone surrogate: 400 (app.py's handler), not a database error
    return form


@router.post("/live/start", include_in_schema=False)
async def live_start_form(request: Request, caller: RaterForm):
    await form_of(request)
    settings = caller.judge.settings.live
    return await run_in_threadpool(from_page, caller, lambda session, auth: live.start(session, auth.rater, settings))


@router.post("/live/{session_id}/turn", include_in_schema=False)
async def live_turn_form(session_id: str, request: Request, caller: RaterForm):
    form = await form_of(request)
    settings = caller.judge.settings.live
    return await run_in_threadpool(from_page, caller, lambda session, auth: live.begin_turn(
        session, live.find(session, auth.rater, session_id), str(form.get("message", "")), settings))


@router.post("/live/{session_id}/end", include_in_schema=False)
async def live_end_form(session_id: str, request: Request, caller: RaterForm):
    await form_of(request)
    return await run_in_threadpool(from_page, caller, lambda session, auth: live.end_by_rater(
        live.find(session, auth.rater, session_id)))


def form_rating(judge: Judge, form: dict) -> dict:
    try:
        scores = {label: {d.key: int(form[f"{label}.{d.key}"]) for d in judge.rubric
                          if form.get(f"{label}.{d.key}")} for label in live.LABELS}
    except ValueError:
        scores = None
    return {"scores": scores, "comment": str(form.get("comment", "")), "preference": form.get("preference") or None}


def rate_from_page(caller: Caller, session_id: str, form: dict):
    judge = caller.judge
    with judge.database.transaction() as session:
        auth = caller.signed_in(session)
        try:
            live.submit_rating(session, live.find(session, auth.rater, session_id), form_rating(judge, form),
                               judge.rules)
        except LiveError as e:
            if e.status != 422:
                return message_page(judge, e)
            chosen = {k: str(v) for k, v in form.items() if k != CSRF_FIELD}
            return live_page(judge, session, auth, status=422, chosen=chosen,
                             error="请为 A、B 两段对话的每个维度选择 1-5 分（评语不超过字数限制）后再提交。")
    return RedirectResponse("/live", status_code=303)


@router.post("/live/{session_id}/rate", include_in_schema=False)
async def live_rate_form(session_id: str, request: Request, caller: RaterForm):
    form = await form_of(request)
    return await run_in_threadpool(rate_from_page, caller, session_id, form)


# ---------------------------------------------------------------- rater API
@router.get("/api/live", tags=["live"])
def api_live(caller: RaterApi) -> dict:
    """Your current live session (`session: null` when none is open), progress, and the rubric."""
    judge = caller.judge
    with judge.database.transaction() as session:
        rater = caller.signed_in(session).rater
        current = live.current(session, rater)
        return {"session": view(judge, current) if current else None,
                "progress": live.progress(session, rater, judge.settings.live), "rubric": judge.rubric_view}


@router.post("/api/live", tags=["live"], status_code=201)
def api_live_start(caller: RaterApiPost) -> dict:
    """Start a live session (or get back the one you have not rated yet)."""
    judge = caller.judge
    with judge.database.transaction() as session:
        auth = caller.signed_in(session)
        try:
            return {"session": view(judge, live.start(session, auth.rater, judge.settings.live))}
        except LiveError as e:
            raise refused(e) from e


def begin(caller: Caller, session_id: str, message: str) -> tuple[TurnJob, int]:
    with caller.judge.database.transaction() as session:
        auth = caller.signed_in(session)
        try:
            return live.begin_turn(session, live.find(session, auth.rater, session_id), message,
                                   caller.judge.settings.live), auth.rater.id
        except LiveError as e:
            raise refused(e) from e


@router.post("/api/live/{session_id}/turn", tags=["live"],
             responses={200: {"content": {"text/event-stream": {}},
                              "description": "Server-Sent Events: delta, replace, reply, failed {side: A|B}; "
                                             "then done {turn, turns_left, ended} once both are stored"},
                        409: {"description": "ended, at the turn limit, or a turn still in flight"},
                        422: {"description": "empty or too long"}})
async def api_turn(session_id: str, body: MessageIn, caller: RaterApiPost):
    """Say something as the client: both models answer at once, streamed side by side."""
    judge = caller.judge
    job, rater_id = await run_in_threadpool(begin, caller, session_id, body.message)
    loop, queue = asyncio.get_running_loop(), asyncio.Queue()

    def emit(event: str, data: dict) -> None:
        with contextlib.suppress(RuntimeError):  # the app is shutting down: the turn is still stored
            loop.call_soon_threadsafe(queue.put_nowait, (event, data))

    def stop() -> None:  # the rater was deactivated: nothing more is sent to them
        emit("error", {"message": DEACTIVATED})

    with judge.streams_lock:
        judge.live_streams.setdefault(rater_id, {})[job.turn_id] = stop
    threading.Thread(target=run_turn, args=(judge, job, emit), daemon=True,
                     name=f"live-turn-{job.turn_id}").start()

    async def events():
        try:
            yield sse("turn", {"turn": job.number})
            while True:
                event, data = await queue.get()
                yield sse(event, data)
                if event in ("done", "error"):
                    return
        finally:
            with judge.streams_lock:
                judge.live_streams.get(rater_id, {}).pop(job.turn_id, None)

    return StreamingResponse(events(), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"})


@router.post("/api/live/{session_id}/end", tags=["live"])
def api_end(session_id: str, caller: RaterApiPost) -> dict:
    """End the conversation before the turn limit; then rate it."""
    with caller.judge.database.transaction() as session:
        auth = caller.signed_in(session)
        try:
            current = live.find(session, auth.rater, session_id)
            live.end_by_rater(current)
        except LiveError as e:
            raise refused(e) from e
        return {"session": view(caller.judge, current)}


@router.post("/api/live/{session_id}/rating", tags=["live"], status_code=201)
def api_live_rating(session_id: str, body: LiveRatingIn, caller: RaterApiPost) -> dict:
    """Rate an ended session: A and B on every dimension, 1-5; preference A, B or tie (optional)."""
    judge = caller.judge
    with judge.database.transaction() as session:
        auth = caller.signed_in(session)
        try:
            rating = live.submit_rating(session, live.find(session, auth.rater, session_id), body.model_dump(),
                                        judge.rules)
        except LiveError as e:
            raise refused(e) from e
        session.flush()
        return {"stored": True, "rating_id": rating.id, "progress": live.progress(session, auth.rater,
                                                                                   judge.settings.live)}
