"""What redaction did, per conversation and per model: the organiser and the analysis can see how
much of each model's text was changed before raters saw it, and which conversations still seem to
carry a model's identity (to read before rating starts, or to drop).

Recomputed at every app start, so it always describes the redaction rules the app is running with.
"""
from collections import defaultdict

from sqlalchemy import delete, select

from mhcompare.judge.store.db import Blinding, Conversation
from mhcompare.judge.redaction import Redactor


def audit(session, redactor: Redactor) -> None:
    """Redact every conversation once; store turns changed and names left over."""
    session.execute(delete(Blinding))
    for conversation in session.scalars(select(Conversation)):
        texts = [t["content"] for t in conversation.turns]
        redacted = [redactor(t) for t in texts]
        residual = sorted({name for t in redacted for name in redactor.residual_identity(t)})
        session.add(Blinding(conversation_id=conversation.id, turns=len(texts),
                             turns_redacted=sum(a != b for a, b in zip(texts, redacted, strict=True)),
                             residual=",".join(residual)))
    session.flush()


def per_conversation(session) -> dict[int, Blinding]:
    """Conversation primary key -> its audit row."""
    return {b.conversation_id: b for b in session.scalars(select(Blinding))}


def summary(session) -> dict:
    """Per model: conversations, turns, turns redacted, conversations flagged; and the flagged ones."""
    models = defaultdict(lambda: {"conversations": 0, "turns": 0, "turns_redacted": 0, "flagged": 0})
    flagged = []
    rows = session.execute(select(Conversation.conversation_id, Conversation.model, Blinding)
                           .join(Blinding, Blinding.conversation_id == Conversation.id)
                           .order_by(Conversation.model, Conversation.conversation_id)).all()
    for conversation_id, model, b in rows:
        counts = models[model]
        counts["conversations"] += 1
        counts["turns"] += b.turns
        counts["turns_redacted"] += b.turns_redacted
        if b.residual:
            counts["flagged"] += 1
            flagged.append({"conversation_id": conversation_id, "model": model, "names": b.residual.split(",")})
    return {"models": [{"model": m, **c} for m, c in sorted(models.items())], "flagged": flagged}
