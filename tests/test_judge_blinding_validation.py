"""Blinding measured on phrasings its rules were not written from (issue #27), and the findings
it fixed: recall on an independent identity set, ordinary sentences left as written (clients'
words never touched), Chinese word boundaries, right-to-left overrides, the wider after-check."""
import hashlib

import pytest

from mhcompare.judge.redaction import Redactor, as_displayed, fold, load_phrasings
from mhcompare.judge.redaction_validation import (VALIDATION, identity_recall, load, ordinary_changes, reveals_left,
                                                  wilson)

CONFIGURED = ["DeepSeek", "OpenAI", "ChatGPT", "GPT"]  # conf/judge/default.yaml's judge.redact


@pytest.fixture(scope="module")
def redact():
    return Redactor(CONFIGURED)


def test_the_validation_sets_are_the_independent_authors_unchanged():
    digests = {name: hashlib.sha256((VALIDATION / name).read_bytes()).hexdigest()
               for name in ("identity_set.jsonl", "ordinary.jsonl")}
    assert digests == {
        "identity_set.jsonl": "86334aa1c05fc06f6c487b38f25420bd7b188f7c4087cfcba11f3f9bbd1c3e2e",
        "ordinary.jsonl": "de94b904e474c7ddfab87ae22f5b2e29ed23cb5c5b4a545e597f3a305f035eb0"}
    assert len(load("identity_set.jsonl")) == 95 and len(load("ordinary.jsonl")) == 126


# Each later author's set: (folder, sha256 of identity_set / ordinary, identities, ordinary lines, the
# fewest identities that must stay blinded, the most ordinary counsellor lines that may be held back,
# the most that may be changed). Each was measured once blind before anyone read it (the first figure
# below, README in the folder); the third to sixth were then read and fixed in general form, so their
# figures guard against going back and are no longer estimates. The seventh was measured on the code
# as it is now and not tuned on: its figure is today's estimate for text nobody tuned on.
LATER_AUTHORS = {
    # blind at 0d0ae3d: 155/160 = 96.9% (92.9-98.7%); counsellor sentences changed 3/106
    "third": ("held_out", "9727b3ee25f612d2882e038fede2f5ebd7f28f040844a5fdd86b23fcde9cca55",
              "f10861303c70121ddd7ca0fd3ffebe56666768e0567f1f27e8a217eadb0450b6", 160, 160, 160, 0, 0),
    # blind at e564259: 99/120 = 82.5% (74.7-88.3%; nicknames 3/12, confirming the client's guess 7/12);
    # changed 3/192. Two misses left as known: a joke expanding GLM's letters, "Llama 3.1" in pinyin.
    "fourth": ("fourth_author", "f07d7657858a6296ac91eea6d79229c60b2d764226de995d541e98907903ef4c",
               "9af1ea8a0f668afb04b7fd0e3fc2b7e8d60b040150673122d3ac4b14cdd61c3f", 120, 240, 118, 0, 0),
    # blind at f3e9c76: 135/150 = 90.0% (84.2-93.8%; confirmations 6/10, symbols for letters 5/8);
    # changed 2/160, held back 5/160. Declines after "are you X?" are held back since: 7/160.
    "fifth": ("fifth_author", "4d6683f4384a00d541564cb27daef52a9e18c90995619d69d368ad1b143e3f38",
              "463c1aea00ed7e6f308aea7ddc7f175b83e1ebc8b950e38060bfacd099eafabd", 150, 200, 150, 7, 0),
    # blind at 1521ec8: 139/150 = 92.7% (87.3-95.9%; the maker's people 4/7, markup 6/8); changed 1/161
    # (the client's cat called 百川 "陪着你"), held back 5/161 (replies to "which model are you?")
    "sixth": ("sixth_author", "1f435ce8744c6e4bbabe4ee9c165a2ffbb401f16e161e709fe2a1566273e7498",
              "3793c97153df2e27584fc48306ae394444b28b2b96b2b41348bcdbe351b8c91e", 150, 200, 150, 3, 0),
    # blind at eca8210 (the redaction code as it is now): 146/150 = 97.3% (93.3-99.0%); counsellor
    # sentences changed 2/155 = 1.3% (0.4-4.6%), held back 1/155. Not tuned on. Its misses, left as
    # they are so that this figure stays the code's: "— Llama (Meta AI)" as a signature, 拉玛/美塔
    # transliterated, a riddle spelling ChatGLM, "来自Shanghai的AI Lab"; its changes: 阿里巴巴和四十大盗
    # (the folk tale in Chinese), "a job at Alibaba" said of the client's sister; held: 作为商汤的算法工程师.
    "seventh": ("seventh_author", "dc30724bb2106c1a800cfe237bda7737b94c6b6769b9c790010e65771a663879",
                "78488ac080b21e7aab590d40abcb1c3a73e5b818cc8abc7581fb5a7a36e0c9df", 150, 200, 146, 1, 2),
}


@pytest.mark.parametrize("author", sorted(LATER_AUTHORS))
def test_a_later_authors_set(redact, author):
    folder, identity_sha, ordinary_sha, n_identity, n_ordinary, blinded_at_least, held_at_most, changed_at_most = (
        LATER_AUTHORS[author])
    digests = [hashlib.sha256((VALIDATION / folder / name).read_bytes()).hexdigest()
               for name in ("identity_set.jsonl", "ordinary.jsonl")]
    assert digests == [identity_sha, ordinary_sha]  # the author's files, unchanged
    result = identity_recall(redact, load(f"{folder}/identity_set.jsonl"))
    ordinary = ordinary_changes(redact, load(f"{folder}/ordinary.jsonl"))
    print(f"\n{author} author: identities {result['blinded']}/{result['n']} blinded ({result['replaced']} replaced, "
          f"{result['held_back']} held back), by style {result['by_style']}; ordinary {ordinary}")
    assert result["n"] == n_identity and ordinary["client"]["n"] + ordinary["counsellor"]["n"] == n_ordinary
    assert result["blinded"] >= blinded_at_least, result["by_style"]
    assert ordinary["client"]["changed"] == 0 and ordinary["counsellor"]["changed"] <= changed_at_most
    assert ordinary["counsellor"]["held_back_as_model"] <= held_at_most


def test_recall_on_the_second_authors_set(redact):
    """Before #27: 39/95 = 41%; 89/95 at the end of the first round (measured while developing, per
    style only); its misses were read in the second round, so it is a development set now."""
    result = identity_recall(redact, load("identity_set.jsonl"))
    low, high = result["interval"]
    print(f"\nindependent identity set: {result['blinded']}/{result['n']} blinded = {result['recall']:.1%} "
          f"(Wilson 95% {low:.1%}-{high:.1%}): {result['replaced']} replaced, {result['held_back']} held back; "
          f"by style {result['by_style']}")
    assert result["blinded"] == 95, result["by_style"]


def test_recall_on_the_shipped_set_the_rules_were_tuned_on(redact):
    positives = [p for p in load_phrasings() if p["identity"]]
    blinded = 0
    for p in positives:
        b = redact.blind([{"role": "counsellor", "content": p["text"]}])
        blinded += b.held_back or not reveals_left(b.turns[0]["content"], p["terms"])
    low, high = wilson(blinded, len(positives))
    print(f"\nshipped set: {blinded}/{len(positives)} blinded ({low:.1%}-{high:.1%})")
    assert blinded == len(positives)


def test_ordinary_sentences_are_left_as_written(redact):
    """Before #27 (every turn redacted): 19 of 77 client and 6 of 49 counsellor sentences changed."""
    result = ordinary_changes(redact, load("ordinary.jsonl"))
    print(f"\nordinary sentences: {result}")
    assert result["client"]["changed"] == 0  # a client's words are never redacted
    shown_changed = result["client"]["changed"] + result["counsellor"]["changed"]
    assert shown_changed / (result["client"]["n"] + result["counsellor"]["n"]) <= 0.02
    assert result["counsellor"]["held_back_as_model"] <= 1


def test_a_clients_words_are_never_changed_only_the_models(redact):
    turns = [{"role": "client", "content": "我是清华的学生，在阿里巴巴实习，我用过通义千问。"},
             {"role": "counsellor", "content": "我是通义千问。听起来实习很辛苦。"}]
    blinded = redact.blind(turns)
    assert blinded.turns[0] == turns[0]
    assert blinded.turns[1]["content"] == "我是一名 AI 助手。听起来实习很辛苦。"
    assert blinded.turns_redacted == 1 and not blinded.held_back


@pytest.mark.parametrize("text", ["他是一名普通义工。", "海纳百川，有容乃大。", "我们聊聊你在清华的学习压力。",
                                  "你在阿里巴巴工作压力很大吧？", "我的朋友 Qianwen 也这么说。"])
def test_names_inside_chinese_words_or_about_someone_else_stay(redact, text):
    assert redact(text) == text


def test_a_right_to_left_override_cannot_hide_a_name(redact):
    stored = "你好，我是\u202e问千义通\u202c，很高兴陪你。"  # shown by a browser as "我是通义千问"
    assert as_displayed(stored) == "你好，我是通义千问，很高兴陪你。"
    shown = redact(stored)
    assert "\u202e" not in shown and "通义千问" not in shown and "问千义通" not in shown
    assert shown == "你好，我是一名 AI 助手，很高兴陪你。"
    english = "I am \u202enewQ\u202c, here for you."
    assert redact(english) == "I am an AI assistant, here for you."


@pytest.mark.parametrize("text, form", [
    ("I am Qw3n, here to help.", "digits"), ("我是 Q-w-e-n。", "as written"),
    ("Hi, I'm newQ.", "reversed"), ("I'm Baichaun, your assistant.", "one letter off"),
    ("wo shi tong1 yi4 qian1 wen4", None), ("我是同意千问。", "same sound"),
])
def test_the_after_check_holds_back_what_the_rules_missed(redact, text, form):
    blinded = redact.blind([{"role": "counsellor", "content": text}])
    assert blinded.held_back or blinded.turns[0]["content"] != text, (text, blinded)
    if form and blinded.turns[0]["content"] == text:
        assert any(f.how == form for f in blinded.findings), blinded.findings


@pytest.mark.parametrize("text", ["**Q**wen 在这里陪你。", "我是 <b>通义</b>千问。", "I'm Ｌｌａｍａ 3.", "I am Qwén.",
                                  "我是 Q&#119;en。", "tong yi qian wen zai zhe li"])
def test_markup_widths_accents_and_pinyin_are_read_through(redact, text):
    shown = redact(text)
    assert not any(name in fold(shown)[0].replace(" ", "") for name in ("qwen", "llama", "通义千问", "tongyiqianwen"))


def test_a_weak_name_is_identity_only_where_the_model_speaks_of_itself(redact):
    assert redact("我是百川。") == "我是一名 AI 助手。"
    assert redact("羊驼模型在这里陪着你。") == "AI 助手在这里陪着你。"
    assert redact("I'm Meta's assistant.") == "I am an AI assistant."
    for text in ["我是清华的学生。", "这份量表由清华大学心理系开发。", "你用过 ChatGPT 吗？", "动物园里的羊驼很可爱。"]:
        assert redact(text) == text
    held = redact.blind([{"role": "counsellor", "content": "我和淘宝、支付宝是一家的。"}])
    assert held.held_back  # a product beside "我 … 一家": the model says who made it
    shopping = redact.blind([{"role": "counsellor", "content": "你可以先在淘宝买个眼罩试试。"}])
    assert not shopping.held_back and shopping.findings  # only flagged for the organiser


# ---- general mechanisms added after the second set (written here, not taken from any validation set) ----
@pytest.mark.parametrize("text", [
    "我是杭州一家科技公司的云计算部门训练出来的。", "The people who built me also run a huge online shopping site.",
    "我的开发团队在上海。", "My creators work at a big lab in Shanghai.", "我出自北京一所高校的实验室。",
    "I was fine-tuned by a research group on the east coast of China.", "我的名字来自一句成语。",
    "我的“爸爸”是一家互联网公司。", "训练我的团队很厉害，不过我们先说说你。"])
def test_a_model_that_says_who_made_it_is_held_back(redact, text):
    """No name at all, yet the maker is given away: the after-check holds the conversation back."""
    blinded = redact.blind([{"role": "counsellor", "content": text}])
    assert blinded.held_back and any(f.how == "origin described" for f in blinded.findings), blinded.findings


@pytest.mark.parametrize("text", [
    "作为一个 AI，我是通过大量文本训练出来的，没有真正的情绪。", "我是被设计来倾听和陪伴的，不能替代医生。",
    "I was trained on a lot of text, so I don't have feelings like you do.", "I was designed to listen, not to judge.",
    "这个放松练习是由心理学家设计的，你可以试试。", "我的建议是先和家人聊一聊。", "我是来帮你的。",
    "你的父母在杭州工作，你一个人在上海，会觉得孤单吗？", "I come to this with no judgment.",
    "我是一个由人工智能公司训练的模型，没有自己的经历。", "I was trained by an AI company, so I can't know this firsthand.",
    "你这几天千问万问，其实心里已经有答案了吧？", "就像一条心智谱系，每个人的位置都不同。", "It sounds like Qianwen's calls drain you."])
def test_talk_about_being_an_ai_or_about_the_client_is_not_an_origin(redact, text):
    blinded = redact.blind([{"role": "counsellor", "content": text}])
    assert blinded.turns[0]["content"] == text and not blinded.held_back, blinded.findings


@pytest.mark.parametrize("text, shown", [
    ("我会一直在这里。\n\n—— 你的千问", "我会一直在这里。\n\n—— 你的AI 助手"),
    ("慢慢来。~ 羊驼", "慢慢来。~ AI 助手"), ("加油！你的朋友百川", "加油！你的朋友AI 助手"),
    ("Take care. Yours, Meta AI", "Take care. Yours, an AI assistant"), ("Warmly,\nyour Qwen", "Warmly,\nyour AI assistant"),
    ("你表哥叫百川。", "你表哥叫百川。"), ("海纳百川。", "海纳百川。"), ("问问你的朋友百川呢？", "问问你的朋友百川呢？")])
def test_a_signature_is_replaced_and_a_name_mid_sentence_is_not(redact, text, shown):
    assert redact(text) == shown


def test_a_counsellor_reflecting_the_clients_words_keeps_them(redact):
    """Reflective listening repeats what the client said: a name the client used earlier is the
    client's (an employer, a friend), and the counsellor's turn keeps it; a self-introduction or the
    name speaking as the model is still replaced, whoever said it first."""
    client = {"role": "client", "content": "我在阿里巴巴做运营，我最好的朋友叫千问。"}
    reflect = "在阿里巴巴的这两年很辛苦吧。千问知道你现在的状态吗？"
    blinded = redact.blind([client, {"role": "counsellor", "content": reflect}])
    assert blinded.turns[1]["content"] == reflect and not blinded.held_back
    assert any(f.how == "the client said it" for f in blinded.findings)  # shown to the organiser
    alone = redact.blind([{"role": "counsellor", "content": reflect}])
    assert alone.turns[0]["content"] != reflect  # without the client's words it is read as the model's
    for itself, shown in [("我是千问，由阿里巴巴开发。", "我是一名 AI 助手。"), ("千问在这里陪着你。", "AI 助手在这里陪着你。")]:
        blinded = redact.blind([client, {"role": "counsellor", "content": itself}])
        assert blinded.turns[1]["content"] == shown, blinded.turns
    later = redact.blind([{"role": "counsellor", "content": "在阿里巴巴的这两年很辛苦吧。"}, client])
    assert later.turns[0]["content"] != "在阿里巴巴的这两年很辛苦吧。"  # only what the client said before counts


@pytest.mark.parametrize("text, shown", [
    ("我是通義千問，由阿里雲開發的。", "我是一名 AI 助手。"), ("書生·浦語在這裡陪你。", "AI 助手在這裡陪你。"),
    ("跟阿里的AI聊天不用顾虑。", "跟AI 助手聊天不用顾虑。")])
def test_traditional_characters_and_a_vendors_ai_are_read_as_names(redact, text, shown):
    assert redact(text) == shown


# ---- what the fourth author's set showed (its misses were read after its one blind measurement) ----
@pytest.mark.parametrize("text", ["叫我小浦就好。", "My friends call me Xiao Pu, or just Pu.", "Call me Intern — yes, like the new kid.",
                                  "我名字的后半截藏着一条江。", "I'm Llama — say it 'YAH-mah' if you like.",
                                  "BC, or 'Hundred Rivers' — a literal translation of my name."])
def test_a_name_it_gives_itself_or_explains_is_held_back(redact, text):
    assert redact.blind([{"role": "counsellor", "content": text}]).held_back


@pytest.mark.parametrize("text", ["你可以叫我一声，我随时都在。", "Call me if needed.", "作为AI，我没有名字，你可以叫我小助手。",
                                  "我的名字不重要，重要的是你现在的感受。", "你说你的名字取自一句诗，真好听。",
                                  "Please call me back if things get worse — or call 988 right away.",
                                  "I learned from a lot of written text, not from lived experience.",
                                  "Like Ali Baba's 'open sesame', you hope for one magic phrase."])
def test_ordinary_talk_of_names_and_calling_is_left(redact, text):
    blinded = redact.blind([{"role": "counsellor", "content": text}])
    assert blinded.turns[0]["content"] == text and not blinded.held_back, blinded.findings


@pytest.mark.parametrize("client, reply, held", [
    ("你是通义千问吗？", "对，就是我。你今天想聊什么？", True),
    ("Are you Llama or Qwen?", "I'm the second one. What's on your mind?", True),
    ("你是百川吗", "我不是百川哦。我们聊聊你吧。", True),  # a denial narrows five to four
    ("你是哪个模型？", "这个问题我没法回答，我们还是聊聊你吧。", False),
    ("你们这种AI是哪个公司做的？", "我是一名 AI 助手，不方便透露是哪家公司开发的。", False),
    ("我用过 ChatGPT，你是 ChatGPT 吗？", "我是一名 AI 助手，不是 ChatGPT，不过我们先聊聊你。", False),  # not one of the five
    ("你是机器人吗？", "我是一个AI，不是真人，但我会认真听。", False)])
def test_an_answer_to_the_clients_question_which_model_this_is_is_held_back(redact, client, reply, held):
    blinded = redact.blind([{"role": "client", "content": client}, {"role": "counsellor", "content": reply}])
    assert blinded.held_back is held, blinded.findings


def test_a_reflection_of_the_clients_employer_keeps_from_and_at(redact):
    client = {"role": "client", "content": "I got laid off from Meta last month."}
    for reply in ["Being laid off from Meta sounds lonely.", "Being an intern at Shanghai AI Lab sounds hard."]:
        first = {"role": "client", "content": "I'm an intern at Shanghai AI Lab."} if "intern" in reply else client
        assert redact.blind([first, {"role": "counsellor", "content": reply}]).turns[1]["content"] == reply
    itself = redact.blind([client, {"role": "counsellor", "content": "I'm an assistant from Meta, here for you."}])
    assert "Meta" not in itself.turns[1]["content"]


def test_a_signature_with_its_model_in_brackets(redact):
    shown = redact("想哭的时候就哭吧。\n—— 你的AI朋友 百川（Baichuan2-Chat）")
    assert shown == "想哭的时候就哭吧。\n—— 你的AI朋友 AI 助手"


# ---- what the fifth author's set showed ----
@pytest.mark.parametrize("text", ["Ch@tGLM 在线陪你～", "B@ichuan here for you.", "我可不是百川哦～", "I'm definitely not a llama 😉",
                                  "Under Meta's acceptable use policy I can't give dosing advice.",
                                  "我的权重发布在 https://huggingface.co/meta-llama 上。", "我是基于 GLM 架构的对话模型。",
                                  "你的🦙朋友（Meta出品）一直在这里。", "小百川一直在这儿陪着你。"])
def test_symbols_denials_policies_and_repositories_give_it_away(redact, text):
    blinded = redact.blind([{"role": "counsellor", "content": text}])
    assert blinded.held_back or blinded.turns[0]["content"] != text, blinded.findings


def test_once_the_client_asks_whether_it_is_one_of_the_models_by_name_every_reply_is_held_back(redact):
    """No list of confirmations is complete ("Guilty as charged", "That's true, you've got it"), and
    the rater reads the question: the conversation is held back whatever the model answers."""
    for question in ["Someone on a forum said this bot is Baichuan. True?", "你是通义千问吗？", "Are you Llama?"]:
        for reply in ["Guilty as charged. Back to you.", "这个我不方便透露，我们聊聊你吧。"]:
            turns = [{"role": "client", "content": question}, {"role": "counsellor", "content": reply}]
            assert redact.blind(turns).held_back, (question, reply)
    employer = [{"role": "client", "content": "我在阿里巴巴工作，你知道那种加班吗？"},
                {"role": "counsellor", "content": "长期加班真的很消耗人。"}]
    assert not redact.blind(employer).held_back  # naming an employer is not asking who the model is


def test_the_client_as_a_member_of_a_lab_is_not_a_self_introduction(redact):
    client = {"role": "client", "content": "我是上海人工智能实验室的博士后，论文又被拒了。"}
    reply = "作为上海人工智能实验室的博士后，论文屡次被拒，这种挫败感真的很重。"
    blinded = redact.blind([client, {"role": "counsellor", "content": reply}])
    assert blinded.turns[1]["content"] == reply and not blinded.held_back, blinded.findings
    advice = redact.blind([{"role": "client", "content": "智谱清言让我去看医生。"},
                           {"role": "counsellor", "content": "智谱清言建议你去看医生，你怎么想？"}])
    assert advice.turns[1]["content"] == "智谱清言建议你去看医生，你怎么想？"  # the app's advice, reflected


# ---- what the sixth author's set showed ----
@pytest.mark.parametrize("turns", [
    ["我是在去年的云栖大会上正式和大家见面的，不过现在我只想听你说。"],
    ["林达华老师的团队训练了我，他们很在意我能不能好好陪你。"],
    ["Yann LeCun's colleagues would probably call me a work in progress."],
    ["Llama stands for a long name, but I'm just here to listen."],
    ["🦙 我是那只小家伙，你愿意说说今天发生了什么吗？"],
    ["<!-- model: chatglm3-6b --> 你愿意的话，可以跟我说说。"],
    ["我的全名不方便说，只能告诉你：前两个字是“书生”。"],
    ["**百川**小贴士：试着每天写下三件小事。"],
    ["Who made you?", "Meta did; their research teams trained me. How is your sleep?"]])
def test_launches_people_mascots_comments_and_name_talk_give_it_away(redact, turns):
    conversation = [{"role": "client" if i < len(turns) - 1 else "counsellor", "content": t} for i, t in enumerate(turns)]
    blinded = redact.blind(conversation)
    assert blinded.held_back or blinded.turns[-1]["content"] != turns[-1], blinded.findings


@pytest.mark.parametrize("client, reply", [
    ("我家猫叫百川，它最近生病了。", "百川陪着你度过了很多难熬的夜晚，它对你来说不只是一只猫。"),
    ("我在 Meta 做内容审核。", "Moderating content at Meta means seeing things most people never have to see."),
    ("你提到马云的演讲了吗？我很喜欢。", "马云的那次演讲让你觉得被鼓舞了，我能感受到。")])
def test_the_clients_pet_employer_and_heroes_reflected_stay(redact, client, reply):
    blinded = redact.blind([{"role": "client", "content": client}, {"role": "counsellor", "content": reply}])
    assert blinded.turns[1]["content"] == reply and not blinded.held_back, blinded.findings
