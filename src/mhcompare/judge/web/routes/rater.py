"""A rater's transcripts: the rating page and the same as JSON.

    GET  /rate                  the current item (server-rendered, works without JavaScript)
    POST /rate/{assignment_id}  the rating form
    GET  /api/progress          how many rated, of how many
    GET  /api/next              the current item, progress and rubric
    POST /api/ratings           rate the current item -> 201

Raters see random public ids and redacted text (redaction.py), never a model name, a seed or
another rater's scores. Each submit is stored at once, so closing the browser loses nothing: the
next visit resumes at the first unrated item.

Each request does its database work in one thread, inside one transaction that commits before the
response is sent (a 201 means the rating is on disk). These routes run on the database's own
thread(s) (Database.run), in a plain transaction (plain SQL, no ORM session:
Database.plain_transaction); on SQLite that takes the database lock.
"""
import json
from dataclasses import replace

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mhcompare.judge.security import check_storable
from mhcompare.judge.store import ratings
from mhcompare.judge.web.bodies import RatingIn
from mhcompare.judge.web.deps import CSRF_FIELD, TYPE_LABELS, Auth, Caller, Judge, RaterApi, RaterApiPost, RaterForm, RaterPage

router = APIRouter()
# where each conversation is, side by side on wide screens and stacked (app.css, max-width 800px) on narrow
SIDE_LABELS = {"left": ("左侧对话", "上方对话"), "right": ("右侧对话", "下方对话"), "conversation": ("对话", "对话")}


def json_response(data, status: int = 200) -> Response:
    """JSON of plain dicts and lists, encoded once (FastAPI's encoder walks every value of a returned
    dict again; the rater API's answers need none of that)."""
    return Response(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode(), status_code=status,
                    media_type="application/json")


# ---------------------------------------------------------------- what a rater sees of an item
def redacted_content(judge: Judge, tx, item_id: int) -> ratings.ItemContent:
    if item_id not in judge.contents:
        content = ratings.item_content(tx, item_id)
        judge.contents[item_id] = replace(content, a=redacted(judge, content.a),
                                          b=content.b and redacted(judge, content.b))
    return judge.contents[item_id]


def redacted(judge: Judge, shown: ratings.Shown) -> ratings.Shown:
    """The model's turns redacted; the client's exactly as written."""
    turns = judge.redact.blind(shown.turns).turns
    return replace(shown, turns=[{"role": t["role"], "content": t["content"]} for t in turns])


def item_view(judge: Judge, tx, assignment: ratings.OpenItem) -> dict:
    """What a rater may see of an item: no model, seed or conversation id; text redacted."""
    content = redacted_content(judge, tx, assignment.item_id)
    shown = ratings.sides(content.kind, content.a, content.b, assignment.a_on_left)
    first = next(iter(shown.values()))
    return {
        "assignment_id": assignment.public_id,
        "kind": content.kind,
        "position": assignment.position,
        "scenario": {"type": first.scenario_type, "type_label": TYPE_LABELS[first.scenario_type],
                     "title": first.scenario_title, "presenting_problem": first.presenting_problem},
        "conversations": {side: c.turns for side, c in shown.items()},
    }


# ---------------------------------------------------------------- the rating page
def rate_page(judge: Judge, tx, auth: Auth, status=200, error=None, chosen=None):
    current = ratings.current_assignment(tx, auth.rater, judge.rules)
    csrf = auth.login.csrf if auth.login else ""
    live_enabled = judge.settings.live is not None
    if current.item is None:
        return judge.page("done.html", progress=current.progress, csrf=csrf, live_enabled=live_enabled)
    if chosen is not None and chosen.get("item") != current.item.public_id:
        chosen = None  # the refused form was for another item
    return judge.page("rate.html", status=status, item=item_view(judge, tx, current.item), progress=current.progress,
                      csrf=csrf, rubric=judge.rubric, side_labels=SIDE_LABELS, error=error, chosen=chosen or {},
                      max_comment=judge.rules.max_comment_chars, live_enabled=live_enabled)


@router.get("/rate", include_in_schema=False)
async def rate(caller: RaterPage):
    return await caller.judge.database.run(show_rate_page, caller)


def show_rate_page(caller: Caller) -> HTMLResponse:
    with caller.judge.database.plain_transaction() as tx:
        return rate_page(caller.judge, tx, caller.signed_in(tx))


def form_payload(judge: Judge, form) -> dict:
    sides = ratings.SIDES_PAIR if judge.rules.kind == "pair" else ratings.SIDES_SINGLE
    try:
        scores = {side: {d.key: int(form[f"{side}.{d.key}"]) for d in judge.rubric if form.get(f"{side}.{d.key}")}
                  for side in sides}
    except ValueError:
        scores = None
    return {"scores": scores, "comment": str(form.get("comment", "")), "preference": form.get("preference") or None}


def form_choices(form) -> dict:
    """A submitted rating form as plain strings, to show it again after a refusal (422)."""
    return {k: str(v) for k, v in form.items() if k != CSRF_FIELD}


@router.post("/rate/{assignment_id}", include_in_schema=False)
async def rate_submit(assignment_id: str, request: Request, caller: RaterForm):
    # the form is read here; the database work runs on the database's thread, never on the event loop
    form = dict((await request.form()).items())
    check_storable(form)
    return await caller.judge.database.run(submit_from_page, caller, assignment_id, form)


def submit_from_page(caller: Caller, assignment_id: str, form: dict):
    judge = caller.judge
    with judge.database.plain_transaction() as tx:
        auth = caller.signed_in(tx)
        try:
            ratings.submit(tx, auth.rater, assignment_id, form_payload(judge, form), judge.rules)
        except ratings.NotFound:
            return judge.page("message.html", status=404, message="找不到这条待评对话。", link="/rate")
        except ratings.AlreadyRated:
            return judge.page("message.html", status=409, message="这条对话你已经评过了，评分已保存。", link="/rate")
        except ratings.InvalidRating:
            return rate_page(judge, tx, auth, status=422, chosen={**form_choices(form), "item": assignment_id},
                             error="请为每个维度选择 1-5 分（评语不超过字数限制）后再提交。")
    return RedirectResponse("/rate", status_code=303)


# ---------------------------------------------------------------- the same as JSON
@router.get("/api/progress", tags=["rater"])
def api_progress(caller: RaterApi) -> dict:
    """How many items you have rated, of how many."""
    with caller.judge.database.plain_transaction() as tx:
        return ratings.progress(tx, caller.signed_in(tx).rater, caller.judge.rules)


@router.get("/api/next", tags=["rater"])
async def api_next(caller: RaterApi) -> dict:
    """Your current item (the same one until you rate it), or `item: null` when you are done."""
    return await caller.judge.database.run(next_item, caller)


def next_item(caller: Caller) -> Response:
    judge = caller.judge
    with judge.database.plain_transaction() as tx:
        rater = caller.signed_in(tx).rater
        current = ratings.current_assignment(tx, rater, judge.rules)
        item = item_view(judge, tx, current.item) if current.item else None
    return json_response({"item": item, "progress": current.progress, "rubric": judge.rubric_view})


@router.post("/api/ratings", tags=["rater"], status_code=201,
             responses={400: {"description": "text no database can store (a NUL or a lone surrogate)"},
                        401: {"description": "not signed in"}, 403: {"description": "cross-site, or no CSRF token"},
                        404: {"description": "not your item"}, 409: {"description": "already rated"},
                        413: {"description": "body too large"}, 422: {"description": "invalid scores or comment"},
                        429: {"description": "too many failed sign-ins from this address"}})
async def api_rate(body: RatingIn, caller: RaterApiPost) -> dict:
    """Rate your item: every side on every dimension, 1-5; comment and preference optional."""
    return await caller.judge.database.run(store_rating, body, caller)


def store_rating(body: RatingIn, caller: Caller) -> Response:
    judge = caller.judge
    with judge.database.plain_transaction() as tx:
        auth = caller.signed_in(tx)
        try:
            stored = ratings.submit(tx, auth.rater, body.assignment_id, body.model_dump(), judge.rules)
        except ratings.NotFound as e:
            raise HTTPException(404, str(e)) from e
        except ratings.AlreadyRated as e:
            raise HTTPException(409, str(e)) from e
        except ratings.InvalidRating as e:
            raise HTTPException(422, str(e)) from e
    return json_response({"stored": True, "rating_id": stored.rating_id, "progress": stored.progress}, status=201)
