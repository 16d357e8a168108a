"""The comparison's statistics: per-model intervals across seeds, pairwise tests with Holm's
correction, and the compact letter display the rankings are shown with.

What is tested against what (docs/statistics.md has the simulations behind each choice):
- A fixed item set with per-item outcomes (MCQ accuracy, crisis pass rates): items and training
  seeds are both samples. Two models are compared on the items every model of the metric scored on
  every shared seed, by a t-test on the mean paired difference whose variance has an item part and
  a seed part (report/crossed.py: a crossed design, Satterthwaite's degrees of freedom). Pooling
  every (item, seed) pair into one McNemar test, as this module once did, counts an item that gives
  the same answer on three seeds as three pieces of evidence, and ignores that each seed's fine-tune
  shifts a whole run: 25-33% false positives at a nominal 5% in simulation. Across seeds alone, a
  model that answers one more item of 200 on every seed of a greedy evaluation would give p = 0.
  A model of such a metric without per-item outcomes is shown but not ranked or tested: one kind
  of test per metric.
- Everything else (throughput, memory, judge means): the unit is the seed; a paired t-test over
  the seeds both models have. A seed fixes the data order and split of every run, so seed k of
  two models is a pair. Rank tests at 3-5 seeds are coarse: Wilcoxon's signed-rank test cannot go
  below p = 0.25 with 3 pairs (0.0625 with 5); Friedman's test can (5 models x 3 seeds with the
  same order on every seed gives p = 0.017), but it says only that some model differs, and its
  pairwise post-hoc tests are as coarse as Wilcoxon's.
- Holm's step-down correction over the pairs of one metric keeps the chance of any false
  "better" on that metric at alpha. Nothing corrects across metrics: with many metrics, some
  separation by chance is expected; the report says so.

The ranking and the tests use the same data: the seeds every model of the metric has (a model's
extra or missing seeds are flagged, not averaged in) and, item by item, the items every ranked
model scored on each of them (the items left out are counted per model). "Separable" needs all
three: the corrected test below alpha, the difference pointing the way of the ranking, and a
difference at least the pair's minimum effect (report.min_effect: absolute for fractions,
relative to the better model of the pair otherwise).

Power (the report's "what this sweep can detect") is exact for the t-tests: the noncentral t.

Intervals respect the metric's range: a fraction's t interval is taken on the logit scale and a
positive quantity's (seconds, GiB, throughput) on the log scale, then transformed back.
"""
import math
import warnings
from dataclasses import dataclass, field

from mhcompare.holm import holm  # noqa: F401 (part of this module's interface)
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


def item_matrix(outcomes: dict[int, dict], seeds: list[int], items: list[str]):
    """outcomes[seed][item] as an array [seed, item] of the given seeds and items."""
    import numpy as np

    return np.array([[outcomes[s][i] for i in items] for s in seeds], dtype=float)


def paired_items(a: dict[int, dict], b: dict[int, dict], seeds, items=None) -> "ItemTest | None":
    """The crossed item-and-seed test of a - b (report/crossed.py) on `items` (default: every item
    both have on every one of `seeds`); None with fewer than 2 such items."""
    from mhcompare.report.crossed import crossed_difference, t_test

    seeds = sorted(seeds)
    if items is None:
        items = common_items([a, b], seeds)
    if not seeds or len(items) < 2:
        return None
    d = item_matrix(a, seeds, items) - item_matrix(b, seeds, items)
    mean, se, df = (float(x) for x in crossed_difference(d))
    return ItemTest(float(t_test(mean, se, df)), mean, se, df, len(items), len(seeds), int((d != 0).sum()))


@dataclass
class ItemTest:
    p: float
    mean_difference: float
    se: float
    df: float
    items: int
    seeds: int
    discordant: int  # (item, seed) pairs where the two models differ


def common_items(outcomes: list[dict[int, dict]], seeds) -> list[str]:
    """The items every one of `outcomes` has on every seed."""
    sets = [set(o.get(s, {})) for o in outcomes for s in seeds]
    return sorted(set.intersection(*sets)) if sets else []


ITEM_TEST = "paired t over items and seeds (item and seed variance)"
SEED_TEST = "paired t across shared seeds"
ONE_SEED = "one seed: item sampling only, training-seed variation not estimable"


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
    note: str = ""  # why a significant difference is not called separable, or why it was not tested
    discordant: int = 0  # item-level: pairs where the two models differ
    difference_sd: float | None = None  # seed-level: SD of the paired differences
    se: float | None = None  # standard error of mean_difference
    df: float | None = None  # its degrees of freedom
    items: int = 0  # item-level: items compared (on every one of the shared seeds)
    seeds: int = 0  # seeds compared
    min_effect: float | None = None  # this pair's minimum effect

    @property
    def item_level(self) -> bool:
        return self.test == ITEM_TEST

    @property
    def unit(self) -> str:
        """What `pairs` counts."""
        return "item pairs" if self.item_level else "seeds"

    @property
    def basis(self) -> str:
        """`255 items × 3 seeds` or `3 seeds`."""
        seeds = f"{self.seeds} seed{'s' if self.seeds != 1 else ''}"
        return f"{self.items} items × {seeds}" if self.item_level else seeds


@dataclass
class MetricResult:
    name: str
    info: MetricInfo | None
    stats: dict[str, dict]  # model -> mean_interval over all of its seeds
    order: list[str]  # best first when ranked (on the shared seeds and items), else by name; unranked last
    comparisons: dict[tuple[str, str], Comparison] = field(default_factory=dict)
    shared_seeds: list[int] = field(default_factory=list)  # the seeds the ranking and tests use
    unshared: dict[str, list[int]] = field(default_factory=dict)  # model -> its seeds left out of the ranking
    min_effect: float | None = None  # the smallest pair's threshold (each pair has its own: Comparison.min_effect)
    test: str = SEED_TEST  # the one kind of test of this metric
    items: list[str] = field(default_factory=list)  # item-level: the items the ranking and tests use
    dropped: dict[str, int] = field(default_factory=dict)  # item-level: model -> its scored items left out
    unranked: dict[str, str] = field(default_factory=dict)  # model -> why it is shown but not ranked

    @property
    def ranked_order(self) -> list[str]:
        return [m for m in self.order if m not in self.unranked]

    def separable(self, x: str, y: str) -> bool:
        comparison = self.comparisons.get((min(x, y), max(x, y)))
        return comparison is not None and comparison.separable

    def comparison(self, x: str, y: str) -> Comparison | None:
        return self.comparisons.get((min(x, y), max(x, y)))

    def letters(self) -> dict[str, str]:
        return letter_display(self.ranked_order, self.separable)


@dataclass(frozen=True)
class MinEffect:
    """The smallest difference worth calling: absolute for fractions, relative to the better value
    of the two models compared otherwise (report.min_effect)."""
    fraction: float = 0.02
    relative: float = 0.05

    def of(self, info: MetricInfo | None, pair: list[float]) -> float:
        """The threshold for a pair of models with these values (of the pair, never of a third model:
        1.0 s against 1.3 s is not made a tie by a third model's 10 s)."""
        if info is not None and info.unit in FRACTION_UNITS:
            return self.fraction
        return self.relative * max((abs(m) for m in pair), default=0.0)

    def describe(self, info: MetricInfo | None) -> str:
        if info is not None and info.unit in FRACTION_UNITS:
            return f"{self.fraction:g}"
        return f"{self.relative:.0%} of the better of the pair"


def analyse(values: dict, confidence: float, alpha: float, items: dict | None = None,
            min_effect: MinEffect = MinEffect()) -> dict[str, MetricResult]:
    """Every metric: per-model statistics, a ranking on shared seeds (and items) and Holm-corrected
    pairwise tests (item by item where `items` has the metric's per-item outcomes)."""
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
        result = MetricResult(name, info, stats, [], shared_seeds=shared, unshared=unshared)
        outcomes = (items or {}).get(name)
        if outcomes:
            basis = item_basis(result, by_model, outcomes)
        else:
            basis = {m: math.fsum(by_model[m][s] for s in shared) / len(shared) if shared else stats[m]["mean"]
                     for m in by_model}
        sign = -1.0 if info.better == "higher" else 1.0
        ranked = sorted((m for m in stats if m not in result.unranked), key=lambda m: (sign * basis[m], m))
        result.order = ranked + sorted(result.unranked)
        result.comparisons = compare(result, by_model, outcomes, alpha, basis, min_effect)
        thresholds = [c.min_effect for c in result.comparisons.values() if c.min_effect is not None]
        result.min_effect = min(thresholds) if thresholds else None
        results[name] = result
    return results


def item_basis(result: MetricResult, by_model: dict, outcomes: dict) -> dict[str, float]:
    """Item by item: the models with outcomes on every shared seed are ranked on the items all of
    them scored on all of those seeds (the tests use the same items); the others are not ranked."""
    seeds = result.shared_seeds
    result.test = ITEM_TEST
    for model in sorted(by_model):
        missing = [s for s in seeds if s not in outcomes.get(model, {})]
        if missing or not seeds:
            result.unranked[model] = ("no per-item outcomes (eval/items/) for seed"
                                      f"{'s' if len(missing) > 1 else ''} {', '.join(map(str, missing))}"
                                      if seeds else "no seed shared with every model")
    ranked = [m for m in sorted(by_model) if m not in result.unranked]
    result.items = common_items([outcomes[m] for m in ranked], seeds)
    kept = set(result.items)
    result.dropped = {m: len(set().union(*(outcomes[m][s] for s in seeds)) - kept) for m in ranked}
    basis = {}
    for m in ranked:
        basis[m] = float(item_matrix(outcomes[m], seeds, result.items).mean()) if result.items else math.nan
    return basis


def compare(result: MetricResult, by_model: dict, items: dict | None, alpha: float, basis: dict,
            min_effect: MinEffect) -> dict:
    """Pairwise tests on the shared seeds (and items), Holm-adjusted over the pairs of the metric."""
    models = sorted(by_model)
    rank = {m: i for i, m in enumerate(result.order)}
    comparisons = {}
    for i, a in enumerate(models):
        for b in models[i + 1:]:
            if result.test == ITEM_TEST:
                comparison = item_comparison(result, a, b, items)
            else:
                comparison = seed_comparison(result, a, b, by_model)
            if a not in result.unranked and b not in result.unranked:
                comparison.min_effect = min_effect.of(result.info, [basis[a], basis[b]])
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
        large = comparison.mean_difference is not None and abs(comparison.mean_difference) >= comparison.min_effect
        comparison.separable = agrees and large
        if not agrees:
            comparison.note = "the difference on the shared data points against the ranking"
        elif not large:
            comparison.note = f"difference below the minimum effect {comparison.min_effect:.3g}"
    return comparisons


def item_comparison(result: MetricResult, a: str, b: str, items: dict) -> Comparison:
    for model in (a, b):
        if model in result.unranked:
            return Comparison(result.name, a, b, 0, None, None, None, False, ITEM_TEST,
                              note=f"not tested: {model} has {result.unranked[model]}")
    test = paired_items(items[a], items[b], result.shared_seeds, result.items)
    if test is None:
        return Comparison(result.name, a, b, 0, None, None, None, False, ITEM_TEST,
                          note=f"not tested: {len(result.items)} items scored by every model on every shared seed")
    return Comparison(result.name, a, b, test.items * test.seeds, test.mean_difference, test.p, None, False,
                      ITEM_TEST, note=ONE_SEED if test.seeds == 1 else "", discordant=test.discordant,
                      se=test.se, df=test.df, items=test.items, seeds=test.seeds)


def seed_comparison(result: MetricResult, a: str, b: str, by_model: dict) -> Comparison:
    p, pairs = paired_t(by_model[a], by_model[b], result.shared_seeds)
    differences = [by_model[a][s] - by_model[b][s] for s in result.shared_seeds]
    difference = math.fsum(differences) / len(differences) if differences else None
    comparison = Comparison(result.name, a, b, pairs, difference, p, None, False, SEED_TEST, seeds=pairs)
    if len(differences) >= 2:
        sd = math.sqrt(math.fsum((d - difference) ** 2 for d in differences) / (len(differences) - 1))
        comparison.difference_sd, comparison.se, comparison.df = sd, sd / math.sqrt(len(differences)), \
            len(differences) - 1
    return comparison


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
    from the data it has, for the least sensitive pair tested: the exact power of its t-test (the
    noncentral t, report/crossed.py) at Bonferroni's alpha / pairs, which bounds Holm's first step.
    None when no pair was tested (or no pair has a spread to say it from)."""
    from mhcompare.report.crossed import detectable

    tested = [c for c in result.comparisons.values() if c.p is not None and c.se is not None and c.se > 0]
    if not tested:
        return None
    level = alpha / len(result.comparisons)
    widest = max(tested, key=lambda c: detectable(c.se, c.df, level, power))
    test = "paired t over items and seeds" if result.test == ITEM_TEST else "paired t"
    return {"test": test, "pairs": widest.items if result.test == ITEM_TEST else widest.seeds,
            "seeds": widest.seeds, "basis": widest.basis,
            "difference": detectable(widest.se, widest.df, level, power)}
