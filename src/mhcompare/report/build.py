"""Build the comparison report of one experiment: run folders in, report/ out.

    collect -> time to target -> statistics -> tables (CSV, Parquet) -> plots -> Markdown + HTML

Only the files named here are written (the judge stage's human_judge_* files in the same folder
are read, never touched), each atomically; the same run folders give the same bytes.
"""
import logging
from dataclasses import dataclass
from pathlib import Path

from mhcompare.errors import UserError
from mhcompare.io import atomic_write_bytes, atomic_write_text
from mhcompare.provenance import code_version
from mhcompare.report import plots, tables
from mhcompare.report.collect import collect
from mhcompare.report.curves import add_time_to_target, resolve_target
from mhcompare.report.document import Figure, to_markdown
from mhcompare.report.html import to_html
from mhcompare.report.metrics import AXES
from mhcompare.report.provenance import expected_grid, missing_runs, model_facts
from mhcompare.report.sections import AXIS_FIGURES, Findings, report_blocks
from mhcompare.report.items import item_outcomes
from mhcompare.report.stats import MinEffect, analyse, metric_values

log = logging.getLogger(__name__)
MARKDOWN, HTML = "performance_comparison.md", "performance_comparison.html"
TABLES = ("runs", "summary", "comparisons", "models")
FIGURES = sorted({file for files in AXIS_FIGURES.values() for file in files})


@dataclass(frozen=True)
class Settings:
    """The report's knobs (conf/report/default.yaml)."""
    confidence: float = 0.95
    alpha: float = 0.05
    target_curve: str = "eval_loss"
    target_value: float | None = None
    target_relative: float = 1.0
    expected_models: tuple[str, ...] | None = None
    expected_seeds: tuple[int, ...] | None = None
    min_effect: MinEffect = MinEffect()


class NoRuns(UserError, FileNotFoundError):
    """An experiment folder without a run: the user's to fix (run something first), not a crash."""


def build_report(experiment_dir: Path, report_dir: Path, settings: Settings = Settings()) -> dict:
    experiment_dir, report_dir = Path(experiment_dir), Path(report_dir)
    collection = collect(experiment_dir)
    if not collection.runs:
        raise NoRuns(f"no run folders (<model>/seed<k>/) under {experiment_dir}; train something first "
                                f"(python run.py experiment_name={experiment_dir.name} stage=[prepare,train])")
    target = resolve_target(collection.runs, settings.target_curve, settings.target_value, settings.target_relative)
    if target is not None:
        add_time_to_target(collection.runs, target)
    values = metric_values(collection.runs)
    results = analyse(values, settings.confidence, settings.alpha, item_outcomes(collection.runs, values),
                      settings.min_effect)
    facts = model_facts(collection)
    grid = expected_grid(collection, settings.expected_models, settings.expected_seeds)

    frames = {"runs": tables.runs_table(collection), "summary": tables.summary_table(results),
              "comparisons": tables.comparisons_table(results, settings.alpha),
              "models": tables.models_table(facts)}
    for name, frame in frames.items():
        atomic_write_bytes(report_dir / f"{name}.csv", tables.csv_bytes(frame))
        atomic_write_bytes(report_dir / f"{name}.parquet", tables.parquet_bytes(frame))

    figures = draw(collection, results, target, settings.confidence)
    for file in FIGURES:
        if file in figures:
            atomic_write_bytes(report_dir / file, figures[file])
        else:  # from an earlier build with other inputs; a stale plot would contradict the tables
            (report_dir / file).unlink(missing_ok=True)

    findings = Findings(experiment_dir.name, collection, results, target, facts, grid,
                        missing_runs(collection, *grid), settings.confidence, settings.alpha, set(figures),
                        code_version(), settings.min_effect)
    blocks = report_blocks(findings, report_dir)
    atomic_write_text(report_dir / MARKDOWN, to_markdown(blocks))
    # every plot the page shows, the judge stage's included, read back so the page stands alone
    images = {b.file: (report_dir / b.file).read_bytes() for b in blocks if isinstance(b, Figure)}
    atomic_write_text(report_dir / HTML, to_html(blocks, f"Model comparison: {experiment_dir.name}", images))
    failed = [run for run in collection.runs if run.failure]
    log.info("aggregate: %s runs of %s models: %s failed, %s missing, %s unreadable file(s) -> %s",
             len(collection.runs), len(collection.models), len(failed), len(findings.missing),
             len(collection.problems), report_dir / MARKDOWN)
    for run in failed:
        log.warning("aggregate: %s failed in %s: %s", run.name, run.failure["stage"], run.failure["error"])
    for problem in collection.problems:
        log.warning("aggregate: %s", problem)
    return {"runs": len(collection.runs), "models": len(collection.models), "report_dir": str(report_dir),
            "failed": sum(1 for r in collection.runs if r.failure), "missing": len(findings.missing),
            "problems": list(collection.problems)}


def draw(collection, results, target, confidence: float) -> dict[str, bytes]:
    """The plots that have data: loss curves, score bars per axis, latency against throughput."""
    models = collection.models
    figures, curves = {}, {}
    for run in collection.runs:
        if run.curve:
            curves.setdefault(run.model, []).append(run.curve)
    if curves:
        figures["loss_curves.png"] = plots.loss_curves(curves, target)
    for axis in ("training", "evaluation", "judge"):  # inference is drawn as latency against throughput
        # losses are read off the curves (a bar from zero hides their differences); an all-zero
        # metric (GPU-hours of CPU runs) has nothing to show
        ranked = [r for r in results.values() if r.info and r.info.axis == axis and r.info.ranked
                  and r.info.unit != "loss" and any(s["mean"] for s in r.stats.values())]
        if ranked:
            figures[f"bars_{axis}.png"] = plots.bars(ranked, models, AXES[axis], confidence)
    latency = plots.latency_throughput(results, models, confidence)
    if latency is not None:
        figures["latency_throughput.png"] = latency
    return figures
