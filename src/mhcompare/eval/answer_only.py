"""How much of a multiple-choice set can be solved without reading the question: answer-only
strategies that look at the options alone. A set whose correct options differ in style from its
distractors (longer, more hedged, fewer absolutes, tell-tale phrasings) rewards a model for style,
not knowledge; these strategies measure that giveaway so it can be kept near chance.

- pick the longest / the shortest option;
- an option-only classifier trained on other items' options (cross-validated by item: an item's
  four options are always in the same fold), in two forms:
  * naive Bayes on character 1-3-grams (multinomial, add-one smoothing): "is this the kind of
    option that is correct?";
  * a conditional logit (softmax over an item's options) on character n-grams plus length, rank
    of length within the item, hedge and absolute words and punctuation.

Chance is 1 / options (25% for four). `chance_bound` gives the accuracy chance alone exceeds with
probability 5% (one-sided binomial): the line a set must stay under. numpy and scipy only.
"""
import math
import re

import numpy as np

LETTERS = "ABCDEFGHIJ"
# words that soften a claim, and words that make it absolute: typical style tells
HEDGES = ("可能", "通常", "一般", "往往", "有时", "多数", "部分", "较", "相对", "适当", "视", "结合", "综合", "并",
          "同时", "尽量", "酌情", "评估", "考虑", "以及", "也", "逐步", "在")
ABSOLUTES = ("一定", "必须", "所有", "总是", "完全", "立即", "立刻", "绝对", "只要", "唯一", "从不", "任何", "都",
             "只", "仅", "全部", "从来", "永远", "不需要", "无需", "直接", "马上")


def options_of(record: dict) -> list[str]:
    return [record[k] for k in LETTERS if k in record]


def answer_index(record: dict) -> int:
    return LETTERS.index(record["answer"])


def pick_longest(records: list[dict]) -> list[int]:
    """Ties go to the first option, as the eval stage's baseline."""
    return [max(range(len(o)), key=lambda i: (len(o[i]), -i)) for o in map(options_of, records)]


def pick_shortest(records: list[dict]) -> list[int]:
    return [min(range(len(o)), key=lambda i: (len(o[i]), i)) for o in map(options_of, records)]


def ngrams(text: str, sizes=(1, 2, 3)) -> list[str]:
    text = re.sub(r"\s+", " ", text)
    return [text[i:i + n] for n in sizes for i in range(len(text) - n + 1)]


def style_features(options: list[str]) -> np.ndarray:
    """Per option: length, length relative to the item (z-score, longest, shortest), hedges,
    absolutes, commas, enumeration marks, negations."""
    lengths = np.array([len(o) for o in options], float)
    spread = lengths.std() or 1.0
    rows = []
    for option, length in zip(options, lengths):
        rows.append([math.log1p(length), (length - lengths.mean()) / spread,
                     float(length == lengths.max()), float(length == lengths.min()),
                     sum(option.count(w) for w in HEDGES), sum(option.count(w) for w in ABSOLUTES),
                     option.count("，") + option.count(","), option.count("、") + option.count("；"),
                     option.count("不") + option.count("没") + option.count("无")])
    return np.array(rows)


def folds(n_items: int, k: int, seed: int) -> np.ndarray:
    """Fold number of each item: an item (all its options) is in exactly one fold."""
    order = np.random.default_rng(seed).permutation(n_items)
    fold = np.empty(n_items, int)
    fold[order] = np.arange(n_items) % k
    return fold


def naive_bayes_picks(train: list[dict], test: list[dict]) -> list[int]:
    """Multinomial naive Bayes on character n-grams of the options alone; each test item's pick is
    its option with the highest log-odds of being a correct option."""
    counts = [{}, {}]  # [distractor, correct]: n-gram -> count
    for record in train:
        right = answer_index(record)
        for i, option in enumerate(options_of(record)):
            bucket = counts[i == right]
            for g in ngrams(option):
                bucket[g] = bucket.get(g, 0) + 1
    vocab = set(counts[0]) | set(counts[1])
    totals = [sum(c.values()) + len(vocab) for c in counts]

    def log_odds(option: str) -> float:
        return sum(math.log((counts[1].get(g, 0) + 1) / totals[1]) - math.log((counts[0].get(g, 0) + 1) / totals[0])
                   for g in ngrams(option))

    return [int(np.argmax([log_odds(o) for o in options_of(r)])) for r in test]


def _design(records: list[dict], vocab: dict) -> np.ndarray:
    """(items, options, features): log(1 + n-gram counts) beside the style features."""
    width = len(options_of(records[0]))
    if any(len(options_of(r)) != width for r in records):
        raise ValueError("the option-only classifier needs the same number of options in every item")
    grams = np.zeros((len(records), width, len(vocab)))
    for i, record in enumerate(records):
        for j, option in enumerate(options_of(record)):
            for g in ngrams(option):
                if g in vocab:
                    grams[i, j, vocab[g]] += 1
    style = np.stack([style_features(options_of(r)) for r in records])
    return np.concatenate([np.log1p(grams), style], axis=2)


def logit_picks(train: list[dict], test: list[dict], l2: float = 1.0, min_count: int = 2) -> list[int]:
    """Conditional logit (softmax over each item's options) with L2, on character n-grams seen at
    least `min_count` times in the training options, plus the style features."""
    from scipy.optimize import minimize

    seen = {}
    for record in train:
        for option in options_of(record):
            for g in set(ngrams(option)):
                seen[g] = seen.get(g, 0) + 1
    vocab = {g: i for i, g in enumerate(sorted(g for g, c in seen.items() if c >= min_count))}
    x = _design(train, vocab)
    mean, scale = x.reshape(-1, x.shape[2]).mean(0), x.reshape(-1, x.shape[2]).std(0)
    scale[scale == 0] = 1.0
    x = (x - mean) / scale
    onehot = np.zeros(x.shape[:2])
    onehot[np.arange(len(train)), [answer_index(r) for r in train]] = 1

    def loss(w):
        z = x @ w
        z = z - z.max(1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(1, keepdims=True))
        grad = np.einsum("iof,io->f", x, np.exp(log_p) - onehot) + l2 * w
        return -(log_p * onehot).sum() + l2 * w @ w / 2, grad

    w = minimize(loss, np.zeros(x.shape[2]), jac=True, method="L-BFGS-B", options={"maxiter": 300}).x
    return [int(k) for k in np.argmax(((_design(test, vocab) - mean) / scale) @ w, axis=1)]


def cross_validated_picks(records: list[dict], method, k: int = 5, seed: int = 0) -> list[int]:
    """Each item's pick by `method(train, test)` trained on the other folds' items only."""
    fold = folds(len(records), k, seed)
    picks = [None] * len(records)
    for f in range(k):
        train = [r for r, g in zip(records, fold) if g != f]
        test_index = [i for i, g in enumerate(fold) if g == f]
        for i, pick in zip(test_index, method(train, [records[i] for i in test_index])):
            picks[i] = pick
    return picks


def accuracy(records: list[dict], picks: list[int]) -> float:
    return sum(p == answer_index(r) for r, p in zip(records, picks)) / len(records)


def chance_bound(n_items: int, n_options: int = 4, alpha: float = 0.05) -> float:
    """Accuracy that guessing exceeds with probability alpha on n_items: chance plus its error."""
    from scipy.stats import binom

    return float(binom.ppf(1 - alpha, n_items, 1 / n_options)) / n_items


def answer_only_report(records: list[dict], seeds=(0, 1, 2)) -> dict:
    """{strategy: {"all": accuracy, domain: accuracy}}; the classifiers averaged over fold seeds."""
    domains = sorted({r.get("domain") or "all" for r in records})
    strategies = {"longest": pick_longest(records), "shortest": pick_shortest(records)}
    for name, method in (("naive_bayes", naive_bayes_picks), ("logit", logit_picks)):
        strategies[name] = [cross_validated_picks(records, method, seed=s) for s in seeds]
    report = {}
    for name, picks in strategies.items():
        runs = picks if isinstance(picks[0], list) else [picks]
        report[name] = {"all": float(np.mean([accuracy(records, p) for p in runs]))}
        for domain in domains:
            index = [i for i, r in enumerate(records) if (r.get("domain") or "all") == domain]
            report[name][domain] = float(np.mean([accuracy([records[i] for i in index], [p[i] for i in index])
                                                  for p in runs]))
    return report
