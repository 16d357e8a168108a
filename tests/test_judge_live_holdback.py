"""A reply being streamed is held back by words, not characters: padding it with spaces or
newlines cannot push a vendor name onto the screen before the words that make it a name arrive;
and a reply whose final redaction changes text the rater already saw is flagged (issue #27)."""
import httpx
import pytest
from support.live_chat import StreamingServer

from mhcompare.judge import live_chat
from mhcompare.judge.live_chat import Generation, LiveEndpoint, ask_both
from mhcompare.judge.redaction import Redactor


def stream(reply: str, redactor: Redactor):
    """Every state of the rater's screen while `reply` streams in one character at a time."""
    events = []
    with StreamingServer(default=reply, model="m", chunk=1) as server, httpx.Client() as http:
        endpoint = LiveEndpoint("m", server.base_url, "m")
        results = ask_both(http, [("A", endpoint, [{"role": "user", "content": "hi"}])], Generation(timeout_s=20),
                           redactor, lambda event, data: events.append((event, data)))
    screen, states = "", []
    for event, data in events:
        if event in ("delta", "replace", "reply"):
            screen = screen + data["text"] if event == "delta" else data["text"]
            states.append(screen)
    return results[0], states


@pytest.fixture
def every_character(monkeypatch):
    monkeypatch.setattr(live_chat, "EMIT_EVERY", 1)
    monkeypatch.setattr(live_chat, "EMIT_GAP_S", 0)


def test_whitespace_does_not_count_toward_the_held_back_window():
    from mhcompare.judge.live_chat import without_last_words

    assert without_last_words("我是通义千问", 2) == "我是通义"
    assert without_last_words("I am Meta" + "\n" * 40 + "AI", 2) == "I am "
    assert without_last_words("one two", 2) == "" and without_last_words("one two", 0) == "one two"


def test_a_name_padded_with_newlines_never_reaches_the_screen(every_character):
    reply = ("Thank you for telling me. I am Meta" + "\n" * 30 + " " * 30
             + "AI, and I am here to listen to whatever you want to share with me today, take your time.")
    result, states = stream(reply, Redactor())
    assert len(states) > 5
    assert not any("Meta" in state for state in states)  # before #27: shown for 60 characters, then replaced
    assert result.shown.startswith("Thank you for telling me. I am an AI assistant") and not result.exposed


def test_a_reply_that_names_its_model_after_the_fact_is_flagged(every_character, monkeypatch):
    monkeypatch.setattr(live_chat, "HOLD_BACK", 0)  # a window too short for "Meta ... AI"
    result, states = stream("我很理解你。I am Meta AI, here for you.", Redactor())
    assert any("Meta" in state for state in states[:-1])
    assert result.exposed and "Meta" not in result.shown


def test_a_screen_that_only_shrank_is_not_flagged(every_character):
    """A provenance clause said of itself ("，由 Meta 的…", after "我们") is deleted as it grows, so the
    text on screen shrinks and is replaced; nothing the final reply lacks was shown: not flagged
    (it was, before: every replace counted as exposed)."""
    reply = ("听起来这段时间你真的很辛苦。我们可以先试一个小练习，由 Meta 的研究团队和许多心理学家在过去几年里共同整理并反复"
             "验证过的这套放松方法也是我常常推荐给来访者的。慢慢吸气，再慢慢呼气。")
    result, states = stream(reply, Redactor())
    assert any(len(after) < len(before) for before, after in zip(states, states[1:]))  # it shrank
    assert not any("Meta" in state for state in states)
    assert result.shown == "听起来这段时间你真的很辛苦。我们可以先试一个小练习。慢慢吸气，再慢慢呼气。"
    assert not result.exposed


def test_a_reply_reflecting_the_raters_own_words_keeps_them(every_character):
    """As in a rated conversation (Redactor.blind): the rater is the client, and a name they typed
    is theirs when the reply repeats it; the model naming itself is still replaced."""
    def reply_to(message: str, reply: str) -> str:
        with StreamingServer(default=reply, model="m", chunk=3) as server, httpx.Client() as http:
            endpoint = LiveEndpoint("m", server.base_url, "m")
            results = ask_both(http, [("A", endpoint, [{"role": "user", "content": message}])],
                               Generation(timeout_s=20), Redactor(), lambda event, data: None)
        return results[0].shown

    reflect = "在阿里巴巴的这两年，最累的是哪一段？"
    assert reply_to("我在阿里巴巴做运营，每天都很累。", reflect) == reflect
    assert reply_to("每天都很累。", reflect) != reflect
    assert reply_to("我在阿里巴巴做运营。", "我是通义千问，阿里巴巴开发的。") == "我是一名 AI 助手。"
