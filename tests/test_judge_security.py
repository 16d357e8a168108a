"""The rating app's defences, in process (FastAPI's TestClient, a SQLite file): spreadsheet-safe CSV,
admin-token strength, durable commits, CSRF and same-origin checks, bad Unicode, sign-in throttling,
server-side sessions and rater deactivation, and answers kept on a refused form."""
import csv
import io
import logging
import re
import sqlite3

import pytest
from sqlalchemy import text
from fastapi.testclient import TestClient
from support.browser import ADMIN_TOKEN, write_conversations

from mhcompare.judge.web.app import AppSettings, create_app
from mhcompare.judge.store.db import open_database
from mhcompare.judge.store.importing import build_items, conversation_files, import_conversations
from mhcompare.judge.store.ratings import Rules
from mhcompare.judge.rubric import Dimension

BASE = "http://127.0.0.1:8765"
DIMENSIONS = ("professionalism", "empathy", "practicality", "safety")
RUBRIC = tuple(Dimension(k, k, f"{k}?", tuple(f"{i} 分" for i in range(1, 6))) for k in DIMENSIONS)
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def settings_for(url: str, **changes) -> AppSettings:
    settings = {"database_url": url, "rules": Rules("pair", DIMENSIONS, 9, 3, 500), "rubric": RUBRIC,
                "admin_token": ADMIN_TOKEN}
    return AppSettings(**{**settings, **changes})


@pytest.fixture
def database_url(tmp_path) -> str:
    write_conversations(tmp_path / "exp", ["alpha", "beta", "gamma"])
    url = f"sqlite:///{tmp_path / 'ratings.sqlite'}"
    with open_database(url).transaction() as session:
        import_conversations(session, "exp", conversation_files(tmp_path / "exp"))
        build_items(session, "pairwise")
    return url


@pytest.fixture
def app(database_url):
    return create_app(settings_for(database_url))


@pytest.fixture
def client(app):
    with TestClient(app, base_url=BASE, follow_redirects=False) as c:
        yield c


def invite(client, name: str) -> str:
    response = client.post("/api/admin/raters", json={"name": name}, headers=ADMIN)
    assert response.status_code == 201, response.text
    return response.json()["token"]


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]*)"', html)
    return found.group(1) if found else ""


def sign_in(client, token: str, path: str = "/login") -> TestClient:
    """Sign in through the form as a browser would: GET the form (and its CSRF cookie), POST it."""
    form = client.get(path)
    response = client.post(path, data={"token": token, "csrf_token": csrf_of(form.text)})
    assert response.status_code == 303, response.text
    return client


def rating_form(html: str, value: str = "4") -> tuple[str, dict]:
    action = re.search(r'action="(/rate/[^"]+)"', html).group(1)
    form = {f"{side}.{d}": value for side in ("left", "right") for d in DIMENSIONS}
    return action, {**form, "csrf_token": csrf_of(html)}


# ---------------------------------------------------------------- 2. CSV export
def test_csv_export_neutralises_formulas_and_starts_with_a_bom(client):
    cells = ["=HYPERLINK(\"http://x\",\"y\")", "+1+2", "-3+4", "@SUM(A1)", "\tsep", "\rcr"]
    for cell in cells:
        token = invite(client, cell.strip() or "x")
        item = client.get("/api/next", headers={"Authorization": f"Bearer {token}"}).json()["item"]
        body = {"assignment_id": item["assignment_id"], "comment": cell,
                "scores": {s: dict.fromkeys(DIMENSIONS, 3) for s in ("left", "right")}}
        assert client.post("/api/ratings", json=body, headers={"Authorization": f"Bearer {token}"}).status_code == 201
    response = client.get("/api/admin/export.csv", headers=ADMIN)
    assert response.content.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM: Excel reads the Chinese right
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))
    assert {r["comment"] for r in rows} == {"'" + c for c in cells}
    assert {r["rater"] for r in rows} == {"'" + c for c in cells[:4]} | {"sep", "cr"}
    assert all(r["score"] == "3" for r in rows)  # numbers are left as they are


# ---------------------------------------------------------------- 3. admin token
@pytest.mark.parametrize("token", ["aaaaaaaaaaaaaaaa", "a" * 40, "ab" * 20, "abcdefgh" * 5, "short-but-random-Xy7"])
def test_weak_admin_tokens_are_refused(database_url, token):
    from mhcompare.judge.security import admin_token_problem

    assert admin_token_problem(token)
    with pytest.raises(ValueError, match="admin token"):
        create_app(settings_for(database_url, admin_token=token))


def test_random_admin_tokens_are_accepted():
    import secrets

    from mhcompare.judge.security import admin_token_problem

    assert admin_token_problem(secrets.token_urlsafe(32)) is None
    assert admin_token_problem(secrets.token_hex(16)) is None  # 128 bits in 32 hex digits
    assert admin_token_problem(ADMIN_TOKEN) is None


def test_a_generated_admin_token_goes_to_the_console_only(monkeypatch, caplog, capsys):
    from omegaconf import OmegaConf

    from mhcompare.stages.judge_app import admin_token

    def admin_token_problem(token):  # on its own: this test must also run where security.py is missing
        return None if len(token) >= 32 and len(set(token)) >= 10 else "weak"

    monkeypatch.delenv("MHC_JUDGE_ADMIN_TOKEN", raising=False)
    cfg = OmegaConf.create({"judge": {"app": {"admin_token_env": "MHC_JUDGE_ADMIN_TOKEN"}}})
    with caplog.at_level(logging.DEBUG):
        token = admin_token(cfg)
    assert len(token) >= 43 and admin_token_problem(token) is None  # secrets.token_urlsafe(32): 256 bits
    assert token in capsys.readouterr().err
    assert token not in caplog.text  # so not in the Hydra job log either


def test_a_weak_configured_admin_token_stops_the_stage_with_a_clear_message(monkeypatch):
    from omegaconf import OmegaConf

    from mhcompare.errors import UserError
    from mhcompare.stages.judge_app import admin_token

    monkeypatch.setenv("MHC_JUDGE_ADMIN_TOKEN", "aaaaaaaaaaaaaaaa")
    cfg = OmegaConf.create({"judge": {"app": {"admin_token_env": "MHC_JUDGE_ADMIN_TOKEN"}}})
    with pytest.raises(UserError, match="MHC_JUDGE_ADMIN_TOKEN: the admin token has 16 characters"):
        admin_token(cfg)


# ---------------------------------------------------------------- 4. durability
def test_commits_are_fsynced(app):
    with app.database.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


# ---------------------------------------------------------------- 5. CSRF
def test_a_cross_origin_sign_in_is_refused(client):
    token = invite(client, "victim")
    csrf = csrf_of(client.get("/login").text)
    for origin in ("http://127.0.0.1:9999", "http://evil.example", "null"):
        response = client.post("/login", data={"token": token, "csrf_token": csrf}, headers={"Origin": origin})
        assert response.status_code == 403, origin
    referer = client.post("/login", data={"token": token, "csrf_token": csrf},
                          headers={"Referer": "http://127.0.0.1:9999/attack.html"})
    assert referer.status_code == 403
    assert client.post("/login", data={"token": token}).status_code == 403  # no CSRF token at all
    same_site = client.post("/login", data={"token": token, "csrf_token": csrf}, headers={"Origin": BASE})
    assert same_site.status_code == 303


def test_a_forged_rating_is_refused(client):
    sign_in(client, invite(client, "rater"))
    action, form = rating_form(client.get("/rate").text)
    assert client.post(action, data=form, headers={"Origin": "http://127.0.0.1:9999"}).status_code == 403
    assert client.post(action, data={**form, "csrf_token": "guess"}).status_code == 403
    assert client.post(action, data={k: v for k, v in form.items() if k != "csrf_token"}).status_code == 403
    item = action.rsplit("/", 1)[1]
    body = {"assignment_id": item, "scores": {s: dict.fromkeys(DIMENSIONS, 1) for s in ("left", "right")}}
    assert client.post("/api/ratings", json=body).status_code == 403  # cookie, but no X-CSRF-Token
    assert client.get("/api/progress").json()["done"] == 0
    assert client.post("/api/ratings", json=body, headers={"X-CSRF-Token": form["csrf_token"]}).status_code == 201


def test_an_admin_invite_from_another_port_is_refused(client):
    sign_in(client, ADMIN_TOKEN, "/admin/login")
    csrf = csrf_of(client.get("/admin").text)
    forged = client.post("/admin/raters", data={"name": "intruder", "csrf_token": csrf},
                         headers={"Origin": "http://127.0.0.1:9999"})
    assert forged.status_code == 403
    assert client.post("/admin/raters", data={"name": "intruder"}).status_code == 403
    assert client.post("/api/admin/raters", json={"name": "intruder"}).status_code == 403
    assert "intruder" not in str(client.get("/api/admin/raters", headers=ADMIN).json())
    assert client.post("/admin/raters", data={"name": "welcome", "csrf_token": csrf}).status_code == 200


# ---------------------------------------------------------------- 6. bad Unicode
@pytest.mark.parametrize("body", [
    '{"assignment_id": "\\ud800", "scores": {}}',
    '{"assignment_id": "x", "comment": "ok \\udfff", "scores": {"left": {}, "right": {}}}',
    '{"assignment_id": "x", "scores": {"\\ud800": {"empathy": 3}}}',
])
def test_a_lone_surrogate_is_a_clear_400(client, body):
    token = invite(client, "unicode")
    response = client.post("/api/ratings", content=body,
                           headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    assert response.status_code == 400 and "surrogate" in response.json()["detail"]
    invite_body = client.post("/api/admin/raters", content='{"name": "\\ud800"}',
                              headers={**ADMIN, "Content-Type": "application/json"})
    assert invite_body.status_code == 400


# ---------------------------------------------------------------- 7. throttling
def test_failed_sign_ins_are_throttled_and_logged_without_the_token(client, caplog):
    token = invite(client, "patient")
    csrf = csrf_of(client.get("/login").text)
    with caplog.at_level(logging.WARNING, logger="mhcompare.judge.store.sign_ins"):
        for i in range(10):
            assert client.post("/login", data={"token": f"guess-{i}", "csrf_token": csrf}).status_code == 401
        refused = client.post("/login", data={"token": "guess-10", "csrf_token": csrf})
        api = client.get("/api/next", headers={"Authorization": "Bearer another-guess"})
    assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= 60
    assert api.status_code == 429 and "Retry-After" in api.headers
    failures = [r.getMessage() for r in caplog.records if "failed sign-in" in r.getMessage()]
    assert len(failures) == 10 and all("/login" in m for m in failures)
    assert not any("guess" in m or token in m for m in failures)


def test_a_guesser_at_the_same_address_locks_out_neither_raters_nor_the_admin(app, client):
    """Issue #27: ten wrong tokens used to make the next valid rater's sign-in and the admin's 429."""
    token = invite(client, "behind-the-same-proxy")
    csrf = csrf_of(client.get("/login").text)
    for i in range(12):
        client.post("/login", data={"token": f"guess-{i}", "csrf_token": csrf})
    assert client.post("/login", data={"token": "guess-99", "csrf_token": csrf}).status_code == 429
    assert client.post("/login", data={"token": token, "csrf_token": csrf}).status_code == 303
    assert client.get("/api/progress", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client.get("/api/admin/raters", headers=ADMIN).status_code == 200
    with TestClient(app, base_url=BASE, follow_redirects=False) as organiser:  # same address, own browser
        admin_csrf = csrf_of(organiser.get("/admin/login").text)
        assert organiser.post("/admin/login", data={"token": "wrong", "csrf_token": admin_csrf}).status_code == 401
        assert organiser.post("/admin/login", data={"token": ADMIN_TOKEN, "csrf_token": admin_csrf}).status_code == 303


def test_the_same_wrong_token_is_throttled_from_any_address(database_url):
    app = create_app(settings_for(database_url, trusted_proxies=("testclient",)))
    with TestClient(app, base_url=BASE, follow_redirects=False) as client:
        for i in range(10):
            answer = client.get("/api/next", headers={"Authorization": "Bearer stale-token",
                                                      "X-Forwarded-For": f"10.0.0.{i}"})
            assert answer.status_code == 401
        again = client.get("/api/next", headers={"Authorization": "Bearer stale-token", "X-Forwarded-For": "10.0.1.1"})
        other = client.get("/api/next", headers={"Authorization": "Bearer typo", "X-Forwarded-For": "10.0.1.1"})
    assert again.status_code == 429 and other.status_code == 401


@pytest.mark.parametrize("trusted", [(), ("testclient",)])
def test_a_forwarded_address_is_believed_only_from_a_trusted_proxy(database_url, trusted):
    app = create_app(settings_for(database_url, trusted_proxies=trusted))
    with TestClient(app, base_url=BASE, follow_redirects=False) as client:
        for i in range(10):  # a guesser who writes a new X-Forwarded-For each time
            client.get("/api/next", headers={"Authorization": f"Bearer guess-{i}", "X-Forwarded-For": f"10.9.9.{i}"})
        guesser = client.get("/api/next", headers={"Authorization": "Bearer guess-x", "X-Forwarded-For": "10.9.9.1"})
        for i in range(10):  # behind a trusted proxy, each forwarded client is counted apart
            client.get("/api/next", headers={"Authorization": f"Bearer g{i}", "X-Forwarded-For": "10.0.0.9"})
        someone_else = client.get("/api/next", headers={"Authorization": "Bearer typo",
                                                        "X-Forwarded-For": "10.0.0.5"})
    assert guesser.status_code == (401 if trusted else 429)  # untrusted: the header is ignored
    assert someone_else.status_code == (401 if trusted else 429)


def test_client_address_takes_the_last_untrusted_hop():
    from mhcompare.judge.security import client_address

    proxies = frozenset({"127.0.0.1", "10.1.1.1"})
    assert client_address("127.0.0.1", "203.0.113.7, 10.1.1.1", proxies) == "203.0.113.7"
    assert client_address("127.0.0.1", "1.2.3.4, 203.0.113.7", proxies) == "203.0.113.7"  # the first is forgeable
    assert client_address("198.51.100.2", "203.0.113.7", proxies) == "198.51.100.2"  # not from a proxy
    assert client_address(None, None, proxies) == "unknown"


def test_failures_counted_by_one_app_count_in_another_on_the_same_database(database_url):
    """Issue #27: each worker process kept its own counts, so N workers on one database gave an
    address N x the limit. Two app instances here stand for two workers."""
    apps = create_app(settings_for(database_url)), create_app(settings_for(database_url))
    with TestClient(apps[0], base_url=BASE) as one, TestClient(apps[1], base_url=BASE) as two:
        for i in range(10):  # 5 guesses at each
            answer = (one, two)[i % 2].get("/api/next", headers={"Authorization": f"Bearer guess-{i}"})
            assert answer.status_code == 401
        refused = [c.get("/api/next", headers={"Authorization": "Bearer guess-x"}) for c in (one, two)]
    assert [r.status_code for r in refused] == [429, 429]
    assert all(0 < int(r.headers["Retry-After"]) <= 60 for r in refused)
    with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
        counted = [row[0] for row in db.execute("SELECT counted FROM failed_sign_ins")]
    assert len(counted) == 20 and sum(c == "rater address:testclient" for c in counted) == 10
    assert not any("guess" in c for c in counted)  # the tokens' digests only


def test_the_throttle_forgets_after_its_window(database_url):
    from mhcompare.judge.store.sign_ins import SignInThrottle

    now = [1000.0]
    database = open_database(database_url)
    throttle = SignInThrottle(database, "rater", limit=3, window_s=60, clock=lambda: now[0])
    for _ in range(3):
        assert throttle.count_failure("10.0.0.1", "/login") == 0
    now[0] = 1030.0
    assert throttle.count_failure("10.0.0.1", "/login") == 30 and throttle.count_failure("10.0.0.2", "/login") == 0
    now[0] = 1061.0
    assert throttle.count_failure("10.0.0.1", "/login") == 0
    with database.transaction() as session:  # the first failures, a window old, are gone
        rows = session.execute(text("SELECT counted, at FROM failed_sign_ins ORDER BY at")).all()
    assert rows == [("rater address:10.0.0.2", 1030.0), ("rater address:10.0.0.1", 1061.0)]


# ---------------------------------------------------------------- 8. sessions
def test_the_cookie_holds_a_session_id_not_the_token(client, database_url):
    token = invite(client, "cookie")
    sign_in(client, token)
    cookie = client.cookies.get("mhc_rater")
    assert cookie and token not in cookie
    path = database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        stored = [row[0] for row in db.execute("SELECT id_hash FROM sessions")]
    assert cookie not in stored and len(stored) == 1  # only its hash


def test_logout_ends_the_session_server_side(client):
    sign_in(client, invite(client, "leaver"))
    cookie = client.cookies.get("mhc_rater")
    page = client.get("/rate")
    assert client.post("/logout", data={"csrf_token": csrf_of(page.text)}).status_code == 303
    client.cookies.set("mhc_rater", cookie)  # a copy of the cookie kept from before
    assert client.get("/rate").headers["location"] == "/login"
    assert client.get("/api/progress").status_code == 401


def test_admin_logout(client):
    sign_in(client, ADMIN_TOKEN, "/admin/login")
    cookie = client.cookies.get("mhc_admin")
    csrf = csrf_of(client.get("/admin").text)
    assert client.post("/admin/logout", data={"csrf_token": csrf}).headers["location"] == "/admin/login"
    client.cookies.set("mhc_admin", cookie)
    assert client.get("/admin").headers["location"] == "/admin/login"


def test_deactivating_a_rater_ends_their_sessions_and_their_token(app):
    with TestClient(app, base_url=BASE, follow_redirects=False) as admin, \
            TestClient(app, base_url=BASE, follow_redirects=False) as rater:
        token = invite(admin, "departing")
        sign_in(rater, token)
        assert rater.get("/rate").status_code == 200
        rater_id = next(r["id"] for r in admin.get("/api/admin/raters", headers=ADMIN).json()["raters"]
                        if r["name"] == "departing")
        response = admin.post(f"/api/admin/raters/{rater_id}/deactivate", headers=ADMIN)
        assert response.json() == {"rater_id": rater_id, "active": False, "sessions_ended": 1,
                                   "live_streams_stopped": 0}
        assert rater.get("/rate").headers["location"] == "/login"
        assert rater.get("/api/next", headers={"Authorization": f"Bearer {token}"}).status_code == 401
        csrf = csrf_of(rater.get("/login").text)
        assert rater.post("/login", data={"token": token, "csrf_token": csrf}).status_code == 401
        assert admin.post("/api/admin/raters/999/deactivate", headers=ADMIN).status_code == 404
        listed = {r["name"]: r["active"] for r in admin.get("/api/admin/raters", headers=ADMIN).json()["raters"]}
        assert listed["departing"] is False
        undone = admin.post(f"/api/admin/raters/{rater_id}/reactivate", headers=ADMIN)
        assert undone.json() == {"rater_id": rater_id, "active": True}
        assert rater.get("/api/next", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_the_admin_page_asks_before_deactivating_and_can_undo_it(client):
    """Issue #27: the button used to deactivate at once, with no way back."""
    token = invite(client, "page-departing")
    sign_in(client, ADMIN_TOKEN, "/admin/login")
    page = client.get("/admin").text
    assert not re.search(r'action="/admin/raters/\d+/deactivate"', page)  # no one-click deactivation
    ask = re.search(r'href="(/admin/raters/\d+/deactivate)"', page).group(1)
    confirm = client.get(ask).text
    assert "page-departing" in confirm and "确认停用" in confirm and "恢复" in confirm
    action = re.search(r'action="(/admin/raters/\d+/deactivate)"', confirm).group(1)
    assert client.post(action, data={"csrf_token": csrf_of(confirm)}).headers["location"] == "/admin"
    page = client.get("/admin").text
    assert "已停用" in page
    assert client.get("/api/progress", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    undo = re.search(r'action="(/admin/raters/\d+/reactivate)"', page).group(1)
    assert client.post(undo, data={"csrf_token": csrf_of(page)}).headers["location"] == "/admin"
    assert "已停用" not in client.get("/admin").text
    assert client.get("/api/progress", headers={"Authorization": f"Bearer {token}"}).status_code == 200


# ---------------------------------------------------------------- 9. refused forms keep their answers
def test_a_refused_form_comes_back_with_the_answers_given(client):
    sign_in(client, invite(client, "half-done"))
    action, form = rating_form(client.get("/rate").text, value="2")
    partial = {k: v for k, v in form.items() if not k.endswith("safety")}
    refused = client.post(action, data={**partial, "preference": "right", "comment": "还没想好"})
    assert refused.status_code == 422
    checked = set(re.findall(r'name="([^"]+)" value="([^"]+)" required checked', refused.text))
    assert checked == {(k, "2") for k in partial if k != "csrf_token"}
    assert re.search(r'name="preference" value="right" checked', refused.text)
    assert "还没想好</textarea>" in refused.text


def test_pages_allow_only_our_own_script(client):
    csp = client.get("/login").headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert client.get("/static/draft.js").status_code == 200
