"""Loss curves in the report: read once from logging.jsonl, and the time to a shared target loss."""
from pathlib import Path

import pytest

from mhcompare.report.collect import Run, collect
from mhcompare.report.curves import resolve_target, time_to_target
from support.synthetic_runs import loss_curve, train_metrics, write_run


def run_with(curve, runtime_s=100.0, resumed=0) -> Run:
    return Run("m", 0, Path("."), metrics={"train.runtime_s": runtime_s, "train.resumed_from_step": resumed},
               curve=curve)


CURVE = [{"step": 25, "loss": 2.0}, {"step": 50, "loss": 1.8}, {"step": 50, "eval_loss": 1.6},
         {"step": 100, "loss": 1.4}, {"step": 100, "eval_loss": 1.3}]


def test_the_relative_target_is_a_loss_every_run_reaches():
    other = [{"step": 100, "eval_loss": 1.5}]
    target = resolve_target([run_with(CURVE), run_with(other)], "eval_loss", None, 1.0)
    assert target.value == 1.5 and "the highest final eval_loss among the 2 runs" in target.description
    assert resolve_target([run_with(CURVE), run_with(other)], "eval_loss", None, 1.1).value == pytest.approx(1.65)
    assert resolve_target([run_with(CURVE)], "eval_loss", 1.7, 1.0).value == 1.7
    assert resolve_target([run_with([])], "eval_loss", None, 1.0) is None


def test_time_to_target_is_the_share_of_steps_times_the_wall_time():
    at = resolve_target([run_with(CURVE)], "eval_loss", 1.6, 1.0)
    assert time_to_target(run_with(CURVE), at) == 50.0  # step 50 of 100, 100 s
    assert time_to_target(run_with(CURVE), resolve_target([], "loss", 1.5, 1.0)) == 100.0
    assert time_to_target(run_with(CURVE), resolve_target([], "eval_loss", 1.0, 1.0)) is None  # never reached
    assert time_to_target(run_with(CURVE, resumed=40), at) is None  # wall time covers only the last segment


def test_collect_reads_the_curve_and_names_an_unreadable_logging_jsonl(tmp_path):
    write_run(tmp_path / "exp", "good", 0, train=train_metrics(), curve=loss_curve(2.0, 1.0))
    bad = write_run(tmp_path / "exp", "bad", 0, train=train_metrics(), curve=loss_curve(2.0, 1.0))
    with open(bad / "train" / "swift" / "logging.jsonl", "a", encoding="utf-8") as f:
        f.write('{"loss": 1.0, "global_step/max_steps": \n')
    collection = collect(tmp_path / "exp")
    good = next(r for r in collection.runs if r.model == "good")
    assert [p["step"] for p in good.curve if "eval_loss" in p] == [50, 100]
    assert good.curve[-1]["eval_loss"] == pytest.approx(1.05)
    assert collection.problems == [p for p in collection.problems if p.startswith(
        "bad/seed0/train/swift/logging.jsonl: unreadable loss curve")] != []
