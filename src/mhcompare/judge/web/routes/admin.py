"""The organiser: invitations, deactivation, progress, blinding, export.

    GET  /admin                              the organiser's page
    GET  /admin/conversations/{id}           a flagged conversation, as written and as raters see it
    POST /admin/raters                       invite a rater (the token is shown once)
    GET  /admin/raters/{id}/deactivate       asks first
    POST /admin/raters/{id}/deactivate       their token stops working, their sessions and live chats end
    POST /admin/raters/{id}/reactivate       undone: the same token works again
    /api/admin/raters, /api/admin/raters/{id}/deactivate (and reactivate), /api/admin/blinding,
    /api/admin/export.json, /api/admin/export.csv    the same, and the exports, as JSON or CSV
"""
import csv
import io
from typing import Annotated, Literal

from fastapi import APIRouter, Form, HTTPException
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select

from mhcompare.judge.security import check_storable, spreadsheet_safe
from mhcompare.judge.store import blinding, live, ratings, sessions
from mhcompare.judge.store.db import Assignment, Item, LiveSession, Rater, Rating
from mhcompare.judge.web.bodies import InviteIn
from mhcompare.judge.web.deps import AdminApi, AdminApiPost, AdminForm, AdminPage, Auth, Judge, token_hash

router = APIRouter()


def csv_bytes(rows: list[dict]) -> bytes:
    """UTF-8 with a byte-order mark (so Excel reads Chinese correctly), formula cells neutralised."""
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({k: spreadsheet_safe(v) for k, v in row.items()} for row in rows)
    return out.getvalue().encode("utf-8-sig")


def overview(judge: Judge, session) -> dict:
    rules = judge.rules
    raters = session.scalars(select(Rater).order_by(Rater.id)).all()
    done = dict(session.execute(  # of the kind rated now (judge.app.mode), as the raters see it
        select(Rating.rater_id, func.count(Rating.id)).join(Rating.assignment).join(Assignment.item)
        .where(Item.kind == rules.kind).group_by(Rating.rater_id)).all())
    comments = session.scalars(select(Rating).where(Rating.comment != "").order_by(Rating.id.desc())
                               .limit(50)).unique().all()
    total = min(rules.items_per_rater, ratings.items_available(session, rules))
    return {"raters": [{"id": r.id, "name": r.name, "done": done.get(r.id, 0), "total": total,
                        "active": r.active} for r in raters],
            "comments": [{"rating_id": c.id, "rater_id": c.rater_id, "comment": c.comment} for c in comments],
            "blinding": blinding.summary(session),
            "live": live.overview(session) if judge.settings.live is not None else None}


def invite(session, name: str) -> str:
    token = ratings.new_token()
    session.add(Rater(name=name.strip(), token_hash=token_hash(token)))
    session.flush()
    return token


def rater_or_404(session, rater_id: int) -> Rater:
    rater = session.get(Rater, rater_id)
    if rater is None:
        raise HTTPException(404, "no such rater")
    return rater


def deactivate(session, rater_id: int) -> int:
    """Mark the rater inactive (their token stops working), end their browser sessions and their open
    live chats; their ratings stay. The caller stops their running live streams once this commits."""
    rater_or_404(session, rater_id).active = False
    for open_chat in session.scalars(select(LiveSession).where(LiveSession.rater_id == rater_id,
                                                               LiveSession.status == "open")):
        live.end(open_chat)
    return sessions.end_all_of(session, rater_id)


def reactivate(session, rater_id: int) -> None:
    """Undo a deactivation: the same token works again (the rater signs in anew)."""
    rater_or_404(session, rater_id).active = True


# ---------------------------------------------------------------- the organiser's page
def admin_view(judge: Judge, session, auth: Auth, **extra) -> HTMLResponse:
    return judge.page("admin.html", csrf=auth.login.csrf if auth.login else "", **extra, **overview(judge, session))


@router.get("/admin", include_in_schema=False)
def admin_page(caller: AdminPage):
    with caller.judge.database.transaction() as session:
        return admin_view(caller.judge, session, caller.signed_in(session))


@router.get("/admin/conversations/{conversation_id}", include_in_schema=False)
def admin_conversation(caller: AdminPage, conversation_id: str):
    """A conversation the blinding check flagged: each turn as the model wrote it and as raters see it."""
    with caller.judge.database.transaction() as session:
        caller.signed_in(session)
        conversation = blinding.flagged_conversation(session, caller.judge.redact, conversation_id)
    if conversation is None:
        raise HTTPException(404, "no such conversation")
    return caller.judge.page("admin_conversation.html", conversation=conversation)


@router.post("/admin/raters", include_in_schema=False)
def admin_invite(caller: AdminForm, name: Annotated[str, Form(min_length=1, max_length=200)]):
    check_storable(name)
    with caller.judge.database.transaction() as session:
        auth = caller.signed_in(session)
        token = invite(session, name)
        return admin_view(caller.judge, session, auth, new_rater={"name": name, "token": token})


@router.get("/admin/raters/{rater_id}/deactivate", include_in_schema=False)
def admin_deactivate_confirm(caller: AdminPage, rater_id: int):
    """Ask first: who, and what deactivating does."""
    with caller.judge.database.transaction() as session:
        auth = caller.signed_in(session)
        rater = rater_or_404(session, rater_id)
        return caller.judge.page("admin_deactivate.html", csrf=auth.login.csrf if auth.login else "",
                                 rater={"id": rater.id, "name": rater.name, "active": rater.active})


@router.post("/admin/raters/{rater_id}/deactivate", include_in_schema=False)
def admin_deactivate(caller: AdminForm, rater_id: int):
    with caller.judge.database.transaction() as session:
        caller.signed_in(session)
        deactivate(session, rater_id)
    caller.judge.stop_streams(rater_id)
    return RedirectResponse("/admin", status_code=303)


@router.post("/admin/raters/{rater_id}/reactivate", include_in_schema=False)
def admin_reactivate(caller: AdminForm, rater_id: int):
    with caller.judge.database.transaction() as session:
        caller.signed_in(session)
        reactivate(session, rater_id)
    return RedirectResponse("/admin", status_code=303)


# ---------------------------------------------------------------- the same as JSON
@router.post("/api/admin/raters", tags=["admin"], status_code=201)
def api_invite(body: InviteIn, caller: AdminApiPost) -> dict:
    """Create a rater; the token is returned once and stored only as a hash."""
    with caller.judge.database.transaction() as session:
        caller.signed_in(session)
        token = invite(session, body.name)
    return {"name": body.name.strip(), "token": token}


@router.post("/api/admin/raters/{rater_id}/deactivate", tags=["admin"])
def api_deactivate(rater_id: int, caller: AdminApiPost) -> dict:
    """Deactivate a rater: their token stops working and every browser session of theirs ends.
    Their ratings are kept (the export still has them)."""
    with caller.judge.database.transaction() as session:
        caller.signed_in(session)
        ended = deactivate(session, rater_id)
    streams = caller.judge.stop_streams(rater_id)
    return {"rater_id": rater_id, "active": False, "sessions_ended": ended, "live_streams_stopped": streams}


@router.post("/api/admin/raters/{rater_id}/reactivate", tags=["admin"])
def api_reactivate(rater_id: int, caller: AdminApiPost) -> dict:
    """Undo a deactivation: the rater's token works again."""
    with caller.judge.database.transaction() as session:
        caller.signed_in(session)
        reactivate(session, rater_id)
    return {"rater_id": rater_id, "active": True}


@router.get("/api/admin/raters", tags=["admin"])
def api_raters(caller: AdminApi) -> dict:
    """Every rater's progress, the latest comments, and what redaction did."""
    with caller.judge.database.transaction() as session:
        caller.signed_in(session)
        return overview(caller.judge, session)


@router.get("/api/admin/blinding", tags=["admin"])
def api_blinding(caller: AdminApi) -> dict:
    """Per model: turns redaction changed; and the conversations still naming a model afterwards."""
    with caller.judge.database.transaction() as session:
        caller.signed_in(session)
        return blinding.summary(session)


@router.get("/api/admin/export.json", tags=["admin"])
def api_export_json(caller: AdminApi) -> dict:
    """All scores (one row per rater x conversation x dimension) and pairwise votes, with model names;
    `source` says ai_client (transcripts) or live. `live_turns`: every live reply, raw and as shown,
    failures and the crisis rule screen."""
    with caller.judge.database.transaction() as session:
        caller.signed_in(session)
        scores, votes, turns = live.export_all(session)
    return {"scores": scores, "votes": votes, "live_turns": turns}


@router.get("/api/admin/export.csv", tags=["admin"])
def api_export_csv(caller: AdminApi, table: Literal["scores", "votes", "live_turns"] = "scores") -> Response:
    """One table as CSV (UTF-8 with BOM; cells starting =, +, -, @ get a leading '): `scores`, `votes`
    or `live_turns`."""
    with caller.judge.database.transaction() as session:
        caller.signed_in(session)
        tables = dict(zip(("scores", "votes", "live_turns"), live.export_all(session), strict=True))
    return Response(csv_bytes(tables[table]), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="human_judge_{table}.csv"'})
