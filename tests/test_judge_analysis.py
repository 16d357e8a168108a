"""The statistics against known answers: planted model differences with rater noise, identical and
random raters, planted Bradley-Terry strengths; then stage=judge_analysis end to end."""
import numpy as np
import pandas as pd
import pytest
from conftest import run_py
from support.browser import write_conversations

from mhcompare.judge.stats import analysis
from mhcompare.judge.store.db import Conversation, Rater, open_database
from mhcompare.judge.store.importing import build_items, conversation_files, import_conversations
from mhcompare.judge.store.ratings import Rules, current_assignment, item_content, sides, submit

DIMENSIONS = ["professionalism", "empathy", "practicality", "safety"]


def planted_ratings(means: dict, conversations=40, raters=3, seed=0) -> pd.DataFrame:
    """Each conversation has its own quality, each rater a leniency and noise; scores rounded to 1-5."""
    rng = np.random.default_rng(seed)
    leniency = rng.normal(0, 0.3, raters)
    rows = []
    for model, mean in means.items():
        for c in range(conversations):
            quality = mean + rng.normal(0, 0.4)
            for r in range(raters):
                score = int(np.clip(np.rint(quality + leniency[r] + rng.normal(0, 0.5)), 1, 5))
                rows.append({"model": model, "conversation_id": f"{model}-{c}", "rater_id": r, "rating_id": 0,
                             "dimension": "empathy", "score": score, "scenario_type": "crisis"})
    return pd.DataFrame(rows)


def test_planted_model_differences_come_out_ranked_with_separated_intervals():
    planted = {"weak": 2.2, "middling": 3.0, "strong": 3.8}
    table = analysis.model_scores(planted_ratings(planted), n_boot=2000, seed=1).set_index("model")
    assert list(table["mean"].sort_values().index) == ["weak", "middling", "strong"]
    for model, mean in planted.items():
        row = table.loc[model]
        assert row["ci_low"] < row["mean"] < row["ci_high"]
        assert abs(row["mean"] - mean) < 0.35  # rater leniency averages out only over 3 raters
        assert 0.1 < row["ci_high"] - row["ci_low"] < 0.6
        assert row["n_ratings"] == 120 and row["n_conversations"] == 40 and row["n_raters"] == 3
    assert table.loc["weak", "ci_high"] < table.loc["middling", "ci_low"]
    assert table.loc["middling", "ci_high"] < table.loc["strong", "ci_low"]


def test_bootstrap_interval_covers_the_true_mean_about_95_percent_of_the_time():
    """Scores 3 + conversation effect + rater noise, each symmetric in {-1, 0, 1}: true mean exactly 3."""
    rng = np.random.default_rng(2)
    covered = 0
    for trial in range(200):
        conv = np.repeat(rng.integers(-1, 2, 30), 3)
        noise = rng.choice([-1, 0, 1], size=90, p=[0.25, 0.5, 0.25])
        frame = pd.DataFrame({"model": "m", "dimension": "d", "score": 3 + conv + noise, "rater_id": np.tile([0, 1, 2], 30),
                              "conversation_id": np.repeat(np.arange(30), 3)})
        row = analysis.model_scores(frame, n_boot=500, seed=trial).iloc[0]
        covered += row["ci_low"] <= 3 <= row["ci_high"]
    assert 0.88 <= covered / 200 <= 0.99


def lenient_raters_study(rng, raters=10, conversations=40, per_conversation=3) -> pd.DataFrame:
    """Each conversation rated by 3 of 10 raters; leniency SD 0.3, conversation SD 0.5, noise SD 0.5,
    all around 3 and symmetric, so the mean over raters and conversations like these is exactly 3."""
    leniency = rng.normal(0, 0.3, raters)
    quality = rng.normal(0, 0.5, conversations)
    rater = np.concatenate([rng.choice(raters, per_conversation, replace=False) for _ in range(conversations)])
    conversation = np.repeat(np.arange(conversations), per_conversation)
    latent = 3 + quality[conversation] + leniency[rater] + rng.normal(0, 0.5, len(rater))
    return pd.DataFrame({"model": "m", "dimension": "d", "score": np.clip(np.rint(latent), 1, 5),
                         "rater_id": rater, "conversation_id": conversation})


def test_score_interval_covers_the_mean_over_raters_and_conversations():
    """Raters are a sample too: an interval over conversations alone covered 3 in 0.80 of these studies."""
    rng = np.random.default_rng(7)
    covered = 0
    for study in range(200):
        row = analysis.model_scores(lenient_raters_study(rng), n_boot=200, seed=study).iloc[0]
        covered += row["ci_low"] <= 3 <= row["ci_high"]
        assert row["interval_over"] == "conversations and raters"
    assert 0.88 <= covered / 200 <= 0.995


def test_one_rater_interval_says_it_covers_conversations_only():
    frame = planted_ratings({"m": 3.0}, raters=1)
    assert analysis.model_scores(frame, n_boot=50).iloc[0]["interval_over"].startswith("conversations only")


def test_intervals_are_95_percent():
    """Percentiles 2.5 and 97.5 of the draws; on 1000 independent conversations the interval is the
    normal one, mean +- 1.96 standard errors (a 90% interval would be 16% narrower)."""
    assert analysis.percentile_interval(np.arange(1001.0)) == pytest.approx((25, 975))
    score = np.random.default_rng(8).integers(1, 6, 1000).astype(float)
    frame = pd.DataFrame({"model": "m", "dimension": "d", "score": score, "rater_id": 0,
                          "conversation_id": np.arange(1000)})
    row = analysis.model_scores(frame, n_boot=4000, seed=0).iloc[0]
    normal_width = 2 * 1.959964 * score.std() / np.sqrt(len(score))
    assert 0.95 < (row["ci_high"] - row["ci_low"]) / normal_width < 1.05


def test_alpha_is_one_for_identical_raters_and_near_zero_for_random_ones():
    rng = np.random.default_rng(3)
    truth = rng.integers(1, 6, 200)
    assert analysis.ordinal_alpha(np.vstack([truth, truth, truth])) == pytest.approx(1.0)
    random_raters = rng.integers(1, 6, (5, 200)).astype(float)
    assert abs(analysis.ordinal_alpha(random_raters)) < 0.05
    # planted ratings: conversation quality dominates rater noise, so agreement is substantial
    frame = planted_ratings({"a": 2.0, "b": 3.0, "c": 4.0})
    agreement = analysis.rater_agreement(frame).iloc[0]
    assert 0.5 < agreement["alpha"] < 1 and agreement["n_conversations_shared"] == 120


def planted_votes(strengths: dict, n: int, seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    models = list(strengths)
    rows = []
    for _ in range(n):
        a, b = rng.choice(models, 2, replace=False)
        p_a = 1 / (1 + np.exp(strengths[b] - strengths[a]))
        rows.append({"model_a": a, "model_b": b, "winner": a if rng.random() < p_a else b})
    return with_clusters(pd.DataFrame(rows))


def with_clusters(votes: pd.DataFrame, per_cluster: int = 1) -> pd.DataFrame:
    """The columns that say which conversations a vote compared: `per_cluster` votes in a row share them."""
    return votes.assign(scenario_id=np.arange(len(votes)) // per_cluster, seed=0)


def record(*matches) -> pd.DataFrame:
    """Votes from (winner, loser, times) triples, each vote its own cluster."""
    rows = [{"model_a": w, "model_b": l, "winner": w} for w, l, times in matches for _ in range(times)]
    return with_clusters(pd.DataFrame(rows))


def test_bradley_terry_recovers_planted_strengths_and_order():
    planted = {"m0": -1.0, "m1": -0.3, "m2": 0.2, "m3": 1.1}
    ranking = analysis.bradley_terry_ranking(planted_votes(planted, 1500), n_boot=300, seed=0)
    assert list(ranking["model"]) == ["m3", "m2", "m1", "m0"]
    rows = ranking.to_dict("records")  # planted strengths already have mean 0
    for row in rows:
        assert abs(row["strength"] - planted[row["model"]]) < 0.2  # standard error here is about 0.08
        assert 0.15 < row["ci_high"] - row["ci_low"] < 0.6
    # four 95% intervals: by chance one may miss its planted value, rarely two
    assert sum(r["ci_low"] <= planted[r["model"]] <= r["ci_high"] for r in rows) >= 3
    assert list(ranking["rank"]) == [1, 2, 3, 4]
    assert ranking.loc[0, "rank_low"] == ranking.loc[0, "rank_high"] == 1  # the clear winner is settled


def test_bradley_terry_mle_matches_choix_and_counts_ties_as_half():
    choix = pytest.importorskip("choix")
    votes = planted_votes({"a": 0.5, "b": 0.0, "c": -0.5}, 400, seed=5)
    models = ["a", "b", "c"]
    i, j, credit = analysis.vote_arrays(votes, models)
    ours = analysis.bradley_terry(analysis.win_matrix(i, j, credit, 3), prior=0)
    pairs = [(x, y) if c == 1 else (y, x) for x, y, c in zip(i, j, credit)]
    theirs = choix.ilsr_pairwise(3, pairs, alpha=0)
    np.testing.assert_allclose(ours, theirs - theirs.mean(), atol=1e-6)
    ties = pd.DataFrame({"model_a": ["a", "a"], "model_b": ["b", "b"], "winner": ["tie", "tie"]})
    assert np.allclose(analysis.bradley_terry(analysis.win_matrix(*analysis.vote_arrays(ties, ["a", "b"]), 2)), 0)


def test_bradley_terry_prior_is_half_a_virtual_win_each_way():
    """Pinned twice: two models in closed form, log((3 + 0.5) / (0 + 0.5)) for a 3-0 record, and three
    models against choix on the doubled data plus one virtual win each way (same maximum)."""
    choix = pytest.importorskip("choix")
    ranking = analysis.bradley_terry_ranking(record(("a", "b", 3)), n_boot=50).set_index("model")
    assert ranking.loc["a", "strength"] - ranking.loc["b", "strength"] == pytest.approx(np.log(7), abs=1e-8)
    wins = np.array([[0, 4, 1], [2, 0, 3], [0, 1, 0]], dtype=float)
    pairs = [(w, l) for w in range(3) for l in range(3) for _ in range(int(2 * wins[w, l]) + (w != l))]
    theirs = choix.ilsr_pairwise(3, pairs, alpha=0, tol=1e-12)
    np.testing.assert_allclose(analysis.bradley_terry(wins), theirs - theirs.mean(), atol=1e-8)


def clustered_study(rng, clusters=40, raters=5, spread=2.0, advantage=0.5) -> pd.DataFrame:
    """Model a against b on `clusters` conversation pairs, each judged by 5 raters who share that
    pair's effect (log-odds spread SD 2): votes within a pair agree more than votes across pairs."""
    p_a = 1 / (1 + np.exp(-(advantage + rng.normal(0, spread, clusters))))
    a_wins = rng.random((clusters, raters)) < p_a[:, None]
    votes = pd.DataFrame({"model_a": "a", "model_b": "b", "winner": np.where(a_wins.ravel(), "a", "b")})
    return with_clusters(votes, per_cluster=raters)


def population_strength(spread=2.0, advantage=0.5) -> float:
    """What Bradley-Terry estimates here: half the log-odds of a's average chance over pairs."""
    x, w = np.polynomial.hermite_e.hermegauss(80)
    p = (w / (1 + np.exp(-(advantage + spread * x)))).sum() / w.sum()
    return np.log(p / (1 - p)) / 2


def test_bradley_terry_interval_covers_with_votes_clustered_in_conversations():
    """Resampling single votes covered 0.83 here; resampling conversations about 0.95."""
    rng, target = np.random.default_rng(11), population_strength()
    covered = 0
    for study in range(100):
        row = analysis.bradley_terry_ranking(clustered_study(rng), n_boot=200, seed=study).set_index("model").loc["a"]
        covered += row["ci_low"] <= target <= row["ci_high"]
    assert covered / 100 >= 0.9


def test_bradley_terry_resamples_whole_conversations():
    """Every conversation pair got the same 3-2 split: whole-conversation resamples are all alike."""
    votes = with_clusters(pd.DataFrame({"model_a": "a", "model_b": "b", "winner": ["a", "a", "a", "b", "b"] * 20}),
                          per_cluster=5)
    row = analysis.bradley_terry_ranking(votes, n_boot=200).set_index("model").loc["a"]
    assert row["ci_low"] == pytest.approx(row["strength"]) == pytest.approx(row["ci_high"])
    assert row["strength"] == pytest.approx(np.log(60.5 / 40.5) / 2)


def test_one_sided_records_are_ranked_but_flagged():
    ranking = analysis.bradley_terry_ranking(record(("a", "b", 3), ("a", "c", 2), ("b", "c", 2), ("c", "b", 1)),
                                             n_boot=100).set_index("model")
    assert list(ranking.index) == ["a", "b", "c"]
    assert ranking.loc["a", "warning"] == "one-sided: a won every comparison, its strength is bounded only by the prior"
    group = ", their strength relative to those is bounded only by the prior"
    assert ranking.loc["b", "warning"] == ranking.loc["c", "warning"] == (  # the same gap, seen from below
        "one-sided: {b, c} lost every comparison with {a}" + group)
    settled = analysis.bradley_terry_ranking(record(("a", "b", 6), ("b", "a", 2)), n_boot=50)
    assert (settled["warning"] == "").all()
    losers = analysis.bradley_terry_ranking(record(("a", "c", 2), ("b", "c", 2), ("a", "b", 1), ("b", "a", 1)),
                                            n_boot=50).set_index("model")["warning"]
    assert losers["c"] == "one-sided: c lost every comparison, its strength is bounded only by the prior"
    assert losers["a"] == losers["b"] == "one-sided: {a, b} won every comparison with {c}" + group


def test_models_the_comparisons_do_not_connect_get_no_rank():
    """Finding 6: {a, b} and {c, d} were never compared; the prior alone would place one group above
    the other. With two groups of two nobody is ranked; with a larger group, it alone is ranked on
    its own votes (the same strengths as without the others)."""
    both = analysis.bradley_terry_ranking(record(("a", "b", 6), ("b", "a", 2), ("c", "d", 4), ("d", "c", 4)),
                                          n_boot=50).set_index("model")
    assert len(both) == 4 and both["rank"].isna().all() and both["strength"].isna().all()
    assert both.loc["a", "warning"] == both.loc["b", "warning"] == (
        "disconnected: {a, b} were never compared with {c, d}; their relative order is not estimable; not ranked")
    group = record(("a", "b", 6), ("b", "a", 2), ("a", "e", 3), ("e", "a", 3))
    alone = analysis.bradley_terry_ranking(group, n_boot=50).set_index("model")
    larger = analysis.bradley_terry_ranking(pd.concat([group, record(("c", "d", 4), ("d", "c", 4))]),
                                            n_boot=50).set_index("model")
    assert larger.loc[["a", "b", "e"], "strength"].to_numpy() == pytest.approx(alone["strength"].loc[["a", "b", "e"]])
    assert larger.loc[["c", "d"], "rank"].isna().all() and larger.loc[["a", "b", "e"], "rank"].notna().all()
    assert larger.loc["a", "warning"].startswith("disconnected: {a, b, e} were never compared with {c, d}")


def test_too_few_clusters_give_no_interval_and_no_settled_rank():
    """Finding 6: every vote from one conversation pair (one cluster): every resample is the same,
    which gave a zero-width interval and rank 1-1."""
    one = with_clusters(pd.DataFrame({"model_a": "a", "model_b": "b", "winner": ["a"] * 8 + ["b"] * 2}),
                        per_cluster=10)
    ranking = analysis.bradley_terry_ranking(one, n_boot=100).set_index("model")
    assert ranking[["ci_low", "ci_high"]].isna().all().all()
    assert list(ranking["rank_low"]) == [1, 1] and list(ranking["rank_high"]) == [2, 2]
    assert "too few clusters: the votes come from 1 group of conversations" in ranking.loc["a", "warning"]
    assert (ranking["n_clusters"] == 1).all()


def test_identical_records_share_a_rank():
    """b and d have the same record against everyone (and split 6-6): their strengths differ only by
    rounding, which used to rank them 3 and 4. Ties share the best place of the tie (min rank)."""
    wins = [[0, 10, 6, 10], [3, 0, 1, 6], [0, 7, 0, 7], [3, 6, 1, 0]]
    names = "abcd"
    ranking = analysis.bradley_terry_ranking(
        record(*[(names[w], names[l], wins[w][l]) for w in range(4) for l in range(4)]), n_boot=100)
    assert dict(zip(ranking["model"], ranking["rank"])) == {"a": 1, "c": 2, "b": 3, "d": 3}
    assert list(analysis.tied_ranks(np.array([0.0, 2e-16, 1.0]))) == [2, 2, 1]


def test_rank_bounds_are_integer_percentiles_that_hold_the_point_rank():
    # only ties between a and b: every draw ties them, and no draw may rank either second
    ties = with_clusters(pd.DataFrame({"model_a": "a", "model_b": "b", "winner": ["tie"] * 6}))
    ranking = analysis.bradley_terry_ranking(ties, n_boot=100)
    assert list(ranking["rank"]) == [1, 1] and list(ranking["rank_low"]) == [1, 1]
    assert list(ranking["rank_high"]) == [1, 1]
    planted = analysis.bradley_terry_ranking(planted_votes({"m0": 0.0, "m1": 0.05, "m2": 0.1}, 300), n_boot=200)
    for row in planted.to_dict("records"):
        assert isinstance(row["rank_low"], int) and isinstance(row["rank_high"], int)
        assert row["rank_low"] <= row["rank"] <= row["rank_high"]


def test_llm_judge_that_matches_the_humans_agrees_fully():
    frame = planted_ratings({"a": 2.0, "b": 3.0, "c": 4.0}, raters=1)
    llm = frame.rename(columns={"score": "llm_score"})[["conversation_id", "dimension", "llm_score"]]
    row = analysis.llm_human_agreement(frame, llm).iloc[0]
    assert row["spearman_rho"] == pytest.approx(1.0) and row["mean_abs_diff"] == 0
    assert row["alpha"] == pytest.approx(1.0) and row["n_conversations"] == 120


@pytest.mark.slow
def test_stage_writes_the_report_the_aggregate_links_to(tmp_path):
    outputs, experiment = tmp_path / "outputs", "exp"
    quality = {"good-model": 5, "fair-model": 3, "poor-model": 1}
    write_conversations(outputs / experiment, list(quality), seeds=(0, 1),
                        llm_scores=lambda model, _: dict.fromkeys(DIMENSIONS, quality[model]))
    database = open_database(f"sqlite:///{outputs / experiment / 'judge_app' / 'ratings.sqlite'}")
    rules = Rules("pair", tuple(DIMENSIONS), items_per_rater=100, raters_per_item=3, max_comment_chars=100)
    rng = np.random.default_rng(0)
    with database.transaction() as session:
        import_conversations(session, experiment, conversation_files(outputs / experiment))
        build_items(session, "pairwise")
        model_of = {c.id: c.model for c in session.query(Conversation)}
        for name in ("r1", "r2", "r3"):
            rater = Rater(name=name, token_hash=name * 8)
            session.add(rater)
            session.flush()
            while (assignment := current_assignment(session, rater, rules).item) is not None:
                content = item_content(session, assignment.item_id)
                shown = {side: model_of[c.id]
                         for side, c in sides(content.kind, content.a, content.b, assignment.a_on_left).items()}
                score = {side: {d: int(np.clip(quality[model] + rng.integers(-1, 2), 1, 5)) for d in DIMENSIONS}
                         for side, model in shown.items()}
                better = max(shown, key=lambda side: quality[shown[side]])
                submit(session, rater, assignment.public_id, {"scores": score, "preference": better}, rules)
    result = run_py("stage=judge_analysis", f"experiment_name={experiment}", f"paths.outputs={outputs}",
                    f"hydra.run.dir={tmp_path / 'hydra'}", "judge.analysis.bootstrap=300", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = outputs / experiment / "report"
    text = (report / "human_judge_analysis.md").read_text(encoding="utf-8")
    for heading in ("## Scores per model", "## Agreement between raters", "## Pairwise preference",
                    "## LLM judge against the humans", "## By scenario type"):
        assert heading in text
    scores = pd.read_csv(report / "human_judge" / "model_scores.csv")
    assert list(scores.columns[:6]) == ["model", "dimension", "mean", "ci_low", "ci_high", "n_ratings"]
    empathy = scores[scores["dimension"] == "empathy"].set_index("model")["mean"]
    assert empathy["good-model"] > empathy["fair-model"] > empathy["poor-model"]
    ranking = pd.read_csv(report / "human_judge" / "bradley_terry.csv")
    assert list(ranking["model"]) == ["good-model", "fair-model", "poor-model"]
    agreement = pd.read_csv(report / "human_judge" / "llm_human_agreement.csv")
    assert (agreement["spearman_rho"] > 0.8).all()
    assert set(pd.read_csv(report / "human_judge" / "scenario_type_scores.csv")["scenario_type"]) == {
        "counselling", "psychoeducation", "crisis"}
    for plot in ("model_scores.png", "bradley_terry.png"):
        assert (report / "human_judge" / plot).read_bytes()[:4] == b"\x89PNG"


def confounded_study(rng, shared_raters=0):
    """Finding 6, single-item mode: lenient raters (+0.4) rated only model a, strict ones (-0.4)
    only model b; the models are equal. `shared_raters` of each group also rated the other model."""
    rows = []
    for model, group in (("a", ["l0", "l1", "l2"]), ("b", ["s0", "s1", "s2"])):
        others = (["s0", "s1", "s2"] if model == "a" else ["l0", "l1", "l2"])[:shared_raters]
        for c in range(40):
            quality = rng.normal(0, 0.4)
            for rater in list(rng.choice(group, 2, replace=False)) + others:
                shift = 0.4 if rater.startswith("l") else -0.4
                rows.append({"model": model, "conversation_id": f"{model}{c}", "rater_id": rater, "rating_id": 0,
                             "dimension": "empathy", "scenario_type": "crisis",
                             "score": float(np.clip(np.rint(3 + quality + shift + rng.normal(0, 0.5)), 1, 5))})
    return pd.DataFrame(rows)


def test_a_design_that_confounds_raters_with_models_is_not_compared():
    scores = confounded_study(np.random.default_rng(9))
    means = analysis.model_scores(scores, n_boot=200).set_index("model")
    assert means.loc["a", "ci_low"] > means.loc["b", "ci_high"]  # the intervals alone would tell them apart
    row = analysis.score_comparisons(scores, n_boot=200).iloc[0]
    assert not row["told_apart"] and np.isnan(row["p"]) and row["linking_raters"] == 0
    assert row["note"].startswith("not compared: no rater rated both a and b (3 rated a, 3 rated b)")
    from mhcompare.judge.stats.report import comparisons_section

    assert "**Not comparable**" in comparisons_section(analysis.score_comparisons(scores, n_boot=50))
    # the same leniencies, every rater now rating both models: the difference is within raters, near 0
    linked = analysis.score_comparisons(confounded_study(np.random.default_rng(9), shared_raters=3),
                                        n_boot=500).iloc[0]
    assert linked["linking_raters"] == 6 and linked["ci_low"] < 0 < linked["ci_high"] and not linked["told_apart"]


def test_a_planted_difference_within_raters_is_told_apart():
    table = analysis.score_comparisons(planted_ratings({"weak": 2.6, "strong": 3.2}), n_boot=500)
    row = table.iloc[0]
    assert (row["model_a"], row["model_b"]) == ("strong", "weak") and row["told_apart"]
    assert row["ci_low"] < 0.6 < row["ci_high"] and row["linking_raters"] == 3
