"""Live blind chat sessions: a rater plays a scenario's client, two anonymous models answer each
turn side by side, then the rater rates both on the rubric and says which they preferred.

What a rater gets is chosen like the transcript items (assign.choose_live: balanced over model
pairs and scenarios); which model shows as A (left) is random. The rater only ever sees "A"/"B",
the session's random id and redacted replies; the database keeps the models, the raw replies,
every failure and, in crisis scenarios, the crisis rule screen's result for the organiser. Every
turn and rating is committed before the response that reports it. The model calls themselves
are in live_chat.py; the web routes in web/routes/live.py.
"""
import itertools
import random
import time
from dataclasses import dataclass, replace

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from mhcompare.eval.crisis import CrisisRules
from mhcompare.judge.store import ratings
from mhcompare.judge.store.assign import LiveCandidate, choose_live
from mhcompare.judge.store.db import LiveRating, LiveReply, LiveScore, LiveSession, LiveTurn, Rater, lock_assignments
from mhcompare.judge.live_chat import FAILED_MESSAGE, Generation, LiveEndpoint, SideResult, model_messages
from mhcompare.judge.redaction import Redactor
from mhcompare.judge.scenarios import Scenario
from mhcompare.judge.security import storable

LABELS = ("A", "B")   # left, right: all the rater ever learns of the two models
INTERRUPTED = "interrupted: the app stopped during this turn"


class LiveError(Exception):
    """A request the session's state does not allow; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class LiveSettings:
    """judge.live, resolved: endpoints with their keys, the scenarios to play, the crisis screen."""
    endpoints: tuple[LiveEndpoint, ...]
    scenarios: tuple[Scenario, ...]
    generation: Generation = Generation()
    max_turns: int = 8
    sessions_per_rater: int = 3
    max_message_chars: int = 1000
    system_prompt: str = ""
    support_lines: tuple[str, ...] = ()
    crisis_rules: CrisisRules | None = None

    def __post_init__(self):
        if len({e.name for e in self.endpoints}) < 2:
            raise ValueError("judge.live.endpoints: configure at least two models to compare")
        if not self.scenarios:
            raise ValueError("judge.live: no scenarios to play")

    def endpoint(self, name: str) -> LiveEndpoint:
        found = next((e for e in self.endpoints if e.name == name), None)
        if found is None:  # the organiser removed a model from judge.live.endpoints mid-study
            raise LiveError(503, "one of this conversation's models is no longer available; end it and start another")
        return found

    def scenario(self, scenario_id: str) -> Scenario | None:
        return next((s for s in self.scenarios if s.id == scenario_id), None)


_rng = random.SystemRandom()
# a session with everything the rater's view and the export read: its turns, their replies, the rating
WHOLE = (selectinload(LiveSession.turns).selectinload(LiveTurn.replies), selectinload(LiveSession.rating))


# ---------------------------------------------------------------- which session
def progress(session, rater: ratings.RaterRow, settings: LiveSettings) -> dict:
    done = session.scalar(select(func.count(LiveRating.id)).where(LiveRating.rater_id == rater.id))
    return {"done": done, "total": settings.sessions_per_rater}


def current(session, rater: ratings.RaterRow) -> LiveSession | None:
    """The rater's unrated session (still chatting, or ended and waiting for the rating), if any."""
    return session.scalars(select(LiveSession).outerjoin(LiveRating).options(*WHOLE)
                           .where(LiveSession.rater_id == rater.id, LiveRating.id.is_(None))
                           .order_by(LiveSession.position).limit(1)).first()


def start(session, rater: ratings.RaterRow, settings: LiveSettings) -> LiveSession:
    """The rater's unrated session, else a new one on a balanced (model pair, scenario)."""
    open_ = current(session, rater)
    if open_ is not None:
        return open_
    if lock_assignments(session):  # PostgreSQL: balanced choices one at a time (db.lock_assignments)
        open_ = current(session, rater)
        if open_ is not None:
            return open_
    mine = session.execute(select(LiveSession.model_a, LiveSession.model_b, LiveSession.scenario_id)
                           .where(LiveSession.rater_id == rater.id)).all()
    if len(mine) >= settings.sessions_per_rater:
        raise LiveError(409, "you have had all your live sessions")
    everyone = session.execute(select(LiveSession.model_a, LiveSession.model_b, LiveSession.scenario_id)).all()
    models = sorted(e.name for e in settings.endpoints)
    candidates = [LiveCandidate(pair, s.id) for pair in itertools.combinations(models, 2) for s in settings.scenarios]
    chosen = choose_live(candidates, [LiveCandidate((a, b), s) for a, b, s in mine],
                         [LiveCandidate((a, b), s) for a, b, s in everyone], _rng)
    live = LiveSession(rater_id=rater.id, position=len(mine) + 1, scenario_id=chosen.scenario_id,
                       scenario_type=settings.scenario(chosen.scenario_id).type, model_a=chosen.pair[0],
                       model_b=chosen.pair[1], a_on_left=_rng.random() < 0.5)
    try:
        with session.begin_nested():  # a concurrent start by the same rater lost the race: use theirs
            session.add(live)
    except IntegrityError:
        return current(session, rater)
    return live


def find(session, rater: ratings.RaterRow, public_id: str) -> LiveSession:
    """The rater's own session; another rater's looks the same as none (404)."""
    live = session.scalar(select(LiveSession).options(*WHOLE).where(LiveSession.public_id == public_id,
                                                                    LiveSession.rater_id == rater.id))
    if live is None:
        raise LiveError(404, "no such live session for you")
    return live


# ---------------------------------------------------------------- sides
def side_of(live: LiveSession, label: str) -> str:
    """The stored side (a = model_a, b = model_b) behind a label the rater saw (A = left)."""
    return "a" if (label == "A") == live.a_on_left else "b"


def label_of(live: LiveSession, side: str) -> str:
    return "A" if (side == "a") == live.a_on_left else "B"


def model_of(live: LiveSession, side: str) -> str:
    return live.model_a if side == "a" else live.model_b


# ---------------------------------------------------------------- what the rater sees
def reply_view(reply: LiveReply | None) -> dict:
    if reply is None:
        return {"text": None, "failed": False, "message": None}
    if reply.error is not None:
        return {"text": None, "failed": True, "message": FAILED_MESSAGE}
    return {"text": reply.shown, "failed": False, "message": None}


def scenario_view(scenario: Scenario | None, type_label: str) -> dict:
    """Who the rater plays (the persona is theirs to act out); blank if the bank no longer has it."""
    if scenario is None:
        return {"type_label": type_label, "title": "", "persona": {}, "presenting_problem": "", "goal": "",
                "style": "", "opening": ""}
    return {"type_label": type_label, "title": scenario.title, "persona": dict(scenario.persona),
            "presenting_problem": scenario.presenting_problem, "goal": scenario.goal, "style": scenario.style,
            "opening": scenario.opening}


def view(live: LiveSession, settings: LiveSettings, type_labels: dict) -> dict:
    """The session as the rater may see it: no model, no raw reply, no crisis verdict."""
    turns = []
    for turn in live.turns:
        by_label = {label_of(live, r.side): r for r in turn.replies}
        turns.append({"number": turn.number, "client": turn.client_text,
                      "replies": {label: reply_view(by_label.get(label)) for label in LABELS}})
    completed = sum(t.completed_at is not None for t in live.turns)
    return {
        "session_id": live.public_id,
        "position": live.position,
        "status": live.status,
        "scenario": {"type": live.scenario_type,
                     **scenario_view(settings.scenario(live.scenario_id), type_labels.get(live.scenario_type, ""))},
        "support_lines": list(settings.support_lines) if live.scenario_type == "crisis" else [],
        "turns": turns,
        "max_turns": settings.max_turns,
        "turns_left": max(0, settings.max_turns - len(live.turns)),
        "can_send": live.status == "open" and len(live.turns) < settings.max_turns and completed == len(live.turns),
        "can_end": live.status == "open" and completed >= 1 and completed == len(live.turns),
    }


# ---------------------------------------------------------------- a turn
@dataclass(frozen=True)
class TurnJob:
    """What a turn's worker needs once the client's message is stored: ids and what to send where."""
    turn_id: int
    number: int
    scenario_type: str
    asks: list  # [(label, endpoint, messages)]


def begin_turn(session, live: LiveSession, message: str, settings: LiveSettings) -> TurnJob:
    """Store the client's message (committed before any model is asked) and say what to send."""
    message = message.strip()
    if not message:
        raise LiveError(422, "write a message first")
    if len(message) > settings.max_message_chars:
        raise LiveError(422, f"a message may have at most {settings.max_message_chars} characters")
    if live.status != "open":
        raise LiveError(409, "this conversation has ended; rate it")
    if any(t.completed_at is None for t in live.turns):
        raise LiveError(409, "wait for both replies before the next message")
    if len(live.turns) >= settings.max_turns:
        raise LiveError(409, f"the conversation has reached its {settings.max_turns} turns")
    turn = LiveTurn(session_id=live.id, number=len(live.turns) + 1, client_text=message)
    try:
        with session.begin_nested():
            session.add(turn)
    except IntegrityError as e:
        raise LiveError(409, "another message is being answered") from e
    asks = []
    for label in LABELS:
        side = side_of(live, label)
        history = [(t.client_text, next((r.raw for r in t.replies if r.side == side and r.error is None), None))
                   for t in live.turns if t.id != turn.id]
        asks.append((label, settings.endpoint(model_of(live, side)),
                     model_messages(settings.system_prompt, history, message)))
    return TurnJob(turn.id, turn.number, live.scenario_type, asks)


def store_replies(session, job: TurnJob, results: list[SideResult], settings: LiveSettings,
                  redactor: Redactor) -> dict:
    """Both sides' outcomes, with the crisis screen in crisis scenarios; the session ends at the
    turn limit. Returns the `done` event's data."""
    turn = session.get(LiveTurn, job.turn_id)
    live = session.get(LiveSession, turn.session_id)
    screen = settings.crisis_rules if job.scenario_type == "crisis" else None
    for result in results:
        ok = result.error is None
        # a model's text is not checked at the edge as the rater's is: a NUL or lone surrogate in it
        # would make the turn fail to store (PostgreSQL refuses NUL, UTF-8 cannot carry surrogates)
        session.add(LiveReply(turn_id=turn.id, side=side_of(live, result.label), raw=storable(result.raw),
                              shown=storable(result.shown), error=storable(result.error),
                              first_token_s=result.first_token_s, seconds=result.seconds,
                              residual=",".join(redactor.residual_identity(result.shown)
                                                + ["shown while streaming"] * result.exposed) if ok else "",
                              crisis=screen.check(result.raw) if screen is not None and ok else None))
    turn.completed_at = time.time()
    if turn.number >= settings.max_turns:
        end(live)
    return {"turn": turn.number, "turns_left": max(0, settings.max_turns - turn.number),
            "ended": live.status == "ended"}


def end(live: LiveSession) -> None:
    if live.status == "open":
        live.status, live.ended_at = "ended", time.time()


def end_by_rater(live: LiveSession) -> None:
    """The rater's end button: allowed once at least one turn is complete and none is in flight."""
    if live.status != "open":
        return
    if not live.turns or any(t.completed_at is None for t in live.turns):
        raise LiveError(409, "exchange at least one message, and wait for the replies, before ending")
    end(live)


def recover(session) -> int:
    """At start-up: turns the app stopped in the middle of get their missing replies recorded as
    failed, so the session can go on. Returns how many turns were closed."""
    stuck = session.scalars(select(LiveTurn).where(LiveTurn.completed_at.is_(None))).all()
    for turn in stuck:
        present = {r.side for r in turn.replies}
        for side in {"a", "b"} - present:
            session.add(LiveReply(turn_id=turn.id, side=side, error=INTERRUPTED))
        turn.completed_at = time.time()
    session.flush()
    return len(stuck)


# ---------------------------------------------------------------- rating
def submit_rating(session, live: LiveSession, payload: dict, rules: ratings.Rules) -> LiveRating:
    """Store the rating of an ended session: both sides (A, B) on every dimension, preference A/B/tie."""
    if live.status != "ended":
        raise LiveError(409, "end the conversation before rating it")
    if live.rating is not None:
        raise LiveError(409, "you have already rated this conversation")
    scores = payload.get("scores")
    preference = payload.get("preference")
    if not isinstance(scores, dict) or set(scores) != set(LABELS):
        raise LiveError(422, "scores must have exactly: A, B")
    if preference is not None and preference not in (*LABELS, "tie"):
        raise LiveError(422, "preference must be A, B or tie, or left out")
    as_pair = {"scores": {"left": scores["A"], "right": scores["B"]}, "comment": payload.get("comment") or "",
               "preference": {"A": "left", "B": "right"}.get(preference, preference)}
    try:
        ratings.validate(as_pair, replace(rules, kind="pair"))
    except ratings.InvalidRating as e:
        raise LiveError(422, str(e).replace("scores.left", "scores.A").replace("scores.right", "scores.B")) from e
    rating = LiveRating(session_id=live.id, rater_id=live.rater_id, comment=as_pair["comment"],
                        preference=side_of(live, preference) if preference in LABELS else preference,
                        scores=[LiveScore(side=side_of(live, label), dimension=d, score=v)
                                for label in LABELS for d, v in scores[label].items()])
    try:
        with session.begin_nested():
            session.add(rating)
    except IntegrityError as e:
        raise LiveError(409, "you have already rated this conversation") from e
    return rating


# ---------------------------------------------------------------- the organiser's export
def crisis_flagged(reply: LiveReply) -> bool:
    """The crisis rule screen failed this reply (only screened in crisis scenarios)."""
    return reply.crisis is not None and not reply.crisis.get("passed", True)


def session_sides(live: LiveSession) -> dict[str, list[LiveReply]]:
    """Side (a/b) -> that model's replies in this session, in turn order."""
    return {side: [r for t in live.turns for r in t.replies if r.side == side] for side in ("a", "b")}


def export_rows(session) -> tuple[list[dict], list[dict], list[dict]]:
    """(scores, votes, turns) of the live sessions, with model identity — admin only. Scores and
    votes have the transcript export's columns (ratings.export_rows), source `live`; a session's
    two sides are its two conversations, and the session is the vote's cluster."""
    scores, votes, turns = [], [], []
    raters = {r.id: r.name for r in session.scalars(select(Rater))}
    for live in session.scalars(select(LiveSession).options(*WHOLE).order_by(LiveSession.id)):
        replies = session_sides(live)
        rating = live.rating
        if rating is not None:
            common = {"rating_id": f"live-{rating.id}", "rater_id": rating.rater_id, "rater": raters[rating.rater_id],
                      "item_id": live.public_id, "item_kind": "live", "position": live.position,
                      "submitted_at": rating.submitted_at, "comment": rating.comment, "source": "live"}
            for score in sorted(rating.scores, key=lambda s: (s.side, s.dimension)):
                mine = replies[score.side]
                scores.append({**common, "conversation_id": f"live-{live.public_id}-{score.side}",
                               "model": model_of(live, score.side), "seed": None, "scenario_id": live.scenario_id,
                               "scenario_type": live.scenario_type,
                               "shown_on": "left" if label_of(live, score.side) == "A" else "right",
                               "dimension": score.dimension, "score": score.score,
                               "turns_redacted": sum(r.error is None and r.shown != r.raw for r in mine),
                               "identity_flagged": any(r.residual for r in mine),
                               "failed_replies": sum(r.error is not None for r in mine),
                               "crisis_flagged": (sum(crisis_flagged(r) for r in mine)
                                                  if live.scenario_type == "crisis" else None)})
            if rating.preference is not None:
                winner = {"a": live.model_a, "b": live.model_b, "tie": "tie"}[rating.preference]
                votes.append({**common, "scenario_id": live.scenario_id, "scenario_type": live.scenario_type,
                              "seed": None, "model_a": live.model_a, "model_b": live.model_b, "winner": winner,
                              "a_on_left": live.a_on_left, "cluster": f"live/{live.public_id}"})
        for turn in live.turns:
            for reply in turn.replies:
                turns.append({"session_id": live.public_id, "rater_id": live.rater_id, "rater": raters[live.rater_id],
                              "scenario_id": live.scenario_id, "scenario_type": live.scenario_type,
                              "turn": turn.number, "side": reply.side, "shown_as": label_of(live, reply.side),
                              "model": model_of(live, reply.side), "client_message": turn.client_text,
                              "reply_raw": reply.raw, "reply_shown": reply.shown, "failed": reply.error is not None,
                              "error": reply.error or "", "first_token_s": reply.first_token_s,
                              "seconds": reply.seconds, "identity_residual": reply.residual,
                              "crisis_checked": reply.crisis is not None, "crisis_flagged": crisis_flagged(reply),
                              "crisis_screen": ", ".join(f"{k}={v}" for k, v in (reply.crisis or {}).items()),
                              "session_status": live.status, "rated": rating is not None})
    return scores, votes, turns


def export_all(session) -> tuple[list[dict], list[dict], list[dict]]:
    """Transcript and live ratings together, each row marked with its `source`: (scores, votes, live turns)."""
    scores, votes = ratings.export_rows(session)
    live_scores, live_votes, turns = export_rows(session)
    return scores + live_scores, votes + live_votes, turns


def overview(session) -> dict:
    """For /admin: sessions, and the replies the organiser should read (failed, crisis screen failed,
    a model name left after redaction)."""
    _, _, turns = export_rows(session)
    sessions = session.scalar(select(func.count(LiveSession.id)))
    rated = session.scalar(select(func.count(LiveRating.id)))
    keep = ("session_id", "turn", "shown_as", "model", "reply_raw", "error", "crisis_screen", "identity_residual")
    return {"sessions": sessions, "rated": rated, "replies": len(turns),
            "failed": [{k: t[k] for k in keep} for t in turns if t["failed"]],
            "crisis_flagged": [{k: t[k] for k in keep} for t in turns if t["crisis_flagged"]],
            "identity_flagged": [{k: t[k] for k in keep} for t in turns if t["identity_residual"]]}
