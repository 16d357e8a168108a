"""A live blind chat in a real headless Chromium (Debian's, driven by Playwright): a rater signs in,
starts a live session, says three things, watches both anonymous models' replies stream in side by
side, rates both; the ratings are in the export (source live) and in stage=judge_analysis beside
the AI-client transcripts. No model, served model or vendor name ever reaches the browser.

The two models are scripted OpenAI-compatible servers that stream on loopback (support/live_chat.py),
so the replies are known and the redaction of names split across streamed pieces can be checked
exactly; test_judge_live_models.py runs the same path with two tiny models under `swift deploy`."""
import os
import re

import httpx
import pandas as pd
import pytest
from conftest import run_py
from support.browser import ADMIN_TOKEN, CHROMIUM, chromium, invite, write_conversations
from support.live_chat import StreamingServer, live_app, send_turn

MODELS = ["alpha-model", "beta-model"]
SERVED = {"alpha-model": "Qwen2.5-7B-Instruct-sft", "beta-model": "Meta-Llama-3.1-8B-Instruct-sft"}
SAYS = {"alpha-model": "我是通义千问，由阿里云开发的AI助手。听起来你最近压力很大，睡不好的时候心里会更乱。"
                       "我们可以先从今晚入睡前的半小时开始，一起看看有哪些小事能让你放松一点。",
        "beta-model": "I'm Llama, trained by Meta AI. 我在这里陪着你。失眠真的很折磨人，"
                      "我们可以一起想想睡前能做些什么让自己放松下来，比如放下手机、做几次慢慢的深呼吸。"}
SHOWN = {"alpha-model": SAYS["alpha-model"].replace("我是通义千问，由阿里云开发的AI助手", "我是一名 AI 助手"),
         "beta-model": SAYS["beta-model"].replace("I'm Llama, trained by Meta AI", "I am an AI assistant")}
DIMENSIONS = ["professionalism", "empathy", "practicality", "safety"]
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                 reason="needs Debian's chromium: bash scripts/install_chromium.sh")]


def rate_one_transcript(base: str) -> None:
    """An AI-client transcript rated too, so the analysis has both sources."""
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {invite(base, 'transcript-rater')}"}) as c:
        item = c.get("/api/next").json()["item"]
        body = {"assignment_id": item["assignment_id"], "preference": "left",
                "scores": {side: dict.fromkeys(DIMENSIONS, 3) for side in item["conversations"]}}
        assert c.post("/api/ratings", json=body).status_code == 201


def streamed_turn(base: str) -> str:
    """A turn's event stream as the API sends it (the browser's copy is not kept by Chromium)."""
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {invite(base, 'api-rater')}"}) as client:
        session_id = client.post("/api/live").json()["session"]["session_id"]
        turn = send_turn(client, session_id, "我最近总是睡不好。")
    assert turn["status"] == 200 and "event: delta" in turn["body"] and turn["body"].count("event: reply") == 2
    return turn["body"]


def both_streaming(page) -> None:
    """Wait until both replies are on screen in part, still streaming."""
    page.wait_for_function("() => document.querySelectorAll('.turn.counsellor.pending p').length === 2 && "
                           "[...document.querySelectorAll('.turn.counsellor.pending p')]"
                           ".every(p => p.textContent.length > 0)", timeout=15000)


def test_a_rater_chats_live_with_two_anonymous_models_then_rates_and_the_analysis_has_it(tmp_path):
    outputs = tmp_path / "outputs"
    write_conversations(outputs / "exp", MODELS)
    with StreamingServer(default=SAYS["alpha-model"], model=SERVED["alpha-model"], chunk_delay_s=0.04) as alpha, \
            StreamingServer(default=SAYS["beta-model"], model=SERVED["beta-model"], chunk_delay_s=0.04) as beta, \
            live_app(outputs, "exp", {"alpha-model": alpha, "beta-model": beta}, "judge.live.max_turns=3",
                     "judge.live.sessions_per_rater=1") as base, chromium() as browser:
        rate_one_transcript(base)
        ports = [re.search(r":(\d+)/", s.base_url).group(1) for s in (alpha, beta)]
        secrets = [*MODELS, *SERVED.values(), "Qwen", "通义", "阿里", "Llama", "Meta", "alpha", "beta",
                   *(f"127.0.0.1:{p}" for p in ports)]
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        seen_html, dialogs = [], []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

        page.goto(f"{base}/login")
        page.fill("#token", invite(base, "live-rater"))
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/rate")
        page.click("a[href='/live']")
        page.wait_for_url(f"{base}/live")
        seen_html.append(page.content())
        page.click("form.live-start button")
        page.wait_for_url(f"{base}/live")
        assert page.locator(".scenario h2").inner_text()  # the scenario the rater plays
        seen_html.append(page.content())

        for k, message in enumerate(["我最近总是睡不好。", "一躺下就想工作的事。", "<b>谢谢</b>，我试试看。"], start=1):
            page.fill("form.live-message textarea", message)
            page.click("form.live-message button[type=submit]")
            both_streaming(page)
            if k < 3:
                page.wait_for_function("() => document.querySelector('.live-status').textContent.includes('已回复并保存')")
                for side in "AB":
                    bubble = page.locator(f".transcript[data-side='{side}'] .turn.counsellor p").last
                    assert int(bubble.get_attribute("data-chunks")) >= 2  # arrived in pieces
                    assert bubble.inner_text() in SHOWN.values()
                assert f"还可以说 {3 - k} 句" in page.inner_text(".turns-left")
                seen_html.append(page.content())
        page.wait_for_selector("form.rating")  # the third turn ended the chat: the page reloads to the rating
        seen_html.append(page.content())
        texts = {side: page.locator(f".transcript[data-side='{side}'] .turn.counsellor p").all_inner_texts()
                 for side in "AB"}
        assert sorted({t for ts in texts.values() for t in ts}) == sorted(SHOWN.values())
        assert all(len(set(ts)) == 1 and len(ts) == 3 for ts in texts.values())  # one model per side throughout
        assert page.locator(".transcript .turn.client p").all_inner_texts()[2] == "<b>谢谢</b>，我试试看。"
        assert dialogs == []

        for side, value in (("A", "5"), ("B", "2")):
            for d in DIMENSIONS:
                page.check(f"input[name='{side}.{d}'][value='{value}']")
        page.check("input[name=preference][value=A]")
        page.fill("textarea[name=comment]", "A 更具体")
        page.click("form.rating button[type=submit]")
        page.wait_for_url(f"{base}/live")
        assert "实时对话全部完成" in page.content() and page.inner_text(".progress-text") == "已完成 1 / 1"
        seen_html.append(page.content())
        bodies = [page.request.get(f"{base}/api/live").text(), streamed_turn(base)]
        context.close()

        for text in [*seen_html, *bodies]:
            for secret in secrets:
                assert secret not in text, secret
        export = httpx.get(f"{base}/api/admin/export.json", headers=ADMIN).json()

    mine = [s for s in export["scores"] if s["rater"] == "live-rater"]
    assert len(mine) == 2 * len(DIMENSIONS) and {s["source"] for s in mine} == {"live"}
    a_model = next(s["model"] for s in mine if s["shown_on"] == "left")
    assert {s["model"]: s["score"] for s in mine if s["dimension"] == "empathy"} == {
        a_model: 5, next(m for m in MODELS if m != a_model): 2}
    vote = next(v for v in export["votes"] if v["rater"] == "live-rater")
    assert vote["winner"] == a_model and vote["source"] == "live"
    assert {s["source"] for s in export["scores"]} == {"ai_client", "live"}
    assert len([t for t in export["live_turns"] if t["rater"] == "live-rater"]) == 3 * 2

    result = run_py("stage=judge_analysis", "experiment_name=exp", f"paths.outputs={outputs}",
                    f"hydra.run.dir={tmp_path / 'hydra'}", "judge.analysis.bootstrap=200", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = outputs / "exp" / "report"
    text = (report / "human_judge_analysis.md").read_text(encoding="utf-8")
    assert "## Live chats and AI-client transcripts" in text and f"| {a_model} | live chat |" in text
    by_source = pd.read_csv(report / "human_judge" / "source_scores.csv")
    live = by_source[(by_source["source"] == "live") & (by_source["dimension"] == "empathy")].set_index("model")
    assert live["mean"].to_dict() == {a_model: 5, next(m for m in MODELS if m != a_model): 2}
    ranking = pd.read_csv(report / "human_judge" / "source_bradley_terry.csv")
    assert set(ranking["source"]) == {"ai_client", "live", "combined"}
    assert ranking[ranking["source"] == "live"].iloc[0]["model"] == a_model
