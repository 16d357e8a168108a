"""stage=plan: size a Human Judge study before it is run.

    python run.py experiment_name=full stage=plan report.plan.target_difference=0.25

How many conversations per model, ratings and raters it takes to tell two models apart by
report.plan.target_difference on the 1-5 scale, at report.alpha (Bonferroni over the model pairs)
with report.plan.power; and, for the study as it stands, the smallest difference it could detect.
The spread comes from the study's own ratings when the rating database has enough of them, else
from report.plan's pilot figures (mhcompare.report.power says how).
"""
import logging
import math
import os

from mhcompare import artifacts
from mhcompare.io import atomic_write_json
from mhcompare.report.power import Components, conversations_needed, detectable_difference, variance_components

log = logging.getLogger(__name__)


def rated_so_far(cfg):
    """The ratings of the study (a DataFrame with score, model, conversation_id, rater), or None."""
    import pandas as pd

    from mhcompare.judge.store.db import database_url, open_database
    from mhcompare.judge.store.ratings import export_rows

    url = database_url(cfg)
    if url.startswith("sqlite:///") and not os.path.exists(url.removeprefix("sqlite:///")):
        return None
    with open_database(url).transaction() as session:
        rows, _ = export_rows(session)
    return pd.DataFrame(rows) if rows else None


def sizing(components: Components, scores, plan, alpha: float) -> dict:
    """The study size for these spreads, and (with ratings) what the ratings so far can detect."""
    models, k = int(plan.models), int(plan.ratings_per_conversation)
    pairs = models * (models - 1) // 2
    power = float(plan.power)
    needed = conversations_needed(float(plan.target_difference), components, k, alpha, power, pairs)
    ratings = needed * k * models
    result = {"target_difference": float(plan.target_difference), "power": power, "alpha": alpha, "pairs": pairs,
              "ratings_per_conversation": k, "conversations_per_model": needed, "ratings": ratings,
              "raters": math.ceil(ratings / int(plan.ratings_per_rater)),
              "sd_conversation": components.sd_conversation, "sd_rater": components.sd_rater,
              "sd_residual": components.sd_residual, "spread_from": components.source}
    if scores is not None:
        per_model = scores.groupby("model")["conversation_id"].nunique()
        k_now = max(1, round(len(scores) / scores["conversation_id"].nunique()))
        result["detectable_now"] = detectable_difference(int(per_model.min()), components, k_now, alpha, power, pairs)
    return result


def plan_study(scores, plan, alpha: float) -> dict:
    """The plan for the rubric dimension that needs the most conversations, with every dimension's
    own under `dimensions`. Each dimension is sized on its own ratings: the four scores of one
    rating are not four ratings of the conversation (pooled, they would count as 4x the ratings per
    conversation, and mix the dimensions' spreads)."""
    pilot = Components(float(plan.sd_conversation), float(plan.sd_rater), float(plan.sd_residual),
                       "report.plan's pilot figures")
    if scores is None:
        return sizing(pilot, None, plan, alpha)
    by_dimension = dict(iter(scores.groupby("dimension", sort=True))) if "dimension" in scores else {"": scores}
    dimensions = {}
    for dimension, part in by_dimension.items():
        components = variance_components(part)
        dimensions[dimension] = sizing(components or pilot, part, plan, alpha)
    worst = max(dimensions, key=lambda d: (dimensions[d]["conversations_per_model"], d))
    result = {**dimensions[worst], "dimension": worst}
    if "dimension" in scores:
        result["dimensions"] = dimensions
    return result


def run(cfg) -> dict:
    plan = cfg.report.plan
    result = plan_study(rated_so_far(cfg), plan, float(cfg.report.alpha))
    atomic_write_json(artifacts.report_dir(cfg) / "plan.json", result)
    log.info("plan: to tell two of %d models apart by %.2f points (power %.0f%%, alpha %g over %d pairs) "
             "with %d ratings per conversation: %d conversations per model, %d ratings, about %d raters at %d "
             "ratings each. Spread from %s%s: conversation SD %.2f, rater SD %.2f (cancels when raters rate every "
             "model alike), residual SD %.2f.%s", int(plan.models), result["target_difference"],
             result["power"] * 100, result["alpha"], result["pairs"], result["ratings_per_conversation"],
             result["conversations_per_model"], result["ratings"], result["raters"], int(plan.ratings_per_rater),
             result["spread_from"], f" (dimension {result['dimension']}, the most demanding)"
             if result.get("dimension") else "", result["sd_conversation"], result["sd_rater"], result["sd_residual"],
             f" The study as it stands can detect {result['detectable_now']:.2f} points."
             if "detectable_now" in result else "")
    return result
