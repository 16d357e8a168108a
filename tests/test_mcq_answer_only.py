"""The psychology MCQ gives nothing away in the wording of its options.

Answer-only strategies see the options and never the question: pick the longest, pick the
shortest, and two option-only classifiers cross-validated by item (an item's four options always
in one fold), naive Bayes on character n-grams and a conditional logit on n-grams, length, hedges
and absolutes (mhcompare.eval.answer_only). Each must stay within chance plus its error: the
accuracy guessing exceeds with probability 5% on that many items (about 29% over the 255 items,
34-35% in a domain of 60-67). The first version of the set failed this: naive Bayes 44%
(ethics 66%, crisis 59%), the logit 38% (ethics 62%).
"""
import json
import random
from pathlib import Path

import pytest

from mhcompare.eval.answer_only import (accuracy, answer_only_report, chance_bound, cross_validated_picks,
                                        logit_picks, naive_bayes_picks)

MCQ = Path(__file__).resolve().parents[1] / "src" / "mhcompare" / "resources" / "psych_mcq" / "psych_val.jsonl"


@pytest.fixture(scope="module")
def items():
    return [json.loads(line) for line in MCQ.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def report(items):
    return answer_only_report(items, seeds=(0, 1, 2))


@pytest.mark.parametrize("strategy", ["longest", "shortest", "naive_bayes", "logit"])
def test_no_answer_only_strategy_beats_chance_plus_its_error_overall_or_in_any_domain(strategy, items, report):
    bound = chance_bound(len(items))
    assert report[strategy]["all"] <= bound, (strategy, report[strategy])
    for domain in {r["domain"] for r in items}:
        n = sum(r["domain"] == domain for r in items)
        assert report[strategy][domain] <= chance_bound(n), (strategy, domain, report[strategy][domain], n)


def planted(n_items: int, seed: int = 0) -> list[dict]:
    """Items whose correct option carries a tell-tale phrasing (and distractors another): what the
    first version of the set did. Otherwise the options are random strings of the same length."""
    rng = random.Random(seed)
    alphabet = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省列习响约支般史感劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂京识适属圆包火住调满县局照参红细引听该铁价严"
    items = []
    for _ in range(n_items):
        answer = rng.randrange(4)
        options = ["".join(rng.choice(alphabet) for _ in range(14)) for _ in range(4)]
        options = [o[:8] + ("，并在需要时再评估" if i == answer else "，以免让来访者尴尬") for i, o in enumerate(options)]
        items.append({**dict(zip("ABCD", options)), "answer": "ABCD"[answer], "domain": "planted"})
    return items


def test_the_option_only_classifiers_find_a_planted_style_giveaway():
    """The instrument can fail a set: where the correct option's phrasing gives it away, both
    classifiers find it nearly always, though every option has the same length."""
    items = planted(120)
    assert len({len(o) for r in items for o in (r["A"], r["B"], r["C"], r["D"])}) == 1
    for method in (naive_bayes_picks, logit_picks):
        assert accuracy(items, cross_validated_picks(items, method)) >= 0.9, method.__name__


def test_chance_plus_its_error_is_about_thirty_percent_for_this_set():
    assert 0.28 <= chance_bound(255) <= 0.30 and 0.33 <= chance_bound(60) <= 0.36
