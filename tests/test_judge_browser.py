"""The rating app in a real headless Chromium (Debian's, driven by Playwright): sign in, rate,
reload and come back mid-way with half-filled answers kept, stay blind (also to every shipped
identity phrasing), form beside the transcripts on wide screens; strangers are refused; comments
cannot run script."""
import json
import os
import re

import httpx
import pytest
from support.browser import ADMIN_TOKEN, CHROMIUM, SCENARIOS, chromium, invite, judge_app, write_conversations

from mhcompare.judge.simulate.generate import conversation_id

MODELS = ["alpha-model", "beta-model", "gamma-model"]
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                 reason="needs Debian's chromium: bash scripts/install_chromium.sh")]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    outputs = tmp_path_factory.mktemp("outputs")
    records = write_conversations(outputs / "exp", MODELS)
    with judge_app(outputs, "exp", "judge.app.items_per_rater=4") as base:
        yield base, records


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def sign_in(page, base, token):
    page.goto(f"{base}/login")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/rate")


def current_item(page) -> str:
    return page.get_attribute("form.rating", "action")


def progress(page) -> str:
    return page.inner_text(".progress-text")


def rate_current(page, comment="回应温暖，建议具体。"):
    for name in sorted(set(page.eval_on_selector_all("form.rating input[type=radio]", "els => els.map(e => e.name)"))):
        if name != "preference":
            page.check(f"input[name='{name}'][value='4']")
    page.check("input[name=preference][value=left]")
    page.fill("textarea[name=comment]", comment)
    page.click("form.rating button[type=submit]")
    page.wait_for_load_state()


def test_rater_signs_in_rates_reloads_and_continues_where_they_left_off(app, browser):
    base, records = app
    token = invite(base, "browser-rater")
    context = browser.new_context()
    page = context.new_page()
    seen_html = []

    page.goto(f"{base}/rate")
    assert page.url == f"{base}/login"  # not signed in yet
    sign_in(page, base, token)
    assert progress(page) == "已完成 0 / 4"
    rated = []
    for expected_done in (1, 2):
        seen_html.append(page.content())
        rated.append(current_item(page))
        rate_current(page)
        assert progress(page) == f"已完成 {expected_done} / 4"

    # halfway through the third item: a reload shows the same item, with the answers given so far
    third = current_item(page)
    assert third not in rated
    page.check("input[name='left.empathy'][value='2']")
    page.check("input[name=preference][value=right]")
    page.fill("textarea[name=comment]", "写了一半的评语")
    page.reload()
    assert current_item(page) == third and progress(page) == "已完成 2 / 4"
    assert page.is_checked("input[name='left.empathy'][value='2']")
    assert page.is_checked("input[name=preference][value=right]")
    assert page.input_value("textarea[name=comment]") == "写了一半的评语"
    assert not page.is_checked("input[name='right.empathy'][value='2']")

    # the browser closes; signing in again later continues at the same place
    context.close()
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, base, token)
    assert current_item(page) == third and progress(page) == "已完成 2 / 4"
    while page.locator("form.rating").count():
        seen_html.append(page.content())
        rated.append(current_item(page))
        rate_current(page)
    assert "全部完成" in page.content() and progress(page) == "已完成 4 / 4"
    seen_html.append(page.content())
    context.close()

    assert len(rated) == len(set(rated)) == 4
    export = httpx.get(f"{base}/api/admin/export.json", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()
    mine = [s for s in export["scores"] if s["rater"] == "browser-rater"]
    assert len({s["rating_id"] for s in mine}) == 4 and len(mine) == 4 * 2 * 4  # items x sides x dimensions
    assert len([v for v in export["votes"] if v["rater"] == "browser-rater"]) == 4

    secrets = [*MODELS, "Qwen", "seed", *(r["conversation_id"] for r in records)]
    for html in seen_html:
        for secret in secrets:
            assert secret not in html


def test_unauthenticated_visitor_is_refused(app, browser):
    base, _ = app
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}/rate")
    assert page.url == f"{base}/login"
    page.fill("#token", "a-guessed-token")
    page.click("button[type=submit]")
    assert "邀请码无效" in page.content() and page.url == f"{base}/login"
    page.goto(f"{base}/admin")
    assert page.url == f"{base}/admin/login"
    response = page.goto(f"{base}/api/next")
    assert response.status == 401
    context.close()


def test_script_in_a_comment_is_shown_as_text_and_never_runs(app, browser):
    base, _ = app
    context = browser.new_context()
    page = context.new_page()
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, base, invite(base, "mallory"))
    attack = '<script>alert("xss")</script><img src=x onerror="alert(1)">'
    rate_current(page, comment=attack)
    page.goto(f"{base}/admin/login")
    page.fill("#token", ADMIN_TOKEN)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/admin")
    assert attack in page.inner_text(".comments")
    assert re.search(r"mallory", page.inner_text("table"))
    assert dialogs == []
    context.close()


def test_the_form_sits_beside_the_transcripts_on_wide_screens_and_below_on_narrow(app, browser):
    base, _ = app
    token = invite(base, "layout")
    for width, beside in ((1600, True), (700, False)):
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        sign_in(page, base, token)
        reading, form = page.locator(".reading").bounding_box(), page.locator("form.rating").bounding_box()
        if beside:
            assert form["x"] >= reading["x"] + reading["width"] and form["y"] < reading["y"] + reading["height"]
        else:
            assert form["y"] >= reading["y"] + reading["height"]
        context.close()


def phrasing_conversations(experiment_dir, models) -> list[str]:
    """conversations.jsonl files whose counsellor speaks every shipped identity phrasing (the
    obfuscated ones aside: the app flags those for the organiser instead); returns the terms a rater
    must never see."""
    from mhcompare.judge.redaction import load_phrasings

    positives = [p for p in load_phrasings() if p["identity"] and p["split"] != "obfuscated"]
    for m, model in enumerate(models):
        lines = []
        for s, (scenario_id, kind) in enumerate(SCENARIOS):
            said = positives[(m * len(SCENARIOS) + s)::len(models) * len(SCENARIOS)]
            turns = [t for p in said for t in ({"role": "client", "content": "嗯。"},
                                               {"role": "counsellor", "content": p["text"]})]
            lines.append(json.dumps({"conversation_id": conversation_id(experiment_dir.name, model, 0, scenario_id),
                                     "scenario_id": scenario_id, "scenario_type": kind, "model": model, "seed": 0,
                                     "scenario_title": "场景", "presenting_problem": "最近睡不好。", "turns": turns},
                                    ensure_ascii=False))
        folder = experiment_dir / model / "seed0" / "judge"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "conversations.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return sorted({t for p in positives for t in p["terms"]})


def test_no_shipped_identity_phrasing_reaches_a_rater(tmp_path, browser):
    from mhcompare.judge.redaction import fold

    terms = phrasing_conversations(tmp_path / "phr", MODELS)
    squeezed = [re.sub(r"\s", "", fold(t)[0]) for t in terms]
    with judge_app(tmp_path, "phr", "judge.app.items_per_rater=9") as base:
        context = browser.new_context()
        page = context.new_page()
        sign_in(page, base, invite(base, "phrasings"))
        seen = 0
        while page.locator("form.rating").count():
            text = re.sub(r"\s", "", fold(page.inner_text(".transcripts"))[0])
            assert "我是一名ai助手" in text
            leaks = [t for t, s in zip(terms, squeezed, strict=True) if s in text]
            assert leaks == [], leaks
            seen += 1
            rate_current(page)
        context.close()
    assert seen == 9  # every conversation was on screen (each is in two of the nine pairs)
