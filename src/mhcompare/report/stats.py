"""The comparison's statistics: per-model intervals across seeds, pairwise tests with Holm's
correction, and the compact letter display the rankings are shown with.

What is tested against what:
- A fixed item set with per-item outcomes (MCQ accuracy, crisis pass rates): the unit is the item.
  Two models are compared on the (item, seed) pairs they share, by an exact McNemar test (a
  binomial test on the pairs where they differ). Across seeds alone, a model that answers one more
  item of 200 on every seed of a greedy evaluation would give p = 0, and a real difference of a
  few items could never reach significance with 3 numbers.
- Everything else (throughput, memory, judge means): the unit is the seed; a paired t-test over
  the seeds both models have. A seed fixes the data order and split of every run, so seed k of
  two models is a pair. Rank tests at 3-5 seeds are coarse: Wilcoxon's signed-rank test cannot go
  below p = 0.25 with 3 pairs (0.0625 with 5); Friedman's test can (5 models x 3 seeds with the
  same order on every seed gives p = 0.017), but it says only that some model differs, and its
  pairwise post-hoc tests are as coarse as Wilcoxon's.
- Holm's step-down correction over the pairs of one metric keeps the chance of any false
  "better" on that metric at alpha. Nothing corrects across metrics: with many metrics, some
  separation by chance is expected; the report says so.

A model is ranked above another only on the seeds every model of the metric has (a model's extra
or missing seeds are flagged, not averaged in), and "separable" needs all three: the corrected
test below alpha, the difference on the shared data pointing the way of the ranking, and a
difference at least the metric's minimum effect (report.min_effect).

Intervals respect the metric's range: a fraction's t interval is taken on the logit scale and a
positive quantity's (seconds, GiB, throughput) on the log scale, then transformed back.
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


FRACTION_UNITS = {"fraction", "share of runs"}
LOG_UNITS = {"s", "GPU-h", "CPU-h", "GiB", "tokens/s", "bytes/s", "samples/s", "req/s"}


def scale_of(info: MetricInfo | None) -> str:
    if info is None:
        return "linear"
    return "logit" if info.unit in FRACTION_UNITS else "log" if info.unit in LOG_UNITS else "linear"


def mean_interval(values: list[float], confidence: float, scale: str = "linear") -> dict:
    """{mean, std, n, ci_low, ci_high, scale}: the mean, and a t interval (n >= 2) taken on the
    given scale and transformed back, so a fraction's interval stays within [0, 1] and a time's
    above 0. The logit scale clips values to [0.001, 0.999]; the log scale needs values > 0."""
    from scipy import stats

    n = len(values)
    if n == 0:
        return {"mean": None, "std": None, "n": 0, "ci_low": None, "ci_high": None, "scale": scale}
    mean = math.fsum(values) / n
    if n == 1:
        return {"mean": mean, "std": None, "n": 1, "ci_low": None, "ci_high": None, "scale": scale}
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    if scale == "log" and min(values) <= 0:
        scale = "linear"
    forward, back = TRANSFORMS[scale]
    moved = [forward(v) for v in values]
    centre = math.fsum(moved) / n
    spread = math.sqrt(math.fsum((v - centre) ** 2 for v in moved) / (n - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * spread / math.sqrt(n)
    low, high = back(centre - half), back(centre + half)
    if spread == 0:  # every seed gave the same value
        low = high = mean
    return {"mean": mean, "std": std, "n": n, "ci_low": min(low, mean), "ci_high": max(high, mean), "scale": scale}


def logit(p: float) -> float:
    p = min(max(p, 1e-3), 1 - 1e-3)
    return math.log(p / (1 - p))


def expit(x: float) -> float:
    return 1 / (1 + math.exp(-x))


TRANSFORMS = {"linear": (float, float), "log": (math.log, math.exp), "logit": (logit, expit)}


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given (statsmodels' multipletests)."""
    from statsmodels.stats.multitest import multipletests

    if not pvalues:
        return []
    return [float(p) for p in multipletests(pvalues, method="holm")[1]]


def paired_t(a: dict[int, float], b: dict[int, float], seeds=None) -> tuple[float | None, int]:
    """(two-sided p of the paired t-test over the seeds both have (or `seeds`), number of pairs);
    p is None below 2 pairs, and 1.0 when every pair is equal (no difference at all)."""
    from scipy import stats

    seeds = sorted(a.keys() & b.keys() if seeds is None else seeds)
    if len(seeds) < 2:
        return None, len(seeds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # identical pairs: scipy warns, then returns NaN
        p = float(stats.ttest_rel([a[s] for s in seeds], [b[s] for s in seeds]).pvalue)
    return (1.0 if math.isnan(p) else p), len(seeds)


def paired_items(a: dict[int, dict], b: dict[int, dict], seeds) -> tuple[float | None, int, float | None, int]:
    """Exact McNemar test on the (seed, item) pairs both models have an outcome for:
    (two-sided p, number of pairs, mean difference a - b over them, pairs where they differ). McNemar assumes the pairs are
    independent; the same item on several seeds is not quite, so p is somewhat optimistic when
    seeds barely change the answers (then the pairs are few in effect, and so are the discordant)."""
    from statsmodels.stats.contingency_tables import mcnemar

    pairs = [(a[s][i], b[s][i]) for s in seeds if s in a and s in b for i in sorted(a[s].keys() & b[s].keys())]
    if not pairs:
        return None, 0, None, 0
    only_a = sum(1 for x, y in pairs if x and not y)
    only_b = sum(1 for x, y in pairs if y and not x)
    both = sum(1 for x, y in pairs if x and y)
    table = [[both, only_a], [only_b, len(pairs) - both - only_a - only_b]]
    p = 1.0 if only_a + only_b == 0 else float(mcnemar(table, exact=True).pvalue)
    return p, len(pairs), (only_a - only_b) / len(pairs), only_a + only_b


ITEM_TEST = "exact McNemar on shared items and seeds"
SEED_TEST = "paired t across shared seeds"


@dataclass
class Comparison:
    metric: str
    a: str
    b: str
    pairs: int  # shared seeds (seed-level test) or shared (seed, item) pairs (item-level test)
    mean_difference: float | None  # a - b over those pairs
    p: float | None  # None: not tested (fewer than 2 shared seeds, or no shared items)
    p_holm: float | None
    separable: bool  # p_holm < alpha, the sign agrees with the ranking, and the difference is large enough
    test: str = SEED_TEST
    note: str = ""  # why a significant difference is not called separable
    discordant: int = 0  # item-level: pairs where the two models differ
    difference_sd: float | None = None  # seed-level: SD of the paired differences

    @property
    def item_level(self) -> bool:
        return self.test == ITEM_TEST

    @property
    def unit(self) -> str:
        """What `pairs` counts."""
        return "item pairs" if self.item_level else "seeds"


@dataclass
class MetricResult:
    name: str
    info: MetricInfo | None
    stats: dict[str, dict]  # model -> mean_interval over all of its seeds
    order: list[str]  # best first when ranked (on the shared seeds), else by name
    comparisons: dict[tuple[str, str], Comparison] = field(default_factory=dict)
    shared_seeds: list[int] = field(default_factory=list)  # the seeds the ranking and tests use
    unshared: dict[str, list[int]] = field(default_factory=dict)  # model -> its seeds left out of the ranking
    min_effect: float | None = None  # absolute difference below which nothing is called separable

    def separable(self, x: str, y: str) -> bool:
        comparison = self.comparisons.get((min(x, y), max(x, y)))
        return comparison is not None and comparison.separable

    def comparison(self, x: str, y: str) -> Comparison | None:
        return self.comparisons.get((min(x, y), max(x, y)))

    def letters(self) -> dict[str, str]:
        return letter_display(self.order, self.separable)


@dataclass(frozen=True)
class MinEffect:
    """The smallest difference worth calling: absolute for fractions, relative to the better
    model's value otherwise (report.min_effect)."""
    fraction: float = 0.02
    relative: float = 0.05

    def of(self, info: MetricInfo | None, means: list[float]) -> float:
        if info is not None and info.unit in FRACTION_UNITS:
            return self.fraction
        return self.relative * max((abs(m) for m in means), default=0.0)


def analyse(values: dict, confidence: float, alpha: float, items: dict | None = None,
            min_effect: MinEffect = MinEffect()) -> dict[str, MetricResult]:
    """Every metric: per-model statistics, a ranking on shared seeds and Holm-corrected pairwise tests
    (item by item where `items` has the metric's per-item outcomes)."""
    results = {}
    for name in sorted(values, key=sort_key):
        by_model = values[name]
        info = lookup(name)
        scale = scale_of(info)
        stats = {model: mean_interval([by_model[model][s] for s in sorted(by_model[model])], confidence, scale)
                 for model in sorted(by_model)}
        if info is None or not info.ranked:
            results[name] = MetricResult(name, info, stats, sorted(stats))
            continue
        shared = sorted(set.intersection(*(set(seeds) for seeds in by_model.values())))
        unshared = {m: sorted(set(by_model[m]) - set(shared)) for m in sorted(by_model)
                    if set(by_model[m]) - set(shared)}
        basis = {m: math.fsum(by_model[m][s] for s in shared) / len(shared) if shared else stats[m]["mean"]
                 for m in by_model}
        sign = -1.0 if info.better == "higher" else 1.0
        order = sorted(stats, key=lambda model: (sign * basis[model], model))
        threshold = min_effect.of(info, list(basis.values()))
        result = MetricResult(name, info, stats, order, shared_seeds=shared, unshared=unshared, min_effect=threshold)
        result.comparisons = compare(result, by_model, (items or {}).get(name), alpha)
        results[name] = result
    return results


def compare(result: MetricResult, by_model: dict, items: dict | None, alpha: float) -> dict:
    """Pairwise tests on the shared seeds, Holm-adjusted over the pairs of the metric."""
    models = sorted(by_model)
    rank = {m: i for i, m in enumerate(result.order)}
    comparisons = {}
    for i, a in enumerate(models):
        for b in models[i + 1:]:
            if items and a in items and b in items:
                p, pairs, difference, discordant = paired_items(items[a], items[b], result.shared_seeds)
                comparison = Comparison(result.name, a, b, pairs, difference, p, None, False, ITEM_TEST,
                                        discordant=discordant)
            else:
                p, pairs = paired_t(by_model[a], by_model[b], result.shared_seeds)
                differences = [by_model[a][s] - by_model[b][s] for s in result.shared_seeds]
                difference = math.fsum(differences) / len(differences) if differences else None
                comparison = Comparison(result.name, a, b, pairs, difference, p, None, False, SEED_TEST)
                if len(differences) >= 2:
                    comparison.difference_sd = math.sqrt(math.fsum((d - difference) ** 2 for d in differences)
                                                         / (len(differences) - 1))
            comparisons[(a, b)] = comparison
    tested = [c for c in comparisons.values() if c.p is not None]
    for comparison, adjusted in zip(tested, holm([c.p for c in tested])):
        comparison.p_holm = adjusted
        if adjusted >= alpha:
            continue
        a_first = rank[comparison.a] < rank[comparison.b]
        better_sign = 1.0 if result.info.better == "higher" else -1.0
        agrees = comparison.mean_difference is not None and \
            (comparison.mean_difference * better_sign > 0) == a_first and comparison.mean_difference != 0
        large = comparison.mean_difference is not None and abs(comparison.mean_difference) >= result.min_effect
        comparison.separable = agrees and large
        if not agrees:
            comparison.note = "the difference on the shared data points against the ranking"
        elif not large:
            comparison.note = f"difference below the minimum effect {result.min_effect:.3g}"
    return comparisons


def letter_display(order: list[str], separable) -> dict[str, str]:
    """Compact letter display (Piepho's insert-and-absorb): models that share a letter cannot be
    told apart; every separable pair shares none. Letters follow the ranking, `a` for the best."""
    groups = [set(order)]
    for i, x in enumerate(order):
        for y in order[i + 1:]:
            if not separable(x, y):
                continue
            split = []
            for group in groups:
                split += [group - {x}, group - {y}] if x in group and y in group else [group]
            groups = []
            for group in split:  # absorb: drop groups inside another one
                if group and not any(group < other for other in split) and group not in groups:
                    groups.append(group)
    groups.sort(key=lambda g: sorted(order.index(m) for m in g))
    letters = {m: "" for m in order}
    for index, group in enumerate(groups):
        for model in group:
            letters[model] += "abcdefghijklmnopqrstuvwxyz"[index]
    return letters


def sort_key(name: str) -> tuple:
    """Registered metrics in registry order, then the rest by name."""
    info = lookup(name)
    return (0, info.order) if info else (1, name)


def detectable_difference(result: MetricResult, alpha: float, power: float = 0.8) -> dict | None:
    """The smallest difference between two models this sweep could detect with the given power,
    from the data it has: Bonferroni's alpha / pairs bounds Holm's first step. For a seed-level
    metric, (t_(1-a/2) + t_power) x SD of the paired differences / sqrt(seeds); for an item-level
    one, (z_(1-a/2) + z_power) x sqrt(share of discordant pairs / pairs), the normal approximation
    of McNemar's test. None when no pair was tested."""
    from scipy import stats

    tested = [c for c in result.comparisons.values() if c.p is not None]
    if not tested:
        return None
    level = alpha / len(result.comparisons)
    if tested[0].item_level:
        pairs = min(c.pairs for c in tested)
        discordant = max(c.discordant for c in tested) / pairs if pairs else 0.0
        z = float(stats.norm.ppf(1 - level / 2) + stats.norm.ppf(power))
        difference = z * math.sqrt(discordant / pairs) if pairs else math.inf
        if difference > discordant:  # a difference of d needs at least d discordant pairs
            difference = z * z / pairs
        return {"test": "McNemar (normal approximation)", "pairs": pairs, "difference": difference}
    seeds = len(result.shared_seeds)
    spread = max(c.difference_sd for c in tested if c.difference_sd is not None) if seeds >= 2 else None
    if spread is None:
        return None
    t = float(stats.t.ppf(1 - level / 2, seeds - 1) + stats.t.ppf(power, seeds - 1))
    return {"test": "paired t", "pairs": seeds, "difference": t * spread / math.sqrt(seeds)}
