"""Across-seed statistics: means with t intervals, paired tests between models, Holm's correction.

Why a paired t-test across seeds, corrected with Holm: a seed fixes the data order and the split of
every run, so seed k of two models is a pair, and pairing removes the seed-to-seed variation the
models share. At the 3-5 seeds a sweep can afford, rank tests cannot reject anything: the smallest
two-sided p of Wilcoxon's signed-rank test is 0.25 with 3 pairs and 0.0625 with 5, and Friedman's
test with a rank post-hoc (Nemenyi, Conover) is as coarse with 3-5 blocks. The paired t-test uses
the size of the differences, assuming seed noise is roughly normal (the usual model of it), and is
the one of these that can separate models at this n. Holm's step-down correction keeps the chance
of any false "better" at alpha over all pairs of a metric, with more power than Bonferroni's.
"""
import math
import warnings
from dataclasses import dataclass, field

from mhcompare.report.metrics import MetricInfo, lookup


def number(value) -> float | None:
    """A finite float, or None for a missing, non-numeric (bools included) or non-finite value."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def metric_values(runs) -> dict[str, dict[str, dict[int, float]]]:
    """{metric: {model: {seed: value}}} for every numeric metric of every run."""
    values: dict = {}
    for run in runs:
        for name, raw in run.metrics.items():
            value = number(raw)
            if value is not None:
                values.setdefault(name, {}).setdefault(run.model, {})[run.seed] = value
    return values


def mean_interval(values: list[float], confidence: float) -> dict:
    """{mean, std, n, ci_low, ci_high}: a t interval, which needs n >= 2 (None otherwise)."""
    from scipy import stats

    n = len(values)
    if n == 0:
        return {"mean": None, "std": None, "n": 0, "ci_low": None, "ci_high": None}
    mean = math.fsum(values) / n
    if n == 1:
        return {"mean": mean, "std": None, "n": 1, "ci_low": None, "ci_high": None}
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    return {"mean": mean, "std": std, "n": n, "ci_low": mean - half, "ci_high": mean + half}


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given."""
    m = len(pvalues)
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda i: pvalues[i])):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def paired_t(a: dict[int, float], b: dict[int, float]) -> tuple[float | None, int]:
    """(two-sided p of the paired t-test over the seeds both have, number of pairs); p is None
    below 2 pairs, and 1.0 when every pair is equal (no difference at all)."""
    from scipy import stats

    seeds = sorted(a.keys() & b.keys())
    if len(seeds) < 2:
        return None, len(seeds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # identical pairs: scipy warns, then returns NaN
        p = float(stats.ttest_rel([a[s] for s in seeds], [b[s] for s in seeds]).pvalue)
    return (1.0 if math.isnan(p) else p), len(seeds)


@dataclass
class Comparison:
    metric: str
    a: str
    b: str
    pairs: int  # seeds both models have
    mean_difference: float | None  # a - b over those seeds
    p: float | None  # paired t-test; None: not tested (fewer than 2 shared seeds)
    p_holm: float | None
    separable: bool  # p_holm < alpha


@dataclass
class MetricResult:
    name: str
    info: MetricInfo | None
    stats: dict[str, dict]  # model -> mean_interval
    order: list[str]  # best first when ranked, else by name
    comparisons: dict[tuple[str, str], Comparison] = field(default_factory=dict)

    def separable(self, x: str, y: str) -> bool:
        comparison = self.comparisons.get((min(x, y), max(x, y)))
        return comparison is not None and comparison.separable

    def comparison(self, x: str, y: str) -> Comparison | None:
        return self.comparisons.get((min(x, y), max(x, y)))


def analyse(values: dict, confidence: float, alpha: float) -> dict[str, MetricResult]:
    """Every metric: per-model statistics, a ranking and Holm-corrected pairwise tests."""
    results = {}
    for name in sorted(values, key=sort_key):
        by_model = values[name]
        info = lookup(name)
        stats = {model: mean_interval([by_model[model][s] for s in sorted(by_model[model])], confidence)
                 for model in sorted(by_model)}
        if info is None or not info.ranked:
            results[name] = MetricResult(name, info, stats, sorted(stats))
            continue
        sign = -1.0 if info.better == "higher" else 1.0
        order = sorted(stats, key=lambda model: (sign * stats[model]["mean"], model))
        results[name] = MetricResult(name, info, stats, order, compare(name, by_model, alpha))
    return results


def compare(name: str, by_model: dict[str, dict[int, float]], alpha: float) -> dict:
    models = sorted(by_model)
    comparisons = {}
    for i, a in enumerate(models):
        for b in models[i + 1:]:
            p, pairs = paired_t(by_model[a], by_model[b])
            shared = sorted(by_model[a].keys() & by_model[b].keys())
            difference = (math.fsum(by_model[a][s] - by_model[b][s] for s in shared) / len(shared)) if shared else None
            comparisons[(a, b)] = Comparison(name, a, b, pairs, difference, p, None, False)
    tested = [c for c in comparisons.values() if c.p is not None]
    for comparison, adjusted in zip(tested, holm([c.p for c in tested])):
        comparison.p_holm = adjusted
        comparison.separable = adjusted < alpha
    return comparisons


def sort_key(name: str) -> tuple:
    """Registered metrics in registry order, then the rest by name."""
    info = lookup(name)
    return (0, info.order) if info else (1, name)
