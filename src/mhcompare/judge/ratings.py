"""What a rater can do — get their current item, submit a rating, see their progress — and the
organiser's export. Shared by the HTML pages and the JSON API, so both enforce the same rules.
"""
import random
import secrets
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from mhcompare.judge import blinding
from mhcompare.judge.assign import Candidate, choose_item
from mhcompare.judge.db import Assignment, Conversation, Item, Rater, Rating, Score, lock_assignments

SIDES_PAIR = ("left", "right")
SIDES_SINGLE = ("conversation",)
PREFERENCES = ("left", "right", "tie")


class NotFound(LookupError):
    """Unknown assignment, or one that belongs to another rater (the two look the same)."""


class AlreadyRated(Exception):
    pass


class InvalidRating(ValueError):
    pass


@dataclass(frozen=True)
class Rules:
    kind: str  # single | pair
    dimensions: tuple[str, ...]
    items_per_rater: int
    raters_per_item: int
    max_comment_chars: int


_rng = random.SystemRandom()


def rater_for_token(session, token_hash: str) -> Rater | None:
    return session.scalar(select(Rater).where(Rater.token_hash == token_hash, Rater.active.is_(True)))


def items_available(session, rules: Rules) -> int:
    return session.scalar(select(func.count(Item.id)).where(Item.kind == rules.kind))


def progress(session, rater: Rater, rules: Rules) -> dict:
    done = session.scalar(select(func.count(Rating.id)).where(Rating.rater_id == rater.id))
    return {"done": done, "total": min(rules.items_per_rater, items_available(session, rules))}


def current_assignment(session, rater: Rater, rules: Rules) -> Assignment | None:
    """The rater's open item (so a reload continues it), else a newly chosen one, else None (done)."""
    open_ = session.scalars(select(Assignment).outerjoin(Rating)
                            .where(Assignment.rater_id == rater.id, Rating.id.is_(None))
                            .order_by(Assignment.position).limit(1)).first()
    if open_ is not None:
        return open_
    return _new_assignment(session, rater, rules)


def _new_assignment(session, rater: Rater, rules: Rules) -> Assignment | None:
    if lock_assignments(session):  # PostgreSQL: one chooser at a time, then look again
        open_ = session.scalars(select(Assignment).outerjoin(Rating)
                                .where(Assignment.rater_id == rater.id, Rating.id.is_(None))
                                .order_by(Assignment.position).limit(1)).first()
        if open_ is not None:  # a concurrent request of this rater chose one while it waited
            return open_
    mine = session.execute(select(Assignment.item_id, Item.balance_key).join(Item)
                           .where(Assignment.rater_id == rater.id)).all()
    if len(mine) >= rules.items_per_rater:
        return None
    given = {item_id for item_id, _ in mine}
    coverage = dict(session.execute(select(Assignment.item_id, func.count(Assignment.id))
                                    .group_by(Assignment.item_id)).all())
    items = session.execute(select(Item.id, Item.balance_key).where(Item.kind == rules.kind)).all()
    candidates = [Candidate(i, key, coverage.get(i, 0)) for i, key in items if i not in given]
    chosen = choose_item(candidates, Counter(key for _, key in mine), rules.raters_per_item, _rng)
    if chosen is None:
        return None
    assignment = Assignment(rater_id=rater.id, item_id=chosen.item_id, position=len(mine) + 1,
                            a_on_left=_rng.random() < 0.5)
    session.add(assignment)
    session.flush()
    session.refresh(assignment)
    return assignment


def sides(assignment: Assignment) -> dict:
    """Display side -> conversation, after the assignment's left/right randomisation."""
    item = assignment.item
    if item.kind == "single":
        return {"conversation": item.conversation_a}
    a, b = item.conversation_a, item.conversation_b
    return {"left": a, "right": b} if assignment.a_on_left else {"left": b, "right": a}


def validate(payload: dict, rules: Rules) -> None:
    """Every side scored on every dimension with an integer 1-5; nothing else accepted."""
    expected = SIDES_PAIR if rules.kind == "pair" else SIDES_SINGLE
    scores = payload.get("scores")
    if not isinstance(scores, dict) or set(scores) != set(expected):
        raise InvalidRating(f"scores must have exactly: {', '.join(expected)}")
    for side in expected:
        given = scores[side]
        if not isinstance(given, dict) or set(given) != set(rules.dimensions):
            raise InvalidRating(f"scores.{side} must score exactly: {', '.join(rules.dimensions)}")
        for dimension, value in given.items():
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
                raise InvalidRating(f"scores.{side}.{dimension}: {value!r} is not an integer from 1 to 5")
    comment = payload.get("comment") or ""
    if not isinstance(comment, str) or len(comment) > rules.max_comment_chars:
        raise InvalidRating(f"comment must be text of at most {rules.max_comment_chars} characters")
    preference = payload.get("preference")
    if preference is not None and (rules.kind != "pair" or preference not in PREFERENCES):
        raise InvalidRating("preference must be left, right or tie (pairwise items only), or left out")


def submit(session, rater: Rater, assignment_public_id: str, payload: dict, rules: Rules) -> Rating:
    """Store one rating; the database's unique constraint makes a replay fail, even a concurrent one."""
    assignment = session.scalar(select(Assignment).where(Assignment.public_id == assignment_public_id,
                                                         Assignment.rater_id == rater.id))
    if assignment is None:
        raise NotFound("no such item for you")
    if assignment.rating is not None:
        raise AlreadyRated("you have already rated this item")
    validate(payload, rules)
    shown = sides(assignment)
    preference = payload.get("preference")
    if preference in ("left", "right"):
        preference = "a" if shown[preference].id == assignment.item.conversation_a_id else "b"
    rating = Rating(rater_id=rater.id, comment=payload.get("comment") or "", preference=preference,
                    scores=[Score(conversation_id=shown[side].id, dimension=dim, score=value)
                            for side, given in payload["scores"].items() for dim, value in given.items()])
    try:
        with session.begin_nested():  # a savepoint: a lost race undoes only this rating
            session.add(rating)
            rating.assignment = assignment  # also marks the assignment rated in this session
    except IntegrityError as e:
        raise AlreadyRated("you have already rated this item") from e
    return rating


def new_token() -> str:
    """An invitation token: 192 random bits, shown once to the organiser and stored only hashed."""
    return secrets.token_urlsafe(24)


def export_rows(session) -> tuple[list[dict], list[dict]]:
    """(scores, votes): one row per score, one per pairwise preference, with model identity — admin only.
    Score rows say how many of the conversation's turns redaction changed and whether identity was
    still found afterwards (None for databases the app has not audited yet). `source` is ai_client
    (live.export_rows adds the live chats, source live, with the same columns); a vote's `cluster`
    names the conversations it compared (scenario and seed: analysis.VOTE_CLUSTER)."""
    scores, votes = [], []
    ratings = session.scalars(select(Rating).order_by(Rating.id)).unique().all()
    raters = {r.id: r.name for r in session.scalars(select(Rater))}
    blind = blinding.per_conversation(session)
    for rating in ratings:
        assignment = rating.assignment
        item = assignment.item
        shown = {c.id: side for side, c in sides(assignment).items()}
        common = {"rating_id": rating.id, "rater_id": rating.rater_id, "rater": raters[rating.rater_id],
                  "item_id": item.public_id, "item_kind": item.kind, "position": assignment.position,
                  "submitted_at": rating.submitted_at, "comment": rating.comment, "source": "ai_client"}
        conversations = {c.id: c for c in (item.conversation_a, item.conversation_b) if c is not None}
        for score in rating.scores:
            c = conversations[score.conversation_id]
            scores.append({**common, "conversation_id": c.conversation_id, "model": c.model, "seed": c.seed,
                           "scenario_id": c.scenario_id, "scenario_type": c.scenario_type,
                           "shown_on": shown[c.id], "dimension": score.dimension, "score": score.score,
                           "turns_redacted": blind[c.id].turns_redacted if c.id in blind else None,
                           "identity_flagged": bool(blind[c.id].residual) if c.id in blind else None,
                           "failed_replies": None, "crisis_flagged": None})
        if item.kind == "pair" and rating.preference is not None:
            a, b = item.conversation_a, item.conversation_b
            winner = {"a": a.model, "b": b.model, "tie": "tie"}[rating.preference]
            votes.append({**common, "scenario_id": a.scenario_id, "scenario_type": a.scenario_type,
                          "seed": a.seed, "model_a": a.model, "model_b": b.model, "winner": winner,
                          "a_on_left": assignment.a_on_left, "cluster": f"{a.scenario_id}/seed{a.seed}"})
    return scores, votes


def llm_score_rows(session) -> list[dict]:
    """The LLM judge's scores, one row per conversation and dimension (conversations it could score)."""
    rows = []
    for c in session.scalars(select(Conversation).where(Conversation.llm_judge.is_not(None))):
        for dimension, value in ((c.llm_judge or {}).get("scores") or {}).items():  # JSON null: not scored
            rows.append({"conversation_id": c.conversation_id, "model": c.model, "dimension": dimension,
                         "llm_score": value})
    return rows
