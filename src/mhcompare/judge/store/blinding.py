"""What redaction did, per conversation and per model: the organiser and the analysis can see how
much of each model's text was changed before raters saw it, which conversations still seem to
carry a model's identity (to read on /admin), and which are held back from raters because a model
turn could not be blinded with confidence (no item with one of them is given out, as Chatbot Arena
drops votes where a model revealed itself).

Recomputed at every app start, so it always describes the redaction rules the app is running with.
"""
from collections import defaultdict

from sqlalchemy import delete, select

from mhcompare.judge.store.db import Blinding, Conversation
from mhcompare.judge.redaction import Redactor


def audit(session, redactor: Redactor) -> None:
    """Blind every conversation once (model turns only); store turns changed, names left over, and
    whether it is held back."""
    session.execute(delete(Blinding))
    for conversation in session.scalars(select(Conversation)):
        blinded = redactor.blind(conversation.turns)
        session.add(Blinding(conversation_id=conversation.id, turns=len(conversation.turns),
                             turns_redacted=blinded.turns_redacted,
                             residual=",".join(sorted({f.name for f in blinded.findings})),
                             held_back=blinded.held_back))
    session.flush()


def flagged_conversation(session, redactor: Redactor, conversation_id: str) -> dict | None:
    """One conversation as the organiser reads it: each turn as written and as raters see it, with
    what the after-check found in it; None when there is no such conversation."""
    conversation = session.scalars(select(Conversation).where(Conversation.conversation_id == conversation_id)).first()
    if conversation is None:
        return None
    blinded = redactor.blind(conversation.turns)
    turns = []
    for raw, shown in zip(conversation.turns, blinded.turns, strict=True):
        findings = redactor.check(shown["content"]) if raw["role"] != "client" else []
        turns.append({"role": raw["role"], "raw": raw["content"], "shown": shown["content"],
                      "findings": [f"{f.name}（{f.how}{'，暂不评分' if f.hold else ''}）" for f in findings]})
    return {"conversation_id": conversation.conversation_id, "model": conversation.model,
            "held_back": blinded.held_back, "turns": turns}


def per_conversation(session) -> dict[int, Blinding]:
    """Conversation primary key -> its audit row."""
    return {b.conversation_id: b for b in session.scalars(select(Blinding))}


def summary(session) -> dict:
    """Per model: conversations, turns, turns redacted, conversations flagged and held back from
    raters; and the flagged ones."""
    models = defaultdict(lambda: {"conversations": 0, "turns": 0, "turns_redacted": 0, "flagged": 0, "held_back": 0})
    flagged = []
    rows = session.execute(select(Conversation.conversation_id, Conversation.model, Blinding)
                           .join(Blinding, Blinding.conversation_id == Conversation.id)
                           .order_by(Conversation.model, Conversation.conversation_id)).all()
    for conversation_id, model, b in rows:
        counts = models[model]
        counts["conversations"] += 1
        counts["turns"] += b.turns
        counts["turns_redacted"] += b.turns_redacted
        counts["held_back"] += bool(b.held_back)
        if b.residual:
            counts["flagged"] += 1
            flagged.append({"conversation_id": conversation_id, "model": model, "names": b.residual.split(","),
                            "held_back": bool(b.held_back)})
    return {"models": [{"model": m, **c} for m, c in sorted(models.items())], "flagged": flagged}
