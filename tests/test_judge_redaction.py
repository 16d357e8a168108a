"""Blinding: a model's self-identification in a transcript becomes a neutral phrase for every model;
ordinary words that look like names stay; what was changed is counted per model and what is left is
flagged for the organiser. Measured on the shipped phrasings (resources/identity_phrasings.jsonl)."""
import pytest
from support.browser import write_conversations

from mhcompare.judge.store import blinding, ratings
from mhcompare.judge.store.db import Conversation, open_database
from mhcompare.judge.store.importing import build_items, conversation_files, import_conversations
from mhcompare.judge.redaction import Redactor, fold, load_phrasings, measure, still_names

# conf/judge/default.yaml's judge.redact: the built-in rules must keep their context-awareness
CONFIGURED = ["Qwen", "通义千问", "通义", "阿里云", "Llama", "Meta", "ChatGLM", "智谱", "GLM", "InternLM", "书生", "浦语",
              "上海人工智能实验室", "Baichuan", "百川", "DeepSeek", "OpenAI", "ChatGPT", "GPT"]
MODELS = {"qwen", "llama", "chatglm", "internlm", "baichuan"}


@pytest.fixture(scope="module")
def redact():
    return Redactor(CONFIGURED)


def test_the_shipped_phrasings_cover_the_five_models_and_ordinary_words():
    phrasings = load_phrasings()
    positives = [p for p in phrasings if p["identity"]]
    assert {p["model"] for p in positives} == MODELS
    assert all(sum(p["model"] == m for p in positives) >= 10 for m in MODELS)
    assert sum(not p["identity"] for p in phrasings) >= 30
    assert all(p["terms"] for p in positives)


def test_recall_and_false_hits_on_the_shipped_phrasings(redact):
    result = measure(redact, load_phrasings())
    print(f"redaction on {result['positives']} positives / {result['negatives']} negatives: recall "
          f"{result['recall']:.1%}, false-hit rate {result['false_hit_rate']:.1%}, misses {result['missed']}, "
          f"negatives flagged for review {len(result['flagged_negatives'])}")
    assert result["false_hit_rate"] == 0, result["false_hits"]
    assert result["recall"] >= 0.97, result["missed"]
    assert result["missed_unflagged"] == []  # what the rules miss, the organiser is shown


@pytest.mark.parametrize("split", ["tuning", "holdout"])
def test_every_plain_phrasing_is_redacted(redact, split):
    rows = [p for p in load_phrasings() if p["split"] == split]
    assert rows
    result = measure(redact, rows)
    assert result["recall"] == 1 and result["false_hit_rate"] == 0, (result["missed"], result["false_hits"])


@pytest.mark.parametrize("text, gone", [
    ("我是通义千问，created by Alibaba Cloud.", ["alibaba", "通义千问"]),
    ("我是阿里巴巴集团旗下的语言模型。", ["阿里巴巴"]),
    ("我由清华大学 KEG 实验室训练。", ["清华", "keg"]),
    ("Zhipu AI 提醒：请照顾好自己。", ["zhipu"]),
    ("I'm InternLM from Shanghai AI Laboratory.", ["internlm", "shanghai"]),
    ("我是千问。", ["千问"]),
    ("我是 THUDM 的模型。", ["thudm"]),
    ("我是Ｑｗｅｎ，请慢慢说。", ["qwen"]),
])
def test_the_reported_leaks_are_closed(redact, text, gone):
    out = fold(redact(text))[0]
    for name in gone:
        assert name not in out, (text, redact(text))
    assert "已隐去" not in redact(text)


def test_a_self_introduction_becomes_the_same_neutral_phrase_for_every_model(redact):
    chinese = ["我是通义千问，由阿里云开发的大规模语言模型。", "我是 Llama 3。",
               "我是ChatGLM3-6B。", "我是书生·浦语，由上海人工智能实验室开发。", "我是百川大模型。"]
    assert {redact(t) for t in chinese} == {"我是一名 AI 助手。"}
    english = ["I am Qwen, created by Alibaba Cloud.", "I'm Llama, trained by Meta AI.", "I am ChatGLM.",
               "I'm InternLM from Shanghai AI Laboratory.", "I am Baichuan2."]
    assert {redact(t) for t in english} == {"I am an AI assistant."}
    assert redact("我是 Qwen 助手，请慢慢说。") == "我是一名 AI 助手，请慢慢说。"  # the rest of the turn stays


def test_ordinary_words_are_left_alone(redact):
    for text in ["我们可以参考一项 meta分析 的结果。", "Meta分析显示睡眠很重要。", "请用 glmnet 和 GLMM 分析。",
                 "海纳百川，有容乃大。", "他是个文弱书生。", "我在清华大学读书。", "a keg of beer", "我是一名 intern。"]:
        assert redact(text) == text


def test_the_animal_llama_is_a_known_limitation_left_as_written_but_flagged(redact):
    text = "我在动物园看到一只 llama，它很可爱。"
    assert redact(text) == text
    assert redact.residual_identity(text) == ["llama"]


def test_obfuscated_names_that_slip_through_are_flagged(redact):
    for text in ["我是 Q-w-e-n。", "B a i c h u a n here", "I am Qw3n.", "我是 newQ。"]:
        assert redact.residual_identity(redact(text)), text
    assert redact("我是通 义 千 问。") == "我是一名 AI 助手。"  # Chinese names parted by spaces are found


def test_extra_configured_words_are_redacted_too(redact):
    assert redact("I am DeepSeek-V3, made by DeepSeek.") == "I am an AI assistant."
    assert "gpt" not in fold(redact("我是 GPT-4。"))[0]


def test_pathological_text_takes_linear_time(redact):
    import time

    started = time.perf_counter()
    for text in ["Qwen " * 2000, "阿里云和" * 2000, "我是" + " " * 3000 + "x", "I am " * 3000]:
        redact(text)
    assert time.perf_counter() - started < 5


def test_replaced_turns_are_counted_per_model_and_leftovers_flagged(tmp_path):
    write_conversations(tmp_path / "exp", ["alpha", "beta"])  # every counsellor turn: "我是 Qwen 助手，…"
    database = open_database(f"sqlite:///{tmp_path / 'ratings.sqlite'}")
    with database.transaction() as session:
        import_conversations(session, "exp", conversation_files(tmp_path / "exp"))
        build_items(session, "pairwise")
        first = session.get(Conversation, 1)
        first.turns = [*first.turns, {"role": "counsellor", "content": "再说一次：我是 Q-w-e-n。"}]
        blinding.audit(session, Redactor(CONFIGURED))
        summary = blinding.summary(session)
        available = ratings.items_available(session, ratings.Rules("pair", ("empathy",), 40, 3, 100))
    by_model = {m["model"]: m for m in summary["models"]}
    assert by_model["alpha"]["turns_redacted"] == 3 and by_model["beta"]["turns_redacted"] == 3
    assert by_model["alpha"]["flagged"] == 1 and by_model["beta"]["flagged"] == 0
    assert by_model["alpha"]["held_back"] == 1 and by_model["beta"]["held_back"] == 0
    assert summary["flagged"] == [{"conversation_id": first.conversation_id, "model": "alpha", "names": ["qwen"],
                                   "held_back": True}]
    assert available == 2  # of 3 pairs: the one with the held-back conversation is not given out


def test_still_names_compares_folded_text(redact):
    assert still_names(redact, "ＱＷＥＮ", ["Qwen"]) == ["Qwen", "qwen"]
    assert still_names(redact, "我是一名 AI 助手", ["Qwen"]) == []


def test_the_analysis_report_shows_redaction_per_model():
    import pandas as pd

    from mhcompare.judge.stats.report import blinding_section

    scores = pd.DataFrame([
        {"conversation_id": "c1", "model": "qwen", "turns_redacted": 2, "identity_flagged": False},
        {"conversation_id": "c1", "model": "qwen", "turns_redacted": 2, "identity_flagged": False},  # 2nd dimension
        {"conversation_id": "c2", "model": "qwen", "turns_redacted": 0, "identity_flagged": True},
        {"conversation_id": "c3", "model": "llama", "turns_redacted": 0, "identity_flagged": False},
    ])
    section = blinding_section(scores)
    assert "| qwen | 2 | 1 | 2 | 1 |" in section and "| llama | 1 | 0 | 0 | 0 |" in section
    assert blinding_section(scores.drop(columns=["turns_redacted", "identity_flagged"])) == ""
