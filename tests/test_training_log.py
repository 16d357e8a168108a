"""ms-swift's logging.jsonl: the numbers SwanLab gets, and the time of every segment of a resumed run."""
from pathlib import Path

import pytest

from mhcompare.io import read_jsonl
from mhcompare.tracking import numeric_fields
from mhcompare.train.swift_log import dataset_lengths, elapsed_seconds, row_step, segment_seconds, segments
from mhcompare.train.throughput import attention_width, device_peak, flops_per_token, mfu, multiplying_parameters


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


# Real logs written by ms-swift itself (tiny random-weight models trained here, evaluation every 4
# steps, checkpoint every 4): each dialect uninterrupted and resumed after a kill. Evaluation rows
# repeat the step of the training row before them; only a new process restarts ms-swift's clock.
LOGS = Path(__file__).parent / "data" / "swift_logs"
DIALECTS = ["ms-swift-4.6", "ms-swift-3.0.3"]


def real_log(dialect: str, name: str) -> list[dict]:
    return read_jsonl(LOGS / dialect / f"{name}.jsonl")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_an_uninterrupted_run_with_evaluations_is_one_segment_of_ms_swifts_own_runtime(dialect):
    rows = real_log(dialect, "uninterrupted")
    assert sum("eval_loss" in row for row in rows) >= 4
    train_runtime = next(row["train_runtime"] for row in rows if "train_runtime" in row)
    found = segments(rows)
    assert len(found) == 1 and found[0].finished
    assert segment_seconds(rows) == [train_runtime]
    assert found[0].eval_s == pytest.approx(sum(row.get("eval_runtime", 0) for row in rows))


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_run_killed_and_resumed_has_two_segments_that_add_up(dialect):
    rows = real_log(dialect, "resumed")
    runtimes = [row["train_runtime"] for row in rows if "train_runtime" in row]
    killed_at = max(elapsed_seconds(row["elapsed_time"]) for row in rows[:len(rows) // 3] if "elapsed_time" in row)
    found = segments(rows)
    assert len(found) == 2 and [s.finished for s in found] == [False, True]
    assert found[1].wall_s == runtimes[-1]                 # the finished segment: ms-swift's own time
    assert found[0].wall_s >= killed_at > 0                # the killed one: its last logged elapsed time
    assert found[1].first_step > 1 and found[0].first_step == 1


def test_a_resume_from_the_final_checkpoint_is_a_segment_of_its_own():
    """Killed after training finished but before the stage wrote done.json: the job restarts, ms-swift
    resumes from the final checkpoint, trains nothing and logs only its summary row."""
    found = segments(real_log("ms-swift-4.6", "resumed_after_finish"))
    assert [round(s.wall_s, 4) for s in found] == [4.8152, 0.0008]
    assert found[1].first_step is None


def test_real_tokens_are_ms_swifts_own_count_without_padding():
    rows = real_log("ms-swift-4.6", "uninterrupted")
    lengths = dataset_lengths(rows[-1])
    assert (lengths.rows, lengths.tokens) == (76, 11150)
    # prepare counted 11,150 tokens for the same 76 dialogues with this tokenizer and template;
    # transformers' counter, which counts every padded position, says 12,860
    padded = next(row["num_input_tokens_seen"] for row in rows if "train_runtime" in row)
    assert padded == 12860 > lengths.tokens
    assert dataset_lengths(real_log("ms-swift-3.0.3", "uninterrupted")[-1]).rows == 76


def test_throughput_counts_real_tokens_over_training_steps_only(tmp_path):
    from mhcompare.stages.train import segment_throughput

    rows = real_log("ms-swift-4.6", "uninterrupted")
    summary = {"final": rows[-1], "runtime": next(row for row in rows if "train_runtime" in row)}
    segment = segments(rows)[0]
    speed = segment_throughput(segment, tmp_path, summary, steps=19)
    training_s = 22.3916 - segment.eval_s
    assert speed["step_time_s"] == pytest.approx(training_s)
    assert speed["tokens_per_s"] == pytest.approx(11150 / training_s)
    assert speed["samples_per_s"] == pytest.approx(76 / training_s)


def test_checkpoint_saves_are_taken_out_of_the_training_time(tmp_path):
    import os

    from mhcompare.stages.train import checkpoint_save_seconds

    for step, (first, last) in {4: (100.0, 102.5), 8: (200.0, 201.0), 30: (300.0, 390.0)}.items():
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        for name, when in (("adapter_model.safetensors", first), ("trainer_state.json", last)):
            (folder / name).write_text("x")
            os.utime(folder / name, (when, when))
    assert checkpoint_save_seconds(tmp_path, 1, 19) == pytest.approx(3.5)   # checkpoint-30 is another segment's


@pytest.mark.parametrize("name, variant, tflops", [
    ("NVIDIA H100 80GB HBM3", "H100 SXM", 989.5), ("NVIDIA H100 PCIe", "H100 PCIe", 756.5),
    ("NVIDIA H100 NVL", "H100 NVL", 835.5), ("NVIDIA H200", "H200 SXM", 989.5),
    ("NVIDIA H200 NVL", "H200 NVL", 835.5), ("NVIDIA A100-SXM4-80GB", "A100", 312.0)])
def test_the_peak_is_the_variant_nvidia_smi_names(name, variant, tflops):
    assert device_peak(name) == (variant, tflops * 1e12)


def test_an_unknown_device_gets_no_peak():
    assert device_peak("Tesla T4") is None and device_peak(None) is None


def test_flops_count_what_multiplies_and_the_attention(tmp_path):
    import json

    import torch
    from safetensors.torch import save_file

    vocab, hidden, layers = 100, 8, 2
    tensors = {"model.embed_tokens.weight": torch.zeros(vocab, hidden), "lm_head.weight": torch.zeros(vocab, hidden)}
    for layer in range(layers):
        tensors[f"model.layers.{layer}.mlp.up_proj.weight"] = torch.zeros(4 * hidden, hidden)
    save_file(tensors, str(tmp_path / "model.safetensors"))
    config = {"num_hidden_layers": layers, "hidden_size": hidden, "num_attention_heads": 2, "tie_word_embeddings": False}
    (tmp_path / "config.json").write_text(json.dumps(config))
    untied = vocab * hidden + layers * 4 * hidden * hidden          # the head multiplies, the table does not
    assert multiplying_parameters(tmp_path) == untied
    (tmp_path / "config.json").write_text(json.dumps({**config, "tie_word_embeddings": True}))
    assert multiplying_parameters(tmp_path) == untied + vocab * hidden   # tied: the table is the head
    assert attention_width(config) == (layers, hidden)
    assert attention_width({"num_layers": 28, "num_attention_heads": 32, "kv_channels": 128, "hidden_size": 1}) == (28, 4096)
    # every sequence 100 tokens long: 4N + 12 L d T
    assert flops_per_token(1000, 2, 8, 100.0, 0.0) == 4 * 1000 + 12 * 2 * 8 * 100
    # lengths that vary weigh the long ones more (E[s^2]/E[s])
    assert flops_per_token(1000, 2, 8, 100.0, 50.0) == 4 * 1000 + 12 * 2 * 8 * 125


def test_qwen_7b_flops_per_token_from_its_real_config():
    """Qwen2.5-7B-Instruct: 7.07e9 parameters that multiply (7.62e9 less the 545M-parameter
    input table), 28 layers of width 3584: at 1,000-token dialogues, 4N + 12 L d T = 2.95e10."""
    per_token = flops_per_token(7_070_619_136, 28, 3584, 1000.0, 0.0)
    assert per_token == pytest.approx(4 * 7_070_619_136 + 12 * 28 * 3584 * 1000)
    assert mfu(3000.0, per_token, 1, 989.5e12) == pytest.approx(3000 * per_token / 989.5e12)


def test_a_legacy_runtime_resumes_with_torch_load_allowed_for_its_own_checkpoint():
    from mhcompare.stages.train import loads_rng_state_unsafely

    assert loads_rng_state_unsafely({"transformers": "4.41.2"})
    assert not loads_rng_state_unsafely({"transformers": "5.19.0"})
    assert not loads_rng_state_unsafely({})
