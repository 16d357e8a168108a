"""The report's tables as data (CSV and Parquet): every run, the across-seed summary, the pairwise
tests and the models. Built column by column, never row by row through pandas, and typed per
column so Parquet gets one type per column however the runs disagree."""
import io

import pandas as pd

from mhcompare.report.collect import STAGES, Collection
from mhcompare.report.provenance import ModelFacts
from mhcompare.report.stats import MetricResult, sort_key

PROVENANCE = ("config_sha256", "recipe", "data_hash", *(f"code_version.{stage}" for stage in STAGES))


def typed(values: list):
    """One column: integers as Int64, other numbers as float, booleans as boolean, the rest as text."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return pd.array(values, dtype="boolean")
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        if all(isinstance(v, int) for v in present):
            return pd.array(values, dtype="Int64")
        return pd.array([float("nan") if v is None else float(v) for v in values], dtype="float64")
    return pd.array([None if v is None else str(v) for v in values], dtype="object")


def frame(columns: dict[str, list]) -> pd.DataFrame:
    return pd.DataFrame({name: typed(values) for name, values in columns.items()})


def runs_table(collection: Collection) -> pd.DataFrame:
    """One row per run folder: status, failure, provenance and every metric of its finished stages."""
    runs = collection.runs
    names = sorted({name for run in runs for name in run.metrics}, key=sort_key)
    columns = {"model": [r.model for r in runs], "seed": [r.seed for r in runs], "run": [r.name for r in runs]}
    for stage in STAGES:
        columns[f"status.{stage}"] = [r.status.get(stage, "not started") for r in runs]
    for key in ("stage", "error", "log"):
        columns[f"failed.{key}"] = [r.failure[key] if r.failure else None for r in runs]
    for key in PROVENANCE:
        columns[key] = [r.provenance.get(key) for r in runs]
    for name in names:
        columns[name] = [r.metrics.get(name) for r in runs]
    return frame(columns)


def summary_table(results: dict[str, MetricResult]) -> pd.DataFrame:
    """One row per (metric, model): mean, std, n and the interval, with the model's rank."""
    columns = {k: [] for k in ("metric", "axis", "label", "unit", "better", "model", "rank", "letters", "n", "mean",
                               "std", "ci_low", "ci_high", "scale")}
    for name, result in results.items():
        info = result.info
        letters = result.letters() if info and info.ranked else {}
        for model in sorted(result.stats):
            stats = result.stats[model]
            row = {"metric": name, "axis": info.axis if info else None, "label": info.label if info else None,
                   "unit": info.unit if info else None, "better": info.better if info else None, "model": model,
                   "rank": result.ranked_order.index(model) + 1
                   if info and info.ranked and model in result.ranked_order else None,
                   "letters": letters.get(model), **stats}
            for key, values in columns.items():
                values.append(row[key])
    return frame(columns)


def comparisons_table(results: dict[str, MetricResult], alpha: float) -> pd.DataFrame:
    """Every pairwise test (a t-test over shared items and seeds, or a paired t over shared seeds),
    Holm-adjusted within the metric; pairs counts what was paired (item pairs or seeds); items and
    seeds what the test was on, dropped_a/dropped_b the items of each model left out (scored by
    it but not by every model on every shared seed)."""
    columns = {k: [] for k in ("metric", "model_a", "model_b", "pairs", "mean_difference", "p", "p_holm",
                               "min_effect", "separable", "test", "note", "items", "seeds", "se", "df",
                               "dropped_a", "dropped_b")}
    for name, result in results.items():
        for (a, b), c in sorted(result.comparisons.items()):
            test = (f"{c.test}, Holm-adjusted, alpha={alpha:g}" if c.p is not None
                    else f"not tested: {c.pairs} shared {c.unit}")
            row = {"metric": name, "model_a": a, "model_b": b, "pairs": c.pairs,
                   "mean_difference": c.mean_difference, "p": c.p, "p_holm": c.p_holm,
                   "min_effect": c.min_effect, "separable": c.separable, "test": test, "note": c.note,
                   "items": c.items if c.item_level else None, "seeds": c.seeds, "se": c.se, "df": c.df,
                   "dropped_a": result.dropped.get(a), "dropped_b": result.dropped.get(b)}
            for key, values in columns.items():
                values.append(row[key])
    return frame(columns)


def models_table(facts: list[ModelFacts]) -> pd.DataFrame:
    columns = {k: [] for k in ("model", "display_name", "params_b", "license", "chinese", "context_length",
                               "modelscope", "huggingface", *(f"runtime.{s}" for s in STAGES), "facts_from")}
    for f in facts:
        row = {"model": f.model, "display_name": f.display_name, "params_b": f.params_b, "license": f.license,
               "chinese": f.chinese, "context_length": f.context_length, "modelscope": f.modelscope,
               "huggingface": f.huggingface, **{f"runtime.{s}": f.runtimes.get(s) for s in STAGES},
               "facts_from": f.source}
        for key, values in columns.items():
            values.append(row[key])
    return frame(columns)


def csv_bytes(table: pd.DataFrame) -> bytes:
    return table.to_csv(index=False, lineterminator="\n").encode("utf-8")


def parquet_bytes(table: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False, engine="pyarrow")
    return buffer.getvalue()
