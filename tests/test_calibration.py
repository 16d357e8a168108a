"""Every decision rule the report prints, calibrated by simulation (issue 24): under the null with
the dependence a real study has, the share of studies where the rule says "different" stays within
the nominal 5% plus simulation error; under a planted effect, the power the report claims is the
power the rule has. The studies come from tests/support/studies.py; the measured rates are in
docs/statistics.md (with today's and the old code's)."""
import numpy as np
import pytest
from scipy import stats
from support.studies import item_study, rating_study, seed_study, vote_study

from mhcompare.judge.stats import analysis
from mhcompare.report.recommend import axis_verdicts
from mhcompare.report.stats import MinEffect, analyse, detectable_difference

ACCURACY = "eval.psych_mcq.accuracy"
LATENCY = "eval.perf.c1.latency_s"
NO_MIN_EFFECT = MinEffect(fraction=0.0, relative=0.0)  # the test alone, not the minimum effect


def most_allowed(studies: int, rate: float = 0.05) -> int:
    """The most false positives a rule holding `rate` gives in `studies` studies, but for 1% bad luck."""
    return int(stats.binom.ppf(0.99, studies, rate))


def item_results(outcomes, min_effect=NO_MIN_EFFECT):
    """analyse() on each simulated study of outcomes[study, model, seed, item]."""
    names = [f"m{k}" for k in range(outcomes.shape[1])]
    ids = [f"q{i}" for i in range(outcomes.shape[-1])]
    for study in outcomes:
        items = {m: {s: dict(zip(ids, study[k, s].tolist())) for s in range(study.shape[1])}
                 for k, m in enumerate(names)}
        values = {m: {s: float(study[k, s].mean()) for s in range(study.shape[1])} for k, m in enumerate(names)}
        yield analyse({ACCURACY: values}, 0.95, 0.05, {ACCURACY: items}, min_effect)[ACCURACY]


@pytest.mark.parametrize("seeds, seed_sd", [(3, 0.0), (3, 0.15), (1, 0.0)],
                         ids=["3 seeds, 90% stable answers", "3 seeds, training-seed shifts", "1 seed"])
def test_item_level_comparison_holds_five_percent_under_the_null(seeds, seed_sd):
    """Finding 1: 255 items, answers 90% stable across seeds, models equal. Pooled McNemar told them
    apart in 25% (stable answers) and 33% (with seed shifts of logit SD 0.15) of the studies."""
    outcomes = item_study(np.random.default_rng(seeds * 10 + int(seed_sd * 100)), studies=1000, seeds=seeds,
                          seed_sd=seed_sd)
    told_apart = sum(r.comparison("m0", "m1").p_holm < 0.05 for r in item_results(outcomes))
    # 1,000 studies: a test that ignored the seed term (9.5% here) could not pass by luck
    assert told_apart <= most_allowed(1000), told_apart / 1000


def test_item_level_power_is_what_the_report_claims():
    """A planted difference (logit 0.75, about 12 points of accuracy) with seed shifts: the share of
    studies that tell the models apart is the power the report's standard error and degrees of
    freedom give at the true difference (the noncentral t), and the report's detectable difference
    (80% power) is near the planted one where that power is near 80%."""
    from mhcompare.report.crossed import power_of

    rng = np.random.default_rng(21)
    outcomes = item_study(rng, studies=400, effects=[0.75, 0.0])
    results = list(item_results(outcomes))
    comparisons = [r.comparison("m0", "m1") for r in results]
    true = float(np.mean(outcomes[:, 0]) - np.mean(outcomes[:, 1]))
    claimed = float(np.mean([power_of(true, c.se, c.df, 0.05) for c in comparisons]))
    observed = float(np.mean([c.p_holm < 0.05 for c in comparisons]))
    assert 0.65 < claimed < 0.92 and abs(observed - claimed) < 0.06, (observed, claimed)
    printed = np.median([detectable_difference(r, 0.05)["difference"] for r in results[:60]])
    assert printed == pytest.approx(true, rel=0.2) if abs(claimed - 0.8) < 0.05 else True


def test_clearly_ahead_holds_five_percent_for_three_equal_models():
    """The recommendation's rule (first, and told apart from every other model, by at least the
    minimum effect) on three equal models with item and seed dependence."""
    outcomes = item_study(np.random.default_rng(31), studies=600, models=3, seed_sd=0.15)
    ahead = sum(bool(axis_verdicts({ACCURACY: r})[0].clear) for r in item_results(outcomes, MinEffect()))
    assert ahead <= most_allowed(600), ahead / 600


def seed_results(values, min_effect=NO_MIN_EFFECT):
    names = [f"m{k}" for k in range(values.shape[1])]
    for study in values:
        data = {m: {s: float(study[k, s]) for s in range(study.shape[1])} for k, m in enumerate(names)}
        yield analyse({LATENCY: data}, 0.95, 0.05, min_effect=min_effect)[LATENCY]


def test_seed_level_comparison_holds_five_percent_and_its_power():
    """Latency of three equal models, seed effects shared by the models of a seed: any pair told
    apart (Holm) in at most 5% of studies. Planted: the observed power matches the exact power of
    the paired t at the true difference, from each study's own spread (the report's claim)."""
    from mhcompare.report.crossed import power_of

    rng = np.random.default_rng(41)
    null = list(seed_results(seed_study(rng, studies=400)))
    any_apart = sum(any(c.p_holm < 0.05 for c in r.comparisons.values()) for r in null)
    assert any_apart <= most_allowed(400), any_apart / 400
    values = seed_study(rng, studies=400, models=2, seeds=5, effects=[0.08, 0.0])
    results = list(seed_results(values))
    true = float(np.mean(values[:, 0] - values[:, 1]))
    observed = np.mean([r.comparison("m0", "m1").p < 0.05 for r in results])
    sd = float(np.std(np.log(values[:, 0]) - np.log(values[:, 1]), ddof=1)) * float(np.mean(values))
    claimed = float(power_of(true, sd / np.sqrt(5), 4, 0.05))
    assert abs(observed - claimed) < 0.07, (observed, claimed)


def test_human_score_comparison_holds_five_percent_with_lenient_raters():
    """Two equal models, ten raters of leniency SD 0.5 each rating conversations of both."""
    rng = np.random.default_rng(51)
    p = [analysis.score_comparisons(rating_study(rng), n_boot=200, seed=k).iloc[0]["p"] for k in range(200)]
    assert sum(x < 0.05 for x in p) <= most_allowed(200), np.mean(np.array(p) < 0.05)


def test_human_score_comparison_has_the_planned_power():
    """stage=plan's number of conversations for a difference of 0.3 (80% power at alpha 0.05, one
    pair) tells the models apart in about 80% of studies with that difference."""
    from mhcompare.report.power import Components, conversations_needed

    components = Components(0.5, 0.5, 0.7, "simulation")
    needed = conversations_needed(0.3, components, 3)
    rng = np.random.default_rng(52)
    told = [analysis.score_comparisons(rating_study(rng, means={"a": 3.3, "b": 3.0}, conversations=needed,
                                                    rounded=False), n_boot=200, seed=k).iloc[0]["told_apart"]
            for k in range(150)]
    assert 0.68 <= np.mean(told) <= 0.92, (needed, np.mean(told))


@pytest.mark.parametrize("clusters", [analysis.MIN_CLUSTERS, 20])
def test_bradley_terry_interval_holds_five_percent_with_clustered_votes(clusters):
    """Finding 6: a against b, equal, five votes per conversation pair sharing its effect. The
    percentile interval excluded zero in 18.5% of studies at 4 clusters."""
    rng = np.random.default_rng(60 + clusters)
    excluded = 0
    for k in range(250):
        row = analysis.bradley_terry_ranking(vote_study(rng, clusters), n_boot=200, seed=k).set_index("model").loc["a"]
        excluded += row["ci_low"] > 0 or row["ci_high"] < 0
    assert excluded <= most_allowed(250), excluded / 250
