"""Server-side sign-in sessions for the rating app's browser pages.

The cookie holds only a random session id; the `sessions` table holds its hash, who it belongs to
(a rater, or the organiser), a CSRF token and an expiry. So signing out really signs out (the row
is deleted, a copied cookie stops working), an invitation token never sits in a cookie, and
deactivating a rater ends every browser they are signed in on. Scripts keep using
`Authorization: Bearer <token>` and need no session.
"""
import time
from dataclasses import dataclass

from sqlalchemy import delete

from mhcompare.judge.store import sql
from mhcompare.judge.store.db import LoginSession
from mhcompare.judge.store.ratings import RaterRow
from mhcompare.judge.security import digest, new_secret

# every request of a signed-in browser runs these: plain SQL (sql.py), no ORM objects
SESSION = "SELECT rater_id, csrf, expires_at FROM sessions WHERE id_hash = :id_hash"
ACTIVE_RATER = "SELECT id, name FROM raters WHERE id = :rater AND active"


@dataclass(frozen=True)
class SessionRow:
    rater_id: int | None  # None: the organiser
    csrf: str
    expires_at: float

RATER_SESSION_S = 7 * 24 * 3600   # a rater may spread the work over a week without signing in again
ADMIN_SESSION_S = 12 * 3600


def start(session, rater: RaterRow | None, lifetime_s: float) -> tuple[str, LoginSession]:
    """A new session for `rater` (None: the organiser); returns the id for the cookie, and the row."""
    session_id = new_secret()
    row = LoginSession(id_hash=digest(session_id), rater_id=rater.id if rater else None, csrf=new_secret(),
                       expires_at=time.time() + lifetime_s)
    session.add(row)
    session.flush()
    return session_id, row


def find(tx, session_id: str | None, admin: bool) -> SessionRow | None:
    """The live session behind a cookie, of the kind asked for; an expired one is deleted on sight."""
    if not session_id:
        return None
    found = sql.one(tx, SESSION, id_hash=digest(session_id))
    row = SessionRow(*found) if found else None
    if row is None or (row.rater_id is None) != admin:
        return None
    if row.expires_at < time.time():
        end(tx, session_id)
        return None
    return row


def rater_of(tx, row: SessionRow) -> RaterRow | None:
    """The session's rater, if still active."""
    found = sql.one(tx, ACTIVE_RATER, rater=row.rater_id)
    return RaterRow(*found) if found else None


def end(tx, session_id: str | None) -> None:
    if session_id:
        sql.execute(tx, "DELETE FROM sessions WHERE id_hash = :id_hash", id_hash=digest(session_id))


def end_all_of(session, rater_id: int) -> int:
    """Sign a rater out everywhere; returns how many sessions ended."""
    return session.execute(delete(LoginSession).where(LoginSession.rater_id == rater_id)).rowcount
