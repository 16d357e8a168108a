"""Time to a target loss, read off each run's loss curve.

One target for every run, so the times compare: an absolute loss (`report.target_loss.value`) or,
by default, `relative` x the highest final value among the finished runs, a loss every run reaches.
The time is the run's training wall time x (step of the first point at or below the target / last
step): step times are taken as even, and a resumed run (whose wall time covers only its last
segment) gets no time rather than a wrong one.
"""
from dataclasses import dataclass

from mhcompare.report.collect import Run

METRIC = "train.time_to_target_s"


@dataclass(frozen=True)
class Target:
    curve: str  # "eval_loss" or "loss" (training loss)
    value: float
    description: str


def resolve_target(runs: list[Run], curve: str, value: float | None, relative: float) -> Target | None:
    finals = [points[-1] for points in (curve_points(run.curve, curve) for run in runs) if points]
    if value is not None:
        return Target(curve, float(value), f"{curve} ≤ {value:g} (set in report.target_loss.value)")
    if not finals:
        return None
    worst = max(loss for _, loss in finals)
    return Target(curve, relative * worst, f"{curve} ≤ {relative * worst:.4g} ({relative:g} × the highest final "
                                           f"{curve} among the {len(finals)} runs with a curve)")


def curve_points(curve: list[dict], key: str) -> list[tuple[int, float]]:
    return [(point["step"], point[key]) for point in curve if key in point]


def time_to_target(run: Run, target: Target) -> float | None:
    runtime = run.metrics.get("train.runtime_s")
    if not run.curve or not isinstance(runtime, (int, float)) or run.metrics.get("train.resumed_from_step"):
        return None
    last_step = max(point["step"] for point in run.curve)
    for step, loss in curve_points(run.curve, target.curve):
        if loss <= target.value:
            return float(runtime) * step / last_step
    return None


def add_time_to_target(runs: list[Run], target: Target) -> None:
    """Adds train.time_to_target_s to each run that reached the target, and train.reached_target
    (1 or 0) to every run with a loss curve: a run that never reached it is counted, not dropped."""
    for run in runs:
        if not run.curve:
            continue
        seconds = time_to_target(run, target)
        run.metrics["train.reached_target"] = 0 if seconds is None else 1
        if seconds is not None:
            run.metrics[METRIC] = seconds
