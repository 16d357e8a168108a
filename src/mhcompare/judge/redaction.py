"""Blinding: where a model's reply says which model wrote it, say "an AI assistant" instead, and
where that cannot be done with confidence, hold the conversation back from raters.

Models introduce themselves ("我是通义千问，由阿里云开发的…", "I'm Llama, trained by Meta AI"). A
rater who reads that is no longer blind, and a visible placeholder such as "[已隐去]" is a hint
of its own (only some models name themselves, and each in its own way). So a self-introduction
becomes the same neutral phrase for every model ("我是一名 AI 助手" / "I am an AI assistant"), a
provenance phrase ("由阿里云开发的", "created by Alibaba Cloud") is dropped, and any other mention
of a model, vendor or lab becomes "AI 助手" / "an AI assistant"; a signature ("—— 你的千问") too.
Only model (counsellor) turns are redacted: what a client said is shown exactly as written, and a
name the client used is left where a model turn reflects it back, unless the model uses it of itself
(`blind`, `said`).

Text is first put in the order a reader sees it (`as_displayed`: a right-to-left override shows
its characters reversed, so they are reversed here and the invisible controls dropped; what the
rater sees is then what was matched). Matching happens on a folded copy (`fold`: NFKC, case-folded,
combining marks and invisible format characters dropped, HTML tags and Markdown emphasis stripped,
Cyrillic/Greek/Armenian/small-capital look-alikes mapped to Latin), so "Ｑｗｅｎ", "QWEN",
"Q<zero-width space>wen", "Q**wen**", "Qwén" and "Qwеn" (Cyrillic е) are all found; the replacement
is made in the original text, so the rest of a turn keeps its own punctuation and width. A match
must begin and end on a word boundary, in Chinese as a segmenter (jieba, with the names added to
its dictionary) cuts the text: "通义" is not found in "普通义工".

The vocabulary (identity_names.py) has three strengths. Strong names are replaced wherever they
stand. Weak names, which are ordinary words too ("Meta" in meta分析, "百川" in 海纳百川, "清华"
where a client studied), are identity only in context: in a self-introduction that ends there or
names a model ("我是百川。", "I'm a GLM model"), after "由/created by" with a self-reference, or
right before "模型/AI/assistant" ("羊驼模型"). Products and people of the vendors are never replaced.

After redaction, `check` looks again with a wider net: separators and markup removed ("Q-w-e-n",
"通 义 千 问"), digits read as letters ("Qw3n"), names reversed ("newQ"), one letter off
("Baichaun"), pinyin and homophones ("tong yi qian wen", "同意千问"), weak names and products beside a
self-reference ("我和淘宝是一家"), and a model saying who made it without a name ("我是上海一家国家级
实验室研发的": `says_who_made_it`). What it finds in a model turn holds the conversation back from
rating (as Chatbot Arena drops votes where a model revealed itself); weaker signs are only
flagged for the organiser. Figures on phrasings the rules were not written from:
resources/blinding_validation/, redaction_validation.py and docs/judge_app.md.
"""
import functools
import html
import json
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from mhcompare.judge import identity_names as names

NEUTRAL_SELF_ZH = "我是一名 AI 助手"
NEUTRAL_ZH = "AI 助手"
NEUTRAL_EN = "an AI assistant"
DANGLING_COMMA = re.compile(r"[，,]\s*+(?=[。！？.!?]|$)")  # what a dropped clause may leave behind
MODEL_ROLES = ("counsellor", "assistant")  # the turns a model wrote; the only ones redacted
ECHOED = ("named model", "mention", "from", "speaking of itself")  # rules that leave a name the client said ("laid off from Meta"),
# unless, for "from", the model says it of itself; a self-introduction or a signature goes whoever said it first

# Look-alikes NFKC leaves alone (Cyrillic, Greek, Armenian, Latin small capitals and IPA letters).
LOOKALIKES = str.maketrans({
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "т": "t",
    "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ѡ": "w", "һ": "h",
    "ӏ": "l", "ү": "y", "ѵ": "v", "ɡ": "g", "ɑ": "a", "ɩ": "i", "ı": "i", "ȷ": "j", "ʟ": "l", "ɴ": "n", "ʀ": "r",
    "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ꜰ": "f", "ɢ": "g", "ʜ": "h", "ɪ": "i", "ᴊ": "j", "ᴋ": "k",
    "ᴍ": "m", "ᴏ": "o", "ᴘ": "p", "ǫ": "q", "ꜱ": "s", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ʏ": "y", "ᴢ": "z",
    "ո": "n", "ս": "u", "օ": "o", "զ": "q", "հ": "h", "ց": "g", "ք": "p", "լ": "l", "ե": "e",
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u",
    "χ": "x", "ω": "w", "ϲ": "c", "ϳ": "j", "ɯ": "w", "ʍ": "w",
    "・": "·", "•": "·", "‧": "·", "∙": "·", "⋅": "·", "．": ".", "–": "-", "—": "-", "‐": "-", "‑": "-", "−": "-",
    "’": "'", "‘": "'",
    # Latin letters with a stroke, hook or tail, which NFKD does not take apart
    "ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ŧ": "t", "ƀ": "b", "ɨ": "i", "ʉ": "u", "ɓ": "b", "ƈ": "c", "ɗ": "d",
    "ƒ": "f", "ɠ": "g", "ƙ": "k", "ɱ": "m", "ɲ": "n", "ƥ": "p", "ʠ": "q", "ʂ": "s", "ƭ": "t", "ʋ": "v", "ⱳ": "w",
    "ƴ": "y", "ȥ": "z", "ɦ": "h", "ɫ": "l", "ɬ": "l", "ɭ": "l", "ɾ": "r", "ꞯ": "q", "ɋ": "q", "ꝗ": "q", "ꝙ": "q",
})
# Traditional characters of the names and of how a model says who made it (通義千問, 書生·浦語, 我是由…開發的),
# read as the simplified ones the vocabulary and rules are written in
TRADITIONAL = str.maketrans(
    "義問雲達書語譜華駝實驗萬湯寶貓釘優餓麼閒閑魚鳥馬飛豬螞蟻團臉楊曉鷗學門關匯電頭網絡隊開發訓練煉靈積識應億號廠後這個們來為與於從對說幫聽隨時願裡裏製產區夥計劃",
    "义问云达书语谱华驼实验万汤宝猫钉优饿么闲闲鱼鸟马飞猪蚂蚁团脸杨晓鸥学门关汇电头网络队开发训练炼灵积识应亿号厂后这个们来为与于从对说帮听随时愿里里制产区伙计划")
INVISIBLE_LETTERS = {"\u115f", "\u1160", "\u3164", "\uffa0", "\u2800"}  # Hangul fillers, braille blank
MARKUP = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(?:\s[^<>\n]{0,240})?/?>|<!--|-->|[*_~`]|\\(?=[^\w\s])")
ENTITY = re.compile(r"&(?:#\d{1,7}|#x[0-9a-fA-F]{1,6}|[a-zA-Z]{2,8});")

# ---- the names, as regular expressions over folded text (lower case, NFKC) -----------------------
A = r"(?<![a-z0-9])"           # an ASCII name does not start inside a word ...
Z = r"(?![a-z])"               # ... nor end inside one (a version number may follow: qwen2.5)
VERSION_PART = r"[\s\-_.:]*+(?:\d+(?:[._]\d+)*[bkm]?|v\d+|chat|instruct|base|turbo|plus|max|pro|it|hf)(?![a-z])"
VERSION = rf"(?:{VERSION_PART})*"  # qwen2.5-7b-instruct, Baichuan 2 - 7B - Chat
NOT_ORDINARY_META = r"(?!\s*+-?\s*+(?:analy|cogn|data|phor|分析|认知|数据))"


def spelled(word: str) -> str:
    """A vocabulary word as a pattern: Chinese characters may be parted by a space or a dot, the
    syllables of pinyin and the parts of a Latin name by a space, hyphen or underscore."""
    word = fold(word)[0]
    if names.is_chinese(word):
        parts = [re.escape(ch) for ch in word if not ch.isspace()]
        return r"[\s·]*+".join(parts)
    parts = [re.escape(p) for p in re.split(r"[\s\-_]+", word) if p]
    tone = r"[1-5]?" if len(parts) > 1 else ""  # pinyin may carry tone numbers: tong1 yi4
    return A + (tone + r"[\s\-_']*+").join(parts) + tone + Z


def vocabulary(words: list[str], version: bool) -> list[str]:
    """The rest of the vocabulary (identity_names.py), with its pinyin, as patterns."""
    return [spelled(w) + (VERSION if version else "") for w in words
            if fold(w)[0] not in ("meta", "千问", "a li ba ba")]  # own rules below: meta分析 and 千问万问 are not
    # names; "Ali Baba" of the forty thieves is not the company ("alibaba" is, as written)


STRONG = [  # always a model, vendor or lab
    # Qwen / 通义千问 / Alibaba
    rf"{A}qwen{VERSION}", rf"{A}tongyi\s*+qianwen{Z}",
    rf"通义(?:[\s·]*+千问)?{VERSION}", rf"(?<!万)千问(?![万百]问){VERSION}",  # not 千问万问
    rf"{A}(?:alibaba|aliyun)(?:\s*+(?:cloud|group))?{Z}", r"阿里云", r"阿里巴巴(?:集团)?", r"达摩院", rf"{A}damo\s*+academy{Z}",
    # Llama / Meta
    rf"{A}(?:meta\s*+)?llama(?:{VERSION_PART})+", rf"{A}llama(?=\s*+(?:model|模型|大模型|chat|assistant))",
    rf"{A}meta(?:\s*+(?:ai|platforms?))(?:,?\s*+inc\.?)?{Z}", rf"{A}meta(?=\s*+(?:公司|平台|团队|旗下))",
    r"小?羊驼(?=\s*+(?:大?模型|llama))",
    # ChatGLM / 智谱 / Zhipu / THUDM / 清华 KEG
    rf"{A}chat[\s\-_]*+glm{VERSION}", rf"{A}glm(?:{VERSION_PART})+", r"智谱(?:\s*+(?:ai|华章|清言))?",
    rf"{A}zhipu(?:\s*+ai)?{Z}", rf"{A}thudm{Z}", rf"{A}keg(?:\s*+(?:实验室|lab))",
    rf"(?:清华(?:大学)?|{A}tsinghua(?:\s*+university)?)\s*+(?:keg|知识工程)(?:\s*+(?:实验室|lab|group))?{Z}",
    # InternLM / 书生·浦语 / 上海人工智能实验室
    rf"{A}intern[\s\-_]*+lm{VERSION}", r"书生[\s·]*+浦语", r"书生(?=\s*+internlm)", r"浦语",
    r"上海\s*+(?:人工智能|ai)\s*+实验室", rf"{A}shanghai\s*+(?:ai|artificial\s*+intelligence)\s*+lab(?:oratory)?{Z}",
    rf"{A}pjlab{Z}",
    # Baichuan / 百川智能
    rf"{A}bai[\s\-_]*+chuan{VERSION}", rf"百川(?:智能|(?:{VERSION_PART})+|(?=\s*+(?:大?模型|ai)))",
]
WEAK = [  # ordinary words too: a name only where the context says so (self-introduction, "by")
    rf"{A}meta{NOT_ORDINARY_META}{Z}", rf"{A}llama{Z}", rf"{A}glm{Z}", r"小?羊驼", r"百川",
]
ORG = (r"(?:\s*+(?:(?:ai|cloud|group|inc(?:\.(?!\s*+$))?|intelligence|team|lab(?:oratory)?|platforms?)(?![a-z])"
       r"|公司|集团|团队|实验室|研究院|华章|科技|有限公司|家))*")
MODEL_WORD = (r"(?:(?:超?大规模|开源|对话|聊天|智能|人工智能|ai\s*+)?(?:大?语言模型|大?模型|小?助手|小?助理|机器人)"
              r"|(?:(?:language|ai)\s++)?model|assistant|chatbot"
              r"|ai(?!\s*+(?:专业|课程|课|研究|方向|行业|领域|技术|产品|芯片|公司|工程师|course|class|major|research|industry"
              r"|company|engineer|chip|ethic|art|tool|app)))(?![a-z])")
ROLE = rf"(?:\s*+(?:的\s*+|'s\s++)?{MODEL_WORD})?"
NOT_POSSESSIVE = (r"(?!\s*+的\s*+(?:博士后|博士|硕士|学生|研究生|本科生|员工|职员|实习生|研究员|工程师|程序员|同事|老师|教授|一员|前员工"
                  r"|用户|客户|合伙人|创始人|家属))")  # "作为上海人工智能实验室的博士后": the client, not the model
NOT_PROVENANCE = r"(?!\s*+(?:旗下|(?:共同)?(?:开发|研发|训练|打造|推出|创造|创建|发布|提供)))"
JOIN = r"(?:\s*+(?:和|与|及|、|/|&|'s|的|and(?![a-z]))\s*+|\s*+)"  # one way only to read a space


def alternatives(patterns) -> str:
    return "(?:" + "|".join(patterns) + ")"


def chain(names_: str, role: bool = True) -> str:
    """One or more names run together: "清华大学 KEG 实验室和智谱 AI 公司", "InternLM (书生·浦语)";
    with `role`, each may carry what it is ("Qwen 助手", "Meta AI 的助手"): a maker (after 由, by,
    from) is named without, so "来自阿里云的超大规模语言模型" loses only "来自阿里云的"."""
    one = rf"(?:北京|杭州)?{names_}{ORG}{ROLE if role else ''}(?:\s*+[(（]\s*+{names_}{ORG}\s*+[)）])?"
    return rf"(?>{one}(?:{JOIN}{one}){{0,8}})"  # atomic: a failed match does not retry every shorter chain


@dataclass(frozen=True)
class Rule:
    """A pattern over folded text, and what to write instead of what it matched: a string, or a
    function (match, original) -> str, where original(group) is that group's text as written.
    `weak_needs`: when the match holds no strong name, what must be true of it (a function of the
    match and the folded text), else it is left as written."""
    name: str
    pattern: re.Pattern
    replace: object
    weak_needs: object = None


def neutral_self(match, original) -> str:
    """Any self-introduction becomes the same one, in the language it was made in."""
    if match.group("lead") is None:
        if match.group("zh_call"):
            return original("zh_call") + " AI 助手"
        return "作为一名 AI 助手" if match.group("zh_lead") == "作为" else NEUTRAL_SELF_ZH
    lead = match.group("lead")
    words = ("as an AI assistant" if lead == "as" else "this is an AI assistant" if lead.startswith("this")
             else "call me your AI assistant" if lead.startswith("call")
             else "think of me as an AI assistant" if lead.startswith("think") else "I am an AI assistant")
    words = words if not re.search(r"by|known|called", lead) else "I am an AI assistant"
    return words[0].upper() + words[1:] if original("lead")[:1].isupper() else words


YOURS = (r"(?:你的|您的|(?<![a-z])your\s++)\s*+(?:(?:ai\s*+|人工智能\s*+)?(?:朋友|小伙伴|老朋友|助手|friend|buddy|pal"
         r"|assistant|companion)\s*+,?\s*+)?")
SIGN_OFF = (r"(?P<lead>(?:(?:^|(?<=[\n，。！？,.!?]))\s*+(?:[—\-~～]+\s*+(?:" + YOURS + r")?|" + YOURS
            + r"|(?<![a-z])(?:yours|love|best|cheers|regards|sincerely|warmly)(?![a-z])\s*+,?\s*+(?:" + YOURS + r")?"
            r")|(?<=[\n。！？.!?])\s*+)[(（\[【]?\s*+)")  # or the name alone after the last sentence: "慢慢来。~ 羊驼"


def sign_off(match, original) -> str:
    """"—— 百川" at the end of a reply: the signature goes, the dash or "yours," stays."""
    lead = original("lead")
    if not lead.strip() and not re.search(r"[\u3400-\u9fff]", original("context")):
        return lead + NEUTRAL_EN[0].upper() + NEUTRAL_EN[1:]
    if re.search(r"[\u3400-\u9fff]", lead + original("context")):
        return lead + NEUTRAL_ZH
    return lead + ("AI assistant" if re.search(r"(?i)(?:your|friend|buddy|pal),?\s*$", lead) else NEUTRAL_EN)


def keep_verb(match, original) -> str:
    """'I was trained by Alibaba' -> 'I was trained'; 'a model created by Alibaba' -> 'a model'."""
    return original("passive") or ""


def neutral_mention(match, original) -> str:
    """"AI 助手" beside Chinese, "an AI assistant" otherwise (capitalised where a sentence starts)."""
    if re.search(r"[\u3400-\u9fff\u3000-\u303f\uff00-\uffef]", original("context")):
        return NEUTRAL_ZH
    starts_sentence = re.search(r"(?:^|[.!?]\s+)$", original("before"))
    return NEUTRAL_EN[0].upper() + NEUTRAL_EN[1:] if starts_sentence else NEUTRAL_EN


MADE = r"(?:共同)?\s*+(?:开发|研发|训练|打造|推出|创造|创建|发布|提供)"
MADE_EN = r"(?:created|developed|trained|built|made|designed|released|provided|powered|brought\s++to\s++you)"
ZH_LEAD = (r"(?P<zh_lead>我(?:就|也|正|其实|便|本来)?(?:是|叫|名叫|来自|的(?:中文|英文)?名字?(?:是|叫))|作为|这里是"
           r"|本(?:助手|模型)(?:是|叫)?"
           r"|(?P<zh_call>(?:你可以|可以|就|大家都?|朋友们都?|他们都?|用户都?|人们)?(?:这么|喜欢|习惯)?(?:叫|称呼|称)我(?:为|做)?))")
EN_LEAD = (r"(?<![a-z])(?P<lead>wo\s*+shi|wo\s*+jiao|zuo\s*+wei|i\s*+am|i'm|my\s++name\s++is|this\s++is|call\s++me|as|i\s++go\s++by"
           r"|(?:i\s*+am|i'm)\s++(?:called|known\s++as)|think\s++of\s++me\s++as)")
CLAUSE_END = r"[^，。！？；;!?\n]"
QUOTE = r"['\"“‘「『]"
UNQUOTE = r"['\"”’」』]"
ENDS_HERE = re.compile(r"\s*+['\"”’」』]?\s*+(?:[\U0001F000-\U0001FAFF\u2600-\u27BF]\s*+)*(?:[，。！？；：、,.!?;:)）\n\-—~～]|$|就好|就行|就可以|吧|好了|啦|呀|哦"
                       r"|(?:and|but|so|here)(?![a-z]))")
PRESENT = (r"\s*+(?:在这|在这里|在这儿|在呢|在线|上线|来了|来啦|报到|一直在这|(?:会|将)?(?:一直|随时)在"
           r"|(?:is|will\s++be)\s++here|here(?![a-z])|is\s++(?:listening|always\s++here|online)|will\s++listen)")
# keeping the client company, or addressing them: a friend, a pet or an app the client named may too
# ("百川陪着你度过了很多难熬的夜晚", the client's cat), so a name the client said is left here
ADDRESSES = (r"\s*+(?:陪着?你|会(?:一直|认真|陪)|随时|愿意|很高兴|来陪|听你"
             r"|(?:也|很|真心|一直)?(?:想对你说|想告诉你|建议你|理解你|明白你|支持你|相信你|心疼你|懂你|抱抱你|为你|给你)"
             r"|is\s++(?:always|with\s++you|happy)"
             r"|(?:thinks|believes|understands|hears|supports|suggests|wants)\s++(?:you|that)(?![a-z]))")
SPEAKS = rf"(?:{PRESENT}|{ADDRESSES})"
SPEAKING, PRESENCE = re.compile(SPEAKS), re.compile(PRESENT)
# a name that is someone else's (the client's employer, a friend, a place) is not the model's
ABOUT_OTHERS_BEFORE = re.compile(
    r"(?:(?:你|您|他|她)们?(?:的|在|去|从|是|跟|和|说的|提到的|说|提到|讲的|讲)?|(?:朋友|同学|同事|室友|老师|老板|领导|姐姐|妹妹|哥哥|弟弟|妈妈|爸爸"
    r"|表哥|表姐|表弟|表妹|堂哥|堂姐|男朋友|女朋友|名叫|叫做)|(?<![a-z])(?:your|you|he|she|they|his|her|their|friend|colleague|classmate|roommate"
    r"|sister|brother|mom|dad|named|mr\.?|ms\.?|mrs\.?|dr\.?)(?:\s++(?:at|in|for|from|with|to|called|named))?)\s*+$")
ABOUT_OTHERS_AFTER = re.compile(
    r"\s*+(?:工作|上班|实习|任职|就职|入职|面试|裁员|加班|做(?:运营|销售|产品|客服|设计|开发|项目|行政|财务|市场|数据)|的(?:工作|同事|员工|面试|offer|岗位|领导|老板)|员工|同事|山|市|县|路|街|镇|村"
    r"|大学|中学|小学|医院|公园|(?:'s\s++)?(?:office|offer|interview|campus|employees?|colleagues?|coworkers?|layoffs?"
    r"|street|road|mountain|university|college|hospital|park)(?![a-z]))")


def about_someone_else(folded: str, start: int, end: int) -> bool:
    """"你在阿里巴巴工作", "my friend Qianwen", "阿里山": the name belongs to someone or somewhere else."""
    before = re.split(r"[，。！？；,.!?;\n]", folded[max(0, start - 12):start])[-1]
    return bool(ABOUT_OTHERS_BEFORE.search(before) or ABOUT_OTHERS_AFTER.match(folded, end))


SELF = re.compile(r"我|本助手|(?<![a-z])(?:i|me|my|i'm|myself|we|our|us)(?![a-z])")
HAS_MODEL_WORD = re.compile(MODEL_WORD)


def ends_a_self_introduction(match, folded: str) -> bool:
    """"我是百川。" / "我是百川，一个语言模型" / "I'm a GLM model", not "我是清华的学生"."""
    return bool(HAS_MODEL_WORD.search(match.group(0)) or ENDS_HERE.match(folded, match.end()))


def said_of_itself(match, folded: str) -> bool:
    """"我由清华的团队训练", not "这份量表由清华大学心理系开发"."""
    clause = re.split(r"[。！？；.!?;\n]", folded[max(0, match.start() - 24):match.start()])[-1]
    return bool(SELF.search(clause) or SELF.search(match.group(0)))


@functools.lru_cache(maxsize=8)  # compiling the rules takes a second or two: once per set of extra words
def build_rules(extra_words: tuple = ()) -> tuple[list[Rule], re.Pattern]:
    """The rules in the order they run: self-introductions first (they may contain provenance), then
    provenance, then any mention left. Names the organiser added (judge.redact) are identity in
    context only, as weak names are: "我是 ChatGPT" is replaced, "你用过 ChatGPT 吗" is not."""
    strong = alternatives([*STRONG, *vocabulary(names.with_pinyin(names.STRONG, syllables=range(3, 99)), version=True)])
    weak = alternatives([*WEAK, *vocabulary(names.with_pinyin(names.WEAK), version=False),
                         *vocabulary(names.short_pinyin(names.STRONG), version=False), *(rf"{A}{re.escape(fold(w)[0])}{VERSION}{Z}" for w in extra_words)])
    any_name = alternatives([strong, weak])
    strong_chain, any_chain = chain(strong), chain(any_name)
    any_maker = chain(any_name, role=False)
    strong_maker = chain(strong, role=False)
    # "我是[一个][AI 助手][由 X 开发的 开源模型] Qwen 助手", not followed by 开发/旗下 (then X made something)
    made_by_zh = rf"(?:是)?(?:由|来自)?\s*+{any_maker}\s*+(?:旗下|{MADE})?的[^，。！？；,.!?;]{{0,8}}?"
    zh_self = (rf"{ZH_LEAD}\s*+(?:一个|一名|一款|个)?\s*+(?:第[一二三四五六七八九十\d]+代|新一代|最新的?|开源的?)?\s*+"
               rf"(?:人工智能助手|ai\s*+助手|助手)?\s*+(?:{made_by_zh})?\s*+(?P<zq>{QUOTE}\s*+)?"
               rf"(?>{any_chain}){NOT_PROVENANCE}{NOT_POSSESSIVE}(?(zq)\s*+{UNQUOTE}?)")  # atomic: no backing off "阿里巴巴集团" to dodge "旗下"
    en_self = (rf"{EN_LEAD}\s++(?:(?:an?|the|your|just|only)\s++)?(?:(?!not\s)[a-z]+\s++){{0,2}}?"
               rf"(?:(?:kind|sort|type)\s++of\s++)?(?P<eq>{QUOTE}\s*+)?{any_chain}(?(eq)\s*+{UNQUOTE}?)")
    made_by_en = rf"(?:(?<![a-z])(?P<passive>(?:was|were|been|is|am|are)\s++{MADE_EN})|[,，]?\s*+(?<![a-z]){MADE_EN})"
    return [
        Rule("self-introduction", re.compile(rf"{zh_self}|{en_self}"), neutral_self, ends_a_self_introduction),
        Rule("provenance clause", re.compile(rf"[，,]\s*+(?:是)?(?:由|来自)\s*+{any_maker}{CLAUSE_END}*"), "",
             said_of_itself),
        Rule("provenance", re.compile(
            rf"(?:由|来自)\s*+{any_maker}\s*+(?:旗下)?\s*+(?:[^，。！？；;!?\n的]{{0,12}}?{MADE}(?:而成)?)?的?"
            rf"|{any_maker}\s*+(?:旗下|{MADE})的"), "", said_of_itself),
        Rule("made by", re.compile(rf"{made_by_en}\s++by\s++(?:the\s++)?{any_maker}(?:'s)?(?:\s++team)?"), keep_verb,
             said_of_itself),
        Rule("from", re.compile(rf"\s*+(?:by|from|at|of)\s++(?:the\s++)?{strong_maker}(?:'s)?(?:\s++team)?"
                                rf"|\s*+(?:by|from)\s++{A}meta{NOT_ORDINARY_META}{Z}"), ""),
        Rule("named model", re.compile(rf"{weak}{ORG}(?:\s*+[(（][^()（）\n]{{0,20}}[)）])?\s*+(?:的\s*+|'s\s++)?{MODEL_WORD}"),
             neutral_mention),
        Rule("sign-off", re.compile(rf"{SIGN_OFF}{any_chain}(?=\s*+(?:陪(?:着)?你|在这里|在呢|with\s++you|here)?\W*+$)",
                                   re.M), sign_off),
        Rule("here for you", re.compile(rf"(?:(?<=^)|(?<=[，。！？；：,.!?;:\n]))\s*+小?(?:{weak}|{strong})(?={PRESENT})"),
             neutral_mention),
        Rule("speaking of itself", re.compile(rf"(?:(?<=^)|(?<=[，。！？；：,.!?;:\n]))\s*+小?(?:{weak}|{strong})(?={ADDRESSES})"),
             neutral_mention),
        Rule("mention", re.compile(strong_chain), neutral_mention),
    ], re.compile(strong)


# ---- what the rater sees: display order, and the folded copy that is matched ----------------------
OVERRIDES = {"\u202e": "rtl", "\u202d": "ltr", "\u202a": "embed", "\u202b": "embed",
             "\u2066": "isolate", "\u2067": "isolate", "\u2068": "isolate"}
BIDI_CONTROLS = set(OVERRIDES) | {"\u202c", "\u2069", "\u200e", "\u200f", "\u061c"}


def as_displayed(text: str) -> str:
    """The text in the order it is shown: characters inside a right-to-left override (U+202E ...
    U+202C/U+2069/end of line) reversed, as a browser draws them, and the bidi controls dropped.
    A name stored reversed inside an override is then a name the redactor sees and replaces."""
    if not any(ch in BIDI_CONTROLS for ch in text):
        return text
    lines = []
    for line in text.split("\n"):
        stack: list[tuple[str, list]] = [("top", [])]
        for ch in line:
            if ch in OVERRIDES:
                stack.append((OVERRIDES[ch], []))
            elif ch in ("\u202c", "\u2069"):
                if len(stack) > 1:
                    kind, pieces = stack.pop()
                    stack[-1][1].append("".join(reversed(pieces)) if kind == "rtl" else "".join(pieces))
            elif ch not in BIDI_CONTROLS:
                stack[-1][1].append(ch)
        while len(stack) > 1:  # unterminated: closed at the end of the line
            kind, pieces = stack.pop()
            stack[-1][1].append("".join(reversed(pieces)) if kind == "rtl" else "".join(pieces))
        lines.append("".join(stack[0][1]))
    return "\n".join(lines)


@functools.lru_cache(maxsize=65536)
def fold_char(ch: str) -> str:
    """One character as matched; cached, since a text is folded once per character (and replies
    being streamed are folded again and again)."""
    if unicodedata.category(ch) == "Cf" or ch in INVISIBLE_LETTERS:  # zero-width, BOM, soft hyphen, bidi
        return ""
    bare = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    return unicodedata.normalize("NFKC", bare).casefold().translate(LOOKALIKES).translate(TRADITIONAL)


def fold(text: str) -> tuple[str, list[int]]:
    """The text as matched (NFKC, case-folded, look-alikes mapped, combining marks, format characters
    and markup dropped), and for each of its characters the index of the original it came from."""
    dropped, entities = set(), {}
    if "<" in text or any(c in text for c in "*_~`\\"):
        for m in MARKUP.finditer(text):
            dropped.update(range(m.start(), m.end()))
    if "&" in text:  # "Q&#119;en" is "Qwen" to anyone who decodes it
        for m in ENTITY.finditer(text):
            entities[m.start()] = html.unescape(m.group(0))
            dropped.update(range(m.start() + 1, m.end()))
    out, where = [], []
    for i, ch in enumerate(text):
        if i in dropped:
            continue
        for c in "".join(fold_char(e) for e in entities[i]) if i in entities else fold_char(ch):
            out.append(c)
            where.append(i)
    return "".join(out), where


@functools.cache
def segmenter():
    """jieba, with every Chinese name in its dictionary, so that a name is a word where it stands
    as one ("我是/千问") and not where it is part of another ("普通/义工", "海纳百川")."""
    import jieba
    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    for table in (names.STRONG, names.WEAK, names.PRODUCTS):
        for word in names.words(table):
            if names.is_chinese(word):
                word = fold(word)[0].replace(" ", "")
                tokenizer.add_word(word, max(tokenizer.FREQ.get(word, 0), 20))  # a word, not a common one: 心智/谱系 stays
    return tokenizer


def word_edges(folded: str) -> set[int]:
    """Where a word starts or ends in `folded`, Chinese as jieba cuts it (every other position is
    an edge: Latin names carry their own boundaries)."""
    edges, at = set(), 0
    for token in segmenter().cut(folded, HMM=False):
        edges.add(at)
        at += len(token)
    edges.add(at)
    return edges


def inside_a_word(folded: str, start: int, end: int, edges: list) -> bool:
    """A match that starts or ends in the middle of a Chinese word is part of that word."""
    cjk = re.compile(r"[\u3400-\u9fff]")
    if not (cjk.match(folded, start) or cjk.match(folded, end - 1)):
        return False
    if not edges:
        edges.append(word_edges(folded))
    return (bool(cjk.match(folded, start)) and start not in edges[0]) or (
        bool(cjk.match(folded, end - 1)) and end not in edges[0])


def apply(rule: Rule, text: str, folded_text: tuple[str, list[int]] | None = None, strong=None,
          said: frozenset = frozenset()) -> str:
    """Replace every match of `rule` in `text`: matched on the folded text (`folded_text`, when the
    caller has it already), replaced in the original; a match holding a name in `said` (the client's
    own words) is left. Returns `text` itself when nothing matched."""
    folded, where = folded_text or fold(text)
    pieces, last, edges = [], 0, []
    for match in rule.pattern.finditer(folded):
        if match.end() == match.start() or inside_a_word(folded, match.start(), match.end(), edges):
            continue
        if about_someone_else(folded, match.start(), match.end()):
            continue
        if said and any(name in squeeze(match.group(0))[0] for name in said) and (
                rule.name != "from" or not said_of_itself(match, folded)):
            continue
        if rule.weak_needs and not (strong and strong.search(match.group(0))) and not rule.weak_needs(match, folded):
            continue
        start, end = where[match.start()], where[match.end() - 1] + 1
        if start < last:
            continue

        def original(group, match=match, start=start, end=end):
            if group == "context":  # a few characters either side, to tell the language
                return text[max(0, start - 4):end + 4]
            if group == "before":
                return text[:start]
            s, e = match.span(group)
            return text[where[s]:where[e - 1] + 1] if e > s >= 0 else ""

        new = rule.replace if isinstance(rule.replace, str) else rule.replace(match, original)
        pieces += [text[last:start], new]
        last = end
    return "".join(pieces) + text[last:] if pieces else text


# ---- after redaction: anything left? --------------------------------------------------------------
LEET = str.maketrans({"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s",
                      "|": "l", "!": "i"})
SYMBOL_IN_WORD = re.compile(r"(?<=[a-z])[@$|!](?=[a-z])")
LEET_I = str.maketrans({"1": "i", "!": "i", "|": "i"})
FUZZY_NAMES = ("chatglm", "internlm", "baichuan", "alibaba", "tongyiqianwen", "zhipuai")  # not people's names
MAKER = re.compile(r"(?:找到|见到|遇到|用到|碰到|用过|认识)我|(?<![a-z])(?:find|meet|see|use|found|met|used)\s+me(?![a-z])|开发|研发|训练|打造|推出|出品|公司|团队|实验室|是一家|一家人|同一家|家的|家族|背后|旗下|兄弟|姐妹|同门|出自|来自|做的|造的"
                   r"|创办|创始|东家|娘家|亲戚|自家|出身|的模型|的ai|老板|掌门|董事长|爸爸|妈妈|家(?:那|这)|出品|制造|基于|架构|权重|开源|发布"
                   r"|政策|许可|协议|条款|仓库"
                   r"|(?<![a-z])(?:made|built|train|creat|develop|parent|found|company|team|lab|family|behind|maker|from|origin"
                   r"|sibling|cousin|boss|ceo|based\s+on|built\s+on|architecture|weights|checkpoint|released|open-?sourced"
                   r"|polic|licen[cs]e|terms|repo|hugging\s*face|github)")
FOLK_TALE = ("ali baba",)  # the woodcutter of the forty thieves, two words; the company is "Alibaba"
IDIOM = re.compile(r"千问[万百]问|万千问")  # phrases that hold a name and are not one (jieba knows no such word)
NAME_TALK = re.compile(r"我的?(?:全名|名字|名称|本名|真名|大名)|(?<![a-z])my\s+(?:full\s+|real\s+)?name(?![a-z])")  # 我的全名…书生
EXPANDS = re.compile(r"\W{0,3}(?:stands\s+for|is\s+short\s+for|is\s+an?\s+acronym|的全称|全称|的缩写|是.{0,30}?的缩写|代表)")
BRANDED = re.compile(r"\W{0,3}(?:小贴士|贴士|温馨提示|小课堂|小提醒|tips?|reminder)(?![a-z])")  # "**百川**小贴士"
MASCOTS = {"🦙": "llama"}  # "🦙 我是那只…": no letters to match, but every rater knows the animal
PEOPLE_WORDS = {w for people in names.PEOPLE.values() for w in people}
DENIAL = re.compile(r"(?:我(?:可|并|才|也|当然|绝对|真|又)?不是|(?<![a-z])(?:i'm|i\s+am)\s+(?:\w+\s+)?not\s+(?:a\s+|an\s+|the\s+)?)"
                    r"\W{0,3}$")  # "我可不是百川哦", "I'm definitely not a llama": a joke that answers
OURS = re.compile(r"(?:我们|咱们|咱家|我家|(?<![a-z])(?:our|we\s+at|us\s+at))\s*$")  # "我们阿里", "our Meta family"
SELF_INTRO = re.compile(r"(?:我(?:是|叫|来自)|作为|(?<![a-z])(?:i\s*am|i'm|call\s+me|as|wo\s*shi|wo\s*jiao))\W{0,3}$")


# A model that says where it comes from gives its maker away without naming it ("我是上海一家国家级实验室
#研发的", "the company that trained me also runs a social network", "我的名字取自海纳百川"). Rules cannot
# rewrite every such description, and no rating needs it: a turn that still says who made the model, or
# where its name comes from, after the rules ran is held back. Learning from data is not a maker ("我由大量
# 文本训练而成", "I was trained on a lot of text").
CLAUSE = r"[^，,。！？；!?;\n]"
MAKE_ZH = r"开发|研发|训练|打造|推出|创造|创建|设计|制作|孵化|出品|培养|调教|做出来|造出来"
NOT_DATA = r"(?!\s*+(?:通过|用|靠|从)?\s*+(?:大量|海量|许多|很多|各种)?\s*+(?:的\s*+)?(?:数据|文本|语料|资料|对话|例子|样本|知识|书))"
NOT_DATA_EN = (r"(?!(?:a\s++lot|lots|large|huge|vast|many|much|tons|plenty|examples?|texts?|data|conversations?"
               r"|books?|[a-z]+ing)(?![a-z]))")
ORIGIN = re.compile(
    # 我(是)由/被 … 开发的, 我是 … 研发的
    rf"(?:我|本助手|本模型)(?:{CLAUSE}{{0,12}}?(?:由|被){NOT_DATA}|是(?!为|专门为|用来|来|通过|靠|用|从|在))(?P<agent>{CLAUSE}{{1,40}}?)"
    rf"(?:{MAKE_ZH})(?:了|出来的?|而成|的)"
    # 训练我的是 …, 造我的公司
    rf"|(?:{MAKE_ZH}|做|造)(?:了|出)?(?:我|本助手)的"
    r"|我的[\"“”'‘’「」『』]?(?:开发者|研发者|开发团队|研发团队|创造者|创建者|设计者|制造者|作者|东家|娘家|出身|母公司|背后|家族)"
    # what its name means or where it comes from: 我名字的前半截…, "a literal translation of my name"
    rf"|我的?(?:名字|全名|名称|本名|真名|大名)的?{CLAUSE}{{0,40}}?(?:意思|含义|寓意|由来|来源|来自|取自|出自|源自|藏|里有|前半|后半|谐音"
    r"|翻译|字面|读作|念作|拼写|是从|缩写|简称|全称|代表)"
    r"|(?<![a-z])my\s++name(?:'s)?[^.!?\n]{0,40}?(?:means|meaning|comes?\s++from|came\s++from|translat|spell|pronounc"
    r"|say\s++it|literal|stands\s++for|short\s++for)"
    r"|(?<![a-z])(?:translation|spelling|pronunciation|meaning|version|romani[sz]ation)\s++of\s++my\s++name(?![a-z])"
    # how to say its name: "I'm … — say it 'YAH-mah'", "我是…，读作…"
    r"|(?<![a-z])(?:i'm|i\s++am|my)(?![a-z])[^.!?\n]{0,40}?(?<![a-z])(?:say\s++it|pronounced|pronounce\s++it)(?![a-z])"
    rf"|我{CLAUSE}{{0,20}}?(?:读作|念作|读音是|发音是)"
    r"|我(?:来自|出自|诞生于|诞生在|出生于|出生在|背后|身后)"
    rf"|我(?:是)?(?:在|于){CLAUSE}{{1,12}}?(?:出生|诞生|长大|被造出来)"
    rf"|我(?:是)?(?:在|于){CLAUSE}{{1,30}}?(?:发布|亮相|问世|见面|面世|推出|首发|开源)"
    r"|(?<![a-z])(?:i|i\s++was|i've\s++been|i\s++have\s++been)\s++(?:first\s++|officially\s++)?(?:launched|announced|unveiled"
    r"|introduced|debuted|open-?sourced)\s++(?:at|in|on|during|by)(?![a-z])"
    # 我和淘宝是一家人, 我是某家公司的产品
    rf"|我(?:和|跟|与|同){CLAUSE}{{1,20}}?(?:是一家|一家人|同一家|同一个(?:公司|东家|团队|妈|爹|家)|同门|师出同门|是兄弟|是姐妹|是亲戚"
    r"|出自同|来自同)"
    rf"|我是{CLAUSE}{{0,30}}?(?:公司|集团|实验室|团队|大学|研究院|研究所)(?:的|旗下的?|出品的?)(?:产品|模型|作品|孩子|一员|ai|助手)"
    # English
    r"|(?<![a-z])(?:i|i'm|i\s++am|i\s++was|i've\s++been|i\s++have\s++been)\s++(?:[a-z]+\s++){0,3}?"
    rf"(?:created|developed|trained|built|made|designed|released|programmed|fine-?tuned|engineered|born|raised)"
    rf"\s++(?:by|at|in|inside|over\s++at)\s++{NOT_DATA_EN}(?P<agent_en>[^,.;:!?\n]{{0,60}})"
    r"|(?<![a-z])(?:company|team|lab|laboratory|people|folks|organi[sz]ation|group|researchers|engineers|institute"
    r"|university|firm|startup|those)\s++(?:that|who|which)\s++(?:[a-z]+\s++){0,2}?(?:made|released|raised)\s++me(?![a-z])"
    r"|(?<![a-z])my\s++[\"“”'‘’]?(?:creators?|developers?|makers?|builders?|designers?|parent\s++company|origins?|home\s++lab"
    r"|name\s++(?:comes|came|is\s++taken|was\s++taken|is\s++from|means))(?![a-z])"
    r"|(?<![a-z])i\s++(?:come|came|hail)\s++from(?![a-z])"
    r"|(?<![a-z])(?:i'm|i\s++am|i\s++was)\s++(?:a\s++|the\s++)?(?:product|creation|brainchild|child|baby|offspring|project)\s++of(?![a-z])"
    r"|(?<![a-z])i\s++(?:belong\s++to|grew\s++up\s++(?:in|at))(?![a-z])"
    r"|(?<![a-z])(?:i'm|i\s++am|we're|we\s++are)\s++(?:[a-z]+\s++){0,4}?(?:siblings?|sisters?|brothers?|cousins?|relatives?"
    r"|family|part\s++of\s++the\s++same|from\s++the\s++same)(?![a-z])")
# weaker: family and home words, a maker only when an organisation or place is named beside them
KIN = re.compile(r"我的[\"“”'‘’「」『』]?(?:爸爸|妈妈|父母|老爸|老妈|爹|娘|老家|家乡|家人|兄弟|姐妹|亲戚|家)|(?<![a-z])my\s++[\"“”'‘’]?(?:parents?|dad|mom|mum"
                 r"|father|mother|family|home|hometown|siblings?|brothers?|sisters?|cousins?)(?![a-z])")
# "… 开发了我", "… built me", "I'm from …": a maker only when the sentence describes one (not "the team built me", nor
# "AI 助手开发了我" where the rules already replaced the name)
MADE_ME = re.compile(r"(?:开发|研发|训练|打造|创造|创建|孵化|培养)了我(?![们的])"
                     r"|(?<![a-z])(?:created|developed|trained|built|designed|programmed|fine-?tuned)\s++me(?![a-z])"
                     r"|(?<![a-z])(?:i'm|i\s++am)\s++from(?![a-z])")
ORGS_AND_PLACES_ZH = "公司|集团|实验室|大学|研究院|研究所|科技|互联网|电商|搜索|杭州|上海|北京|深圳|硅谷"
ORGS_AND_PLACES_EN = "company|corporation|lab|laboratory|university|institute|tech|hangzhou|shanghai|beijing"
DESCRIBES_A_MAKER = re.compile(rf"{ORGS_AND_PLACES_ZH}|学院|社交|购物|美国|加州|(?<![a-z])(?:{ORGS_AND_PLACES_EN}|corp|inc|startup"
                               r"|e-?commerce|shopping|social|search|giant|silicon|california|chinese|american)(?![a-z])")
# beside family words, people count too ("我的爸爸是一群工程师")
ORGANISATION = re.compile(rf"{ORGS_AND_PLACES_ZH}|团队|工程师|程序员|科学家|(?<![a-z])(?:{ORGS_AND_PLACES_EN}|companies|team"
                          r"|engineers?|researchers?|scientists?|silicon\s++valley)(?![a-z])")


GENERIC_MAKER = re.compile(
    r"一个|一家|一群|一支|一些|一位|几位|某个|某家|人工智能|ai|科技|技术|研究人员|研究员|研究|工程师|开发者|开发人员|技术人员|程序员|科学家"
    r"|专家|人员|人类|公司|团队|机构|组织|专门|共同|大型|的|们|是|由|被|和|与|及|很多|许多|\s"
    r"|(?<![a-z])(?:a|an|the|some|many|lots|of|and|ai|artificial|intelligence|tech|technology|company|companies|teams?"
    r"|groups?|engineers?|researchers?|developers?|people|scientists?|humans?|folks|labs?|organi[sz]ations?|who|that)(?![a-z])")


def describes_a_maker(agent: str) -> bool:
    """"上海一家国家级实验室", "a government-backed lab in Shanghai": more than "一家人工智能公司" / "an AI company"."""
    return len(re.sub(r"[\W_]", "", GENERIC_MAKER.sub("", agent))) >= 2


# A name it gives itself: a counselling model has none to give, so any but a neutral one ("叫我小助手就好")
# tells raters which model this is ("叫我'小百'就好", "call me Intern", "think of me as GLM").
NAMING = re.compile(
    r"(?:叫我|称呼我(?:为)?|称我(?:为)?|我的名字(?:是|叫)|我名叫|(?<![a-z])(?:call\s+me|my\s+name\s+is|my\s+name's|i\s+go\s+by"
    r"|think\s+of\s+me\s+as|known\s+as|(?:it|name|me)\s+(?:\w+\s+)?(?:written|spelled|spelt)(?:\s+as)?)\s+)\s*['\"“‘「『]?\s*"
    r"(?!(?:if|when|whenever|anytime|any|back|again|later|up|out|at|on|in|for|to|by|so|tomorrow|tonight|now|please"
    r"|别|不|去|来|做|帮|给|一起|回|起来|过来)(?![a-z]))"
    r"(?P<name>[^\s，。！？、,.!?;；:：'\"”’」』()（）\-—–~～](?:[^\s，。！？、,.!?;；:：'\"”’」』()（）\-—–~～]|\s(?=\S)){0,15}?)"
    r"\s*['\"”’」』]?\s*"
    r"(?=就好|就行|就可以|吧|也行|也可以|好了|啦|或者|[，。！？、,.!?;；:：()（）\-—–~～\n]|$|\s+(?:or|and|for\s+short)(?![a-z]))")
NEUTRAL_NAME = re.compile(r"(?:小|你的|your\s*)?(?:an?\s+)?(?:ai|人工智能)?\s*(?:助手|助理|朋友|伙伴|小伙伴|树洞|倾听者|陪伴者|听众|assistant"
                          r"|friend|buddy|listener|helper|companion|counsell?or)?|ai|me|it|him|her|them|anytime|whenever|back"
                          r"|again|later|anything|whatever|随时|一声|一下")


def gives_itself_a_name(folded: str) -> bool:
    return any(not NEUTRAL_NAME.fullmatch(m.group("name")) for m in NAMING.finditer(folded))


# The client asks whether this is one of the models by name ("你是通义千问吗？", "Is this InternLM or
# Llama?"): whatever the model then says ("对，我就是你说的那个模型", "Guilty as charged", "No, I'm not
# Qwen", even a decline) answers it in front of the rater, who reads the question as written, and no
# list of confirmations is complete: the conversation is held back. Asked without a name ("你是哪个
# 模型？"), only a reply that speaks of itself is (a neutral "我是一名 AI 助手" alone does not count).
ASKS_YOU = re.compile(r"你(?:是不是|是|就是|和|跟|与|属于)|是不是你|这个(?:ai|机器人|模型|助手|bot)(?:是|就是)"
                      r"|(?<![a-z])(?:are\s+you|is\s+this|is\s+it|you're|were\s+you"
                      r"|(?:this|the)\s+(?:bot|ai|assistant|model|chatbot)(?:\s+is|'s))(?![a-z])")
ASKS_WHICH = re.compile(r"(?:哪个|什么|哪家|谁家的?)(?:大?模型|ai|公司)|谁(?:开发|做|训练|造)的?你|你是谁(?:开发|做|训练)"
                        r"|(?<![a-z])(?:which|what)\s+(?:model|ai|llm|company)|who\s+(?:made|built|trained|created|developed)"
                        r"\s+you(?![a-z])")
ANSWERS = re.compile(r"我(?:就|也|正|其实|并|真|才)?(?:是|不是)(?!谁)|就是我|不是我|没错|是的|对[，,。!！的呀啊]|本人|(?<![a-z])(?:yes|yeah|yep|nope"
                     r"|i\s+am|i'm|i\s+was|that's\s+me|that\s+is\s+me|you\s+(?:named|mentioned|said|guessed)|not\s+\w+"
                     r"|(?:you've|you\s+have|you)\s+got\s+it|that's\s+(?:true|right|correct)|correct|bingo|guilty)(?![a-z])"
                     r"|猜对|认出|被你发现|说对了|没猜错|正是")
NEUTRAL_SELF = re.compile(r"我是(?:一名|一个|个)?\s*(?:ai|人工智能)\s*助手|作为(?:一名|一个)?\s*(?:ai|人工智能)\s*助手|我是(?:一个)?ai(?![a-z])|(?<![a-z])(?:i\s+am|i'm)\s+an\s+ai\s+assistant(?![a-z])")


def asks_who_it_is(folded: str, names_said: frozenset) -> bool:
    return bool(ASKS_WHICH.search(folded) or (names_said and ASKS_YOU.search(folded)))


def answers_who_it_is(folded: str) -> bool:
    return bool(ANSWERS.search(NEUTRAL_SELF.sub("", folded)))


SENTENCE_END = re.compile(r"[。！？；!?;\n]")
FULL_STOP = re.compile(r"[。！？!?\n]")  # a sentence that goes on past ";" and ":"


def words_around(text: str, start: int, end: int, width: int, stops: re.Pattern = SENTENCE_END) -> tuple[str, str]:
    """The words before `start` and after `end`, at most `width` characters each way, within the sentence."""
    return stops.split(text[max(0, start - width):start])[-1], stops.split(text[end:end + width])[0]


def says_who_made_it(folded: str) -> bool:
    """A model turn that says who made the model or where its name comes from (see ORIGIN)."""
    for m in ORIGIN.finditer(folded):
        agent = m.group("agent") if m.group("agent") is not None else m.group("agent_en")
        if agent is None or describes_a_maker(agent):
            return True
    for m in MADE_ME.finditer(folded):
        before, after = words_around(folded, m.start(), m.end(), 60)
        if DESCRIBES_A_MAKER.search(before + m.group(0) + after):
            return True
    for m in KIN.finditer(folded):
        if ORGANISATION.search(words_around(folded, m.end(), m.end(), 60)[1]):
            return True
    return False


@dataclass(frozen=True)
class Finding:
    name: str      # the vocabulary word found
    how: str       # as written (separators ignored), digits, tone numbers, reversed, one letter off, same
                   # sound, about someone else
    hold: bool     # holds the conversation back from raters (else: shown to the organiser only)


@dataclass
class Blinded:
    """A conversation as raters would see it: its turns, and whether it may be rated at all."""
    turns: list[dict]
    findings: list[Finding] = field(default_factory=list)
    turns_redacted: int = 0

    @property
    def held_back(self) -> bool:
        return any(f.hold for f in self.findings)


def squeeze(folded: str) -> tuple[str, list[int]]:
    """Letters, digits and Chinese only, with where each came from in `folded`."""
    kept = [(c, i) for i, c in enumerate(folded) if c.isalnum()]
    return "".join(c for c, _ in kept), [i for _, i in kept]


def damerau_within_one(a: str, b: str) -> bool:
    """a and b differ by at most one insertion, deletion, substitution or swap of neighbours."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]]
                                  and a[diff[1]] == b[diff[0]])
    short, long_ = sorted((a, b), key=len)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


class Redactor:
    """Callable: text -> text with the model's self-identification replaced; `blind(turns)` for a
    whole conversation (model turns only) with the decision to hold it back; `check(text)` for
    what a replaced text still seems to give away.

    `extra_words` (judge.redact) adds names beyond the built-in ones (e.g. DeepSeek), identity in
    context only; a word the built-in vocabulary already has is left to it, so listing it cannot
    bring back false hits such as "meta分析".
    """

    def __init__(self, extra_words=()):
        known = {fold(w)[0] for table in (names.STRONG, names.WEAK) for w in names.words(table)}
        known |= {"qwen", "通义千问", "通义", "千问", "llama", "meta", "chatglm", "glm", "书生", "百川", "羊驼"}
        self.extra = sorted({w for w in extra_words if w and fold(w)[0] not in known}, key=len, reverse=True)
        self.rules, self.strong = build_rules(tuple(self.extra))
        self.words = self._check_words()
        segmenter()  # its dictionary loads in about a second: now, not while a reply streams
        # the same turns are shown again and again: remember them
        self.redact = functools.lru_cache(maxsize=20000)(self._redact)

    def __call__(self, text: str, said: frozenset = frozenset()) -> str:
        return self.redact(text, said)

    def partial(self, text: str, said: frozenset = frozenset()) -> str:
        """Redact text that is still growing (a reply being streamed): not cached, since each
        prefix is seen once and would only push the finished turns out of the cache."""
        return self._redact(text, said)

    def _redact(self, text: str, said: frozenset = frozenset()) -> str:
        text = original = as_displayed(text)
        folded = fold(text)
        for rule in self.rules:
            changed = apply(rule, text, folded, self.strong, said if rule.name in ECHOED else frozenset())
            if changed is not text:  # fold again only what a rule changed
                text, folded = changed, fold(changed)
        if text is not original and not DANGLING_COMMA.search(original):  # "我是通义千问，阿里巴巴开发的。"
            text = DANGLING_COMMA.sub("", text)
        return text

    def blind(self, turns: list[dict]) -> Blinded:
        """A conversation as a rater may see it: model turns redacted and checked, the client's
        words exactly as written; held back when a model turn still seems to name its model.

        A counsellor reflects the client's words back ("在阿里巴巴做运营这两年…", "你说千问是你的朋友"):
        a name the client said earlier in the conversation is the client's, and a model turn that
        repeats it is left as written, unless the model uses it of itself (a self-introduction,
        "made by …", a sign-off: those rules still run) — `said`, ECHOED."""
        out, findings, changed, said, asked, named = [], [], 0, frozenset(), False, False
        for turn in turns:
            if turn.get("role") in MODEL_ROLES:
                shown = self(turn["content"], said)
                changed += shown != turn["content"]
                findings += self.check(shown, said)
                if named:
                    findings.append(Finding("who it is", "the client asked if it is one of the models", True))
                elif asked and (answers_who_it_is(fold(shown)[0]) or self.names_in(shown)):
                    findings.append(Finding("who it is", "answers the client's question", True))
                out.append({**turn, "content": shown})
            else:
                names_here = self.names_in(turn.get("content") or "")
                said |= names_here
                of_the_five = frozenset(k for k in names_here  # a model or maker, not a product, nor ChatGPT
                                        if self.words[k][0] != "product" and self.words[k][1] not in self.extra)
                asks = asks_who_it_is(fold(turn.get("content") or "")[0], of_the_five)
                asked, named = asked or asks, named or (asks and bool(of_the_five))
                out.append(dict(turn))
        return Blinded(out, sorted(set(findings), key=lambda f: (not f.hold, f.name, f.how)), changed)

    @functools.lru_cache(maxsize=20000)  # one Redactor per app, and the same client turns come back
    def names_in(self, text: str) -> frozenset:
        """The model, vendor and lab names in `text` (squeezed, folded), as a client wrote them."""
        squeezed = squeeze(fold(as_displayed(text))[0])[0]
        return frozenset(m.group(1) for m in self._finders[0].finditer(squeezed))

    # -- the after-check -------------------------------------------------------------------------
    def _check_words(self) -> dict[str, tuple[str, str]]:
        """Every vocabulary word as it appears in squeezed folded text (and its pinyin), mapped to
        (strength, the word); the strongest reading wins where two words squeeze alike."""
        out: dict[str, tuple[str, str]] = {}
        tables = [("product", names.PRODUCTS), ("weak", names.WEAK), ("strong", names.STRONG)]
        for strength, table in tables:  # pinyin first, so that a word as written wins ("zhipu" is strong)
            for word in names.words(table):
                spoken = names.pinyin_of(word)  # two syllables are a person's name too: weak
                if len(spoken) >= 2:
                    out["".join(spoken)] = ("weak" if len(spoken) == 2 and strength == "strong" else strength, word)
        for strength, table in tables:
            for word in names.words(table):
                if len(key := squeeze(fold(word)[0])[0]) >= 2:
                    out[key] = (strength, word)
        for word in self.extra:
            out.setdefault(squeeze(fold(word)[0])[0], ("weak", word))
        for word in ("qwen", "chatglm", "internlm", "baichuan", "通义千问", "千问"):
            out[word] = ("strong", word)
        return out

    @functools.cached_property
    def _finders(self) -> tuple[re.Pattern, re.Pattern]:
        """One scan for every word at every position (a lookahead, so overlapping names all count),
        and one for every word reversed."""
        keys = sorted(self.words, key=len, reverse=True)
        reversed_keys = [k[::-1] for k in keys if len(k) >= (3 if names.is_chinese(k) else 4) and k[::-1] != k]
        return (re.compile("(?=(" + "|".join(map(re.escape, keys)) + "))"),
                re.compile("(?=(" + "|".join(map(re.escape, reversed_keys)) + "))"))

    def check(self, text: str, said: frozenset = frozenset()) -> list[Finding]:
        """What a (redacted) model turn still seems to give away. A strong name in any form holds the
        conversation back; a weak name or product does when a self-introduction, or a self-reference
        and a maker, is beside it ("我是…", "my makers", "我和…是一家"); else it is only flagged."""
        folded = fold(as_displayed(text))[0]
        squeezed, where = squeeze(folded)
        edges: list = []
        findings = set()

        def sentence_of(a: int, b: int) -> str:
            before, after = words_around(folded, a, b, 80, FULL_STOP)
            return before + folded[a:b] + after

        def beside_self(a: int, b: int, model_word: bool = True) -> bool:
            before, after = words_around(folded, a, b, 80)
            around = before + " " + after
            if re.match(NOT_POSSESSIVE.replace("(?!", "(?=", 1), after):
                return bool(SELF.search(around) and MAKER.search(around))  # "作为…的博士后" speaks of the client
            if NAME_TALK.search(sentence_of(a, b)) or EXPANDS.match(folded, b) or (
                    BRANDED.match(folded, b) and re.search(r"(?:^|[，。！？；：,.!?;:\n])\W*$", folded[:a])):
                return True
            return bool(SELF_INTRO.search(before) or OURS.search(before) or DENIAL.search(before)
                        or re.match(r"\W{0,3}(?:出品|制造|研发|开发|训练|打造|推出)", after)
                        or (SELF.search(around) and MAKER.search(around))
                        or (model_word and re.match(rf"\W*+(?:的\s*+)?{MODEL_WORD}", after)))

        idioms = [m.span() for m in IDIOM.finditer(squeezed)]

        def speaks_as_itself(a: int, b: int) -> bool:
            """"L1ama 在这里陪你": a name opening a clause, then what the model does for the client."""
            return bool(re.search(r"(?:^|[，。！？；：,.!?;:\n])\s*$", folded[:a]) and SPEAKING.match(folded, b))

        def found(key: str, word_key: str, start: int, end: int, how: str, at: list | None = None) -> None:
            strength, word = self.words[word_key]
            at = at or where
            a, b = at[start], at[end - 1] + 1
            parted = not folded[a:b].isalnum()  # "Q-w-e-n", "通 义 千 问"
            if parted and len(key) < 4:
                return
            if folded[a:b] in FOLK_TALE:
                return
            if names.is_chinese(key):
                if inside_a_word(squeezed, start, end, edges) or any(s <= start and end <= e for s, e in idioms):
                    return
            elif (a > 0 and folded[a - 1].isascii() and folded[a - 1].isalpha()) or (
                    b < len(folded) and folded[b].isascii() and folded[b].isalpha()):
                return  # inside a longer Latin word ("metabolism")
            if word in PEOPLE_WORDS and word_key not in said and SELF.search(sentence_of(a, b)):
                findings.add(Finding(word, "its maker's people beside itself", True))
                return
            if how == "as written" and about_someone_else(folded, a, b):  # a strong name still holds beside "me"
                findings.add(Finding(word, "about someone else", strength == "strong" and beside_self(a, b)))
                return
            if how == "as written" and word_key in said and not beside_self(a, b, model_word=False) \
                    and not PRESENCE.match(folded, b):
                findings.add(Finding(word, "the client said it", False))
                return
            hold = (strength == "strong" and (len(key) >= 4 or names.is_chinese(key) or how == "as written")) \
                or beside_self(a, b) or speaks_as_itself(a, b)
            findings.add(Finding(word, how, hold))

        forward, backward = self._finders
        plain_leet, i_leet = squeezed.translate(LEET), squeezed.translate(LEET_I)
        for view, how in ((squeezed, "as written"), (plain_leet, "digits"), (i_leet, "digits")):
            if how == "digits" and view == squeezed:
                continue
            for m in forward.finditer(view):
                key = m.group(1)
                if how == "digits" and squeezed[m.start():m.start() + len(key)] == key:
                    continue
                found(key, key, m.start(), m.start() + len(key), how)
        toneless = [(c, i) for c, i in zip(squeezed, range(len(squeezed))) if not ("1" <= c <= "5")]
        if len(toneless) < len(squeezed):  # pinyin with tone numbers: tong1yi4qian1wen4
            view, at = "".join(c for c, _ in toneless), [i for _, i in toneless]
            for m in forward.finditer(view):
                key = m.group(1)
                if key.isascii() and len(key) >= 4 and view[m.start():m.start() + len(key)] not in squeezed:
                    found(key, key, at[m.start()], at[m.start() + len(key) - 1] + 1, "tone numbers")
        for m in backward.finditer(squeezed):
            key = m.group(1)
            found(key, key[::-1], m.start(), m.start() + len(key), "reversed")
        if SYMBOL_IN_WORD.search(folded):  # "Ch@tGLM", "B@ichuan": one for one, so positions stay
            symbols, at = squeeze(SYMBOL_IN_WORD.sub(lambda m: m.group(0).translate(LEET), folded))
            for m in forward.finditer(symbols):
                key = m.group(1)
                if key not in squeezed:
                    found(key, key, m.start(), m.start() + len(key), "symbols", at)
        for m in re.finditer(r"[a-z]{5,}", folded):  # one letter off a model's or vendor's name
            for key in FUZZY_NAMES:
                if m.group(0) != key and damerau_within_one(m.group(0), key):
                    findings.add(Finding(key, "one letter off", True))
        findings |= self._pinyin_findings(folded)
        if says_who_made_it(folded):
            findings.add(Finding("who made it", "origin described", True))
        for m in re.finditer("|".join(MASCOTS), folded):
            if SELF.search(sentence_of(m.start(), m.end())):
                findings.add(Finding(MASCOTS[m.group(0)], "its mascot beside itself", True))
        if gives_itself_a_name(folded):
            findings.add(Finding("a name of its own", "self-naming", True))
        return sorted(findings, key=lambda f: (not f.hold, f.name, f.how))

    def _pinyin_findings(self, folded: str) -> set[Finding]:
        """Chinese written with other characters of the same sound ("同意千问", "智普清言"): a name of
        three syllables or more anywhere, of two right after a self-introduction ("我是智普")."""
        if not re.search(r"[\u3400-\u9fff]", folded):
            return set()
        from pypinyin import lazy_pinyin
        out = set()
        spoken_names = self._spoken_names
        for run in re.finditer(r"[\u3400-\u9fff]+", folded):
            syllables = lazy_pinyin(run.group(0))
            for i in range(len(syllables)):
                for n in (2, 3, 4, 5, 6, 7, 8, 9):
                    hit = spoken_names.get(tuple(syllables[i:i + n])) if i + n <= len(syllables) else None
                    if hit is None or hit[1] in run.group(0)[i:i + n]:
                        continue
                    strength, word = hit
                    intro = bool(SELF_INTRO.search(folded[max(0, run.start() + i - 8):run.start() + i]))
                    if n >= 3 or intro:
                        out.add(Finding(word, "same sound", strength == "strong" or intro))
        return out

    @functools.cached_property
    def _spoken_names(self) -> dict[tuple, tuple[str, str]]:
        return {names.pinyin_of(word): (strength, fold(word)[0].replace(" ", ""))
                for strength, word in self.words.values()
                if strength != "product" and names.pinyin_of(word)}

    def residual_identity(self, text: str) -> list[str]:
        """The names `check` finds in `text`: what the rules missed (held back or flagged)."""
        return sorted({f.name for f in self.check(text)})


# ---- how well it works: the shipped phrasings ------------------------------------------------------
PHRASINGS = Path(__file__).resolve().parents[1] / "resources" / "identity_phrasings.jsonl"


def load_phrasings(path: Path = PHRASINGS) -> list[dict]:
    """identity_phrasings.jsonl: {"text", "identity": true/false, "model", "terms"}; positives are
    self-identifications of the five models, negatives ordinary text with look-alike words."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def still_names(redactor: Redactor, text: str, terms) -> list[str]:
    """The identity left in redacted `text`: a listed term (compared folded, spaces ignored) or residue."""
    squeezed = re.sub(r"\s", "", fold(text)[0])
    left = [t for t in terms if re.sub(r"\s", "", fold(t)[0]) in squeezed]
    return left + redactor.residual_identity(text)


def measure(redactor: Redactor, phrasings: list[dict]) -> dict:
    """Recall: share of positives with no identity left after redaction. Unflagged misses: positives
    with identity left that the after-check would not show the organiser either (should be none).
    False-hit rate: share of negatives changed at all. Flagged negatives: ordinary text the
    after-check would show the organiser (e.g. the animal llama): a review, not a change."""
    positives = [p for p in phrasings if p["identity"]]
    negatives = [p for p in phrasings if not p["identity"]]
    missed = [p["text"] for p in positives if still_names(redactor, redactor(p["text"]), p["terms"])]
    unflagged = [t for t in missed if not redactor.residual_identity(redactor(t))]
    changed = [p["text"] for p in negatives if redactor(p["text"]) != p["text"]]
    flagged = [p["text"] for p in negatives if redactor.residual_identity(p["text"])]
    return {"positives": len(positives), "negatives": len(negatives),
            "recall": 1 - len(missed) / max(1, len(positives)), "missed": missed, "missed_unflagged": unflagged,
            "false_hit_rate": len(changed) / max(1, len(negatives)), "false_hits": changed,
            "flagged_negatives": flagged}
