"""The rating app's defences that are not about ratings: admin-token strength, who is signing in
(store/sign_ins.py counts the failed sign-ins), cross-site request forgery (Origin/Referer check
and per-session tokens), text the databases cannot store, and safe CSV cells.

Raters and the organiser sign in from a browser, so any other site they visit could make their
browser post to the app with their cookie. SameSite=Strict cookies stop that in current browsers;
the checks here make it hold without relying on the browser alone: a state-changing request from
another origin (scheme, host or port) is refused, and one carrying a session cookie must also carry
that session's CSRF token, which another site cannot read.
"""
import hashlib
import hmac
import logging
import math
import secrets
from urllib.parse import urlsplit

from starlette.responses import JSONResponse

log = logging.getLogger(__name__)

MIN_ADMIN_TOKEN_CHARS = 32
MIN_ADMIN_TOKEN_BITS = 128
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def new_secret() -> str:
    """256 random bits, URL-safe: session ids, CSRF tokens, generated admin tokens."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """What the database keeps of a token or session id (they are random, so plain SHA-256 is enough)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def same_secret(given: str | None, expected: str | None) -> bool:
    return bool(given) and bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


# ---- the admin token ---------------------------------------------------------------------------
MIN_DISTINCT_CHARS = 10
CHARACTER_CLASSES = ((str.islower, 26), (str.isupper, 26), (str.isdigit, 10))


def apparent_bits(token: str) -> float:
    """A generous estimate of a token's entropy: length x log2(size of the character classes it uses:
    lower case, upper case, digits, other printable). Right for random tokens; human-chosen ones score
    too high, which is why repetition is checked separately."""
    alphabet = sum(size for test, size in CHARACTER_CLASSES if any(test(c) and c.isascii() for c in token))
    alphabet += 32 if any(not (c.isascii() and c.isalnum()) for c in token) else 0
    return len(token) * math.log2(alphabet) if alphabet else 0.0


def admin_token_problem(token: str) -> str | None:
    """Why `token` is too weak to guard every rater's data, or None when it is acceptable."""
    advice = "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
    if len(token) < MIN_ADMIN_TOKEN_CHARS:
        return f"the admin token has {len(token)} characters; use at least {MIN_ADMIN_TOKEN_CHARS} ({advice})"
    if len(set(token)) < MIN_DISTINCT_CHARS:
        return (f"the admin token repeats a few characters ({len(set(token))} different ones); "
                f"use a random one ({advice})")
    if apparent_bits(token) < MIN_ADMIN_TOKEN_BITS:
        return (f"the admin token carries at most {apparent_bits(token):.0f} bits; "
                f"use {MIN_ADMIN_TOKEN_BITS} or more ({advice})")
    return None


# ---- who is signing in -------------------------------------------------------------------------
def client_address(peer: str | None, forwarded_for: str | None, trusted_proxies: frozenset) -> str:
    """Who is signing in: the connection's peer, or, only when that peer is a configured trusted
    proxy, the last address in X-Forwarded-For that is not itself a trusted proxy (anyone can write
    that header, so it is believed only from a proxy the organiser named)."""
    address = peer or "unknown"
    if address not in trusted_proxies or not forwarded_for:
        return address
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        if hop not in trusted_proxies:
            return hop
    return address


# ---- cross-site requests ---------------------------------------------------------------------------
def cross_origin(headers: dict) -> str | None:
    """Why a state-changing request is from another site, or None. The browser's Origin (or, without
    it, Referer) must name this host and port, i.e. the Host header. Requests with neither (curl,
    scripts) pass here; they still need a bearer token, or a cookie and its CSRF token."""
    host = headers.get("host", "")
    origin = headers.get("origin")
    if origin is not None:
        return None if origin != "null" and urlsplit(origin).netloc == host else f"Origin {origin!r} is not {host}"
    referer = headers.get("referer")
    if referer:
        return None if urlsplit(referer).netloc == host else f"Referer from another site than {host}"
    return None


def same_origin_only(app):
    """Refuse (403) state-changing requests that a browser says come from another origin."""

    async def guarded(scope, receive, send):
        if scope["type"] == "http" and scope["method"] in UNSAFE_METHODS:
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            problem = cross_origin(headers)
            if problem:
                log.warning("judge_app: refused a cross-site %s %s (%s)", scope["method"], scope["path"], problem)
                response = JSONResponse({"detail": f"cross-site request refused: {problem}"}, status_code=403)
                return await response(scope, receive, send)
        return await app(scope, receive, send)

    return guarded


# ---- text the databases cannot store ------------------------------------------------------------------
UNSTORABLE_TEXT = ("the request contains text that cannot be stored: a NUL character (\\u0000, %00) or a lone "
                   "UTF-16 surrogate (such as \\ud800), which is not valid Unicode text; send plain UTF-8 text")


class UnstorableText(ValueError):
    """A request carrying text no database here can take (the app answers 400 with UNSTORABLE_TEXT)."""


def unstorable(value) -> bool:
    """True if any string in the value (dict keys included) holds a NUL character, which PostgreSQL's
    text cannot hold (its driver then fails the request), or an unpaired surrogate, which JSON's
    \\ud800 escapes allow but UTF-8 cannot carry."""
    if isinstance(value, str):
        return "\x00" in value or any("\ud800" <= ch <= "\udfff" for ch in value)
    if isinstance(value, dict):
        return any(unstorable(k) or unstorable(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(unstorable(v) for v in value)
    return False


def storable(text: str | None) -> str | None:
    """Text from elsewhere (a model's reply), made storable: NUL characters dropped, lone surrogates
    replaced by U+FFFD."""
    if text is None or not unstorable(text):
        return text
    return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text.replace("\x00", ""))


def check_storable(*values) -> None:
    """Raise UnstorableText if any of the values (a form's fields) is unstorable(); JSON bodies are
    checked by app.JsonIn, paths and query strings by storable_urls_only."""
    if unstorable(values):
        raise UnstorableText(UNSTORABLE_TEXT)


def storable_urls_only(app):
    """Refuse (400) a request whose path or query string carries a NUL (%00): every path parameter
    (an item's or session's id) then reaches the database as storable text."""

    async def guarded(scope, receive, send):
        if scope["type"] == "http" and ("\x00" in scope["path"] or b"%00" in scope.get("query_string", b"")):
            response = JSONResponse({"detail": UNSTORABLE_TEXT}, status_code=400)
            return await response(scope, receive, send)
        return await app(scope, receive, send)

    return guarded


# ---- CSV for spreadsheets ----------------------------------------------------------------------------
def spreadsheet_safe(value):
    """A text cell a spreadsheet would run as a formula (=, +, -, @, tab, CR first) gets a leading
    single quote (OWASP's advice), so it is shown, not evaluated. Numbers cannot carry a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
