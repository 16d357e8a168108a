"""stage=aggregate: every run of an experiment -> tables across seeds and loss-curve plots.

Reads only the stable run folders (outputs/<experiment>/<model>/seed<k>/), so it works on any
subset of a sweep and is cheap to re-run.
"""
import logging
import math

import pandas as pd

from mhcompare import artifacts
from mhcompare.io import atomic_write_text
from mhcompare.report.collect import collect_runs
from mhcompare.report.plots import plot_loss_curves
from mhcompare.report.stats import summarise
from mhcompare.train.swift_log import loss_history

log = logging.getLogger(__name__)

KEY_METRICS = ["train.eval_loss", "train.final_loss", "train.tokens_per_s", "train.samples_per_s",
               "train.runtime_s", "train.peak_memory_gib", "train.trainable_params"]


def fmt(value, digits=4) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}g}"


def markdown_summary(summary: pd.DataFrame) -> str:
    """Mean ± std (n seeds) [95% interval] per model and metric."""
    lines = ["| model | metric | mean ± std | n | 95% interval |", "|---|---|---|---|---|"]
    for row in summary.itertuples():
        lines.append(f"| {row.model} | {row.metric} | {fmt(row.mean)} ± {fmt(row.std, 2)} | {row.n} | "
                     f"[{fmt(row.ci_low)}, {fmt(row.ci_high)}] |")
    return "\n".join(lines) + "\n"


def run(cfg) -> dict:
    experiment = artifacts.experiment_dir(cfg)
    out = artifacts.report_dir(cfg)
    runs = collect_runs(experiment)
    if runs.empty:
        raise FileNotFoundError(f"no run folders under {experiment}; train something first "
                                f"(python run.py experiment_name={cfg.experiment_name} stage=train)")
    metrics = [m for m in KEY_METRICS if m in runs]
    summary = summarise(runs, metrics)
    atomic_write_text(out / "runs.csv", runs.to_csv(index=False))
    atomic_write_text(out / "summary.csv", summary.to_csv(index=False))
    atomic_write_text(out / "summary.md", f"# {cfg.experiment_name}: results across seeds\n\n"
                      + markdown_summary(summary))
    histories = {}
    for row in runs.to_dict("records"):
        logging_jsonl = artifacts.swift_logging_jsonl(row["run_dir"])
        if row.get("status.train") == "done" and logging_jsonl.exists():
            frame = pd.DataFrame([p for p in loss_history(logging_jsonl) if "loss" in p])
            histories.setdefault(row["model"], []).append(frame)
    if histories:
        plot_loss_curves(histories, out / "loss_curves.png")
    log.info("aggregate: %s runs of %s models -> %s", len(runs), runs["model"].nunique(), out)
    return {"runs": len(runs), "models": int(runs["model"].nunique()), "report_dir": str(out)}
