"""How sure are we? Statistics over the human ratings, each with its uncertainty.

  model_scores         mean per model and dimension, 95% two-way bootstrap interval (conversations and raters)
  rater_agreement      Krippendorff's alpha (ordinal) per dimension, between human raters
  bradley_terry_ranking pairwise preferences -> strengths and ranks, 95% bootstrap over groups of
                       conversations, with warnings where the data cannot order the models
  llm_human_agreement  the LLM judge against the humans' consensus, per dimension
  (scenario type scores are model_scores split by scenario type)
  by_source            any of these for AI-client transcripts and live chats apart, and combined

Neither single ratings nor single votes are resampled: the ratings of one conversation, and the
votes on pairs that share a conversation, are not independent, and one rater's leniency runs
through all their ratings. Resampling single ratings would make the intervals too narrow; holding
the raters fixed would make them describe only these raters, not raters like them.
"""
import math

import numpy as np
import pandas as pd
from scipy.sparse.csgraph import connected_components

LEVEL = 0.95
SCORE_COLUMNS = ["model", "dimension", "mean", "ci_low", "ci_high", "n_ratings", "n_conversations", "n_raters",
                 "interval_over"]
CONVERSATIONS_AND_RATERS = "conversations and raters"
CONVERSATIONS_ONLY = "conversations only (one rater: rater variation not estimable)"
# The conversations one pair item can draw from: every pair compares two conversations of one
# scenario and seed (importing.build_items), and one conversation is in a pair with each other model.
VOTE_CLUSTER = ("scenario_id", "seed")
# The export's own cluster column: scenario and seed for AI-client votes, the session for a live chat
# (its two conversations were compared only with each other).
EXPORT_CLUSTER = ("cluster",)
# Where ratings come from: transcripts of the AI client, or raters' own live chats (export `source`).
SOURCES = ("ai_client", "live")
COMBINED = "combined"
# Log-strengths closer than this are equal (a relative difference of 1e-6 in strength): far above
# the solver's error, far below any difference that matters.
RANK_TOLERANCE = 1e-6
# Between two warnings of one model (a warning itself may contain "; ").
WARNING_SEPARATOR = " | "
# Virtual wins each way between every two models (see bradley_terry).
PRIOR = 0.5


def percentile_interval(boot: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The central `level` percentile interval of bootstrap draws (NaN draws ignored)."""
    tail = 100 * (1 - level) / 2
    low, high = np.nanpercentile(boot, [tail, 100 - tail])
    return float(low), float(high)


def crossed_cells(values: pd.Series, raters: pd.Series, conversations: pd.Series):
    """(sums, counts): raters x conversations tables of the ratings' sum and number in each cell."""
    r, _ = pd.factorize(raters)
    c, _ = pd.factorize(conversations)
    sums = np.zeros((r.max() + 1, c.max() + 1))
    counts = np.zeros_like(sums)
    np.add.at(sums, (r, c), values.to_numpy(float))
    np.add.at(counts, (r, c), 1)
    return sums, counts


def resample_counts(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n): how often each of n units is drawn when drawing n with replacement."""
    return rng.multinomial(n, np.full(n, 1 / n), size=n_boot).astype(float)


def crossed_bootstrap_mean(values: pd.Series, raters: pd.Series, conversations: pd.Series, n_boot: int,
                           rng: np.random.Generator):
    """(mean, ci_low, ci_high) of `values` by the pigeonhole bootstrap (Owen 2007): raters and
    conversations are drawn with replacement independently, and a rating counts as often as its
    rater times its conversation was drawn. The interval then covers the mean over raters like these
    as well as over conversations like these. It is mildly conservative (the rating noise is counted
    about three times over), and with few raters it can only be rough. A draw whose raters never met
    its conversations has no mean and is left out. NaN interval under 2 conversations."""
    sums, counts = crossed_cells(values, raters, conversations)
    mean = sums.sum() / counts.sum()
    n_raters, n_conversations = sums.shape
    if n_conversations < 2:
        return mean, math.nan, math.nan
    rater_draws = resample_counts(n_raters, n_boot, rng)
    conversation_draws = resample_counts(n_conversations, n_boot, rng)
    total = ((rater_draws @ sums) * conversation_draws).sum(axis=1)
    weight = ((rater_draws @ counts) * conversation_draws).sum(axis=1)
    boot = np.divide(total, weight, out=np.full(n_boot, math.nan), where=weight > 0)
    return (mean, *percentile_interval(boot))


def model_scores(scores: pd.DataFrame, n_boot: int = 2000, seed: int = 0, by: tuple = ()) -> pd.DataFrame:
    """One row per model (and `by` columns) and dimension, with its 95% two-way bootstrap interval;
    `interval_over` says which variation the interval covers."""
    rng = np.random.default_rng(seed)
    rows = []
    keys = ["model", *by, "dimension"]
    for key, group in scores.groupby(keys, sort=True):
        mean, low, high = crossed_bootstrap_mean(group["score"], group["rater_id"], group["conversation_id"],
                                                 n_boot, rng)
        n_raters = group["rater_id"].nunique()
        rows.append({**dict(zip(keys, key)), "mean": mean, "ci_low": low, "ci_high": high,
                     "n_ratings": len(group), "n_conversations": group["conversation_id"].nunique(),
                     "n_raters": n_raters,
                     "interval_over": CONVERSATIONS_AND_RATERS if n_raters > 1 else CONVERSATIONS_ONLY})
    return pd.DataFrame(rows, columns=[*keys, *SCORE_COLUMNS[2:]])


COMPARISON_COLUMNS = ["dimension", "model_a", "model_b", "difference", "ci_low", "ci_high", "p", "p_holm",
                      "told_apart", "linking_raters", "ratings_used", "ratings", "note"]


def score_comparisons(scores: pd.DataFrame, n_boot: int = 2000, seed: int = 0, alpha: float = 0.05) -> pd.DataFrame:
    """Per dimension and pair of models, the difference of their mean ratings within raters (each
    rater's own leniency cancels), with a 95% interval and a test, Holm-adjusted over the pairs of
    the dimension. Only raters who rated both models count; with fewer than 2 of them the design
    cannot separate the models from the raters' leniency, and the pair is not compared (and says so).

    The difference: each linking rater's mean on A minus their mean on B, weighted by
    n_A n_B / (n_A + n_B), so a rater's leniency (a fixed effect of the rater) cancels. Its standard
    error: a bootstrap over conversations (the clusters: several ratings of one conversation go in and
    out together), the test t with conversations - 2 degrees of freedom. In simulation with raters of
    different leniency it kept 5% (docs/statistics.md); the two-way bootstrap of model_scores, which
    also draws raters, doubled the variance here and never rejected. Not covered: raters who prefer
    one model's style (a rater-by-model interaction)."""
    from scipy import stats

    rng = np.random.default_rng(seed)
    rows = []
    for dimension, of_dim in scores.groupby("dimension", sort=True):
        models = sorted(of_dim["model"].unique())
        first = len(rows)
        for i, a in enumerate(models):
            for b in models[i + 1:]:
                rows.append({"dimension": dimension, "model_a": a, "model_b": b,
                             **pair_difference(of_dim[of_dim["model"].isin([a, b])], a, b, n_boot, rng, stats)})
        tested = [r for r in rows[first:] if not math.isnan(r["p"])]
        if tested:
            from mhcompare.holm import holm

            for row, adjusted in zip(tested, holm([r["p"] for r in tested])):
                row["p_holm"], row["told_apart"] = float(adjusted), bool(adjusted < alpha)
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def pair_difference(pair: pd.DataFrame, a: str, b: str, n_boot: int, rng, stats) -> dict:
    raters_of = pair.groupby("model")["rater_id"].agg(set)
    linking = raters_of[a] & raters_of[b]
    used = pair[pair["rater_id"].isin(linking)]
    row = {"difference": math.nan, "ci_low": math.nan, "ci_high": math.nan, "p": math.nan, "p_holm": math.nan,
           "told_apart": False, "linking_raters": len(linking), "ratings_used": len(used), "ratings": len(pair),
           "note": ""}
    if len(linking) < 2:
        row["note"] = (f"not compared: {'no rater' if not linking else 'only one rater'} rated both {a} and {b} "
                       f"({len(raters_of[a])} rated {a}, {len(raters_of[b])} rated {b}), so the design cannot "
                       "separate the models from the raters' leniency")
        return row
    sums, counts = crossed_cells(used["score"], used["rater_id"], used["conversation_id"])
    conversation_model = used.drop_duplicates("conversation_id").set_index("conversation_id")["model"]
    is_a = (conversation_model.reindex(pd.factorize(used["conversation_id"])[1]) == a).to_numpy()
    ones = np.ones((1, len(linking))), np.ones((1, sums.shape[1]))
    estimate = within_rater_difference(sums, counts, is_a, *ones)[0]
    boot = within_rater_difference(sums, counts, is_a, np.ones((n_boot, sums.shape[0])),
                                   resample_counts(sums.shape[1], n_boot, rng))
    se = float(np.nanstd(boot, ddof=1))
    df = max(sums.shape[1] - 2, 1)  # conversations, less the two models' means
    half = float(stats.t.ppf(0.5 + LEVEL / 2, df)) * se
    p = 1.0 if estimate == 0 and se == 0 else float(2 * stats.t.sf(abs(estimate) / se, df)) if se > 0 else 0.0
    row.update(difference=float(estimate), ci_low=estimate - half, ci_high=estimate + half, p=p)
    if len(used) < len(pair):
        row["note"] = f"{len(pair) - len(used)} ratings by raters who rated only one of the two left out"
    return row


def within_rater_difference(sums, counts, is_a, rater_draws, conversation_draws) -> np.ndarray:
    """Per draw: the weighted mean over raters of (rater's mean on A - their mean on B), a rater
    counting as often as drawn and a conversation's ratings as often as it was drawn."""
    sum_a, sum_b = conversation_draws[:, is_a] @ sums[:, is_a].T, conversation_draws[:, ~is_a] @ sums[:, ~is_a].T
    n_a, n_b = conversation_draws[:, is_a] @ counts[:, is_a].T, conversation_draws[:, ~is_a] @ counts[:, ~is_a].T
    with np.errstate(divide="ignore", invalid="ignore"):
        difference = sum_a / n_a - sum_b / n_b
        weight = np.where((n_a > 0) & (n_b > 0), n_a * n_b / (n_a + n_b), 0.0) * rater_draws
        return (np.nan_to_num(difference) * weight).sum(axis=1) / weight.sum(axis=1)


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


def vote_clusters(votes: pd.DataFrame, cluster: tuple = VOTE_CLUSTER) -> np.ndarray:
    """Cluster index of each vote: the votes that share a conversation share a cluster."""
    missing = [c for c in cluster if c not in votes.columns]
    if missing:
        raise ValueError(f"votes need the columns {list(cluster)} that say which conversations were compared; "
                         f"missing {missing}")
    return votes.groupby(list(cluster), sort=False).ngroup().to_numpy()


def cluster_win_matrices(clusters, i, j, credit, n_models: int) -> np.ndarray:
    """wins[k, a, b]: model a's wins over model b within cluster k (a tie is half a win each)."""
    wins = np.zeros((clusters.max() + 1, n_models, n_models))
    np.add.at(wins, (clusters, i, j), credit)
    np.add.at(wins, (clusters, j, i), 1 - credit)
    return wins


def bradley_terry(wins: np.ndarray, prior: float = PRIOR) -> np.ndarray:
    """Maximum-likelihood log-strengths (mean 0), by choix's iterative Luce spectral ranking.

    `prior` adds that many virtual wins each way between every two models, which keeps the estimate
    finite when a model never loses and pulls it only slightly towards equal strengths. (This is not
    choix's own `alpha`, which regularises differently.) With prior=0 the data must order every model.
    """
    import choix

    n = len(wins)
    log_p = choix.ilsr_pairwise_dense(wins + prior * (1 - np.eye(n)), alpha=0.0, max_iter=1000, tol=1e-10)
    return log_p - log_p.mean()


def bootstrap_strengths(cluster_wins: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n_models) log-strengths, each fitted to a resample of whole clusters."""
    draws = resample_counts(len(cluster_wins), n_boot, rng)
    wins = np.tensordot(draws, cluster_wins, axes=1)
    return np.array([bradley_terry(w) for w in wins])


def tied_ranks(strengths: np.ndarray) -> np.ndarray:
    """Ranks along the last axis, 1 = strongest. Models within RANK_TOLERANCE of each other share a
    rank, the best of their places (min rank: 1, 1, 3), so rounding noise never splits a tie."""
    s = np.asarray(strengths, dtype=float)
    stronger = s[..., None, :] > s[..., :, None] + RANK_TOLERANCE
    return stronger.sum(axis=-1) + 1


def set_text(names) -> str:
    return "{" + ", ".join(sorted(names)) + "}"


def disconnected_warnings(compared: np.ndarray, models: list[str]) -> list[list[str]]:
    """Per model, a warning when the models fall into groups never compared with each other, directly
    or through others: the prior alone then places the groups, so their order means nothing."""
    n_groups, group = connected_components(compared, directed=False)
    notes = [[] for _ in models]
    if n_groups == 1:
        return notes
    for g in range(n_groups):
        inside = [m for m, k in zip(models, group) if k == g]
        outside = [m for m, k in zip(models, group) if k != g]
        text = (f"disconnected: {set_text(inside)} were never compared with {set_text(outside)}; "
                "their relative order is not estimable")
        for k in np.flatnonzero(group == g):
            notes[k].append(text)
    return notes


def one_sided_text(members: list[str], opponents: list[str], outcome: str) -> str:
    if len(members) == 1:
        return f"one-sided: {members[0]} {outcome} every comparison, its strength is bounded only by the prior"
    return (f"one-sided: {set_text(members)} {outcome} every comparison with {set_text(opponents)}, "
            "their strength relative to those is bounded only by the prior")


def one_sided_warnings(wins: np.ndarray, compared: np.ndarray, models: list[str]) -> list[list[str]]:
    """Per model, a warning when it (or a group of models) won, or lost, every comparison with the
    models it was compared with: the maximum likelihood strength is then infinite, and only the
    prior keeps it finite (its interval can be zero-width). Found as a strongly connected component
    of the 'got credit against' graph that no model outside it ever beat, or that never beat one."""
    _, strong = connected_components(wins > 0, directed=True, connection="strong")
    notes = [[] for _ in models]
    for s in np.unique(strong):
        members = np.flatnonzero(strong == s)
        opponents = np.flatnonzero(compared[members].any(axis=0) & (strong != s))
        if len(opponents) == 0:
            continue
        if wins[np.ix_(opponents, members)].sum() == 0:
            outcome = "won"
        elif wins[np.ix_(members, opponents)].sum() == 0:
            outcome = "lost"
        else:
            continue
        text = one_sided_text([models[k] for k in members], [models[k] for k in opponents], outcome)
        for k in members:
            notes[k].append(text)
    return notes


def comparison_warnings(wins: np.ndarray, models: list[str]) -> list[str]:
    """Per model, what the data cannot say about it ('' when nothing): see the two kinds above."""
    compared = (wins + wins.T) > 0
    notes = zip(disconnected_warnings(compared, models), one_sided_warnings(wins, compared, models))
    return [WARNING_SEPARATOR.join(a + b) for a, b in notes]


def strength_intervals(strength: np.ndarray, boot: np.ndarray, clusters: int, level: float = LEVEL):
    """(low, high) per model: strength +- t_(clusters - 1) x the bootstrap's standard error x
    sqrt(clusters / (clusters - 1)). The percentile interval of a bootstrap over few clusters is too
    narrow (in simulation, with no real difference, it excluded zero in 14% of studies at 4
    clusters, 7% at 10); the t quantile and the small-sample factor hold 5% from 3 clusters on
    (docs/statistics.md)."""
    from scipy import stats

    se = np.nanstd(boot, axis=0, ddof=1) * math.sqrt(clusters / (clusters - 1))
    half = float(stats.t.ppf(0.5 + level / 2, clusters - 1)) * se
    return strength - half, strength + half


def rank_ranges(low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each model's best and worst place consistent with the strength intervals: 1 + the models
    surely stronger (their interval entirely above its own), and 1 + the models possibly stronger
    (their interval reaching above its own lower end)."""
    surely = low[None, :] > high[:, None] + RANK_TOLERANCE
    possibly = high[None, :] > low[:, None] + RANK_TOLERANCE
    np.fill_diagonal(possibly, False)
    return surely.sum(axis=1) + 1, possibly.sum(axis=1) + 1


def bradley_terry_ranking(votes: pd.DataFrame, n_boot: int = 1000, seed: int = 0,
                          cluster: tuple = VOTE_CLUSTER) -> pd.DataFrame:
    """Strength (log scale, mean 0) and rank per model, each with a 95% interval from a bootstrap
    over clusters of votes (the `cluster` columns: by default all votes on the conversations of one
    scenario and seed, so the votes of several raters on one pair, and of pairs sharing a
    conversation, go in and out together), widened for few clusters (strength_intervals). Below
    MIN_CLUSTERS clusters there is no interval and the rank range is every place. When the
    comparison graph is disconnected, only the largest connected group is ranked (on its own
    votes); the others get no strength or rank. `warning` marks a model whose place the data cannot fix."""
    if votes.empty:
        return pd.DataFrame(columns=RANKING_COLUMNS)
    models = sorted(set(votes["model_a"]) | set(votes["model_b"]))
    i, j, credit = vote_arrays(votes, models)
    wins = win_matrix(i, j, credit, len(models))
    n_groups, group = connected_components((wins + wins.T) > 0, directed=False)
    if n_groups > 1:
        return disconnected_ranking(votes, models, group, wins, n_boot, seed, cluster)
    clusters = vote_clusters(votes, cluster)
    cluster_wins = cluster_win_matrices(clusters, i, j, credit, len(models))
    n_clusters = len(cluster_wins)
    strength = bradley_terry(wins)
    rank = tied_ranks(strength)
    warnings = comparison_warnings(wins, models)
    if n_clusters >= MIN_CLUSTERS:
        boot = bootstrap_strengths(cluster_wins, n_boot, np.random.default_rng(seed))
        low, high = strength_intervals(strength, boot, n_clusters)
        rank_low, rank_high = rank_ranges(low, high)
    else:
        low = high = np.full(len(models), math.nan)
        rank_low, rank_high = np.ones(len(models), int), np.full(len(models), len(models))
        text = (f"too few clusters: the votes come from {n_clusters} group{'s' if n_clusters != 1 else ''} of "
                f"conversations, an interval needs at least {MIN_CLUSTERS}; no interval, and any place is possible")
        warnings = [WARNING_SEPARATOR.join(filter(None, [w, text])) for w in warnings]
    rows = []
    for k, model in enumerate(models):
        rows.append({"model": model, "strength": strength[k], "ci_low": low[k], "ci_high": high[k],
                     "rank": int(rank[k]), "rank_low": int(min(rank_low[k], rank[k])),
                     "rank_high": int(max(rank_high[k], rank[k])), **record_of(votes, model),
                     "warning": warnings[k], "n_clusters": n_clusters})
    table = pd.DataFrame(rows, columns=RANKING_COLUMNS)
    return table.sort_values(["rank", "model"]).reset_index(drop=True)


RANKING_COLUMNS = ["model", "strength", "ci_low", "ci_high", "rank", "rank_low", "rank_high",
                   "wins", "losses", "ties", "n_votes", "warning", "n_clusters"]
# Fewer clusters of votes than this get no interval: at 2 clusters even the widened interval
# excluded zero in 18% of null studies; from 3 on it held 5% (docs/statistics.md). 5 leaves a margin.
MIN_CLUSTERS = 5


def record_of(votes: pd.DataFrame, model: str) -> dict:
    mine = votes[(votes["model_a"] == model) | (votes["model_b"] == model)]
    ties = int((mine["winner"] == "tie").sum())
    won = int((mine["winner"] == model).sum())
    return {"wins": won, "losses": len(mine) - won - ties, "ties": ties, "n_votes": len(mine)}


def disconnected_ranking(votes, models, group, wins, n_boot, seed, cluster) -> pd.DataFrame:
    """The largest connected group ranked on its own votes; every other model listed without a
    strength or rank (the prior alone would place it). No group is ranked when two are largest."""
    sizes = np.bincount(group)
    notes = disconnected_warnings((wins + wins.T) > 0, models)
    largest = np.flatnonzero(sizes == sizes.max())
    parts = []
    if len(largest) == 1:
        inside = {m for m, g in zip(models, group) if g == largest[0]}
        ranked = bradley_terry_ranking(votes[votes["model_a"].isin(inside)], n_boot, seed, cluster)
        ranked["warning"] = [WARNING_SEPARATOR.join(filter(None, [w, notes[models.index(m)][0]]))
                             for m, w in zip(ranked["model"], ranked["warning"])]
        parts.append(ranked)
    else:
        inside = set()
    rest = [{"model": m, **record_of(votes, m), "warning": notes[k][0] + "; not ranked"}
            for k, m in enumerate(models) if m not in inside]
    parts.append(pd.DataFrame(rest, columns=RANKING_COLUMNS))
    table = pd.concat([p for p in parts if not p.empty], ignore_index=True)[RANKING_COLUMNS]
    for column in ("rank", "rank_low", "rank_high", "n_clusters"):
        table[column] = table[column].astype("Int64")
    return table


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


def by_source(frame: pd.DataFrame, compute) -> pd.DataFrame:
    """`compute(rows)` for each source's rows (ai_client, live) and for all of them (`combined`),
    stacked with `source` as the first column: the same method and intervals side by side."""
    parts = []
    if "source" in frame.columns:
        parts += [compute(frame[frame["source"] == s]).assign(source=s) for s in SOURCES
                  if (frame["source"] == s).any()]
    parts.append(compute(frame).assign(source=COMBINED))
    parts = [p for p in parts if not p.empty] or parts[-1:]
    table = pd.concat(parts, ignore_index=True)
    return table[["source", *[c for c in table.columns if c != "source"]]]
