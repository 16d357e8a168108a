"""The content of performance_comparison.md (and of the HTML page): scope, recommendation, one
section per axis, human judgement, the models, and the provenance of every number. Everything
here is derived from the findings; a part without data says so and why."""
import csv
import io
from dataclasses import dataclass
from pathlib import Path

from mhcompare.report.collect import STAGES, Collection, recipe_text
from mhcompare.report.curves import Target
from mhcompare.report.document import (Bullets, Code, Embedded, Figure, Heading, Paragraph, Table, fmt,
                                       interval)
from mhcompare.report.metrics import AXES
from mhcompare.report.provenance import ModelFacts, counts, stage_counts
from mhcompare.report.recommend import recommendation
from mhcompare.report.stats import MetricResult, MinEffect, detectable_difference, number

HUMAN_ANALYSIS = "human_judge_analysis.md"
HUMAN_SCORES = "human_judge/model_scores.csv"
HUMAN_PLOT = "human_judge/model_scores.png"
LISTED = 50  # longer lists stop here and point to runs.csv
AXIS_FIGURES = {"training": ["loss_curves.png", "bars_training.png"], "inference": ["latency_throughput.png"],
                "evaluation": ["bars_evaluation.png"], "judge": ["bars_judge.png"]}
CAPTIONS = {
    "loss_curves.png": "Loss curves: mean across seeds, the band spans the seeds (min-max); dashed: the target loss.",
    "bars_training.png": "Training efficiency: mean and {confidence} interval across seeds.",
    "latency_throughput.png": "Latency against output throughput, one point per concurrency level, {confidence} "
                              "intervals.",
    "bars_evaluation.png": "Evaluation scores: mean and {confidence} interval across seeds.",
    "bars_judge.png": "LLM judge scores: mean and {confidence} interval across seeds.",
}
STAGE_OF_AXIS = {"training": "train", "inference": "eval", "evaluation": "eval", "judge": "judge"}


@dataclass
class Findings:
    experiment: str
    collection: Collection
    results: dict[str, MetricResult]
    target: Target | None
    facts: list[ModelFacts]
    grid: tuple[list[str], list[int]]
    missing: list[str]
    confidence: float
    alpha: float
    figures: set[str]  # the plots drawn
    code_version: str
    min_effect: MinEffect = MinEffect()


def report_blocks(f: Findings, report_dir: Path) -> list:
    blocks = [Heading(1, f"Model comparison: {f.experiment}"), Paragraph(scope(f))]
    blocks += [Heading(2, "Recommendation", "recommendation"),
               Paragraph("Generated from the tables below. A model is *clearly ahead* on a metric when it ranks "
                         "first and is told apart from every other model: the corrected paired test, a difference "
                         "pointing its way, and at least the metric's minimum effect."),
               Bullets(tuple(recommendation(f.results)))]
    for axis in AXES:
        blocks += axis_section(f, axis)
    blocks += power_section(f)
    blocks += human_section(report_dir)
    blocks += models_section(f)
    blocks += provenance_section(f)
    return blocks


def power_section(f: Findings) -> list:
    """What the sweep could have told apart: a study is sized before it is run, and a tie on a
    metric whose detectable difference is large says little."""
    rows = []
    for r in f.results.values():
        if not (r.info and r.info.ranked):
            continue
        power = detectable_difference(r, f.alpha)
        if power:
            rows.append((r.info.heading, power["test"], str(power["pairs"]), fmt(power["difference"]),
                         f.min_effect.describe(r.info), power["basis"]))
    if not rows:
        return []
    return [Heading(2, "What this sweep can detect", "power"),
            Paragraph(f"The smallest difference between two models each test would find with 80% power at "
                      f"the Holm-bounded level (alpha / pairs = {f.alpha:g} / pairs), from this sweep's own "
                      f"spread, for the least sensitive pair: the exact power of the t-test (noncentral t) over "
                      f"seeds, or over items and seeds where per-item outcomes exist (its spread then holds the "
                      f"items' and the seeds' variation). Differences smaller than this can hide behind a "
                      f"`cannot be told apart`; more seeds (or items) shrink it. Pairs counts seeds, or items "
                      f"for the item-level test."),
            Table(("metric", "test", "pairs", "detectable difference", "minimum effect", "compared on"),
                  tuple(rows))]


def limited(items: list[str]) -> list[str]:
    if len(items) <= LISTED:
        return items
    return items[:LISTED] + [f"… and {len(items) - LISTED} more (runs.csv lists every run)"]


def seed_ranges(seeds: list[int]) -> str:
    """[0, 1, 2, 5] -> "0-2, 5"."""
    ranges, start = [], None
    for i, seed in enumerate(seeds):
        if start is None:
            start = seed
        if i + 1 == len(seeds) or seeds[i + 1] != seed + 1:
            ranges.append(str(start) if start == seed else f"{start}-{seed}")
            start = None
    return ", ".join(ranges)


def scope(f: Findings) -> str:
    runs = f.collection.runs
    by_model = {m: sorted(r.seed for r in runs if r.model == m) for m in f.collection.models}
    stages = stage_counts(f.collection)
    done = ", ".join(f"{stage} in {stages[stage]['done']}" for stage in STAGES)
    failed = sum(1 for r in runs if r.failure)
    models, seeds = f.grid
    return (f"{len(runs)} run folders of {len(by_model)} models ("
            + "; ".join(f"{m}: seed{'s' if len(s) > 1 else ''} {seed_ranges(s)}" for m, s in by_model.items())
            + f"). Finished stages: {done} of {len(runs)} runs; {failed} failed; {len(f.missing)} missing from the "
            f"expected grid of {len(models)} models × seeds {seed_ranges(seeds)}. Each cell is the mean across seeds "
            f"with its {f.confidence:.0%} t interval [low, high] over seeds (on the logit scale for fractions, the "
            f"log scale for times, memory and throughput, so it stays in range) and the number of seeds n (an "
            f"interval needs n ≥ 2). Rankings use only the seeds every model of the metric has, and are shown as a "
            f"compact letter display: models that share a letter cannot be told apart. Two models are told apart "
            f"when their paired test, Holm-corrected over the pairs of the metric, gives p < {f.alpha:g}, the "
            f"difference points the way of the ranking, and it is at least the pair's minimum effect. One kind of "
            f"test per metric: where the eval stage kept per-item outcomes, a paired t-test over the items every "
            f"model scored on every shared seed whose variance holds both the items' and the seeds' variation (an "
            f"item answered alike on three seeds is one piece of evidence, not three), and the ranking uses the same "
            f"items; else a paired t-test over shared seeds. The error control is per metric: across the many metrics of this report, some separations "
            f"are expected by chance. Metrics per token of each model's own tokenizer (losses, tokens/s) are shown "
            f"but not ranked. Built by mhcompare {f.code_version}.")


def axis_section(f: Findings, axis: str) -> list:
    blocks = [Heading(2, AXES[axis], axis)]
    results = [r for r in f.results.values() if r.info and r.info.axis == axis]
    stage = STAGE_OF_AXIS[axis]
    if not results:
        finished = stage_counts(f.collection)[stage]["done"]
        prefix = "eval.perf." if axis == "inference" else f"{stage}."
        if not finished:
            return blocks + [Paragraph(f"No results yet: no run has a finished {stage} stage.")]
        return blocks + [Paragraph(f"No results: none of the {finished} runs with a finished {stage} stage "
                                   f"wrote a registered `{prefix}*` metric.")]
    if axis == "training":
        blocks.append(Paragraph(training_notes(f)))
    models = f.collection.models
    rows = [(r.info.heading, *(interval(r.stats.get(m)) for m in models), ranking(r)) for r in results]
    blocks.append(Table(("metric", *models, "ranking (best first)"), tuple(rows)))
    for file in AXIS_FIGURES[axis]:
        if file in f.figures:
            blocks.append(Figure(file, CAPTIONS[file].format(confidence=f"{f.confidence:.0%}")))
    ties, gaps = tie_notes(results), missing_notes(f, results)
    if ties:
        blocks += [Paragraph("Cannot be told apart (Holm-corrected paired tests), and unequal seed sets:"),
                   Bullets(tuple(ties))]
    if gaps:
        blocks += [Paragraph("Missing values:"), Bullets(tuple(gaps))]
    return blocks


def ranking(result: MetricResult) -> str:
    """`qwen (a) · llama (ab) · glm (b)`: best first; models sharing a letter cannot be told apart;
    then what the ranking is on where not everything counted, and the models not ranked."""
    if not result.info.ranked:
        return "not ranked"
    letters = result.letters()
    text = " · ".join(f"{m} ({letters[m]})" for m in result.ranked_order)
    if result.unshared:
        text += " — on seeds " + seed_ranges(result.shared_seeds) if result.shared_seeds else " — no shared seed"
    if any(result.dropped.values()):
        text += (f" — on the {len(result.items)} items every model scored; left out: "
                 + ", ".join(f"{m} {n}" for m, n in result.dropped.items() if n))
    if result.unranked:
        text += " — not ranked: " + ", ".join(f"{m} ({why})" for m, why in result.unranked.items())
    return text


def training_notes(f: Findings) -> str:
    target = (f"Time to the target loss: the first logged point with {f.target.description}, as the share of "
              "the run's steps times its wall time." if f.target else
              "Time to the target loss: no run has a loss curve yet.")
    kinds = {}
    for run in f.collection.runs:
        if run.metrics.get("train.peak_memory_kind"):
            kinds.setdefault(str(run.metrics["train.peak_memory_kind"]), set()).add(run.model)
    memory = (" Peak memory is measured as " + "; ".join(f"{kind} ({', '.join(sorted(models))})"
                                                         for kind, models in sorted(kinds.items())) + "."
              if kinds else "")
    return target + memory


def tie_notes(results: list[MetricResult]) -> list[str]:
    notes = []
    for r in results:
        means = {s["mean"] for s in r.stats.values()}
        if r.comparisons and len(means) == 1:
            notes.append(f"**{r.info.label}**: the same value for every model")
            continue
        pairs = []
        for (a, b), c in sorted(r.comparisons.items()):
            if c.p is None:
                pairs.append(f"{a} vs {b} " + (c.note if c.note else f"not tested ({c.pairs} shared {c.unit})"))
            elif not c.separable:
                why = f"; {c.note}" if c.note else ""
                pairs.append(f"{a} ≈ {b} ({c.test}, Holm p = {c.p_holm:.3g}, {c.basis}{why})")
        if r.unshared:
            pairs.append("ranked on the shared seeds " + (seed_ranges(r.shared_seeds) or "(none)") + "; left out: "
                         + ", ".join(f"{m} seed{'s' if len(s) > 1 else ''} {seed_ranges(s)}"
                                     for m, s in r.unshared.items()))
        if pairs:
            notes.append(f"**{r.info.label}**: " + "; ".join(pairs))
    return notes


def missing_notes(f: Findings, results: list[MetricResult]) -> list[str]:
    """Models without a finished stage for this axis, and finished stages without a metric's value."""
    stage = results[0].name.split(".", 1)[0]
    runs_of = {m: [r for r in f.collection.runs if r.model == m] for m in f.collection.models}
    finished = {m: [r for r in runs if r.status.get(stage) == "done"] for m, runs in runs_of.items()}
    idle = [m for m in runs_of if not finished[m]]
    notes = [f"No finished {stage} stage, so no values: {', '.join(idle)}."] if idle else []
    for result in results:
        gaps = []
        for model in runs_of:
            absent = [r.seed for r in finished[model] if number(r.metrics.get(result.name)) is None]
            if absent:
                gaps.append(f"{model} seed{'s' if len(absent) > 1 else ''} {seed_ranges(absent)}")
        if gaps:
            notes.append(f"**{result.info.label}** has no value for " + ", ".join(gaps)
                         + f" (the {stage} stage finished there)")
    return notes


def human_section(report_dir: Path) -> list:
    blocks = [Heading(2, "Human judgement", "human-judgement")]
    analysis, scores = report_dir / HUMAN_ANALYSIS, report_dir / HUMAN_SCORES
    if not analysis.exists() and not scores.exists():
        return blocks + [Paragraph(f"No human judgement yet: the judge stage's analysis writes `{HUMAN_ANALYSIS}` "
                                   f"and `{HUMAN_SCORES}` into this folder.")]
    if scores.exists():
        rows = list(csv.DictReader(io.StringIO(scores.read_text(encoding="utf-8"))))
        blocks.append(Paragraph(f"Per-model human ratings from [{HUMAN_SCORES}]({HUMAN_SCORES}):"))
        blocks.append(Table(("model", "dimension", "mean [95% interval]", "ratings"), tuple(
            (row.get("model", ""), row.get("dimension", ""), human_cell(row), row.get("n_ratings", ""))
            for row in rows)))
    if (report_dir / HUMAN_PLOT).exists():
        blocks.append(Figure(HUMAN_PLOT, "Human ratings per model, from the judge stage's analysis."))
    if analysis.exists():
        blocks.append(Embedded(HUMAN_ANALYSIS, "The judge stage's analysis", analysis.read_text(encoding="utf-8")))
    return blocks


def human_cell(row: dict) -> str:
    def number(key):
        try:
            return fmt(float(row[key]))
        except (KeyError, TypeError, ValueError):
            return "—"
    return f"{number('mean')} [{number('ci_low')}, {number('ci_high')}]"


def models_section(f: Findings) -> list:
    stages = [s for s in STAGES if any(facts.runtimes.get(s) for facts in f.facts)]
    rows = []
    for facts in f.facts:
        rows.append((facts.model, facts.display_name, plain(facts.params_b), facts.license, facts.chinese,
                     plain(facts.context_length), facts.modelscope, facts.huggingface,
                     *(facts.runtimes.get(s, "—") for s in stages)))
    sources = "; ".join(f"{facts.model}: `{facts.source}`" for facts in f.facts)
    return [Heading(2, "Models compared", "models"),
            Table(("model", "name", "parameters (B)", "licence", "Chinese", "context length", "ModelScope",
                   "Hugging Face", *(f"{s} runtime" for s in stages)), tuple(rows)),
            Paragraph(f"Facts from each model's config ({sources}); runtimes from the runs' metrics.json.")]


def plain(value) -> str:
    return "—" if value is None else f"{value:g}" if isinstance(value, (int, float)) else str(value)


def provenance_section(f: Findings) -> list:
    c = f.collection
    blocks = [Heading(2, "Provenance", "provenance"),
              Paragraph("Every number above comes from the run folders below; `runs.csv` has one row per run with "
                        "its status, failure, config hash, recipe hash, data hash and code versions.")]
    recipes = counts(c, "recipe")
    blocks.append(Heading(3, "Experiment config"))
    blocks.append(Paragraph(f"Recipe (the data, train, eval and judge sections of each run's `config.yaml`): "
                            + ("all runs share one recipe." if len(recipes) == 1 else
                               f"{len(recipes)} different recipes; the runs do not compare like for like.")))
    blocks.append(Table(("recipe hash", "runs"), tuple((f"`{h}`", str(n)) for h, n in recipes)))
    first = next((r for r in c.runs if "config_sha256" in r.provenance), None)
    if first is not None:
        blocks.append(Paragraph(f"The recipe as `{first.name}/config.yaml` records it:"))
        blocks.append(Code(recipe_text((first.folder / "config.yaml").read_text(encoding="utf-8"))))
    blocks.append(Heading(3, "Code, data and runtimes"))
    rows = [(f"code version ({stage})", f"`{value}`", str(n)) for stage in STAGES
            for value, n in counts(c, f"code_version.{stage}") if value != "—"]
    rows += [("data hash (train)", f"`{value}`", str(n)) for value, n in counts(c, "data_hash") if value != "—"]
    blocks.append(Table(("what", "value", "runs"), tuple(rows)))
    blocks.append(Paragraph("Runtime and library versions per model are in the models table above."))
    blocks += status_blocks(f)
    return blocks


def status_blocks(f: Findings) -> list:
    c = f.collection
    stages = stage_counts(c)
    states = ("done", "unfinished", "failed", "not started")
    blocks = [Heading(3, "Run status"),
              Table(("stage", *states), tuple((s, *(str(stages[s][k]) for k in states)) for s in STAGES))]
    failed = [r for r in c.runs if r.failure]
    if failed:
        rows = [(r.name, r.failure["stage"], first_line(r.failure["error"]), f"`{r.failure['log']}`")
                for r in failed[:LISTED]]
        blocks += [Paragraph(f"Failed runs ({len(failed)}), from their `failed.json`:"),
                   Table(("run", "stage", "error", "log"), tuple(rows))]
        if len(failed) > LISTED:
            blocks.append(Paragraph(f"… and {len(failed) - LISTED} more (runs.csv lists every run)."))
    unfinished = [f"{r.name}: {s}" for r in c.runs for s in STAGES if r.status.get(s) == "unfinished"]
    if unfinished:
        blocks += [Paragraph("Unfinished stages (a folder without done.json: still running, or stopped "
                             "without a failed.json):"), Bullets(tuple(limited(unfinished)))]
    models, seeds = f.grid
    blocks.append(Paragraph(f"Missing runs (no folder), against {len(models)} models × seeds {seed_ranges(seeds)}: "
                            + (", ".join(limited(f.missing)) if f.missing else "none.")))
    if c.problems:
        blocks += [Paragraph("Files that could not be read (their contents are left out):"),
                   Bullets(tuple(limited(sorted(c.problems))))]
    other = sorted(name for name, r in f.results.items() if r.info is None)
    if other:
        blocks.append(Paragraph("Numeric metrics without a registry entry (in the CSV tables, not ranked): "
                                + ", ".join(f"`{name}`" for name in limited(other)) + "."))
    return blocks


def first_line(text: str, limit: int = 200) -> str:
    line = (text.strip().splitlines() or [""])[0]
    return line if len(line) <= limit else line[:limit] + "…"

