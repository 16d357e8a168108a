"""The rating app's JSON API and pages against a real server (`run.py stage=judge_app`, SQLite):
authentication, bad input, replays, escaping, body limits, blinding, assignment."""
import json
import re
from collections import Counter

import httpx
import pytest
from support.browser import ADMIN_TOKEN, invite, judge_app, write_conversations

MODELS = ["alpha-model", "beta-model", "gamma-model"]
DIMENSIONS = ["professionalism", "empathy", "practicality", "safety"]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    outputs = tmp_path_factory.mktemp("outputs")
    write_conversations(outputs / "exp", MODELS)  # 3 scenarios x 3 model pairs = 9 pairwise items
    with judge_app(outputs, "exp", "judge.app.max_body_bytes=20000", "judge.app.max_comment_chars=500") as base:
        yield base


def client_for(base: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def new_rater(app, name) -> httpx.Client:
    return client_for(app, invite(app, name))


def rating(assignment_id: str, value=3, **extra) -> dict:
    return {"assignment_id": assignment_id, "scores": {side: dict.fromkeys(DIMENSIONS, value)
                                                       for side in ("left", "right")}, **extra}


def export(app) -> dict:
    return httpx.get(f"{app}/api/admin/export.json", headers=ADMIN).json()


ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]*)"', html)
    return found.group(1) if found else ""


def browser(app, token: str | None = None, path: str = "/login") -> httpx.Client:
    """A cookie-keeping client that signed in through the form, as a browser does (CSRF token included)."""
    client = httpx.Client(base_url=app, timeout=30)
    if token is not None:
        form = client.get(path)
        assert client.post(path, data={"token": token, "csrf_token": csrf_of(form.text)}).status_code == 303
    return client


def test_unauthenticated_visitors_are_refused(app):
    assert httpx.get(f"{app}/api/next").status_code == 401
    assert httpx.post(f"{app}/api/ratings", json=rating("x")).status_code == 401
    assert httpx.get(f"{app}/api/next", headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    page = httpx.get(f"{app}/rate")
    assert page.status_code == 303 and page.headers["location"] == "/login"
    assert httpx.get(f"{app}/admin").headers["location"] == "/admin/login"
    assert httpx.get(f"{app}/api/admin/export.json").status_code == 401
    stranger = browser(app)
    csrf = csrf_of(stranger.get("/login").text)
    assert stranger.post("/login", data={"token": "guess", "csrf_token": csrf}).status_code == 401
    assert httpx.post(f"{app}/login", data={"token": "guess"}).status_code == 403  # no CSRF token


def test_a_rater_token_opens_nothing_of_the_organisers(app):
    rater = new_rater(app, "curious")
    assert rater.get("/api/admin/export.json").status_code == 401
    assert rater.get("/api/admin/raters").status_code == 401
    assert rater.post("/api/admin/raters", json={"name": "x"}).status_code == 401


@pytest.mark.parametrize("bad", [0, 6, -1, "3", 3.5, True, None])
def test_scores_outside_1_to_5_are_refused(app, bad):
    rater = new_rater(app, f"bad-{bad!r}")
    item = rater.get("/api/next").json()["item"]
    body = rating(item["assignment_id"])
    body["scores"]["right"]["empathy"] = bad
    assert rater.post("/api/ratings", json=body).status_code == 422
    assert rater.get("/api/progress").json()["done"] == 0


@pytest.mark.parametrize("change", ["missing dimension", "extra dimension", "missing side", "bad preference"])
def test_incomplete_or_unknown_fields_are_refused(app, change):
    rater = new_rater(app, change)
    body = rating(rater.get("/api/next").json()["item"]["assignment_id"])
    if change == "missing dimension":
        del body["scores"]["left"]["safety"]
    elif change == "extra dimension":
        body["scores"]["left"]["humour"] = 3
    elif change == "missing side":
        del body["scores"]["right"]
    else:
        body["preference"] = "up"
    response = rater.post("/api/ratings", json=body)
    assert response.status_code == 422, response.text
    assert rater.get("/api/progress").json()["done"] == 0


def test_another_raters_item_is_not_found(app):
    alice, bob = new_rater(app, "alice"), new_rater(app, "bob")
    alices = alice.get("/api/next").json()["item"]["assignment_id"]
    assert bob.post("/api/ratings", json=rating(alices)).status_code == 404
    assert alice.get("/api/next").json()["item"]["assignment_id"] == alices  # still hers, still open
    assert alice.post("/api/ratings", json=rating(alices)).status_code == 201


def test_a_replayed_submission_is_refused_and_stored_once(app):
    rater = new_rater(app, "replayer")
    body = rating(rater.get("/api/next").json()["item"]["assignment_id"], value=4, preference="left")
    first = rater.post("/api/ratings", json=body)
    assert first.status_code == 201 and first.json()["progress"]["done"] == 1
    assert rater.post("/api/ratings", json=body).status_code == 409
    mine = [s for s in export(app)["scores"] if s["rater"] == "replayer"]
    assert len(mine) == 2 * len(DIMENSIONS) and len({s["rating_id"] for s in mine}) == 1


def test_html_and_script_in_comments_are_stored_verbatim_and_shown_escaped(app):
    rater = new_rater(app, "<i>mallory</i>")
    comment = '<script>alert("x")</script><img src=x onerror=alert(1)> 回复很 "温暖" & 专业'
    body = rating(rater.get("/api/next").json()["item"]["assignment_id"], comment=comment)
    assert rater.post("/api/ratings", json=body).status_code == 201
    assert comment in {s["comment"] for s in export(app)["scores"]}
    admin = browser(app, ADMIN_TOKEN, "/admin/login").get("/admin").text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in admin
    assert "<script>" not in admin and "<img" not in admin and "<i>mallory" not in admin


def test_oversized_bodies_are_refused(app):
    rater = new_rater(app, "verbose")
    item = rater.get("/api/next").json()["item"]["assignment_id"]
    huge = json.dumps(rating(item, comment="长" * 30000)).encode()
    assert rater.post("/api/ratings", content=huge, headers={"Content-Type": "application/json"}).status_code == 413

    def chunks():  # no Content-Length: the limit must hold for a streamed body too
        for i in range(0, len(huge), 4096):
            yield huge[i:i + 4096]
    assert rater.post("/api/ratings", content=chunks(), headers={"Content-Type": "application/json"}).status_code == 413
    too_long = rating(item, comment="长" * 501)  # under the body limit, over judge.app.max_comment_chars
    assert rater.post("/api/ratings", json=too_long).status_code == 422
    assert rater.get("/api/progress").json()["done"] == 0


def test_rater_views_never_show_model_identity(app):
    token = invite(app, "blind")
    rater = client_for(app, token)
    api = rater.get("/api/next").text
    page = browser(app, token).get("/rate").text
    conversation_ids = {s["conversation_id"] for s in export(app)["scores"]}
    for text in (api, page):
        assert "请慢慢说" in text  # the transcript is there...
        for secret in [*MODELS, "model", "seed", "Qwen", *conversation_ids]:
            assert secret not in text  # ...but not who wrote it
        assert "我是一名 AI 助手" in text and "已隐去" not in text  # a neutral phrase, not a placeholder


def test_a_rater_gets_every_item_once_balanced_and_sides_randomised(app):
    rater = new_rater(app, "diligent")
    seen = []
    while (item := rater.get("/api/next").json()["item"]) is not None:
        seen.append(item["assignment_id"])
        assert rater.post("/api/ratings", json=rating(item["assignment_id"], preference="tie")).status_code == 201
    assert len(seen) == len(set(seen)) == 9
    assert rater.get("/api/progress").json() == {"done": 9, "total": 9}
    mine = [s for s in export(app)["scores"] if s["rater"] == "diligent"]
    assert len({s["item_id"] for s in mine}) == 9
    per_model = Counter(s["model"] for s in mine if s["dimension"] == "safety")
    assert per_model == dict.fromkeys(MODELS, 6)  # each model is in 2 of the 3 pairs of each scenario
    assert {s["shown_on"] for s in mine} == {"left", "right"}


def test_exports_and_openapi_description(app):
    headers = ADMIN
    csv_bytes = httpx.get(f"{app}/api/admin/export.csv", headers=headers).content
    assert csv_bytes.startswith(b"\xef\xbb\xbf")
    csv_text = csv_bytes.decode("utf-8-sig")
    assert csv_text.splitlines()[0].startswith("rating_id,rater_id,rater,item_id")
    assert "model" in csv_text.splitlines()[0] and "dimension,score" in csv_text.splitlines()[0]
    votes = httpx.get(f"{app}/api/admin/export.csv?table=votes", headers=headers).content.decode("utf-8-sig")
    assert "model_a,model_b,winner" in votes.splitlines()[0]
    spec = httpx.get(f"{app}/openapi.json").json()
    assert {"/api/next", "/api/ratings", "/api/progress", "/api/admin/export.csv"} <= set(spec["paths"])
    assert "RatingIn" in spec["components"]["schemas"]


def test_the_html_form_refuses_incomplete_scores_and_replays(app):
    client = browser(app, invite(app, "form-user"))
    page = client.get("/rate").text
    action = re.search(r'action="(/rate/[^"]+)"', page).group(1)
    form = {f"{side}.{d}": "5" for side in ("left", "right") for d in DIMENSIONS} | {"csrf_token": csrf_of(page)}
    partial = {k: v for k, v in form.items() if not k.endswith("safety")}
    refused = client.post(action, data=partial)
    assert refused.status_code == 422 and "请为每个维度选择" in refused.text
    assert client.post(action, data={**form, "left.empathy": "9"}).status_code == 422
    stored = client.post(action, data={**form, "preference": "right", "comment": "好"})
    assert stored.status_code == 303 and stored.headers["location"] == "/rate"
    replay = client.post(action, data=form)
    assert replay.status_code == 409 and "已经评过" in replay.text
    assert httpx.post(f"{app}{action}", data=form).headers["location"] == "/login"  # no cookie, no rating
    assert len({s["rating_id"] for s in export(app)["scores"] if s["rater"] == "form-user"}) == 1


def test_text_no_database_can_store_is_a_clear_400_and_stores_nothing(app):
    """A NUL character (which PostgreSQL's text cannot hold: its driver failed such requests with a
    500) or a lone surrogate, in JSON, a form or the URL, is refused before the database sees it."""
    rater = new_rater(app, "nul-json")
    item = rater.get("/api/next").json()["item"]["assignment_id"]
    for body in (rating(item, comment="a\x00b"), rating(item + "\x00"), rating(item, comment="\ud800")):
        refused = rater.post("/api/ratings", content=json.dumps(body), headers={"Content-Type": "application/json"})
        assert refused.status_code == 400 and "NUL" in refused.json()["detail"], refused.text
    assert rater.get("/api/next?x=%00").status_code == 400
    assert httpx.post(f"{app}/api/admin/raters", json={"name": "x\x00"}, headers=ADMIN).status_code == 400

    client = browser(app, invite(app, "nul-form"))
    page = client.get("/rate").text
    action = re.search(r'action="(/rate/[^"]+)"', page).group(1)
    form = {f"{side}.{d}": "5" for side in ("left", "right") for d in DIMENSIONS} | {"csrf_token": csrf_of(page)}
    assert client.post(action, data={**form, "comment": "a\x00b"}).status_code == 400
    assert client.post(f"{action}%00", data=form).status_code == 400
    admin = browser(app, ADMIN_TOKEN, "/admin/login")
    csrf = csrf_of(admin.get("/admin").text)
    assert admin.post("/admin/raters", data={"name": "x\x00", "csrf_token": csrf}).status_code == 400

    assert rater.post("/api/ratings", json=rating(item, comment="ab")).status_code == 201  # and the app goes on
    assert client.post(action, data=form).status_code == 303
    names = [r["name"] for r in httpx.get(f"{app}/api/admin/raters", headers=ADMIN).json()["raters"]]
    assert not any("\x00" in name for name in names)
    assert {s["comment"] for s in export(app)["scores"] if s["rater"] in ("nul-json", "nul-form")} == {"ab", ""}


def test_cross_site_posts_are_refused(app):
    """Another site (here: another port on the same host) cannot sign a visitor in, rate in a rater's
    name or invite a rater with the organiser's session, even with the right form fields."""
    evil = {"Origin": "http://127.0.0.1:1", "Referer": "http://127.0.0.1:1/attack.html"}
    token = invite(app, "targeted")
    rater = browser(app)
    login_csrf = csrf_of(rater.get("/login").text)
    assert rater.post("/login", data={"token": token, "csrf_token": login_csrf}, headers=evil).status_code == 403
    rater = browser(app, token)
    page = rater.get("/rate").text
    action = re.search(r'action="(/rate/[^"]+)"', page).group(1)
    form = {f"{side}.{d}": "1" for side in ("left", "right") for d in DIMENSIONS} | {"csrf_token": csrf_of(page)}
    assert rater.post(action, data=form, headers=evil).status_code == 403
    assert rater.post(action, data={**form, "csrf_token": "forged"}).status_code == 403
    assert rater.get("/api/progress").json()["done"] == 0
    admin = browser(app, ADMIN_TOKEN, "/admin/login")
    admin_csrf = csrf_of(admin.get("/admin").text)
    planted = admin.post("/admin/raters", data={"name": "planted", "csrf_token": admin_csrf}, headers=evil)
    assert planted.status_code == 403
    assert admin.post("/api/admin/raters", json={"name": "planted"}).status_code == 403  # cookie without CSRF header
    assert "planted" not in str(httpx.get(f"{app}/api/admin/raters", headers=ADMIN).json())


def test_single_mode_shows_one_conversation_and_takes_no_preference(tmp_path):
    write_conversations(tmp_path / "exp", MODELS)
    with judge_app(tmp_path, "exp", "judge.app.mode=single", "judge.app.items_per_rater=2") as base:
        rater = client_for(base, invite(base, "solo"))
        item = rater.get("/api/next").json()["item"]
        assert item["kind"] == "single" and list(item["conversations"]) == ["conversation"]
        body = {"assignment_id": item["assignment_id"], "scores": {"conversation": dict.fromkeys(DIMENSIONS, 2)}}
        assert rater.post("/api/ratings", json={**body, "preference": "left"}).status_code == 422
        assert rater.post("/api/ratings", json=body).status_code == 201
        assert rater.get("/api/progress").json() == {"done": 1, "total": 2}
        scores = httpx.get(f"{base}/api/admin/export.json", headers=ADMIN).json()
    assert {s["shown_on"] for s in scores["scores"]} == {"conversation"} and scores["votes"] == []


def test_the_app_counts_each_items_raters_again_when_it_starts(tmp_path):
    """items.coverage (what choosing reads) is kept as items are given out; a count that went wrong
    outside the app (an edit by hand, a crash of an older version) is put right at the next start."""
    import sqlite3

    write_conversations(tmp_path / "exp", MODELS)
    with judge_app(tmp_path, "exp") as base:
        for i in range(2):
            assert new_rater(base, f"r{i}").get("/api/next").json()["item"] is not None
    database = tmp_path / "exp" / "judge_app" / "ratings.sqlite"
    counted = "SELECT i.id, COUNT(a.id) FROM items i LEFT JOIN assignments a ON a.item_id = i.id GROUP BY i.id"
    with sqlite3.connect(database) as conn:
        assert dict(conn.execute("SELECT id, coverage FROM items")) == dict(conn.execute(counted))
        conn.execute("UPDATE items SET coverage = 7")
    with judge_app(tmp_path, "exp"):
        pass
    with sqlite3.connect(database) as conn:
        running, expected = dict(conn.execute("SELECT id, coverage FROM items")), dict(conn.execute(counted))
    assert running == expected and sum(expected.values()) == 2


def test_a_switch_of_mode_starts_a_round_of_its_own(tmp_path):
    """judge.app.mode switched between two runs of the app on one database: the rater gets items of
    the new kind from 0, the pair left open waits for its round (404 now, not a 500), and the
    organiser's overview counts the round being rated."""
    write_conversations(tmp_path / "exp", MODELS)
    with judge_app(tmp_path, "exp") as base:
        token = invite(base, "switcher")
        rater = client_for(base, token)
        first = rater.get("/api/next").json()["item"]["assignment_id"]
        assert rater.post("/api/ratings", json=rating(first)).status_code == 201
        open_pair = rater.get("/api/next").json()["item"]["assignment_id"]
    with judge_app(tmp_path, "exp", "judge.app.mode=single") as base:
        rater = client_for(base, token)
        shown = rater.get("/api/next").json()
        assert shown["item"]["kind"] == "single" and shown["progress"]["done"] == 0
        assert rater.post("/api/ratings", json=rating(open_pair)).status_code == 404
        single = {"assignment_id": shown["item"]["assignment_id"],
                  "scores": {"conversation": dict.fromkeys(DIMENSIONS, 4)}}
        assert rater.post("/api/ratings", json=single).json()["progress"]["done"] == 1
        overview = httpx.get(f"{base}/api/admin/raters", headers=ADMIN).json()["raters"]
        assert next(r for r in overview if r["name"] == "switcher")["done"] == 1
    with judge_app(tmp_path, "exp") as base:  # back to pairs: the open pair is continued
        assert client_for(base, token).get("/api/next").json()["item"]["assignment_id"] == open_pair
