"""How sure are we? Statistics over the human ratings, each with its uncertainty.

  model_scores        mean per model and dimension, 95% bootstrap interval over conversations
  rater_agreement     Krippendorff's alpha (ordinal) per dimension, between human raters
  bradley_terry       pairwise preferences -> strengths, bootstrap intervals on strength and rank
  llm_human_agreement the LLM judge against the humans' consensus, per dimension
  scenario_type_scores the model scores split by scenario type

Conversations, not single ratings, are the resampled unit: ratings of one conversation are not
independent, so resampling them one by one would make the intervals too narrow.
"""
import math

import numpy as np
import pandas as pd

SCORE_COLUMNS = ["model", "dimension", "mean", "ci_low", "ci_high", "n_ratings", "n_conversations", "n_raters"]


def cluster_bootstrap_mean(values: pd.Series, clusters: pd.Series, n_boot: int, rng: np.random.Generator):
    """(mean, ci_low, ci_high) of `values`, resampling whole clusters; NaN interval under 2 clusters."""
    grouped = values.groupby(clusters.to_numpy())
    sums, counts = grouped.sum().to_numpy(float), grouped.count().to_numpy(float)
    mean = sums.sum() / counts.sum()
    if len(sums) < 2:
        return mean, math.nan, math.nan
    picks = rng.integers(0, len(sums), size=(n_boot, len(sums)))
    boot = sums[picks].sum(axis=1) / counts[picks].sum(axis=1)
    low, high = np.percentile(boot, [2.5, 97.5])
    return mean, float(low), float(high)


def model_scores(scores: pd.DataFrame, n_boot: int = 2000, seed: int = 0, by: tuple = ()) -> pd.DataFrame:
    """One row per model (and `by` columns) and dimension, with its 95% interval."""
    rng = np.random.default_rng(seed)
    rows = []
    keys = ["model", *by, "dimension"]
    for key, group in scores.groupby(keys, sort=True):
        mean, low, high = cluster_bootstrap_mean(group["score"], group["conversation_id"], n_boot, rng)
        rows.append({**dict(zip(keys, key)), "mean": mean, "ci_low": low, "ci_high": high,
                     "n_ratings": len(group), "n_conversations": group["conversation_id"].nunique(),
                     "n_raters": group["rater_id"].nunique()})
    return pd.DataFrame(rows, columns=[*keys, *SCORE_COLUMNS[2:]])


def reliability_matrix(scores: pd.DataFrame, dimension: str) -> pd.DataFrame:
    """Raters x conversations; a rater who met a conversation twice (in two pairs) counts once, with
    the lower median of their scores (a score they actually gave, so it stays on the 1-5 scale)."""
    of_dim = scores[scores["dimension"] == dimension]
    return of_dim.pivot_table(index="rater_id", columns="conversation_id", values="score",
                              aggfunc=lambda s: float(np.sort(s.to_numpy())[(len(s) - 1) // 2]))


def ordinal_alpha(matrix) -> float:
    """Krippendorff's alpha, ordinal; NaN when fewer than two values were ever given to shared units."""
    import krippendorff

    data = np.asarray(matrix, dtype=float)
    pairable = (~np.isnan(data)).sum(axis=0) >= 2
    if pairable.sum() == 0 or len(np.unique(data[:, pairable][~np.isnan(data[:, pairable])])) < 2:
        return math.nan
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal",
                                    value_domain=[1, 2, 3, 4, 5]))


def rater_agreement(scores: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for dimension in sorted(scores["dimension"].unique()):
        matrix = reliability_matrix(scores, dimension)
        shared = int(((matrix.notna()).sum(axis=0) >= 2).sum())
        rows.append({"dimension": dimension, "alpha": ordinal_alpha(matrix.to_numpy()),
                     "n_raters": matrix.shape[0], "n_conversations_shared": shared})
    return pd.DataFrame(rows, columns=["dimension", "alpha", "n_raters", "n_conversations_shared"])


def vote_arrays(votes: pd.DataFrame, models: list[str]):
    """(i, j, credit): model indices of each vote and model i's share of it (1 win, 0 loss, 0.5 tie)."""
    index = {m: k for k, m in enumerate(models)}
    i = votes["model_a"].map(index).to_numpy()
    j = votes["model_b"].map(index).to_numpy()
    credit = np.where(votes["winner"] == votes["model_a"], 1.0,
                      np.where(votes["winner"] == votes["model_b"], 0.0, 0.5))
    return i, j, credit


def win_matrix(i, j, credit, n_models: int) -> np.ndarray:
    """wins[a, b]: times model a was preferred to model b; a tie is half a win each."""
    wins = np.zeros((n_models, n_models))
    np.add.at(wins, (i, j), credit)
    np.add.at(wins, (j, i), 1 - credit)
    return wins


def bradley_terry(wins: np.ndarray, prior: float = 0.5, tol: float = 1e-9, max_iter: int = 100_000) -> np.ndarray:
    """Maximum-likelihood log-strengths (mean 0) by Hunter's (2004) MM algorithm.

    `prior` adds that many virtual wins each way between every two models, which keeps the estimate
    finite when a model never loses and pulls it only slightly towards equal strengths.
    """
    n = len(wins)
    w = wins + prior * (1 - np.eye(n))
    games = w + w.T
    won = w.sum(axis=1)
    p = np.ones(n)
    for _ in range(max_iter):
        updated = won / (games / (p[:, None] + p[None, :])).sum(axis=1)
        updated /= np.exp(np.log(updated).mean())
        if np.max(np.abs(np.log(updated) - np.log(p))) < tol:
            p = updated
            break
        p = updated
    log_p = np.log(p)
    return log_p - log_p.mean()


def bradley_terry_ranking(votes: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Strength (log scale, mean 0) and rank per model, each with a 95% bootstrap interval over votes."""
    columns = ["model", "strength", "ci_low", "ci_high", "rank", "rank_low", "rank_high",
               "wins", "losses", "ties", "n_votes"]
    if votes.empty:
        return pd.DataFrame(columns=columns)
    models = sorted(set(votes["model_a"]) | set(votes["model_b"]))
    i, j, credit = vote_arrays(votes, models)
    strength = bradley_terry(win_matrix(i, j, credit, len(models)))
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(n_boot):
        pick = rng.integers(0, len(votes), len(votes))
        boot.append(bradley_terry(win_matrix(i[pick], j[pick], credit[pick], len(models))))
    boot = np.array(boot)
    ranks = (-boot).argsort(axis=1).argsort(axis=1) + 1
    rows = []
    for i, model in enumerate(models):
        mine = votes[(votes["model_a"] == model) | (votes["model_b"] == model)]
        ties = int((mine["winner"] == "tie").sum())
        wins = int((mine["winner"] == model).sum())
        rows.append({"model": model, "strength": strength[i],
                     "ci_low": float(np.percentile(boot[:, i], 2.5)),
                     "ci_high": float(np.percentile(boot[:, i], 97.5)),
                     "rank": int((strength > strength[i]).sum() + 1),
                     "rank_low": int(np.percentile(ranks[:, i], 2.5)),
                     "rank_high": int(np.percentile(ranks[:, i], 97.5)),
                     "wins": wins, "losses": len(mine) - wins - ties, "ties": ties, "n_votes": len(mine)})
    return pd.DataFrame(rows, columns=columns).sort_values("rank").reset_index(drop=True)


def llm_human_agreement(scores: pd.DataFrame, llm: pd.DataFrame) -> pd.DataFrame:
    """Per dimension, over conversations both scored: Spearman's rho, mean |difference|, and ordinal
    alpha between the LLM and the human consensus (the median human score, rounded)."""
    from scipy.stats import spearmanr

    columns = ["dimension", "n_conversations", "spearman_rho", "spearman_p", "mean_abs_diff", "alpha"]
    if llm.empty or scores.empty:
        return pd.DataFrame(columns=columns)
    human = scores.groupby(["conversation_id", "dimension"])["score"].agg(["mean", "median"]).reset_index()
    merged = human.merge(llm, on=["conversation_id", "dimension"])
    rows = []
    for dimension, group in merged.groupby("dimension", sort=True):
        varied = group["mean"].nunique() > 1 and group["llm_score"].nunique() > 1
        rho, p = spearmanr(group["mean"], group["llm_score"]) if varied else (math.nan, math.nan)
        consensus = np.floor(group["median"].to_numpy() + 0.5)
        rows.append({"dimension": dimension, "n_conversations": len(group), "spearman_rho": float(rho),
                     "spearman_p": float(p), "mean_abs_diff": float((group["mean"] - group["llm_score"]).abs().mean()),
                     "alpha": ordinal_alpha(np.vstack([consensus, group["llm_score"].to_numpy(float)]))})
    return pd.DataFrame(rows, columns=columns)
