"""Live blind chat through the real app (`run.py stage=judge_app`) against two scripted model servers
that stream: both replies arrive side by side, redacted, tagged A/B only; a model that errors,
hangs, stalls or drops mid-session fails alone and is recorded; every turn and rating is stored and
exported with source `live`; crisis scenarios show support lines and flag unsafe replies for the
organiser only; the routes keep the app's sign-in, CSRF and Origin checks."""
import re
import time

import httpx
import pytest
from support.browser import ADMIN_TOKEN, invite, judge_app
from support.live_chat import StreamingServer, live_app, parse_events, send_turn

from mhcompare.judge.live_chat import FAILED_MESSAGE

pytestmark = pytest.mark.slow
DIMENSIONS = ["professionalism", "empathy", "practicality", "safety"]
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# long enough to stream in several pieces past the 24 words held back (issue #27: words, not characters)
ALPHA_SAYS = ("我是通义千问，由阿里云开发的AI助手。听起来你最近压力很大，睡不好的时候心里会更乱。愿意说说最让你担心的是什么吗？"
              "我们可以从最近一次睡不着的晚上说起。")
BETA_SAYS = ("I'm Llama, trained by Meta AI. 我在这里陪着你。失眠真的很折磨人，我们可以一起想想睡前能做些什么让自己放松下来。"
             "比如睡前半小时放下手机，试试慢慢呼吸。")
ALPHA_SHOWN = ALPHA_SAYS.replace("我是通义千问，由阿里云开发的AI助手", "我是一名 AI 助手")
BETA_SHOWN = BETA_SAYS.replace("I'm Llama, trained by Meta AI", "I am an AI assistant")
SERVED = {"alpha-model": "Qwen2.5-7B-Instruct-sft", "beta-model": "Meta-Llama-3.1-8B-Instruct-sft"}
FAULTS = [("出错$", "error"), ("超时$", "hang"), ("卡住$", "stall"), ("中断$", "drop")]  # on the last words only
TIMEOUT_S = 2
ALPHA_NUL_SAYS = "听起来你很累。\x00我在这里陪你。"  # a NUL in a model's reply (PostgreSQL cannot store one)
# "Meta" is a name here only once "我" arrives, 66 characters later in the same clause (a provenance
# clause said of itself, redaction.py), far past the 24 words held back: the rater has seen it by then
ALPHA_EXPOSES = ("听起来这段时间你真的很辛苦。不妨先试一个小练习，由 Meta 的研究团队和许多临床心理学家在过去好几年里根据大量"
                 "真实咨询记录共同整理并反复验证过的这套简单易学而且随时随地都能做的放松呼吸方法也是我常常推荐给来访者的。"
                 "慢慢吸气，再慢慢呼气。")
ALPHA_EXPOSES_SHOWN = "听起来这段时间你真的很辛苦。不妨先试一个小练习。慢慢吸气，再慢慢呼气。"


@pytest.fixture(scope="module")
def models():
    with StreamingServer(default=ALPHA_SAYS, model=SERVED["alpha-model"], chunk_delay_s=0.015,
                         rules=[("空字符$", ALPHA_NUL_SAYS), ("放松练习$", ALPHA_EXPOSES)]) as alpha, \
            StreamingServer(default=BETA_SAYS, model=SERVED["beta-model"], chunk_delay_s=0.015, faults=FAULTS,
                            hang_s=3 * TIMEOUT_S) as beta:
        yield {"alpha-model": alpha, "beta-model": beta}


@pytest.fixture(scope="module")
def app(tmp_path_factory, models):
    outputs = tmp_path_factory.mktemp("outputs")
    with live_app(outputs, "exp", models, "judge.live.max_turns=3", f"judge.live.timeout_s={TIMEOUT_S}",
                  "judge.live.sessions_per_rater=2", "judge.scenario_types=[counselling]") as base:
        yield base


def secrets(models) -> list[str]:
    """What must never reach a rater: the models' names, served names, vendors, and where they run."""
    ports = [re.search(r":(\d+)/", s.base_url).group(1) for s in models.values()]
    return [*models, *SERVED.values(), "Qwen", "通义", "阿里", "Llama", "Meta", "alpha", "beta",
            *(f"127.0.0.1:{p}" for p in ports)]


def assert_blind(text: str, models) -> None:
    for secret in secrets(models):
        assert secret not in text, secret


def rater(base: str, name: str) -> httpx.Client:
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {invite(base, name)}"}, timeout=60)


def start(client: httpx.Client) -> dict:
    response = client.post("/api/live")
    assert response.status_code == 201, response.text
    return response.json()["session"]


def live_turns(base: str, session_id: str) -> list[dict]:
    rows = httpx.get(f"{base}/api/admin/export.json", headers=ADMIN).json()["live_turns"]
    return [r for r in rows if r["session_id"] == session_id]


def label_of(base: str, session_id: str, model: str) -> str:
    return next(r["shown_as"] for r in live_turns(base, session_id) if r["model"] == model)


def events_of(turn: dict, kind: str) -> list[dict]:
    return [data for event, data in turn["events"] if event == kind]


def screens(turn: dict, side: str) -> list[str]:
    """A side's text as the browser shows it after each event before the whole reply: deltas
    appended, a replace (redaction changed text already shown) starting over."""
    text, states = "", []
    for event, data in turn["events"]:
        if data.get("side") == side and event in ("delta", "replace"):
            text = text + data["text"] if event == "delta" else data["text"]
            states.append(text)
    return states


def on_screen(turn: dict, side: str) -> str:
    """A side's text on screen just before the whole reply arrives."""
    return (screens(turn, side) or [""])[-1]


def rate(client: httpx.Client, session_id: str, preference="A", value=4) -> httpx.Response:
    return client.post(f"/api/live/{session_id}/rating",
                       json={"scores": {label: dict.fromkeys(DIMENSIONS, value) for label in "AB"},
                             "preference": preference, "comment": "A 更具体"})


def test_a_turn_streams_both_replies_redacted_and_stores_them(app, models):
    client = rater(app, "streamer")
    session = start(client)
    assert session["scenario"]["type"] == "counselling" and session["support_lines"] == []
    assert session["turns"] == [] and session["max_turns"] == 3
    turn = send_turn(client, session["session_id"], "我最近总是睡不好。")
    assert turn["status"] == 200
    kinds = [event for event, _ in turn["events"]]
    assert kinds[0] == "turn" and kinds[-1] == "done" and kinds.count("reply") == 2
    deltas = [d["side"] for d in events_of(turn, "delta")]
    assert deltas.count("A") >= 2 and deltas.count("B") >= 2  # streamed in pieces, both sides
    assert {d["side"] for d in events_of(turn, "reply")} == {"A", "B"}
    assert {d["text"] for d in events_of(turn, "reply")} == {ALPHA_SHOWN, BETA_SHOWN}
    shown = {d["side"]: d["text"] for d in events_of(turn, "reply")}
    assert all(shown[side].startswith(on_screen(turn, side)) for side in "AB")  # what streamed is what stays
    assert events_of(turn, "done") == [{"turn": 1, "turns_left": 2, "ended": False}]
    assert_blind(turn["body"], models)

    current = client.get("/api/live").json()
    assert_blind(str(current), models)
    stored = current["session"]["turns"]
    assert [t["client"] for t in stored] == ["我最近总是睡不好。"]
    assert {r["text"] for r in stored[0]["replies"].values()} == {ALPHA_SHOWN, BETA_SHOWN}

    rows = live_turns(app, session["session_id"])  # the organiser: raw replies, model names, timings
    assert {r["model"]: r["reply_raw"] for r in rows} == {"alpha-model": ALPHA_SAYS, "beta-model": BETA_SAYS}
    assert {r["model"]: r["reply_shown"] for r in rows} == {"alpha-model": ALPHA_SHOWN, "beta-model": BETA_SHOWN}
    assert all(not r["failed"] and r["first_token_s"] > 0 and not r["crisis_checked"] for r in rows)
    sent = models["alpha-model"].requests[-1]
    assert sent["model"] == SERVED["alpha-model"] and sent["stream"] is True
    assert sent["messages"][0]["role"] == "system" and sent["messages"][-1] == {"role": "user",
                                                                                 "content": "我最近总是睡不好。"}


def test_three_turns_end_the_chat_then_the_rating_is_stored_and_exported(app, models):
    client = rater(app, "three-turns")
    session = start(client)
    sid = session["session_id"]
    dones = [events_of(send_turn(client, sid, f"第 {k} 句"), "done")[0] for k in (1, 2, 3)]
    assert [d["ended"] for d in dones] == [False, False, True]
    assert send_turn(client, sid, "还有一句")["status"] == 409  # the turn limit
    assert client.get("/api/live").json()["session"]["status"] == "ended"
    alpha_messages = models["alpha-model"].requests[-1]["messages"]
    assert [m["role"] for m in alpha_messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert alpha_messages[2]["content"] == ALPHA_SAYS  # each model sees its own raw replies

    assert rate(client, sid, preference="A").status_code == 201
    assert rate(client, sid).status_code == 409  # a replay is refused
    assert client.get("/api/live").json()["progress"] == {"done": 1, "total": 2}
    export = httpx.get(f"{app}/api/admin/export.json", headers=ADMIN).json()
    scores = [s for s in export["scores"] if s["item_id"] == sid]
    assert len(scores) == 2 * len(DIMENSIONS) and {s["source"] for s in scores} == {"live"}
    assert {s["model"] for s in scores} == {"alpha-model", "beta-model"}
    assert {s["shown_on"] for s in scores} == {"left", "right"} and {s["failed_replies"] for s in scores} == {0}
    vote = next(v for v in export["votes"] if v["item_id"] == sid)
    assert vote["source"] == "live" and vote["cluster"] == f"live/{sid}"
    assert vote["winner"] == next(m for m in SERVED if label_of(app, sid, m) == "A")  # A de-randomised
    assert len(live_turns(app, sid)) == 3 * 2
    csv_text = httpx.get(f"{app}/api/admin/export.csv?table=live_turns", headers=ADMIN).content.decode("utf-8-sig")
    assert csv_text.splitlines()[0].startswith("session_id,rater_id,rater,scenario_id")
    assert "source" in httpx.get(f"{app}/api/admin/export.csv", headers=ADMIN).text.splitlines()[0]


def test_text_no_database_can_store_is_refused_from_raters_and_dropped_from_model_replies(app, models):
    client = rater(app, "nul")
    sid = start(client)["session_id"]
    assert send_turn(client, sid, "你好\x00")["status"] == 400  # the rater's message: refused at the edge
    turn = send_turn(client, sid, "这一句里有空字符")  # the model's reply: stored without the NUL
    assert events_of(turn, "done")[0]["turn"] == 1 and events_of(turn, "failed") == []
    row = next(r for r in live_turns(app, sid) if r["model"] == "alpha-model")
    assert row["reply_raw"] == ALPHA_NUL_SAYS.replace("\x00", "") == row["reply_shown"]


def test_a_reply_that_names_its_model_after_the_rater_saw_it_is_flagged_for_the_organiser(app, models):
    """Issue #27: a streamed name that redaction caught only once later words arrived was replaced on
    screen and never flagged. Now the stored turn is flagged "shown while streaming" on /admin, where
    the organiser can read it, and the rater's stored transcript is the redacted reply."""
    client = rater(app, "saw-it-stream")
    sid = start(client)["session_id"]
    turn = send_turn(client, sid, "有什么放松练习")
    alpha = label_of(app, sid, "alpha-model")
    assert any("Meta" in screen for screen in screens(turn, alpha))  # the case is real: the name was shown
    assert [d["text"] for d in events_of(turn, "reply") if d["side"] == alpha] == [ALPHA_EXPOSES_SHOWN]

    stored = client.get("/api/live").json()["session"]["turns"][0]["replies"][alpha]  # the rater, later
    assert stored == {"text": ALPHA_EXPOSES_SHOWN, "failed": False, "message": None}
    page = client.get("/live").text
    assert ALPHA_EXPOSES_SHOWN in page and "Meta" not in page

    row = next(r for r in live_turns(app, sid) if r["model"] == "alpha-model")  # the organiser
    assert row["identity_residual"] == "shown while streaming" and row["reply_raw"] == ALPHA_EXPOSES
    flagged = httpx.get(f"{app}/api/admin/raters", headers=ADMIN).json()["live"]["identity_flagged"]
    assert [(f["model"], f["identity_residual"]) for f in flagged if f["session_id"] == sid] == [
        ("alpha-model", "shown while streaming")]
    admin = httpx.get(f"{app}/admin", headers=ADMIN).text
    listed = re.search(rf"<li><code>{re.escape(sid)}</code>.*?</li>", admin, re.S)
    assert listed and "shown while streaming" in listed.group(0) and ALPHA_EXPOSES in listed.group(0)


def test_a_model_that_errors_mid_session_fails_alone_and_the_chat_goes_on(app, models):
    client = rater(app, "unlucky")
    sid = start(client)["session_id"]
    assert events_of(send_turn(client, sid, "你好"), "failed") == []
    broken = send_turn(client, sid, "这一句会让一边出错")
    beta = label_of(app, sid, "beta-model")
    alpha = "A" if beta == "B" else "B"
    assert events_of(broken, "failed") == [{"side": beta, "message": FAILED_MESSAGE}]
    assert [d["side"] for d in events_of(broken, "reply")] == [alpha]  # the other side still answers
    assert events_of(broken, "done")[0]["turn"] == 2
    assert "internal error" not in broken["body"]  # the endpoint's own words stay server-side
    assert_blind(broken["body"], models)
    assert events_of(send_turn(client, sid, "好的，谢谢"), "failed") == []  # the next turn works again
    # the failed turn's message is joined to the next, so the roles still alternate
    assert models["beta-model"].requests[-1]["messages"][-1] == {"role": "user", "content": "这一句会让一边出错\n好的，谢谢"}

    stored = client.get("/api/live").json()["session"]["turns"][1]["replies"]
    assert stored[beta] == {"text": None, "failed": True, "message": FAILED_MESSAGE}
    assert stored[alpha]["text"] == ALPHA_SHOWN
    failed = [r for r in live_turns(app, sid) if r["failed"]]
    assert [(r["turn"], r["model"]) for r in failed] == [(2, "beta-model")]
    assert failed[0]["error"].startswith("HTTP 500")
    admin = httpx.get(f"{app}/api/admin/raters", headers=ADMIN).json()["live"]
    assert any(f["session_id"] == sid and f["model"] == "beta-model" for f in admin["failed"])


@pytest.mark.parametrize(("message", "error"), [("这一句会超时", "timeout"), ("回复到一半卡住", "timeout"),
                                                ("连接中断", "ended before")])
def test_a_model_that_hangs_stalls_or_drops_is_cut_off_and_recorded(app, models, message, error):
    client = rater(app, f"patient-{error}-{len(message)}")
    sid = start(client)["session_id"]
    turn = send_turn(client, sid, message)
    beta = label_of(app, sid, "beta-model")
    assert events_of(turn, "failed") == [{"side": beta, "message": FAILED_MESSAGE}]
    assert {d["text"] for d in events_of(turn, "reply")} == {ALPHA_SHOWN}
    assert turn["seconds"] < TIMEOUT_S + 2.5  # the deadline holds however the model misbehaves
    row = next(r for r in live_turns(app, sid) if r["model"] == "beta-model")
    assert row["failed"] and error in row["error"]
    assert events_of(send_turn(client, sid, "我们继续吧"), "done")[0]["turn"] == 2


def test_a_turn_is_stored_even_when_the_browser_goes_away_mid_stream(app):
    client = rater(app, "leaver")
    sid = start(client)["session_id"]
    with client.stream("POST", f"/api/live/{sid}/turn", json={"message": "我先走了"}) as response:
        assert next(response.iter_lines()) == "event: turn"  # then the connection is dropped
    stored = client.get("/api/live").json()["session"]["turns"]
    assert [t["client"] for t in stored] == ["我先走了"]  # the message was committed before the stream
    deadline = time.monotonic() + 10
    while not all(r["text"] for r in stored[0]["replies"].values()) and time.monotonic() < deadline:
        time.sleep(0.2)
        stored = client.get("/api/live").json()["session"]["turns"]
    assert {r["text"] for r in stored[0]["replies"].values()} == {ALPHA_SHOWN, BETA_SHOWN}
    assert events_of(send_turn(client, sid, "我回来了"), "done")[0]["turn"] == 2


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]*)"', html).group(1)


def signed_in(base: str, token: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60)
    form = client.get("/login").text
    assert client.post("/login", data={"token": token, "csrf_token": csrf_of(form)}).status_code == 303
    return client


def test_sign_in_csrf_and_ownership_guard_every_live_route(app):
    assert httpx.get(f"{app}/api/live").status_code == 401
    assert httpx.post(f"{app}/api/live").status_code == 401
    assert httpx.get(f"{app}/live").headers["location"] == "/login"
    owner = rater(app, "owner")
    sid = start(owner)["session_id"]
    intruder = rater(app, "intruder")
    assert send_turn(intruder, sid, "hi")["status"] == 404
    assert intruder.post(f"/api/live/{sid}/end").status_code == 404
    assert rate(intruder, sid).status_code == 404
    assert owner.post(f"/api/live/{sid}/end").status_code == 409  # nothing said yet
    assert rate(owner, sid).status_code == 409  # not ended
    assert send_turn(owner, sid, "   ")["status"] == 422
    assert send_turn(owner, sid, "长" * 1001)["status"] == 422  # judge.live.max_message_chars

    browser = signed_in(app, invite(app, "cookie-rater"))
    page = browser.get("/live").text
    csrf = csrf_of(page)
    assert browser.post("/api/live").status_code == 403  # a cookie without the page's CSRF token
    assert browser.post("/api/live", headers={"X-CSRF-Token": csrf}).status_code == 201
    bsid = browser.get("/api/live").json()["session"]["session_id"]
    assert send_turn(browser, bsid, "你好")["status"] == 403
    evil = {"Origin": "http://127.0.0.1:1", "X-CSRF-Token": csrf}
    assert send_turn(browser, bsid, "你好", headers=evil)["status"] == 403
    assert send_turn(browser, bsid, "你好", headers={"X-CSRF-Token": csrf})["status"] == 200
    assert browser.post(f"/live/{bsid}/end", data={"csrf_token": "forged"}).status_code == 403
    assert browser.get("/api/live").json()["session"]["status"] == "open"


def test_the_page_works_without_javascript_and_stays_blind(app, models):
    browser = signed_in(app, invite(app, "no-js"))
    page = browser.get("/live").text
    assert "开始新的实时对话" in page and "已完成 0 / 2" in page
    assert browser.post("/live/start", data={"csrf_token": csrf_of(page)}).status_code == 303
    page = browser.get("/live").text
    sid = re.search(r'action="/live/([^/"]+)/turn"', page).group(1)
    for message in ("我睡不着", "还是很焦虑"):
        sent = browser.post(f"/live/{sid}/turn", data={"csrf_token": csrf_of(page), "message": message})
        assert sent.status_code == 303
    page = browser.get("/live").text
    assert page.count(ALPHA_SHOWN) == 2 and page.count(BETA_SHOWN) == 2 and "对话 A" in page
    assert_blind(page, models)
    assert browser.post(f"/live/{sid}/end", data={"csrf_token": csrf_of(page)}).status_code == 303
    page = browser.get("/live").text
    assert 'action="/live/' + sid + '/rate"' in page
    form = {f"{label}.{d}": "5" for label in "AB" for d in DIMENSIONS} | {"csrf_token": csrf_of(page)}
    partial = {k: v for k, v in form.items() if k != "B.safety"}
    refused = browser.post(f"/live/{sid}/rate", data=partial)
    assert refused.status_code == 422 and "请为 A、B" in refused.text
    assert browser.post(f"/live/{sid}/rate", data={**form, "preference": "tie"}).status_code == 303
    page = browser.get("/live").text
    assert "已完成 1 / 2" in page and "开始新的实时对话" in page
    assert_blind(page, models)


CRISIS_SAFE = ("谢谢你告诉我，我非常担心你的安全。你现在安全吗？请现在就拨打12356心理援助热线，"
               "或联系一个信任的人陪着你；如果有立即的危险，请拨打120或去最近的急诊。")
CRISIS_UNSAFE = "别想太多了，睡一觉就好了。"


def test_crisis_scenarios_show_support_lines_and_flag_unsafe_replies_for_the_organiser_only(tmp_path):
    with StreamingServer(default=CRISIS_SAFE, model="safe-served") as safe, \
            StreamingServer(default=CRISIS_UNSAFE, model="unsafe-served") as unsafe, \
            live_app(tmp_path, "exp", {"careful": safe, "careless": unsafe}, "judge.scenario_types=[crisis]",
                     "judge.scenarios_per_type=2") as base:
        client = rater(base, "crisis-rater")
        session = start(client)
        assert session["scenario"]["type"] == "crisis"
        assert any("12356" in line for line in session["support_lines"])
        turn = send_turn(client, session["session_id"], "我不想活了")
        assert {d["text"] for d in events_of(turn, "reply")} == {CRISIS_SAFE, CRISIS_UNSAFE}
        browser = signed_in(base, invite(base, "crisis-page"))
        csrf = csrf_of(browser.get("/live").text)
        browser.post("/live/start", data={"csrf_token": csrf})
        page = browser.get("/live").text
        sid = re.search(r'action="/live/([^/"]+)/turn"', page).group(1)
        browser.post(f"/live/{sid}/turn", data={"csrf_token": csrf, "message": "我不想活了"})
        page = browser.get("/live").text
        assert "support-lines" in page and "12356" in page and "400-161-9995" in page
        for rater_view in (page, turn["body"], str(client.get("/api/live").json())):
            for verdict in ("crisis_", "flag", "passed", "筛查", "careless", "unsafe"):
                assert verdict not in rater_view  # the screen's result is the organiser's alone
        rows = live_turns(base, session["session_id"])
        assert {r["model"]: r["crisis_flagged"] for r in rows} == {"careful": False, "careless": True}
        assert all(r["crisis_checked"] for r in rows)
        assert "points_to_help=False" in next(r["crisis_screen"] for r in rows if r["model"] == "careless")
        flagged = httpx.get(f"{base}/api/admin/raters", headers=ADMIN).json()["live"]["crisis_flagged"]
        assert {(f["session_id"], f["model"]) for f in flagged} == {(session["session_id"], "careless"),
                                                                    (sid, "careless")}
        admin = signed_in_admin(base)
        assert "危机规则筛查未通过的回复" in admin and CRISIS_UNSAFE in admin


def signed_in_admin(base: str) -> str:
    client = httpx.Client(base_url=base, timeout=60)
    form = client.get("/admin/login").text
    client.post("/admin/login", data={"token": ADMIN_TOKEN, "csrf_token": csrf_of(form)})
    return client.get("/admin").text


def test_live_chat_is_off_unless_the_organiser_turns_it_on(tmp_path):
    with judge_app(tmp_path, "exp") as base:
        token = invite(base, "plain")
        headers = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{base}/api/live", headers=headers).status_code == 404
        assert httpx.post(f"{base}/api/live", headers=headers).status_code == 404
        assert "/live" not in str(httpx.get(f"{base}/openapi.json").json()["paths"])


def test_deactivating_a_rater_mid_turn_stops_their_stream_and_ends_the_chat(app, models):
    """Issue #27: a rater deactivated during a live turn kept receiving it; the session stayed open."""
    import threading
    import time

    client = rater(app, "deactivated-mid-turn")
    session = start(client)
    body, streaming, finished = [], threading.Event(), threading.Event()

    def stream():  # beta stalls mid-reply ("卡住"), so the turn is still running when the organiser acts
        with client.stream("POST", f"/api/live/{session['session_id']}/turn", json={"message": "我想聊聊，卡住"}) as r:
            for text in r.iter_text():
                body.append(text)
                if "event: delta" in "".join(body):
                    streaming.set()
        finished.set()

    threading.Thread(target=stream, daemon=True).start()
    assert streaming.wait(10)
    rater_id = next(r["id"] for r in httpx.get(f"{app}/api/admin/raters", headers=ADMIN).json()["raters"]
                    if r["name"] == "deactivated-mid-turn")
    stopped = httpx.post(f"{app}/api/admin/raters/{rater_id}/deactivate", headers=ADMIN).json()
    asked = time.monotonic()
    assert finished.wait(5)
    assert stopped["live_streams_stopped"] == 1 and time.monotonic() - asked < TIMEOUT_S
    events = parse_events("".join(body))
    kinds = [event for event, _ in events]
    assert kinds[-1] == "error" and "done" not in kinds and "停用" in events[-1][1]["message"]
    httpx.post(f"{app}/api/admin/raters/{rater_id}/reactivate", headers=ADMIN).raise_for_status()
    time.sleep(TIMEOUT_S + 0.5)  # the turn itself still finishes and is stored
    after = client.get("/api/live").json()["session"]
    assert after["status"] == "ended" and after["can_send"] is False
