"""The rating app's layout with real model output, in Debian's headless Chromium (issue #27): one
long unbroken word (a 240-character URL in a model's reply) wraps on the rating page, the live chat
and the organiser's page, at 1280 px and on a phone, checked by the page's width (scrollWidth no
wider than the viewport) with a screenshot of each; labels say where the conversations are (left
and right side by side, top and bottom when stacked); a half-filled rating survives a trip to
/live and back."""
import json
import os
from pathlib import Path

import pytest
from support.browser import ADMIN_TOKEN, CHROMIUM, chromium, invite, write_conversations
from support.live_chat import StreamingServer, live_app

URL = "https://example.org/share?f=" + "AbCdEfGh12" * 21 + "xy"  # 240 characters, nowhere a browser may break
MODELS = ["alpha-model", "beta-model"]
SAYS = f"这个页面也许有帮助：{URL} 你可以慢慢看，有问题随时说。"
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                 reason="needs Debian's chromium: bash scripts/install_chromium.sh")]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    assert len(URL) == 240
    outputs = tmp_path_factory.mktemp("outputs")
    write_conversations(outputs / "exp", MODELS)
    for path in (outputs / "exp").glob("*/seed0/judge/conversations.jsonl"):
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        for row in rows:
            row["turns"].append({"role": "client", "content": "还有别的资料吗？"})
            row["turns"].append({"role": "counsellor", "content": SAYS})
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    with StreamingServer(default=SAYS, model="m-a") as alpha, StreamingServer(default=SAYS, model="m-b") as beta, \
            live_app(outputs, "exp", {"alpha-model": alpha, "beta-model": beta}, "judge.live.max_turns=3") as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def signed_in(browser, base, viewport, token=None, admin=False):
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    path = "/admin/login" if admin else "/login"
    page.goto(f"{base}{path}")
    page.fill("#token", ADMIN_TOKEN if admin else token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/admin" if admin else f"{base}/rate")
    return context, page


def fits(page, shot) -> None:
    """The page is no wider than the screen (nothing to scroll sideways); a screenshot for people."""
    page.screenshot(path=str(shot), full_page=True)
    widths = page.evaluate("() => [document.documentElement.scrollWidth, document.body.scrollWidth, innerWidth]")
    assert max(widths[:2]) <= widths[2], (shot.name, widths)


@pytest.mark.parametrize("screen", list(VIEWPORTS))
def test_a_long_url_in_a_reply_wraps_on_every_page(app, browser, screen, tmp_path):
    """Screenshots go to $MHC_SCREENSHOTS when set (to look at them), else to the test's tmp folder."""
    viewport = VIEWPORTS[screen]
    if os.environ.get("MHC_SCREENSHOTS"):
        tmp_path = Path(os.environ["MHC_SCREENSHOTS"])
        tmp_path.mkdir(parents=True, exist_ok=True)
    context, page = signed_in(browser, app, viewport, invite(app, f"layout-{screen}"))
    assert URL in page.content()
    fits(page, tmp_path / f"rate-{screen}.png")  # before #27: 3,453 px wide at 1280
    page.goto(f"{app}/live")
    page.click("form.live-start button")
    page.wait_for_url(f"{app}/live")
    page.fill("form.live-message textarea", "有没有可以看的资料？")
    page.click("form.live-message button[type=submit]")
    page.wait_for_function("() => document.querySelector('.live-status').textContent.includes('已回复并保存')",
                           timeout=20000)
    assert page.content().count(URL) >= 2
    fits(page, tmp_path / f"live-{screen}.png")
    context.close()
    context, page = signed_in(browser, app, viewport, admin=True)
    fits(page, tmp_path / f"admin-{screen}.png")
    context.close()
    print(f"screenshots: {tmp_path}")


def test_labels_say_left_and_right_side_by_side_and_top_and_bottom_when_stacked(app, browser):
    token = invite(app, "labels")
    shown = {}
    for screen, viewport in VIEWPORTS.items():
        context, page = signed_in(browser, app, viewport, token)
        shown[screen] = page.locator(".transcript h3").all_inner_texts()
        columns = page.evaluate("() => getComputedStyle(document.querySelector('.transcripts')).gridTemplateColumns")
        shown[screen + "-columns"] = len(columns.split())
        context.close()
    assert shown["desktop"] == ["左侧对话", "右侧对话"] and shown["desktop-columns"] == 2
    assert shown["phone"] == ["上方对话", "下方对话"] and shown["phone-columns"] == 1  # before #27: 左侧/右侧


def test_a_half_filled_rating_survives_a_trip_to_live_and_back(app, browser):
    context, page = signed_in(browser, app, VIEWPORTS["desktop"], invite(app, "drafting"))
    item = page.get_attribute("form.rating", "action")
    page.check("input[name='left.empathy'][value='2']")
    page.fill("textarea[name=comment]", "写了一半")
    page.click("a[href='/live']")
    page.wait_for_url(f"{app}/live")
    page.go_back()
    page.goto(f"{app}/rate")  # a fresh load, as following the link back would be
    assert page.get_attribute("form.rating", "action") == item
    assert page.is_checked("input[name='left.empathy'][value='2']")  # before #27: lost on /live
    assert page.input_value("textarea[name=comment]") == "写了一半"
    context.close()
