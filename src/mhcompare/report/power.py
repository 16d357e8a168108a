"""How big a Human Judge study must be to tell two models apart by a given difference.

The design: every model has C conversations; each conversation is rated by k raters; every
rater rates every model about equally often (the rating app assigns items balanced), so a rater's
leniency shifts both models' means alike and cancels in their difference. What remains:

    Var(mean_A - mean_B) = 2 * (sd_conversation^2 + sd_residual^2 / k) / C

and the difference is detected with the given power at the Bonferroni level alpha / pairs (which
bounds Holm's first step) when

    C = 2 * (z_(1 - alpha/(2 pairs)) + z_power)^2 * (sd_conversation^2 + sd_residual^2 / k) / difference^2

A rater-by-model interaction (raters who prefer one model's style) would add to this and is not
modelled. The standard deviations come from the study's own ratings where there are some
(`variance_components`), else from the configuration (a pilot's figures).
"""
import math
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Components:
    sd_conversation: float
    sd_rater: float
    sd_residual: float
    source: str  # "the N ratings so far" or "judge.plan defaults"


def z_sum(alpha: float, power: float, pairs: int) -> float:
    """z_(1 - alpha/(2 pairs)) + z_power."""
    from scipy import stats

    return float(stats.norm.ppf(1 - alpha / (2 * pairs)) + stats.norm.ppf(power))


def per_conversation_variance(components: Components, ratings_per_conversation: int) -> float:
    """sd_conversation^2 + sd_residual^2 / k: one conversation mean's variance (rater leniency cancels)."""
    return components.sd_conversation ** 2 + components.sd_residual ** 2 / ratings_per_conversation


def conversations_needed(difference: float, components: Components, ratings_per_conversation: int,
                         alpha: float = 0.05, power: float = 0.8, pairs: int = 1) -> int:
    z = z_sum(alpha, power, pairs)
    return max(2, math.ceil(2 * z * z * per_conversation_variance(components, ratings_per_conversation)
                            / difference ** 2))


def detectable_difference(conversations: int, components: Components, ratings_per_conversation: int,
                          alpha: float = 0.05, power: float = 0.8, pairs: int = 1) -> float:
    return z_sum(alpha, power, pairs) * math.sqrt(
        2 * per_conversation_variance(components, ratings_per_conversation) / conversations)


def variance_components(scores: pd.DataFrame) -> Components | None:
    """The spread of the study's own ratings; None with too few ratings to say. Columns used: score,
    model, conversation_id, rater.

    Conversations: a random intercept per conversation, the model a fixed effect (statsmodels'
    MixedLM, REML): its variance, and the variance of ratings within a conversation. Raters: by
    moments, the spread of each rater's mean deviation from the conversations' means beyond what
    the within-conversation noise alone would give; the rest of the within variance is residual.
    (A crossed-effects fit is exact but takes minutes at a study's size; this takes a second.)"""
    import warnings

    import statsmodels.formula.api as smf

    if len(scores) < 20 or scores["rater"].nunique() < 2 or scores["conversation_id"].nunique() < 4:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = smf.mixedlm("score ~ C(model)", scores, groups=scores["conversation_id"]).fit(reml=True)
    between, within = max(float(fit.cov_re.iloc[0, 0]), 0.0), max(float(fit.scale), 0.0)
    # a rater's mean deviation from the means of the conversations they rated keeps (1 - 1/k) of
    # their leniency (k raters share each conversation mean) and (1 - 1/k) / n of the noise
    deviation = scores["score"] - scores.groupby("conversation_id")["score"].transform("mean")
    by_rater = deviation.groupby(scores["rater"]).agg(["mean", "count"])
    shrink = 1 - 1 / (len(scores) / scores["conversation_id"].nunique())
    spread, rater = float(by_rater["mean"].var(ddof=1)), 0.0
    for _ in range(20):  # the within variance holds rater and residual; split it
        residual = max(within - rater, 0.0)
        rater = max((spread - residual * shrink * float((1 / by_rater["count"]).mean())) / shrink ** 2, 0.0)
        rater = min(rater, within)
    return Components(math.sqrt(between), math.sqrt(rater), math.sqrt(max(within - rater, 0.0)),
                      f"the {len(scores)} ratings so far")
