"""stage=judge_analysis: the human ratings -> report/human_judge_analysis.md, tables and plots.

    python run.py experiment_name=demo stage=judge_analysis

Reads the rating database of stage=judge_app (judge.app.database_url); cheap to re-run while
rating is still going on. Ratings of AI-client transcripts and of live chats are analysed together
and, when there are live ones, also apart (`source_*` tables).
"""
import logging

import pandas as pd

from mhcompare import artifacts
from mhcompare.judge.stats import analysis
from mhcompare.judge.store.db import database_url, open_database
from mhcompare.judge.store.live import export_all
from mhcompare.judge.store.ratings import llm_score_rows
from mhcompare.judge.stats.report import write_report
from mhcompare.judge.rubric import load_rubric

log = logging.getLogger(__name__)


def analyse(scores: pd.DataFrame, votes: pd.DataFrame, llm: pd.DataFrame, n_boot: int, seed: int) -> dict:
    """Every table of the report. Votes are clustered by the export's `cluster` (a live session is
    one cluster) when they have it, else by scenario and seed."""
    cluster = analysis.EXPORT_CLUSTER if "cluster" in votes.columns else analysis.VOTE_CLUSTER

    def ranking(part: pd.DataFrame) -> pd.DataFrame:
        return analysis.bradley_terry_ranking(part, n_boot, seed, cluster=cluster)

    return {
        "scores": scores,
        "votes": votes,
        "model_scores": analysis.model_scores(scores, n_boot, seed),
        "score_comparisons": analysis.score_comparisons(scores, n_boot, seed),
        "rater_agreement": analysis.rater_agreement(scores),
        "bradley_terry": ranking(votes),
        "llm_human_agreement": analysis.llm_human_agreement(scores, llm),
        "scenario_type_scores": analysis.model_scores(scores, n_boot, seed, by=("scenario_type",)),
        "source_scores": analysis.by_source(scores, lambda part: analysis.model_scores(part, n_boot, seed)),
        "source_bradley_terry": analysis.by_source(votes, ranking),
    }


def run(cfg) -> dict:
    url = database_url(cfg)
    database = open_database(url)
    with database.transaction() as session:
        score_rows, vote_rows, _ = export_all(session)
        llm_rows = llm_score_rows(session)
    if not score_rows:
        raise RuntimeError(f"no ratings yet in {url}; start the app (python run.py experiment_name="
                           f"{cfg.experiment_name} stage=judge_app) and let raters rate first")
    scores = pd.DataFrame(score_rows)
    votes = pd.DataFrame(vote_rows) if vote_rows else pd.DataFrame(columns=["model_a", "model_b", "winner", "source",
                                                                           "cluster"])
    llm = pd.DataFrame(llm_rows, columns=["conversation_id", "model", "dimension", "llm_score"])
    n_boot, seed = int(cfg.judge.analysis.bootstrap), int(cfg.judge.analysis.seed)
    results = analyse(scores, votes, llm[["conversation_id", "dimension", "llm_score"]], n_boot, seed)
    dimensions = [d.key for d in load_rubric(cfg.judge.rubric)]
    path = write_report(artifacts.report_dir(cfg), str(cfg.experiment_name), results, dimensions, n_boot)
    log.info("judge_analysis: %d scores, %d votes -> %s", len(scores), len(votes), path)
    return {"report": str(path), "ratings": int(scores["rating_id"].nunique()), "votes": len(votes),
            "live_ratings": int(scores.loc[scores["source"] == "live", "rating_id"].nunique())}
