"""SwanLab gets the numbers of ms-swift's logging.jsonl, under names it accepts."""
from mhcompare.tracking import numeric_fields, row_step


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
