"""Blinding: where a transcript says which model wrote it, say "an AI assistant" instead.

Models introduce themselves ("我是通义千问，由阿里云开发的…", "I'm Llama, trained by Meta AI"). A
rater who reads that is no longer blind, and a visible placeholder such as "[已隐去]" is a hint
of its own (only some models name themselves, and each in its own way). So a self-introduction
becomes the same neutral phrase for every model ("我是一名 AI 助手" / "I am an AI assistant"), a
provenance phrase ("由阿里云开发的", "created by Alibaba Cloud") is dropped, and any other mention
of a model, vendor or lab becomes "AI 助手" / "an AI assistant".

Matching happens on a folded copy of the text (Unicode NFKC, case-folded, invisible format
characters such as zero-width spaces dropped, common Cyrillic/Greek look-alikes mapped to Latin), so
"Ｑｗｅｎ", "QWEN", "Q<zero-width space>wen" and "Qwеn" (Cyrillic е) are all found; the replacement
is made in the original text, so the rest of a turn keeps its own punctuation and width.

Names that are also ordinary words count only in context. "Meta" (meta分析, meta-analysis),
"Llama"/"羊驼" (the animal), "百川" (海纳百川) and "GLM" (the statistical model) are identity inside
a self-introduction ("我是百川", "I'm a GLM model"), after "created by"/"由…开发", or in a compound
("Meta AI", "Llama 3", "百川智能", "GLM-4"); "书生", "清华"/"Tsinghua" and "KEG" only in a compound
("书生·浦语", "清华 KEG"). Known limitations: a bare "llama" is left as written (it is flagged, see
below); and any vendor name is replaced, so a client who says they work at Alibaba loses that word.

After redaction, `residual_identity` looks again with separators removed ("Q-w-e-n", "通 义 千
问"); a conversation where it still finds something is flagged for the organiser to read.
"""
import functools
import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

NEUTRAL_SELF_ZH = "我是一名 AI 助手"
NEUTRAL_ZH = "AI 助手"
NEUTRAL_EN = "an AI assistant"

# Look-alikes NFKC leaves alone; enough to defeat the usual one-letter swaps in these names.
LOOKALIKES = str.maketrans({
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "х": "x", "у": "y", "і": "i", "ј": "j", "ԛ": "q",
    "ԝ": "w", "ѡ": "w", "һ": "h", "ӏ": "l", "ʟ": "l", "ɡ": "g", "ո": "n", "α": "a", "ε": "e", "ο": "o",
    "ι": "i", "ν": "v", "κ": "k", "μ": "m", "τ": "t", "ρ": "p",
    "・": "·", "•": "·", "‧": "·", "∙": "·", "⋅": "·", "．": ".", "–": "-", "—": "-", "‐": "-", "‑": "-",
    "’": "'", "‘": "'",
})

# ---- the names, as regular expressions over folded text (lower case, NFKC) -----------------------
A = r"(?<![a-z0-9])"           # an ASCII name does not start inside a word ...
Z = r"(?![a-z])"               # ... nor end inside one (a version number may follow: qwen2.5)
VERSION_PART = r"[\s\-_.]*+(?:\d+(?:[._]\d+)*[bkm]?|v\d+|chat|instruct|base|turbo|plus|max|pro|it|hf)(?![a-z])"
VERSION = rf"(?:{VERSION_PART})*"  # qwen2.5-7b-instruct, Baichuan 2 - 7B - Chat
NOT_ORDINARY_META = r"(?!\s*+-?\s*+(?:analy|cogn|data|phor|分析|认知|数据))"

STRONG = [  # always a model, vendor or lab
    # Qwen / 通义千问 / Alibaba
    rf"{A}qwen{VERSION}", rf"{A}tongyi(?:\s*+qianwen)?{Z}", rf"{A}qianwen{Z}",
    rf"通义(?:[\s·]*+千问)?{VERSION}", rf"千问{VERSION}",
    rf"{A}(?:alibaba|aliyun)(?:\s*+(?:cloud|group))?{Z}", r"阿里云", r"阿里巴巴(?:集团)?", r"达摩院", rf"{A}damo\s*+academy{Z}",
    # Llama / Meta
    rf"{A}(?:meta\s*+)?llama(?:{VERSION_PART})+", rf"{A}llama(?=\s*+(?:model|模型|大模型|chat|assistant))",
    rf"{A}meta(?:\s*+(?:ai|platforms?))(?:,?\s*+inc\.?)?{Z}", rf"{A}meta(?=\s*+(?:公司|平台|团队|旗下))",
    r"羊驼(?=\s*+(?:大?模型|llama))",
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
    rf"{A}meta{NOT_ORDINARY_META}{Z}", rf"{A}llama{Z}", rf"{A}glm{Z}", r"羊驼", r"百川",
]
ORG = (r"(?:\s*+(?:(?:ai|cloud|group|inc(?:\.(?!\s*+$))?|intelligence|team|lab(?:oratory)?|platforms?)(?![a-z])"
       r"|公司|集团|团队|实验室|研究院|华章|科技|有限公司))*")
ROLE = (r"(?:\s*+(?:的\s*+)?(?:(?:超?大规模|开源|对话|聊天|智能|人工智能|ai\s*+)?(?:大?语言模型|大?模型|助手|助理|机器人)"
        r"|(?:language\s++)?model|assistant|chatbot)(?![a-z]))?")
NOT_PROVENANCE = r"(?!\s*+(?:旗下|(?:共同)?(?:开发|研发|训练|打造|推出|创造|创建|发布|提供)))"
JOIN = r"(?:\s*+(?:和|与|及|、|/|&|'s|的|and(?![a-z]))\s*+|\s*+)"  # one way only to read a space


def alternatives(patterns) -> str:
    return "(?:" + "|".join(patterns) + ")"


def chain(names: str, role: bool = True) -> str:
    """One or more names run together: "清华大学 KEG 实验室和智谱 AI 公司", "InternLM (书生·浦语)";
    with `role`, each may carry what it is ("Qwen 助手", "Meta AI 的助手"): a maker (after 由, by,
    from) is named without, so "来自阿里云的超大规模语言模型" loses only "来自阿里云的"."""
    one = rf"(?:北京|杭州)?{names}{ORG}{ROLE if role else ''}(?:\s*+[(（]\s*+{names}{ORG}\s*+[)）])?"
    return rf"(?>{one}(?:{JOIN}{one}){{0,8}})"  # atomic: a failed match does not retry every shorter chain


@dataclass(frozen=True)
class Rule:
    """A pattern over folded text, and what to write instead of what it matched: a string, or a
    function (match, original) -> str, where original(group) is that group's text as written."""
    name: str
    pattern: re.Pattern
    replace: object


def neutral_self(match, original) -> str:
    """Any self-introduction becomes the same one, in the language it was made in."""
    if match.group("lead") is None:
        return "作为一名 AI 助手" if match.group("zh_lead") == "作为" else NEUTRAL_SELF_ZH
    lead = match.group("lead")
    words = ("as an AI assistant" if lead == "as" else "this is an AI assistant" if lead.startswith("this")
             else "call me your AI assistant" if lead.startswith("call") else "I am an AI assistant")
    return words[0].upper() + words[1:] if original("lead")[:1].isupper() else words


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
ZH_LEAD = r"(?P<zh_lead>我(?:是|叫|名叫|来自|的(?:中文|英文)?名字?(?:是|叫))|作为)"
EN_LEAD = r"(?<![a-z])(?P<lead>i\s*+am|i'm|my\s++name\s++is|this\s++is|call\s++me|as)"
CLAUSE_END = r"[^，。！？；;!?\n]"


def build_rules(extra_words=()) -> list[Rule]:
    """The rules in the order they run: self-introductions first (they may contain provenance), then
    provenance, then any mention left."""
    strong = alternatives(STRONG + [rf"{A}{re.escape(fold(w)[0])}{VERSION}{Z}" for w in extra_words])
    any_name = alternatives([strong, *WEAK])
    strong_chain, any_chain = chain(strong), chain(any_name)
    strong_maker, any_maker = chain(strong, role=False), chain(any_name, role=False)
    # "我是[一个][AI 助手][由 X 开发的 开源模型] Qwen 助手", not followed by 开发/旗下 (then X made something)
    made_by_zh = rf"(?:是)?(?:由|来自)?\s*+{any_maker}\s*+(?:旗下|{MADE})?的[^，。！？；,.!?;]{{0,8}}?"
    zh_self = (rf"{ZH_LEAD}\s*+(?:一个|一名|一款|个)?\s*+(?:人工智能助手|ai\s*+助手|助手)?\s*+(?:{made_by_zh})?"
               rf"(?>{any_chain}){NOT_PROVENANCE}")  # atomic: no backing off "阿里巴巴集团" to dodge "旗下"
    en_self = rf"{EN_LEAD}\s++(?:an?\s++|the\s++)?{any_chain}"
    made_by_en = rf"(?:(?<![a-z])(?P<passive>(?:was|were|been|is|am|are)\s++{MADE_EN})|[,，]?\s*+(?<![a-z]){MADE_EN})"
    return [
        Rule("self-introduction", re.compile(rf"{zh_self}|{en_self}"), neutral_self),
        Rule("provenance clause", re.compile(rf"[，,]\s*+(?:是)?(?:由|来自)\s*+{any_maker}{CLAUSE_END}*"), ""),
        Rule("provenance", re.compile(
            rf"(?:由|来自)\s*+{any_maker}\s*+(?:旗下)?\s*+(?:[^，。！？；;!?\n的]{{0,12}}?{MADE}(?:而成)?)?的?"
            rf"|{any_maker}\s*+(?:旗下|{MADE})的"), ""),
        Rule("made by", re.compile(rf"{made_by_en}\s++by\s++(?:the\s++)?{any_maker}(?:'s)?(?:\s++team)?"), keep_verb),
        Rule("from", re.compile(rf"\s*+(?:by|from|at|of)\s++(?:the\s++)?{strong_maker}(?:'s)?(?:\s++team)?"
                                rf"|\s*+(?:by|from)\s++{A}meta{NOT_ORDINARY_META}{Z}"), ""),
        Rule("mention", re.compile(strong_chain), neutral_mention),
    ]


@functools.lru_cache(maxsize=65536)
def fold_char(ch: str) -> str:
    """One character as matched; cached, since a text is folded once per character (and replies
    being streamed are folded again and again)."""
    if unicodedata.category(ch) == "Cf":  # zero-width space/joiner, BOM, soft hyphen
        return ""
    return unicodedata.normalize("NFKC", ch).casefold().translate(LOOKALIKES)


def fold(text: str) -> tuple[str, list[int]]:
    """The text as matched (NFKC, case-folded, look-alikes mapped, format characters dropped), and for
    each of its characters the index of the original character it came from."""
    out, where = [], []
    for i, ch in enumerate(text):
        for c in fold_char(ch):
            out.append(c)
            where.append(i)
    return "".join(out), where


def apply(rule: Rule, text: str, folded_text: tuple[str, list[int]] | None = None) -> str:
    """Replace every match of `rule` in `text`: matched on the folded text (`folded_text`, when the
    caller has it already), replaced in the original. Returns `text` itself when nothing matched."""
    folded, where = folded_text or fold(text)
    pieces, last = [], 0
    for match in rule.pattern.finditer(folded):
        if match.end() == match.start():
            continue
        start, end = where[match.start()], where[match.end() - 1] + 1

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
RESIDUE = ["qwen", "tongyi", "qianwen", "通义千问", "千问", "alibaba", "aliyun", "阿里云", "阿里巴巴", "llama", "metaai",
           "chatglm", "zhipu", "智谱", "thudm", "internlm", "浦语", "上海人工智能实验室", "shanghaiailab", "baichuan",
           "百川智能", "百川大模型"]


class Redactor:
    """Callable: text -> text with the model's self-identification replaced.

    `extra_words` (judge.redact) adds names beyond the built-in ones (e.g. DeepSeek); a word the
    built-in rules already handle in context ("Meta", "百川", "书生") is left to them, so listing it
    cannot bring back false hits such as "meta分析".
    """

    BUILT_IN = ("Qwen", "通义千问", "通义", "千问", "阿里云", "阿里巴巴", "Alibaba", "Llama", "Meta", "ChatGLM", "智谱",
                "GLM", "Zhipu", "THUDM", "InternLM", "书生", "浦语", "上海人工智能实验室", "Baichuan", "百川",
                "百川智能", "羊驼", "清华", "KEG")

    def __init__(self, extra_words=()):
        known = {fold(w)[0] for w in self.BUILT_IN}
        extra = sorted({w for w in extra_words if w and fold(w)[0] not in known}, key=len, reverse=True)
        self.rules = build_rules(extra)
        squeezed = {re.sub(r"[\W_]", "", fold(w)[0]) for w in [*RESIDUE, *extra]}
        self.residue = re.compile("|".join(sorted((re.escape(w) for w in squeezed if w), key=len, reverse=True)))
        # the same turns are shown again and again: remember them
        self.redact = functools.lru_cache(maxsize=20000)(self._redact)

    def __call__(self, text: str) -> str:
        return self.redact(text)

    def partial(self, text: str) -> str:
        """Redact text that is still growing (a reply being streamed): not cached, since each
        prefix is seen once and would only push the finished turns out of the cache."""
        return self._redact(text)

    def _redact(self, text: str) -> str:
        folded = fold(text)
        for rule in self.rules:
            changed = apply(rule, text, folded)
            if changed is not text:  # fold again only what a rule changed
                text, folded = changed, fold(changed)
        return text

    def residual_identity(self, text: str) -> list[str]:
        """Names still in `text` once separators are removed ("Q-w-e-n"): what the rules missed."""
        squeezed = re.sub(r"[\W_]", "", fold(text)[0])
        return sorted(set(self.residue.findall(squeezed)))


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
