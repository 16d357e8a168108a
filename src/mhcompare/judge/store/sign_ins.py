"""Failed sign-ins, counted in the study's database (table `failed_sign_ins`), so that every app
worker and every app instance on one database sees the same counts: with judge.app.workers > 1
(PostgreSQL) counts kept in each process gave an address workers x the limit.

The throttle is asked only once a token has opened nothing. A valid token never reaches it, so a
successful sign-in costs no database write, and a rater or the organiser behind the same reverse
proxy as a guesser still gets in.
"""
import logging
import math
import time

from mhcompare.judge.security import digest
from mhcompare.judge.store import sql

log = logging.getLogger(__name__)

FORGET = "DELETE FROM failed_sign_ins WHERE at <= :since"
# the `limit` most recent failures of one address or token: once the oldest of them leaves the
# window, fewer than `limit` remain and the next try is checked again
RECENT = "SELECT at FROM failed_sign_ins WHERE counted = :counted AND at > :since ORDER BY at DESC LIMIT :limit"
COUNT = "INSERT INTO failed_sign_ins (counted, at) VALUES (:counted, :at)"
MAX_ADDRESS_CHARS = 150  # a forwarded address is text a client wrote (db.FailedSignIn.counted holds 200)


class SignInThrottle:
    """Failed sign-ins, counted per client address and per token tried, over `window_s` seconds.

    An address past `limit` failures has every further wrong token refused (429, Retry-After), and
    so has a token that failed `limit` times from anywhere; but a valid token is never refused:
    invitation tokens carry 256 random bits and the admin's at least 128, so a guess cannot be one.
    `who` keeps counts apart: the organiser's sign-ins ("admin") are counted apart from raters'
    ("rater"), so raters' mistakes cannot lock the admin out. Only the token's digest is stored.
    Rows older than the window are deleted at the next failure. (On PostgreSQL, workers counting
    failures at the same instant can each let one more through: the limit holds to within the
    number of requests in flight.)"""

    def __init__(self, database, who: str, limit: int = 10, window_s: float = 60.0, clock=time.time):
        self.database, self.who, self.limit, self.window_s, self.clock = database, who, limit, window_s, clock

    def keys(self, address: str, token: str | None) -> list[str]:
        address_key = f"{self.who} address:{address[:MAX_ADDRESS_CHARS]}"
        return [address_key] + ([f"{self.who} token:{digest(token)}"] if token else [])

    def count_failure(self, address: str, where: str, token: str | None = None) -> int:
        """A token that opened nothing, tried from `address` on `where`. Returns the seconds before
        this address (or this very token) may try again, when either has failed `limit` times in
        the window; nothing is counted then. Else returns 0, having counted the failure and logged
        it: where and from whom, never the token."""
        now = self.clock()
        since = now - self.window_s
        with self.database.plain_transaction() as tx:
            sql.execute(tx, FORGET, since=since)
            recent = {key: [at for (at,) in sql.all_rows(tx, RECENT, counted=key, since=since, limit=self.limit)]
                      for key in self.keys(address, token)}
            waits = [math.ceil(times[-1] + self.window_s - now)
                     for times in recent.values() if len(times) >= self.limit]
            if waits:
                return max(1, *waits)
            for key in recent:
                sql.execute(tx, COUNT, counted=key, at=now)
        from_address = len(next(iter(recent.values()))) + 1
        log.warning("judge_app: failed sign-in from %s on %s (%d in the last %.0f s)", address, where, from_address,
                    self.window_s)
        return 0
