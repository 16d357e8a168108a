"""ms-swift's logging.jsonl: the numbers SwanLab gets, and the time of every segment of a resumed run."""
from mhcompare.tracking import numeric_fields
from mhcompare.train.swift_log import row_step


def test_a_training_log_row_becomes_numeric_swanlab_fields():
    row = {"loss": 2.5, "grad_norm": 1.0, "learning_rate": 1e-4, "memory(GiB)": 3.2, "train_speed(iter/s)": 0.5,
           "epoch": 0.1, "global_step/max_steps": "5/10", "percentage": "50.00%", "elapsed_time": "10s",
           "remaining_time": "10s", "token_acc": float("nan"), "done": True}
    assert numeric_fields(row) == {"train/loss": 2.5, "train/grad_norm": 1.0, "train/learning_rate": 1e-4,
                                   "train/memory_GiB": 3.2, "train/train_speed_iter_s": 0.5, "train/epoch": 0.1}
    assert row_step(row) == 5


def test_an_eval_row_goes_under_eval():
    row = {"eval_loss": 7.6, "eval_runtime": 1.2, "global_step/max_steps": "10/10"}
    assert numeric_fields(row) == {"eval/loss": 7.6, "eval/runtime": 1.2}
    assert row_step(row) == 10 and row_step({"loss": 1.0}) is None


def test_a_resumed_run_counts_the_time_of_every_segment():
    """Two segments: killed at step 6 after 40 s, resumed from checkpoint 4, finished in 30.5 s."""
    from mhcompare.train.swift_log import segment_seconds

    def row(step, elapsed):
        return {"loss": 1.0, "global_step/max_steps": f"{step}/10", "elapsed_time": elapsed}

    rows = [row(2, "10s"), row(4, "20s"), row(6, "40s"),            # the killed segment
            row(6, "5s"), row(8, "15s"), row(10, "29s"), {"train_runtime": 30.5}]
    assert segment_seconds(rows) == [40.0, 30.5]
    assert segment_seconds([row(2, "1m 5s"), row(4, "1h 0m 1s"), {"train_runtime": 3601.2}]) == [3601.2]
