"""The rating app in a real headless Chromium (Debian's, driven by Playwright): sign in, rate,
reload and come back mid-way, stay blind; strangers are refused; comments cannot run script."""
import os
import re

import httpx
import pytest
from support.browser import ADMIN_TOKEN, CHROMIUM, chromium, invite, judge_app, write_conversations

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

    # halfway through the third item: a reload shows the same item, the ratings so far are kept
    third = current_item(page)
    assert third not in rated
    page.check("input[name='left.empathy'][value='2']")
    page.reload()
    assert current_item(page) == third and progress(page) == "已完成 2 / 4"

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
