"""human_judge_analysis.md, its CSV tables and plots: what the aggregate report links to.

    report/human_judge_analysis.md
    report/human_judge/model_scores.csv   (model, dimension, mean, ci_low, ci_high, n_ratings, ...)
    report/human_judge/{rater_agreement,bradley_terry,llm_human_agreement,scenario_type_scores}.csv
    report/human_judge/source_{scores,bradley_terry}.csv  AI-client transcripts and live chats apart, and combined
    report/human_judge/{scores,votes}.csv  the raw ratings, with model names
    report/human_judge/*.png
"""
import math
from pathlib import Path

import numpy as np
import pandas as pd

from mhcompare.io import atomic_write_text
from mhcompare.judge.stats import analysis


def num(value, digits: int = 2) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def interval(row) -> str:
    return f"{num(row['mean'])} [{num(row['ci_low'])}, {num(row['ci_high'])}]"


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def scores_table(table: pd.DataFrame, dimensions: list[str], row_keys: list[str]) -> str:
    rows = []
    for key, group in table.groupby(row_keys, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        by_dim = {r["dimension"]: r for r in group.to_dict("records")}
        rows.append([*key, *(interval(by_dim[d]) if d in by_dim else "-" for d in dimensions),
                     int(group["n_ratings"].max()), int(group["n_conversations"].max())])
    return markdown_table([*row_keys, *dimensions, "ratings", "conversations"], rows)


def interval_notes(table: pd.DataFrame) -> str:
    """A line naming the rows rated by one rater only: their interval cannot include rater variation."""
    single = table[table["interval_over"] != analysis.CONVERSATIONS_AND_RATERS]
    if single.empty:
        return ""
    keys = [c for c in table.columns if c not in ("mean", "ci_low", "ci_high", "n_ratings", "n_conversations",
                                                  "n_raters", "interval_over")]
    names = ", ".join(" / ".join(str(r[k]) for k in keys) for r in single.to_dict("records"))
    return f"\nRated by one rater only, so the interval covers conversations only: {names}.\n"


def ranked(value) -> int | None:
    """A rank as an int, None where the model was not ranked (NaN or pandas' NA)."""
    return None if value is None or pd.isna(value) else int(value)


def bt_cells(r: dict) -> list[str]:
    """rank, model, strength [95%], rank range, wins-losses-ties of one Bradley-Terry row."""
    rank = ranked(r["rank"])
    places = f"{ranked(r['rank_low'])}-{ranked(r['rank_high'])}" if rank is not None else "not ranked"
    return [f"{rank if rank is not None else '-'}{' *' if r['warning'] else ''}", r["model"],
            f"{num(r['strength'])} [{num(r['ci_low'])}, {num(r['ci_high'])}]", places,
            f"{r['wins']}-{r['losses']}-{r['ties']}"]


def comparisons_section(table: pd.DataFrame) -> str:
    """The differences between models within raters, and the pairs the design cannot compare."""
    if table.empty:
        return ""
    md = ["\n## Differences between models\n\n",
          "Whether two models' ratings differ: per dimension, the difference of their means within raters (each "
          "rater's mean on one model minus their mean on the other, so a lenient rater's leniency cancels), with "
          "a 95% interval from a bootstrap over conversations and a t-test, Holm-adjusted over the pairs of the "
          "dimension. Only raters who rated both models count. Read the means above for level, this table for "
          "differences: the means' intervals do not remove rater leniency.\n\n",
          markdown_table(["dimension", "models", "difference [95%]", "Holm p", "told apart", "raters of both"],
                         [[r["dimension"], f"{r['model_a']} - {r['model_b']}",
                           f"{num(r['difference'])} [{num(r['ci_low'])}, {num(r['ci_high'])}]",
                           num(r["p_holm"], 3), "yes" if r["told_apart"] else "no", r["linking_raters"]]
                          for r in table.to_dict("records")])]
    refused = [r["note"] for r in table.to_dict("records") if r["note"].startswith("not compared")]
    if refused:
        md.append("\n**Not comparable** (their means above differ by who rated them as much as by the model):\n\n")
        md.append("".join(f"- {note}\n" for note in dict.fromkeys(refused)))
    return "".join(md)


def ranking_warnings(ranking: pd.DataFrame) -> list[str]:
    """Each distinct warning of the Bradley-Terry table once, in table order."""
    found = [w for text in ranking["warning"] if text for w in text.split(analysis.WARNING_SEPARATOR)]
    return list(dict.fromkeys(found))


def alpha_reading(alpha: float) -> str:
    """Krippendorff's own guide: >= .800 reliable, .667-.800 tentative, below that not reliable."""
    if math.isnan(alpha):
        return "not enough shared ratings"
    return "reliable" if alpha >= 0.8 else "tentative" if alpha >= 0.667 else "low: read means with care"


def plot_model_scores(table: pd.DataFrame, dimensions: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = sorted(table["model"].unique())
    width = 0.8 / max(1, len(models))
    fig, ax = plt.subplots(figsize=(max(6, 1.8 * len(dimensions)), 4.2), dpi=120)
    for k, model in enumerate(models):
        rows = table[table["model"] == model].set_index("dimension").reindex(dimensions)
        x = np.arange(len(dimensions)) + (k - (len(models) - 1) / 2) * width
        low = (rows["mean"] - rows["ci_low"]).fillna(0).clip(lower=0)
        high = (rows["ci_high"] - rows["mean"]).fillna(0).clip(lower=0)
        ax.bar(x, rows["mean"], width, yerr=[low, high], capsize=3, label=model)
    ax.set_xticks(np.arange(len(dimensions)), dimensions)
    ax.set_ylim(1, 5)
    ax.set_ylabel("mean human rating (1-5)")
    ax.set_title("Human ratings per model (95% bootstrap over conversations and raters)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    save(fig, path)


def plot_bradley_terry(ranking: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ordered = ranking.sort_values("strength")
    fig, ax = plt.subplots(figsize=(6, 0.5 * len(ordered) + 1.5), dpi=120)
    y = np.arange(len(ordered))
    ax.errorbar(ordered["strength"], y, xerr=[ordered["strength"] - ordered["ci_low"],
                                              ordered["ci_high"] - ordered["strength"]], fmt="o", capsize=4)
    ax.set_yticks(y, ordered["model"])
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_xlabel("Bradley-Terry strength (log scale, mean 0)")
    ax.set_title("Pairwise preference (95% bootstrap over conversations)")
    ax.grid(axis="x", alpha=0.3)
    save(fig, path)


def save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, metadata={"Software": None})
    plt.close(fig)
    tmp.replace(path)


def blinding_section(scores: pd.DataFrame) -> str:
    """Per model, over the rated conversations: how much redaction changed before raters saw them, and
    how many still seemed to name a model afterwards. A model whose text was changed far more often
    than the others' was also read differently; empty for databases from before the audit."""
    if "turns_redacted" not in scores or scores["turns_redacted"].isna().all():
        return ""
    rows = []
    for model, group in scores.drop_duplicates("conversation_id").groupby("model", sort=True):
        redacted = group["turns_redacted"].fillna(0)
        rows.append([model, len(group), int((redacted > 0).sum()), int(redacted.sum()),
                     int(group["identity_flagged"].fillna(False).astype(bool).sum())])
    return ("\n## Blinding\n\nBefore raters saw them, self-introductions naming a model, vendor or lab were replaced "
            "by a neutral phrase (\"我是一名 AI 助手\" / \"I am an AI assistant\"). Per model, over the rated "
            "conversations; \"still flagged\" ones seemed to name a model even afterwards.\n\n"
            + markdown_table(["model", "rated conversations", "with a redacted turn", "turns redacted",
                              "still flagged"], rows))


SOURCE_LABELS = {"ai_client": "AI client", "live": "live chat", analysis.COMBINED: "combined"}


def source_section(results: dict, dimensions: list[str]) -> str:
    """Live chats beside the AI-client transcripts, and both together: the same means, intervals and
    Bradley-Terry ranking for each. Empty when there are no live ratings."""
    table, ranking = results["source_scores"], results["source_bradley_terry"]
    if "live" not in set(table["source"]):
        return ""
    order = list(SOURCE_LABELS)
    groups = table.groupby(["model", "source"])
    rows = []
    for model, source in sorted(groups.groups, key=lambda key: (key[0], order.index(key[1]))):
        group = groups.get_group((model, source))
        by_dim = {r["dimension"]: r for r in group.to_dict("records")}
        rows.append([model, SOURCE_LABELS[source], *(interval(by_dim[d]) if d in by_dim else "-" for d in dimensions),
                     int(group["n_ratings"].max()), int(group["n_conversations"].max())])
    md = ["\n## Live chats and AI-client transcripts\n\n",
          "In a live chat a rater played the client with two anonymous models at once, then rated both; in the "
          "transcripts an AI client played the client. Each is shown apart and combined, with the same 95% "
          "two-way bootstrap intervals (each side of a live chat is one conversation) and Bradley-Terry ranking "
          "(a live chat is one cluster of votes). A difference between the two is a difference in who played "
          "the client, as well as in raters and scenarios.\n\n",
          markdown_table(["model", "source", *dimensions, "ratings", "conversations"], rows)]
    if not ranking.empty:
        bt_rows = [[SOURCE_LABELS[r["source"]], *bt_cells(r)]
                   for r in sorted(ranking.to_dict("records"),
                                   key=lambda r: (order.index(r["source"]), ranked(r["rank"]) or math.inf))]
        md += ["\nPairwise preference by source (\\* the data cannot fix that place).\n\n",
               markdown_table(["source", "rank", "model", "strength [95%]", "rank range", "wins-losses-ties"], bt_rows)]
    return "".join(md)


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    atomic_write_text(path, frame.to_csv(index=False))


def write_report(report_dir: Path, experiment: str, results: dict, dimensions: list[str], n_boot: int) -> Path:
    """Every table as CSV, the plots, and the markdown that explains them; returns the markdown's path."""
    folder = report_dir / "human_judge"
    for name in ("model_scores", "score_comparisons", "rater_agreement", "bradley_terry", "llm_human_agreement",
                 "scenario_type_scores", "scores", "votes", "source_scores", "source_bradley_terry"):
        write_csv(folder / f"{name}.csv", results[name])
    scores, votes = results["scores"], results["votes"]
    overview = (f"{scores['rater_id'].nunique()} raters gave {scores['rating_id'].nunique()} ratings "
                f"({len(scores)} scores) to {scores['conversation_id'].nunique()} conversations of "
                f"{scores['model'].nunique()} models; {len(votes)} pairwise preferences. Raters did not know "
                "which model wrote which conversation; in pairwise items the sides were randomised.\n")
    method = (f"Mean rating (1-5) with a 95% two-way bootstrap interval ({n_boot} resamples that draw conversations "
              "and raters independently, each with replacement), so the interval covers both conversation and rater "
              "variation: several ratings of one conversation are not counted as independent evidence, and the mean "
              "is for raters like these, not only these raters.\n")
    md = [f"# {experiment}: human judgement of simulated counselling sessions\n\n", overview,
          blinding_section(scores), "\n## Scores per model\n\n", method, "\n"]
    md.append(scores_table(results["model_scores"], dimensions, ["model"]))
    md.append(interval_notes(results["model_scores"]))
    plot_model_scores(results["model_scores"], dimensions, folder / "model_scores.png")
    md.append("\n![model scores](human_judge/model_scores.png)\n")
    md.append(comparisons_section(results["score_comparisons"]))

    md.append("\n## Agreement between raters\n\n")
    md.append("Krippendorff's alpha, ordinal, per dimension, over conversations rated by two or more raters "
              "(1 = perfect agreement, 0 = no better than chance).\n\n")
    md.append(markdown_table(["dimension", "alpha", "reading", "raters", "shared conversations"],
                             [[r["dimension"], num(r["alpha"], 3), alpha_reading(r["alpha"]), r["n_raters"],
                               r["n_conversations_shared"]] for r in results["rater_agreement"].to_dict("records")]))

    md.append("\n## Pairwise preference (Bradley-Terry)\n\n")
    ranking = results["bradley_terry"]
    if ranking.empty:
        md.append("No pairwise preferences were given.\n")
    else:
        md.append("Strength on a log scale (mean 0): a difference d means the stronger model is preferred with "
                  "probability 1/(1+e^-d). Ties count as half a win each; half a virtual win each way between every "
                  "two models keeps a model that never lost finite. Intervals: 95%, from a bootstrap over conversations (all "
                  "votes on the conversations of one scenario and seed are drawn together; rater variation is not "
                  "resampled here): the strength +- t x the bootstrap's standard error, widened for few groups of "
                  f"conversations, and none below {analysis.MIN_CLUSTERS} groups. The rank range runs from 1 + the "
                  "models whose interval lies wholly above a model's to 1 + those whose interval reaches above its "
                  "lower end; wider than one place means the order is not settled. Models within 1e-6 in strength "
                  "share a rank (the best of their places). Models the comparisons do not connect to the largest "
                  "connected group are not ranked.\n\n")
        md.append(markdown_table(["rank", "model", "strength [95%]", "rank range", "wins-losses-ties"],
                                 [bt_cells(r) for r in ranking.to_dict("records")]))
        warnings = ranking_warnings(ranking)
        if warnings:
            md.append("\n\\* The data cannot fix these places; the ranking is shown but read it with care:\n\n")
            md.append("".join(f"- {w}\n" for w in warnings))
        plot_bradley_terry(ranking, folder / "bradley_terry.png")
        md.append("\n![Bradley-Terry](human_judge/bradley_terry.png)\n")

    md.append("\n## LLM judge against the humans\n\n")
    agreement = results["llm_human_agreement"]
    if agreement.empty:
        md.append("No LLM-judge scores on human-rated conversations (stage=judge with judge.llm_judge.enabled=true "
                  "adds them).\n")
    else:
        md.append("Per dimension, over conversations both scored: Spearman's rho between the LLM's score and the "
                  "mean human score, mean absolute difference, and ordinal alpha between the LLM and the rounded "
                  "median human score.\n\n")
        md.append(markdown_table(["dimension", "conversations", "Spearman rho (p)", "mean abs. difference", "alpha"],
                                 [[r["dimension"], r["n_conversations"],
                                   f"{num(r['spearman_rho'])} ({num(r['spearman_p'], 3)})",
                                   num(r["mean_abs_diff"]), num(r["alpha"], 3)] for r in agreement.to_dict("records")]))

    md.append(source_section(results, dimensions))

    md.append("\n## By scenario type\n\n")
    md.append("The same means and intervals within each scenario type (counselling, psycho-education, crisis). "
              "An interval resampled from only a handful of conversations is rough: read it with its count.\n\n")
    md.append(scores_table(results["scenario_type_scores"], dimensions, ["scenario_type", "model"]))
    md.append(interval_notes(results["scenario_type_scores"]))
    md.append("\nTables: `human_judge/*.csv` (raw ratings in `scores.csv` and `votes.csv`).\n")
    path = report_dir / "human_judge_analysis.md"
    atomic_write_text(path, "".join(md))
    return path
