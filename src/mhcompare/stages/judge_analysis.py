"""stage=judge_analysis: the human ratings -> report/human_judge_analysis.md, tables and plots.

    python run.py experiment_name=demo stage=judge_analysis

Reads the rating database of stage=judge_app (judge.app.database_url); cheap to re-run while
rating is still going on.
"""
import logging

import pandas as pd

from mhcompare import artifacts
from mhcompare.judge import analysis
from mhcompare.judge.db import database_url, open_database
from mhcompare.judge.ratings import export_rows, llm_score_rows
from mhcompare.judge.report import write_report
from mhcompare.judge.rubric import load_rubric

log = logging.getLogger(__name__)


def analyse(scores: pd.DataFrame, votes: pd.DataFrame, llm: pd.DataFrame, n_boot: int, seed: int) -> dict:
    return {
        "scores": scores,
        "votes": votes,
        "model_scores": analysis.model_scores(scores, n_boot, seed),
        "rater_agreement": analysis.rater_agreement(scores),
        "bradley_terry": analysis.bradley_terry_ranking(votes, n_boot, seed),
        "llm_human_agreement": analysis.llm_human_agreement(scores, llm),
        "scenario_type_scores": analysis.model_scores(scores, n_boot, seed, by=("scenario_type",)),
    }


def run(cfg) -> dict:
    url = database_url(cfg)
    database = open_database(url)
    with database.transaction() as session:
        score_rows, vote_rows = export_rows(session)
        llm_rows = llm_score_rows(session)
    if not score_rows:
        raise RuntimeError(f"no ratings yet in {url}; start the app (python run.py experiment_name="
                           f"{cfg.experiment_name} stage=judge_app) and let raters rate first")
    scores = pd.DataFrame(score_rows)
    votes = pd.DataFrame(vote_rows) if vote_rows else pd.DataFrame(columns=["model_a", "model_b", "winner"])
    llm = pd.DataFrame(llm_rows, columns=["conversation_id", "model", "dimension", "llm_score"])
    n_boot, seed = int(cfg.judge.analysis.bootstrap), int(cfg.judge.analysis.seed)
    results = analyse(scores, votes, llm[["conversation_id", "dimension", "llm_score"]], n_boot, seed)
    dimensions = [d.key for d in load_rubric(cfg.judge.rubric)]
    path = write_report(artifacts.report_dir(cfg), str(cfg.experiment_name), results, dimensions, n_boot)
    log.info("judge_analysis: %d scores, %d votes -> %s", len(scores), len(votes), path)
    return {"report": str(path), "ratings": int(scores["rating_id"].nunique()), "votes": len(votes)}
