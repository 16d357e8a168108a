"""The report's statistics and metric registry against known answers."""
import math

import pytest
from scipy import stats as scipy_stats

from mhcompare.report.metrics import lookup
from mhcompare.report.crossed import crossed_difference, t_test
from mhcompare.report.stats import ITEM_TEST, MinEffect, analyse, holm, letter_display, mean_interval, paired_t


def test_holm_matches_the_step_down_procedure_by_hand():
    # sorted 0.01, 0.03, 0.04 -> x3, x2, x1 = 0.03, 0.06, 0.04 -> monotone: 0.03, 0.06, 0.06
    assert holm([0.04, 0.01, 0.03]) == pytest.approx([0.06, 0.03, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([]) == []


def test_mean_interval_is_the_t_interval():
    values = [0.78, 0.80, 0.82]
    got = mean_interval(values, 0.95)
    # known answer: t(0.975, 2) = 4.302653, std 0.02, half width 4.302653 * 0.02 / sqrt(3)
    assert got["mean"] == pytest.approx(0.80) and got["std"] == pytest.approx(0.02) and got["n"] == 3
    assert got["ci_high"] - got["mean"] == pytest.approx(4.302653 * 0.02 / math.sqrt(3), rel=1e-6)
    low, high = scipy_stats.t.interval(0.95, 2, loc=0.80, scale=scipy_stats.sem(values))
    assert (got["ci_low"], got["ci_high"]) == pytest.approx((low, high))
    assert mean_interval([5.0], 0.95) == {"mean": 5.0, "std": None, "n": 1, "ci_low": None, "ci_high": None,
                                          "scale": "linear"}
    assert mean_interval([], 0.95)["n"] == 0


def test_paired_t_uses_only_shared_seeds_and_matches_scipy():
    a = {0: 1.0, 1: 2.0, 2: 3.5, 3: 9.0}
    b = {0: 0.5, 1: 1.8, 2: 2.9}
    p, pairs = paired_t(a, b)
    assert pairs == 3
    assert p == pytest.approx(scipy_stats.ttest_rel([1.0, 2.0, 3.5], [0.5, 1.8, 2.9]).pvalue)
    assert paired_t({0: 1.0}, {0: 2.0}) == (None, 1)  # a single pair cannot be tested
    assert paired_t({0: 1.0, 1: 2.0}, {0: 1.0, 1: 2.0}) == (1.0, 2)  # identical: no difference


def test_analyse_ranks_by_direction_and_corrects_over_the_pairs():
    # latency: lower is better; b is far ahead, a and c differ by noise only
    values = {"eval.perf.c1.latency_s": {
        "a": {0: 1.00, 1: 1.10, 2: 0.95},
        "b": {0: 0.40, 1: 0.52, 2: 0.33},
        "c": {0: 1.01, 1: 1.08, 2: 0.97},
    }}
    result = analyse(values, 0.95, 0.05)["eval.perf.c1.latency_s"]
    assert result.order[0] == "b"
    assert result.separable("b", "a") and result.separable("b", "c") and not result.separable("a", "c")
    raw = {pair: scipy_stats.ttest_rel([values["eval.perf.c1.latency_s"][pair[0]][s] for s in range(3)],
                                       [values["eval.perf.c1.latency_s"][pair[1]][s] for s in range(3)]).pvalue
           for pair in [("a", "b"), ("a", "c"), ("b", "c")]}
    expected = dict(zip(raw, holm(list(raw.values()))))
    for pair, comparison in result.comparisons.items():
        assert comparison.p == pytest.approx(raw[pair]) and comparison.p_holm == pytest.approx(expected[pair])


@pytest.mark.parametrize("name, axis, better", [
    ("train.text_bytes_per_s", "training", "higher"), ("train.gpu_hours", "training", "lower"),
    ("train.peak_memory_gib", "training", "lower"),
    # per token of each model's own tokenizer: shown, not ranked across models
    ("train.tokens_per_s", "training", None), ("train.eval_loss", "training", None),
    ("train.final_loss", "training", None), ("train.time_to_target_s", "training", None),
    ("eval.perf.c4.output_tokens_per_s", "inference", None),
    ("eval.perf.c16.ttft_s", "inference", "lower"), ("eval.perf.c4.requests_per_s", "inference", "higher"),
    ("eval.dialogue.judge.empathy", "evaluation", "higher"), ("eval.dialogue.judge.n", "evaluation", None),
    ("eval.crisis.harmful_rate", "evaluation", "lower"), ("eval.cmmlu.accuracy", "evaluation", "higher"),
    ("judge.llm.safety.mean", "judge", "higher"), ("eval.psych_mcq.n", "evaluation", None),
])
def test_the_registry_knows_each_contract_metric(name, axis, better):
    info = lookup(name)
    assert (info.axis, info.better) == (axis, better)


def test_registry_orders_concurrency_numerically_and_leaves_unknown_names_out():
    assert lookup("eval.perf.c4.latency_s").order < lookup("eval.perf.c16.latency_s").order
    assert lookup("eval.perf.c16.latency_s").label == "latency at concurrency 16"
    assert lookup("train.gradient_accumulation_steps") is None


# ------------------------------------------------------------- planted cases of the review (issue 13)

def items_of(correct: int, total: int = 200, offset: int = 0) -> dict:
    return {f"q{i}": int(offset <= i < offset + correct) for i in range(total)}


def test_one_more_item_on_every_seed_is_not_a_difference():
    """Greedy decoding: A answers item q0 right on every seed, B never; everything else equal.
    Across seeds that is a constant difference (t-test p = 0); item by item it is one item of 200
    that differs, the same on every seed: t = 1 on 199 df (p = 0.32), and under the 2-point minimum
    effect. (Pooled McNemar on the 600 item pairs counted it three times: p = 0.25.)"""
    a = {s: items_of(101) for s in range(3)}
    b = {s: items_of(100, offset=1) for s in range(3)}
    values = {"eval.psych_mcq.accuracy": {"a": {s: 101 / 200 for s in range(3)},
                                          "b": {s: 100 / 200 for s in range(3)}}}
    result = analyse(values, 0.95, 0.05, {"eval.psych_mcq.accuracy": {"a": a, "b": b}})["eval.psych_mcq.accuracy"]
    c = result.comparison("a", "b")
    assert c.test == ITEM_TEST and c.pairs == 600 and (c.items, c.seeds) == (200, 3)
    assert c.p == pytest.approx(2 * scipy_stats.t.sf(1.0, 199))
    assert not result.separable("a", "b")
    # the same seed-level values without items: the seed-level test would call it
    seeds_only = analyse(values, 0.95, 0.05, min_effect=MinEffect(fraction=0.0))["eval.psych_mcq.accuracy"]
    assert seeds_only.comparison("a", "b").p < 0.05


def test_the_crossed_variance_is_the_two_way_anova_of_the_differences():
    """The mean squares against statsmodels' two-way ANOVA (item and seed factors) on planted
    differences; with one seed, the test is scipy's one-sample t over the items' differences."""
    import numpy as np
    import pandas as pd
    import statsmodels.formula.api as smf
    from statsmodels.stats.anova import anova_lm

    rng = np.random.default_rng(3)
    d = rng.normal(0, 1, (1, 40)) + rng.normal(0, 0.3, (3, 1)) + rng.normal(0, 0.5, (3, 40))
    frame = pd.DataFrame({"d": d.ravel(), "seed": np.repeat(range(3), 40), "item": np.tile(range(40), 3)})
    table = anova_lm(smf.ols("d ~ C(item) + C(seed)", frame).fit())
    ms = table["mean_sq"]
    mean, se, df = crossed_difference(d)
    assert ms["C(item)"] > ms["Residual"] and ms["C(seed)"] > ms["Residual"]  # both components above zero
    parts = [ms["C(item)"], ms["C(seed)"], -ms["Residual"]]
    assert float(se) ** 2 == pytest.approx(sum(parts) / 120)
    assert float(mean) == pytest.approx(d.mean())
    one = d[:1]
    mean, se, df = crossed_difference(one)
    assert float(t_test(mean, se, df)) == pytest.approx(scipy_stats.ttest_1samp(one[0], 0).pvalue)
    assert float(df) == 39
    # no difference anywhere: p = 1; the same difference on every item and seed: p = 0
    assert float(t_test(*crossed_difference(np.zeros((3, 5))))) == 1.0
    assert float(t_test(*crossed_difference(np.ones((3, 5))))) == 0.0


def test_ranking_uses_shared_seeds_and_never_points_the_wrong_way():
    """A = {0.50, 0.52, 0.95}, B = {0.60, 0.62}: A is worse on both shared seeds; its extra seed
    must not put it first."""
    values = {"eval.dialogue.judge.empathy": {"a": {0: 0.50, 1: 0.52, 2: 0.95}, "b": {0: 0.60, 1: 0.62}}}
    result = analyse(values, 0.95, 0.05)["eval.dialogue.judge.empathy"]
    assert result.order == ["b", "a"] and result.shared_seeds == [0, 1] and result.unshared == {"a": [2]}
    assert result.stats["a"]["n"] == 3  # the table still shows every seed


def test_a_significant_difference_against_the_ranking_or_too_small_is_not_separable():
    values = {"eval.perf.c1.latency_s": {"a": {0: 1.000, 1: 1.010, 2: 1.020},
                                         "b": {0: 1.005, 1: 1.016, 2: 1.024}}}
    result = analyse(values, 0.95, 0.05)["eval.perf.c1.latency_s"]
    c = result.comparison("a", "b")
    assert c.p_holm < 0.05 and not c.separable and "minimum effect" in c.note
    assert analyse(values, 0.95, 0.05, min_effect=MinEffect(relative=0.0))["eval.perf.c1.latency_s"].separable("a", "b")


def test_letters_compare_every_pair_not_only_neighbours():
    """A > C is separable but A vs B and B vs C are not: a neighbour-only display would read
    `A ≈ B ≈ C`; the letters say A (a), B (ab), C (b)."""
    separable = {frozenset("AC")}
    letters = letter_display(["A", "B", "C"], lambda x, y: frozenset((x, y)) in separable)
    assert letters == {"A": "a", "B": "ab", "C": "b"}
    # A separable from C only, B from nobody, D from everyone
    separable = {frozenset("AC"), frozenset("AD"), frozenset("BD"), frozenset("CD")}
    letters = letter_display(list("ABCD"), lambda x, y: frozenset((x, y)) in separable)
    for x in "ABCD":
        for y in "ABCD":
            if x < y:
                assert bool(set(letters[x]) & set(letters[y])) == (frozenset((x, y)) not in separable), (x, y, letters)


@pytest.mark.parametrize("values, scale", [([0.97, 0.99, 1.0], "logit"), ([0.0, 0.02, 0.05], "logit"),
                                           ([0.3, 2.0, 9.0], "log")])
def test_intervals_stay_in_range(values, scale):
    got = mean_interval(values, 0.95, scale)
    assert got["ci_low"] <= got["mean"] <= got["ci_high"]
    if scale == "logit":
        assert 0 <= got["ci_low"] and got["ci_high"] <= 1
    else:
        assert got["ci_low"] > 0
    # the linear t interval leaves the range here
    linear = mean_interval(values, 0.95)
    assert linear["ci_low"] < 0 or linear["ci_high"] > 1


def test_fraction_metrics_get_range_respecting_intervals_in_the_analysis():
    values = {"eval.crisis.harmful_rate": {"a": {0: 0.0, 1: 0.0, 2: 0.033}},
              "eval.perf.c1.latency_s": {"a": {0: 0.2, 1: 1.5, 2: 0.3}}}
    results = analyse(values, 0.95, 0.05)
    assert results["eval.crisis.harmful_rate"].stats["a"]["scale"] == "logit"
    assert results["eval.crisis.harmful_rate"].stats["a"]["ci_low"] >= 0
    assert results["eval.perf.c1.latency_s"].stats["a"]["ci_low"] > 0


def test_the_interval_level_is_the_one_asked_for():
    """A 90% interval labelled 95% would be narrower: pin the 95% half width of the log scale."""
    got = mean_interval([1.0, math.e, math.e ** 2], 0.95, "log")
    half = scipy_stats.t.ppf(0.975, 2) * 1.0 / math.sqrt(3)
    assert (got["ci_low"], got["ci_high"]) == pytest.approx((math.exp(1 - half), math.exp(1 + half)))


def test_holm_is_applied_to_the_pairs_of_a_metric():
    """Three pairs with raw p 0.04, 0.01, 0.03: without Holm all three would be separable."""
    values = {"eval.dialogue.judge.empathy": {
        "a": {0: 4.0, 1: 4.1, 2: 4.3, 3: 4.0}, "b": {0: 3.0, 1: 3.3, 2: 3.1, 3: 3.4},
        "c": {0: 3.8, 1: 3.7, 2: 4.2, 3: 3.75}}}
    result = analyse(values, 0.95, 0.05)["eval.dialogue.judge.empathy"]
    raw = [c.p for c in result.comparisons.values()]
    assert [c.p_holm for c in result.comparisons.values()] == pytest.approx(holm(raw))
    assert any(c.p < 0.05 and not c.separable for c in result.comparisons.values()), \
        [(c.a, c.b, c.p, c.p_holm) for c in result.comparisons.values()]


def test_friedman_with_identical_rankings_is_not_powerless():
    """The old README said rank tests "cannot reach p < 0.05 at all" at 3-5 seeds; Friedman with
    5 models x 3 seeds and the same order on every seed gives p = 0.017 (the docstring now says so)."""
    from scipy.stats import friedmanchisquare

    import mhcompare.report.stats as stats_module

    p = friedmanchisquare(*[[m + 0.1 * s for s in range(3)] for m in range(5)]).pvalue
    assert p == pytest.approx(0.0169, abs=5e-4)
    assert "0.017" in stats_module.__doc__


def test_the_detectable_difference_shrinks_with_more_seeds():
    from mhcompare.report.stats import detectable_difference

    def result(seeds):
        noise = [0.0, 0.03, -0.02, 0.01, -0.01, 0.02, -0.03, 0.0, 0.02]
        return analyse({"eval.dialogue.judge.empathy": {
            "a": {s: 4.0 + noise[s] for s in range(seeds)},
            "b": {s: 3.9 - noise[(s + 1) % 9] for s in range(seeds)}}}, 0.95, 0.05)["eval.dialogue.judge.empathy"]

    three, nine = detectable_difference(result(3), 0.05), detectable_difference(result(9), 0.05)
    assert three["test"] == "paired t" and three["pairs"] == 3 and nine["pairs"] == 9
    assert nine["difference"] < three["difference"] / 2
    # exact: statsmodels' power of the one-sample t (noncentral t), in SDs of the differences
    from statsmodels.stats.power import TTestPower

    c = result(3).comparison("a", "b")
    effect = TTestPower().solve_power(nobs=3, alpha=0.05, power=0.8, alternative="two-sided")
    assert three["difference"] == pytest.approx(effect * c.difference_sd, rel=1e-4)


# ------------------------------------------------- findings of the calibration review (issue 24)

def test_ranking_and_test_use_the_same_items_and_count_the_ones_left_out():
    """Finding 2: a's generations failed on the 40 hardest items (no outcome there); over the items
    it scored it looks best, but on the items both scored b is far ahead. The ranking must follow
    the test's data, and say how many items were left out."""
    import numpy as np

    rng = np.random.default_rng(5)
    hard = {f"q{i}" for i in range(40)}
    a = {s: {f"q{i}": int(rng.random() < 0.85) for i in range(200) if f"q{i}" not in hard} for s in range(3)}
    b = {s: {f"q{i}": (0 if f"q{i}" in hard else int(rng.random() < 0.99)) for i in range(200)} for s in range(3)}
    values = {"eval.psych_mcq.accuracy": {m: {s: float(np.mean(list(o[s].values()))) for s in range(3)}
                                          for m, o in (("a", a), ("b", b))}}
    assert values["eval.psych_mcq.accuracy"]["a"][0] > values["eval.psych_mcq.accuracy"]["b"][0]
    result = analyse(values, 0.95, 0.05, {"eval.psych_mcq.accuracy": {"a": a, "b": b}})["eval.psych_mcq.accuracy"]
    c = result.comparison("a", "b")
    assert result.order == ["b", "a"] and c.items == 160 and result.dropped == {"a": 0, "b": 40}
    assert c.separable and c.p_holm < 1e-6 and c.note == ""
    from mhcompare.report.sections import ranking

    assert ranking(result) == "b (a) · a (b) — on the 160 items every model scored; left out: b 40"


def test_the_minimum_effect_is_relative_to_the_pair_compared():
    """Finding 3: 1.0 s against 1.3 s is 30% apart; a third model's 10 s must not set the scale."""
    values = {"eval.perf.c1.latency_s": {"a": {0: 1.00, 1: 1.01, 2: 0.99, 3: 1.00},
                                         "b": {0: 1.30, 1: 1.32, 2: 1.29, 3: 1.31},
                                         "c": {0: 10.0, 1: 10.4, 2: 9.8, 3: 10.1}}}
    result = analyse(values, 0.95, 0.05)["eval.perf.c1.latency_s"]
    c = result.comparison("a", "b")
    assert c.p_holm < 0.05 and c.separable, c.note
    assert c.min_effect == pytest.approx(0.05 * 1.305)


def test_one_kind_of_test_per_metric_when_a_model_lacks_item_files():
    """Finding 4: c has accuracies but no eval/items files. Its pairs are not tested (never a
    paired t on seeds beside the item-level tests), it is not ranked, and the power line is
    computed from the item-level pairs (a difference of accuracy below 1, not 5.28)."""
    from mhcompare.report.sections import ranking
    from mhcompare.report.stats import detectable_difference

    a = {s: items_of(120) for s in range(3)}
    b = {s: items_of(100, offset=50) for s in range(3)}
    values = {"eval.psych_mcq.accuracy": {"a": {s: 0.6 for s in range(3)}, "b": {s: 0.5 for s in range(3)},
                                          "c": {0: 0.40, 1: 0.41, 2: 0.40}}}
    result = analyse(values, 0.95, 0.05, {"eval.psych_mcq.accuracy": {"a": a, "b": b}})["eval.psych_mcq.accuracy"]
    assert {c.test for c in result.comparisons.values()} == {ITEM_TEST}
    assert result.comparison("a", "c").p is None and "no per-item outcomes" in result.comparison("a", "c").note
    assert result.order == ["a", "b", "c"] and result.ranked_order == ["a", "b"]
    assert ranking(result).endswith("not ranked: c (no per-item outcomes (eval/items/) for seeds 0, 1, 2)")
    power = detectable_difference(result, 0.05)
    assert power["test"] == "paired t over items and seeds" and power["pairs"] == 200 and power["difference"] < 0.2
    from mhcompare.report.recommend import axis_verdicts

    assert not axis_verdicts({"x": result})[0].clear  # a was never compared with c


def test_holm_agrees_with_statsmodels():
    from statsmodels.stats.multitest import multipletests

    pvalues = [0.01, 0.2, 0.04, 0.001, 0.03, 0.5, 0.04]
    assert holm(pvalues) == pytest.approx(list(multipletests(pvalues, method="holm")[1]))
