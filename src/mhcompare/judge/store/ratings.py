"""What a rater can do — get their current item, submit a rating, see their progress — and the
organiser's export. Shared by the HTML pages and the JSON API, so both enforce the same rules.

A rater's requests (next item, rating, progress) run on every click of every rater, so they are a
few plain SQL statements (sql.py) rather than ORM objects: ORM loading and flushing took about
three quarters of the app's CPU per rating (bench/bench_judge_app.py). The SQL is portable
(SQLite 3.35+ and PostgreSQL); the ORM classes in db.py still define the tables, and the
organiser's pages and export, which run rarely, still use them.
"""
import json
import random
import secrets
import time
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import select

from mhcompare.judge.store import blinding, sql
from mhcompare.judge.store.assign import Candidate, choose_item
from mhcompare.judge.store.db import Conversation, Rater, Rating, claim_item, lock_rater, public_id

SIDES_PAIR = ("left", "right")
SIDES_SINGLE = ("conversation",)
PREFERENCES = ("left", "right", "tie")


class NotFound(LookupError):
    """Unknown assignment, or one that belongs to another rater (the two look the same)."""


class AlreadyRated(Exception):
    pass


class InvalidRating(ValueError):
    pass


class Busy(RuntimeError):
    """PostgreSQL: other transactions kept every item this rater should get for CHOOSING_ATTEMPTS
    rounds (never seen in tests or benchmarks); the app answers 503 with Retry-After."""


@dataclass(frozen=True)
class Rules:
    kind: str  # single | pair
    dimensions: tuple[str, ...]
    items_per_rater: int
    raters_per_item: int
    max_comment_chars: int


@dataclass(frozen=True)
class OpenItem:
    """An item given to a rater and not rated yet (a row of `assignments`)."""
    id: int
    public_id: str
    item_id: int
    position: int
    a_on_left: bool


@dataclass(frozen=True)
class Shown:
    """One conversation as a rater may see it (before redaction): no model, no seed."""
    id: int
    scenario_type: str
    scenario_title: str
    presenting_problem: str
    turns: list


@dataclass(frozen=True)
class ItemContent:
    """An item's conversations (b is None for single items). Items do not change while the app runs."""
    kind: str
    a: Shown
    b: Shown | None


@dataclass(frozen=True)
class Current:
    """A rater's current item (None: nothing left to rate) and progress ({"done": n, "total": m})."""
    item: OpenItem | None
    progress: dict


@dataclass(frozen=True)
class Stored:
    """A rating just stored, and the rater's progress with it."""
    rating_id: int
    progress: dict


# order and sides need not be secret, only unplanned: a generator seeded from the OS per process
# (SystemRandom asks the OS once per number: a system call per candidate item, on every new item)
_rng = random.Random(secrets.randbits(128))
CHOOSING_ATTEMPTS = 100  # PostgreSQL: rounds of choosing (2 ms apart) while others hold every candidate

RATER_BY_TOKEN = "SELECT id, name FROM raters WHERE token_hash = :token_hash AND active"
# an item is given out unless one of its conversations is held back (store/blinding.py)
RATABLE = """NOT EXISTS (SELECT 1 FROM blinding b WHERE b.held_back
                        AND b.conversation_id IN (items.conversation_a_id, items.conversation_b_id))"""
ITEMS_OF_KIND = f"SELECT COUNT(*) FROM items WHERE kind = :kind AND {RATABLE}"
# Everything a rater is given, shown and counted is of the app's current kind (judge.app.mode): a study
# may rate pairs first and single conversations later, or back, on one database; each is a round of
# its own, with its own items, open item and progress.
RATED = """
    (SELECT COUNT(r.id) FROM assignments a JOIN items i ON i.id = a.item_id JOIN ratings r ON r.assignment_id = a.id
     WHERE a.rater_id = :rater AND i.kind = :kind)"""
PROGRESS = f"""
    SELECT {RATED}, ({ITEMS_OF_KIND})"""
OPEN_ITEM = """
    SELECT a.id, a.public_id, a.item_id, a.position, a.a_on_left
    FROM assignments a JOIN items i ON i.id = a.item_id LEFT JOIN ratings r ON r.assignment_id = a.id
    WHERE a.rater_id = :rater AND i.kind = :kind AND r.id IS NULL
    ORDER BY a.position LIMIT 1"""
# every item of the kind: how many raters have it (items.coverage: counting every assignment here took
# time in proportion to the study's size, 1.1 ms on PostgreSQL at 5,000 assignments) and whether
# this rater has it already; and the rater's last position (positions count the rater's items of
# every kind, in the order given)
CANDIDATES = f"""
    SELECT items.id, items.balance_key, items.coverage, mine.item_id IS NOT NULL,
           (SELECT COALESCE(MAX(position), 0) FROM assignments WHERE rater_id = :rater)
    FROM items LEFT JOIN assignments mine ON mine.item_id = items.id AND mine.rater_id = :rater
    WHERE items.kind = :kind AND {RATABLE}"""
NEW_ASSIGNMENT = """
    INSERT INTO assignments (public_id, rater_id, item_id, position, a_on_left, assigned_at)
    VALUES (:public_id, :rater, :item, :position, :a_on_left, :now) RETURNING id"""
# with what the rater's progress will be (one round trip, not two): a rater's items are given one at a
# time, the next only once the last is rated, so rating an item makes every item of its kind up to its
# position rated
ASSIGNMENT_TO_RATE = f"""
    SELECT a.id, a.a_on_left, i.conversation_a_id, i.conversation_b_id, r.id,
           (SELECT COUNT(*) FROM assignments earlier JOIN items e ON e.id = earlier.item_id
            WHERE earlier.rater_id = :rater AND e.kind = :kind AND earlier.position <= a.position),
           ({ITEMS_OF_KIND})
    FROM assignments a JOIN items i ON i.id = a.item_id LEFT JOIN ratings r ON r.assignment_id = a.id
    WHERE a.public_id = :public_id AND a.rater_id = :rater AND i.kind = :kind"""
ITEM = "SELECT kind, conversation_a_id, conversation_b_id FROM items WHERE id = :item"
SHOWN = """
    SELECT id, scenario_type, scenario_title, presenting_problem, turns FROM conversations WHERE id IN (:a, :b)"""
# a concurrent duplicate (a double click, another worker) inserts nothing here and gets no id back
NEW_RATING = """
    INSERT INTO ratings (assignment_id, rater_id, comment, preference, submitted_at)
    VALUES (:assignment, :rater, :comment, :preference, :now)
    ON CONFLICT (assignment_id) DO NOTHING RETURNING id"""


def new_scores(rating_id: int, scores: list[tuple[int, str, int]]) -> tuple[str, dict]:
    """One INSERT of all of a rating's (conversation id, dimension, score) rows, and its parameters
    (one round trip to a database server, not one per score)."""
    rows, params = [], {"rating": rating_id}
    for i, (conversation_id, dimension, score) in enumerate(scores):
        rows.append(f"(:rating, :conversation{i}, :dimension{i}, :score{i})")
        params |= {f"conversation{i}": conversation_id, f"dimension{i}": dimension, f"score{i}": score}
    return f"INSERT INTO scores (rating_id, conversation_id, dimension, score) VALUES {', '.join(rows)}", params


@dataclass(frozen=True)
class RaterRow:
    id: int
    name: str


def rater_for_token(tx, token_hash: str) -> RaterRow | None:
    """The active rater holding this token, or None."""
    row = sql.one(tx, RATER_BY_TOKEN, token_hash=token_hash)
    return RaterRow(*row) if row else None


def items_available(tx, rules: Rules) -> int:
    return sql.one(tx, ITEMS_OF_KIND, kind=rules.kind)[0]


def progress(tx, rater, rules: Rules) -> dict:
    done, items = sql.one(tx, PROGRESS, rater=rater.id, kind=rules.kind)
    return _progress(done, items, rules)


def _progress(done: int, items: int, rules: Rules) -> dict:
    return {"done": done, "total": min(rules.items_per_rater, items)}


def current_assignment(tx, rater, rules: Rules) -> Current:
    """The rater's open item (so a reload continues it), else a newly chosen one, else None (done);
    with the rater's progress."""
    # PostgreSQL: this rater's requests one at a time (lock_rater), so a request that waited sees
    # the item a concurrent one opened
    lock_rater(tx, rater.id)
    open_ = _open_item(tx, rater, rules)
    if open_ is not None:
        return Current(open_, progress(tx, rater, rules))
    return _new_assignment(tx, rater, rules)


def _open_item(tx, rater, rules: Rules) -> OpenItem | None:
    row = sql.one(tx, OPEN_ITEM, rater=rater.id, kind=rules.kind)
    return None if row is None else OpenItem(*row[:4], a_on_left=bool(row[4]))


def _new_assignment(tx, rater, rules: Rules) -> Current:
    """A rater with no open item: every item they were given is rated, so the count of the rater's
    items among the candidates is also their progress (no statement of its own)."""
    for _ in range(CHOOSING_ATTEMPTS):
        rows = sql.all_rows(tx, CANDIDATES, rater=rater.id, kind=rules.kind)  # a row per item of the kind
        seen = Counter(key for _, key, _, mine, _ in rows if mine)
        assigned = seen.total()
        done = _progress(assigned, len(rows), rules)
        if assigned >= rules.items_per_rater:
            return Current(None, done)
        candidates = [Candidate(item_id, key, coverage) for item_id, key, coverage, mine, _ in rows if not mine]
        if not candidates:
            return Current(None, done)
        chosen = _claim_best(tx, candidates, seen, rules)
        if chosen is not None:
            return Current(_assign(tx, rater, chosen.item_id, position=rows[0][4] + 1), done)
        # other transactions were giving out the items this rater should get; they commit within
        # milliseconds: count again
        time.sleep(0.002)
    raise Busy(f"no item could be claimed for rater {rater.id} in {CHOOSING_ATTEMPTS} attempts; try again")


def _claim_best(tx, candidates: list[Candidate], seen: Counter, rules: Rules) -> Candidate | None:
    """The best candidate this transaction may give out (db.claim_item: always the best on SQLite),
    or None to count again: all were being given out elsewhere, or one that needed raters was and
    the rest already have enough."""
    candidates = list(candidates)
    skipped_needed = False
    while (chosen := choose_item(candidates, seen, rules.raters_per_item, _rng)) is not None:
        needed = chosen.coverage < rules.raters_per_item
        if skipped_needed and not needed:
            return None  # count again before giving out an item that has enough raters
        if claim_item(tx, chosen.item_id, rules.raters_per_item if needed else None):
            return chosen
        skipped_needed |= needed
        candidates.remove(chosen)  # PostgreSQL: another transaction is giving it out, or it filled up
    return None


def _assign(tx, rater, item_id: int, position: int) -> OpenItem:
    """Give the item to the rater, on a random side."""
    public, a_on_left = public_id(), _rng.random() < 0.5
    (new_id,) = sql.one(tx, NEW_ASSIGNMENT, public_id=public, rater=rater.id, item=item_id, position=position,
                        a_on_left=a_on_left, now=time.time())
    return OpenItem(new_id, public, item_id, position, a_on_left)


def item_content(tx, item_id: int) -> ItemContent:
    """What the item shows: its conversations' scenario and turns (parsed from JSON on SQLite, which
    stores it as text; psycopg parses PostgreSQL's JSON itself)."""
    kind, a_id, b_id = sql.one(tx, ITEM, item=item_id)
    rows = sql.all_rows(tx, SHOWN, a=a_id, b=a_id if b_id is None else b_id)
    parse = json.loads if sql.dialect(tx) == "sqlite" else (lambda turns: turns)
    shown = {row[0]: Shown(*row[:4], turns=parse(row[4])) for row in rows}
    return ItemContent(kind, shown[a_id], shown[b_id] if b_id is not None else None)


def sides(kind: str, a, b, a_on_left: bool) -> dict:
    """Display side -> conversation a or b (or their ids), after the assignment's left/right randomisation."""
    if kind == "single":
        return {"conversation": a}
    return {"left": a, "right": b} if a_on_left else {"left": b, "right": a}


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


def submit(tx, rater, assignment_public_id: str, payload: dict, rules: Rules) -> Stored:
    """Store one rating; returns its id and the rater's progress. The database's unique constraint
    makes a replay fail, even a concurrent one (from another thread, worker or process)."""
    found = sql.one(tx, ASSIGNMENT_TO_RATE, public_id=assignment_public_id, rater=rater.id, kind=rules.kind)
    if found is None:
        raise NotFound("no such item for you")  # (or one of the kind the app does not rate now)
    assignment_id, a_on_left, a_id, b_id, rating_id, rated_with_this, items = found
    if rating_id is not None:
        raise AlreadyRated("you have already rated this item")
    validate(payload, rules)
    shown = sides(rules.kind, a_id, b_id, bool(a_on_left))  # side -> conversation id
    preference = payload.get("preference")
    if preference in ("left", "right"):
        preference = "a" if shown[preference] == a_id else "b"
    stored = sql.one(tx, NEW_RATING, assignment=assignment_id, rater=rater.id,
                     comment=payload.get("comment") or "", preference=preference, now=time.time())
    if stored is None:
        raise AlreadyRated("you have already rated this item")
    statement, params = new_scores(stored[0], [(shown[side], dimension, value)
                                                for side, given in payload["scores"].items()
                                                for dimension, value in given.items()])
    sql.execute(tx, statement, **params)
    return Stored(stored[0], _progress(rated_with_this, items, rules))


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
        shown = {c.id: side for side, c in sides(item.kind, item.conversation_a, item.conversation_b,
                                                 assignment.a_on_left).items()}
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
