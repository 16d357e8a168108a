"""The recommendation, generated from the rankings and tests, never written by hand.

A model is *clearly ahead* on a metric when it ranks first and is separable from every other model
(Holm-corrected paired test, a difference pointing its way and at least the minimum effect); it
*leads* when it ranks first or cannot be told apart from the first. An axis's leader is the model
clearly ahead on most of its metrics. There is no overall leader across axes.
"""
from dataclasses import dataclass

from mhcompare.report.document import fmt
from mhcompare.report.metrics import AXES
from mhcompare.report.stats import MetricResult


@dataclass
class AxisVerdict:
    axis: str
    metrics: list[MetricResult]  # ranked metrics with at least two models
    clear: dict[str, list[MetricResult]]  # model -> metrics it is clearly ahead on
    leads: dict[str, list[MetricResult]]  # model -> metrics it ranks first or ties first on

    @property
    def leaders(self) -> list[str]:
        """The models clearly ahead on the most metrics (then first or tied first on the most); more
        than one when they draw, none when no model is clearly ahead anywhere."""
        score = {m: (len(self.clear[m]), len(self.leads[m])) for m in self.clear}
        return sorted(m for m in score if score[m] == max(score.values()))


def axis_verdicts(results: dict[str, MetricResult]) -> list[AxisVerdict]:
    verdicts = []
    for axis in AXES:
        metrics = [r for r in results.values() if r.info and r.info.axis == axis and r.info.ranked
                   and len(r.order) >= 2 and r.ranked_order]
        clear, leads = {}, {}
        for result in metrics:
            first = result.ranked_order[0]  # a model not ranked (no per-item outcomes) was never told apart
            tied = [m for m in result.order if m != first and not result.separable(first, m)]
            for model in [first, *tied]:
                leads.setdefault(model, []).append(result)
            if not tied:
                clear.setdefault(first, []).append(result)
        if metrics:
            verdicts.append(AxisVerdict(axis, metrics, clear, leads))
    return verdicts


def names(metrics: list[MetricResult]) -> str:
    return ", ".join(r.info.label for r in metrics)


def recommendation(results: dict[str, MetricResult]) -> list[str]:
    """Bullets: the leader of each axis, why a leaderless axis has none, the trade-offs between
    leaders, and the overall picture."""
    verdicts = axis_verdicts(results)
    if not verdicts:
        return ["No ranked metric has results for two models yet, so there is nothing to recommend."]
    bullets = [axis_bullet(v) for v in verdicts]
    single = [v for v in verdicts if len(v.leaders) == 1]
    bullets += trade_offs(single)
    # no "overall" winner: counting axes equally would let speed outvote safety, and any weighting
    # is the reader's choice to make, with the axes above
    bullets.append("**No overall ranking**: the axes are not weighed against each other here (speed must not "
                   "outvote safety); each test controls errors within one metric, not across the report's "
                   "metrics, so a single separation on one metric is weak evidence.")
    return bullets


def axis_bullet(v: AxisVerdict) -> str:
    title = AXES[v.axis]
    if not v.leaders:
        most_pairs = max((c.pairs for r in v.metrics for c in r.comparisons.values()), default=0)
        why = ("fewer than 2 shared seeds per pair of models, so no difference can be tested" if most_pairs < 2
               else "every first place is within seed noise of a runner-up")
        return f"**{title}**: no model is clearly ahead on any of its {len(v.metrics)} ranked metrics ({why})."
    first = v.leaders[0]
    counts = f"{len(v.clear[first])} of {len(v.metrics)} metrics"
    if len(v.leaders) == 1:
        text = (f"**{title}**: **{first}**, clearly ahead on {counts} ({names(v.clear[first])}); first or tied "
                f"first on {len(v.leads[first])}.")
    else:
        text = (f"**{title}**: " + " and ".join(f"**{m}**" for m in v.leaders) + f" share the lead, each clearly "
                f"ahead on {counts} (" + "; ".join(f"{m}: {names(v.clear[m])}" for m in v.leaders) + ").")
    others = [f"{m} on {names(v.clear[m])}" for m in sorted(v.clear) if m not in v.leaders]
    if others:
        text += " Also clearly ahead: " + "; ".join(others) + "."
    return text


def trade_offs(verdicts: list[AxisVerdict]) -> list[str]:
    """For two axes, each with one leader, led by different models: what each gives up on the other's axis."""
    bullets = []
    for i, a in enumerate(verdicts):
        for b in verdicts[i + 1:]:
            x, y = a.leaders[0], b.leaders[0]
            if x == y:
                continue
            on_a, on_b = a.clear[x][0], b.clear[y][0]
            if y not in on_a.stats or x not in on_b.stats:
                continue
            bullets.append(f"**Trade-off**: {x} leads {AXES[a.axis].lower()}, {y} leads {AXES[b.axis].lower()}. "
                           f"{versus(on_a, x, y)}; {versus(on_b, y, x)}.")
    return bullets


def versus(result: MetricResult, winner: str, other: str) -> str:
    w, o = result.stats[winner]["mean"], result.stats[other]["mean"]
    change = f" ({(o - w) / abs(w) * 100:+.0f}%)" if w else ""
    return f"{result.info.label} ({result.info.unit}): {winner} {fmt(w)} vs {other} {fmt(o)}{change}"
