"""Server-side sign-in sessions for the rating app's browser pages.

The cookie holds only a random session id; the `sessions` table holds its hash, who it belongs to
(a rater, or the organiser), a CSRF token and an expiry. So signing out really signs out (the row
is deleted, a copied cookie stops working), an invitation token never sits in a cookie, and
deactivating a rater ends every browser they are signed in on. Scripts keep using
`Authorization: Bearer <token>` and need no session.
"""
import time

from sqlalchemy import delete, select

from mhcompare.judge.db import LoginSession, Rater
from mhcompare.judge.security import digest, new_secret

RATER_SESSION_S = 7 * 24 * 3600   # a rater may spread the work over a week without signing in again
ADMIN_SESSION_S = 12 * 3600


def start(session, rater: Rater | None, lifetime_s: float) -> tuple[str, LoginSession]:
    """A new session for `rater` (None: the organiser); returns the id for the cookie, and the row."""
    session_id = new_secret()
    row = LoginSession(id_hash=digest(session_id), rater_id=rater.id if rater else None, csrf=new_secret(),
                       expires_at=time.time() + lifetime_s)
    session.add(row)
    session.flush()
    return session_id, row


def find(session, session_id: str | None, admin: bool) -> LoginSession | None:
    """The live session behind a cookie, of the kind asked for; an expired one is deleted on sight."""
    if not session_id:
        return None
    row = session.get(LoginSession, digest(session_id))
    if row is None or (row.rater_id is None) != admin:
        return None
    if row.expires_at < time.time():
        session.delete(row)
        return None
    return row


def rater_of(session, row: LoginSession) -> Rater | None:
    """The session's rater, if still active."""
    return session.scalar(select(Rater).where(Rater.id == row.rater_id, Rater.active.is_(True)))


def end(session, session_id: str | None) -> None:
    if session_id:
        session.execute(delete(LoginSession).where(LoginSession.id_hash == digest(session_id)))


def end_all_of(session, rater_id: int) -> int:
    """Sign a rater out everywhere; returns how many sessions ended."""
    return session.execute(delete(LoginSession).where(LoginSession.rater_id == rater_id)).rowcount
