"""Sizing a Human Judge study: the formula's power checked by simulation, the spread read back
from planted ratings, and stage=plan end to end."""
import numpy as np
import pandas as pd
import pytest

from conftest import run_py
from mhcompare.io import read_json
from mhcompare.report.power import Components, conversations_needed, detectable_difference, variance_components

PILOT = Components(sd_conversation=0.6, sd_rater=0.3, sd_residual=0.8, source="test")


def simulate(conversations, k, difference, components, rng, raters=12):
    """Two models, each conversation rated by k of the raters; every rater rates both models."""
    leniency = rng.normal(0, components.sd_rater, raters)
    means = []
    for mean in (0.0, difference):
        conversation = rng.normal(0, components.sd_conversation, conversations)
        who = np.array([rng.choice(raters, k, replace=False) for _ in range(conversations)])
        scores = (mean + conversation[:, None] + leniency[who] + rng.normal(0, components.sd_residual, who.shape))
        means.append(scores.mean())
    return means[1] - means[0]


def test_the_planned_number_of_conversations_gives_the_planned_power():
    rng = np.random.default_rng(1)
    needed = conversations_needed(0.3, PILOT, 3, alpha=0.05, power=0.8, pairs=1)
    se = np.sqrt(2 * (0.6 ** 2 + 0.8 ** 2 / 3) / needed)
    detected = [abs(simulate(needed, 3, 0.3, PILOT, rng)) / se > 1.959964 for _ in range(600)]
    # rater leniency adds a little noise the formula says cancels (it does only on average): ~0.8
    assert 0.72 <= np.mean(detected) <= 0.88, (needed, np.mean(detected))
    # more model pairs (Bonferroni) or a smaller difference need more conversations
    assert conversations_needed(0.3, PILOT, 3, pairs=10) > needed
    assert conversations_needed(0.15, PILOT, 3) == pytest.approx(4 * needed, rel=0.02)
    assert detectable_difference(needed, PILOT, 3) == pytest.approx(0.3, rel=0.02)


def test_the_spread_is_read_back_from_planted_ratings():
    rng = np.random.default_rng(2)
    leniency = rng.normal(0, 0.3, 20)
    rows = []
    for model, mean in (("a", 3.5), ("b", 3.8)):
        for c in range(100):
            effect = rng.normal(0, 0.6)
            for rater in rng.choice(20, 3, replace=False):
                rows.append({"model": model, "conversation_id": f"{model}{c}", "rater": f"r{rater}",
                             "score": mean + effect + leniency[rater] + rng.normal(0, 0.8)})
    got = variance_components(pd.DataFrame(rows))
    assert got.sd_conversation == pytest.approx(0.6, rel=0.3)
    assert got.sd_residual == pytest.approx(0.8, rel=0.15)
    assert got.sd_rater == pytest.approx(float(np.std(leniency, ddof=1)), rel=0.5)
    assert variance_components(pd.DataFrame(rows[:10])) is None  # too few to fit


def test_stage_plan_before_any_rating_uses_the_pilot_figures(tmp_path):
    out = run_py("stage=plan", "experiment_name=planned", f"paths.outputs={tmp_path}",
                 "report.plan.target_difference=0.25", timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    plan = read_json(tmp_path / "planned" / "report" / "plan.json")
    assert plan["spread_from"] == "report.plan's pilot figures" and plan["pairs"] == 10
    assert plan["conversations_per_model"] == conversations_needed(0.25, PILOT, 3, pairs=10)
    assert plan["raters"] == -(-plan["conversations_per_model"] * 3 * 5 // 60)
    assert "conversations per model" in out.stdout + out.stderr


def test_plan_sizes_each_rubric_dimension_on_its_own_ratings():
    """Finding 6: a rating scores four dimensions; pooled, the four scores counted as four ratings of
    the conversation (k = 12 instead of 3) and their spreads mixed. Each dimension is planned on
    its own ratings: the noisiest sets the plan."""
    from types import SimpleNamespace

    from mhcompare.stages.plan import plan_study

    rng = np.random.default_rng(4)
    noise = {"empathy": 0.5, "safety": 1.2, "practicality": 0.6, "professionalism": 0.7}
    rows = []
    for model in ("a", "b"):
        for c in range(80):
            quality = rng.normal(0, 0.6)
            for rater in rng.choice(20, 3, replace=False):
                for dimension, sd in noise.items():
                    rows.append({"model": model, "conversation_id": f"{model}{c}", "rater": f"r{rater}",
                                 "dimension": dimension, "score": 3 + quality + rng.normal(0, sd)})
    plan = SimpleNamespace(target_difference=0.3, power=0.8, models=5, ratings_per_conversation=3,
                           ratings_per_rater=60, sd_conversation=0.6, sd_rater=0.3, sd_residual=0.8)
    result = plan_study(pd.DataFrame(rows), plan, 0.05)
    assert set(result["dimensions"]) == set(noise) and result["dimension"] == "safety"
    for dimension, sd in noise.items():
        assert result["dimensions"][dimension]["sd_residual"] == pytest.approx(sd, rel=0.2)
    safety = Components(result["sd_conversation"], result["sd_rater"], result["sd_residual"], "")
    assert result["detectable_now"] == pytest.approx(detectable_difference(80, safety, 3, pairs=10))
