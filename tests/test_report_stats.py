"""The report's statistics and metric registry against known answers."""
import math

import pytest
from scipy import stats as scipy_stats

from mhcompare.report.metrics import lookup
from mhcompare.report.stats import analyse, holm, mean_interval, paired_t


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
    assert mean_interval([5.0], 0.95) == {"mean": 5.0, "std": None, "n": 1, "ci_low": None, "ci_high": None}
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
    ("train.tokens_per_s", "training", "higher"), ("train.gpu_hours", "training", "lower"),
    ("train.eval_loss", "training", "lower"), ("train.peak_memory_gib", "training", "lower"),
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
