"""Who the five models are, in the words people use: the vocabulary that blinding looks for.

Written from what is publicly known about the vendors (their model, lab and company names, the
Chinese short forms and nicknames users say, the English short names, their other products and
their public faces), never from the validation sets in resources/blinding_validation/.

Three strengths:

- STRONG: only ever a model, vendor or lab ("通义千问", "InternLM", "智谱"): replaced wherever it
  stands as a word of its own, and anything the after-check still finds in it holds a turn back.
- WEAK: also an ordinary word or name ("百川" in 海纳百川, "Meta" in meta-analysis, "阿里" the boxer,
  "清华" a university a client studies at): identity only in context (a self-introduction, "made
  by", "…的模型"), and held back only when a self-reference or a maker is next to it.
- PRODUCTS: the vendors' other products, people, places and descriptions (淘宝, Facebook, 王小川,
  杭州, "e-commerce giant"): never replaced on their own; a model that says it comes from the
  makers of one ("我和淘宝是一家的") is held back.

Pinyin spellings of every Chinese name are derived (pypinyin), not listed by hand.
"""
import functools

STRONG = {
    "qwen": ["通义千问", "千问", "通义实验室", "阿里云", "阿里巴巴", "达摩院", "qwen", "qwq", "tongyi qianwen",
             "alibaba", "aliyun", "alibaba cloud", "damo academy", "dashscope", "qwenlm", "灵积", "通义万相", "通义听悟", "ali cloud", "alicloud",
             "通义灵码"],
    "llama": ["meta ai", "metaai", "meta-llama", "llama2", "llama3", "code llama", "codellama", "facebook ai", "fair lab"],
    "chatglm": ["chatglm", "智谱", "智谱清言", "zhipu", "zhipuai", "thudm", "codegeex", "cogview", "cogvlm", "cogvideo",
                "z.ai", "aminer", "清华keg", "thu keg", "thukeg", "知识工程实验室"],
    "internlm": ["internlm", "书生浦语", "浦语", "上海人工智能实验室", "上海ai实验室", "shanghai ai lab", "pjlab",
                 "shanghai ai laboratory", "openxlab", "internlm-chat", "internvl", "浦江实验室", "书生万象", "opencompass"],
    "baichuan": ["baichuan", "baichuan-inc", "百川智能", "百川大模型", "百小应"],
}
WEAK = {
    "qwen": ["通义", "阿里", "ali", "tongyi", "魔搭", "百炼"],
    "llama": ["llama", "羊驼", "小羊驼", "大羊驼", "美洲驼", "骆马", "meta", "fb"],
    "chatglm": ["glm", "清言", "清华", "tsinghua", "keg"],
    "internlm": ["书生", "司南", "商汤", "sensetime"],
    "baichuan": ["百川"],
}
PRODUCTS = {
    "qwen": ["淘宝", "天猫", "支付宝", "钉钉", "夸克", "优酷", "高德", "饿了么", "闲鱼", "菜鸟", "盒马", "飞猪", "蚂蚁集团",
             "taobao", "tmall", "alipay", "dingtalk", "modelscope", "杭州云栖", "马爸爸", "猫厂", "蚂蚁金服",
             "阿里妈妈", "uc浏览器", "云栖大会", "云栖小镇", "apsara"],
    "llama": ["facebook", "脸书", "instagram", "whatsapp", "messenger", "threads", "oculus",
              "pytorch", "元宇宙公司", "metaverse company", "quest"],
    "chatglm": ["清华大学", "tsinghua university", "thu"],
    "internlm": ["商汤科技", "香港中文大学", "openmmlab", "lmdeploy", "xtuner", "日日新", "sensenova"],
    "baichuan": ["搜狗", "sogou"],
    # where they are, and how people describe them
    "places": ["杭州", "hangzhou", "余杭", "menlo park", "门洛帕克", "五道口", "中关村", "徐汇", "上海的实验室"],
    "descriptions": ["电商巨头", "电商公司", "社交媒体巨头", "社交巨头", "社交网络公司", "e-commerce giant",
                     "e-commerce company", "social media giant", "social media company", "social network"],
}


# The vendors' public faces, products too (merged into PRODUCTS below): a model that names one of them and itself
# in one sentence ("林达华老师的团队训练了我", "Yann LeCun's colleagues would call me…") says who made it.
PEOPLE = {
    "qwen": ["马云", "jack ma", "林俊旸", "junyang lin", "周靖人", "jingren zhou"],
    "llama": ["扎克伯格", "小扎", "zuckerberg", "杨立昆", "lecun"],
    "chatglm": ["唐杰"],
    "internlm": ["汤晓鸥", "林达华", "dahua lin"],
    "baichuan": ["王小川", "wang xiaochuan"],
}
PRODUCTS = {**PRODUCTS, **{f"people of {model}": people for model, people in PEOPLE.items()}}


def is_chinese(word: str) -> bool:
    return any("\u3400" <= ch <= "\u9fff" for ch in word)


@functools.cache
def pinyin_of(word: str) -> tuple[str, ...]:
    """A Chinese name's syllables, toneless ("通义千问" -> tong yi qian wen); () for other words."""
    if not is_chinese(word):
        return ()
    from pypinyin import lazy_pinyin  # a few MB of dictionary: loaded once, when blinding starts
    syllables = lazy_pinyin(word)
    return tuple(syllables) if all(s.isascii() and s.isalpha() for s in syllables) else ()


def words(table: dict) -> list[str]:
    return sorted({w for names in table.values() for w in names}, key=len, reverse=True)


def with_pinyin(table: dict, syllables=range(1, 99)) -> list[str]:
    """The words, and each Chinese one also as its pinyin ("tong yi qian wen") where it has so many
    `syllables`."""
    return sorted({*words(table), *(" ".join(pinyin_of(w)) for w in words(table) if len(pinyin_of(w)) in syllables)},
                  key=len, reverse=True)


def short_pinyin(table: dict) -> list[str]:
    """Two-syllable names in pinyin ("qian wen", "zhi pu"): people are called that too ("Qianwen's
    visits"), so even a strong name's pinyin is a name only in context."""
    return sorted({" ".join(pinyin_of(w)) for w in words(table) if len(pinyin_of(w)) == 2}, key=len, reverse=True)
