"""Across-seed statistics: mean with a t-based 95% interval, and the number of seeds behind it."""
import math

import pandas as pd


def mean_interval(values, confidence: float = 0.95) -> dict:
    """{mean, std, n, ci_low, ci_high}; the interval needs n >= 2 and is NaN otherwise."""
    from scipy import stats

    clean = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    n = len(clean)
    if n == 0:
        return {"mean": math.nan, "std": math.nan, "n": 0, "ci_low": math.nan, "ci_high": math.nan}
    mean = sum(clean) / n
    if n == 1:
        return {"mean": mean, "std": math.nan, "n": 1, "ci_low": math.nan, "ci_high": math.nan}
    std = math.sqrt(sum((v - mean) ** 2 for v in clean) / (n - 1))
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * std / math.sqrt(n)
    return {"mean": mean, "std": std, "n": n, "ci_low": mean - half, "ci_high": mean + half}


def summarise(runs: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Long table: one row per (model, metric) with mean, std, n and the 95% interval."""
    rows = []
    for model, group in runs.groupby("model", sort=True):
        for metric in metrics:
            if metric in group:
                values = pd.to_numeric(group[metric], errors="coerce").tolist()
                rows.append({"model": model, "metric": metric, **mean_interval(values)})
    return pd.DataFrame(rows, columns=["model", "metric", "mean", "std", "n", "ci_low", "ci_high"])
