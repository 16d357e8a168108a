"""stage=train for real: ms-swift LoRA on both tiny models through run.py, on a CPU."""
import json
import math

import pytest

from conftest import run_py
from mhcompare.io import read_json

pytestmark = pytest.mark.slow

FAST = ["data.max_rows=96", "train.effective_batch_size=8", "train.swift.max_length=512",
        "train.swift.eval_steps=5", "train.swift.save_steps=5", "train.swift.logging_steps=2"]
SECRET = "sk-test-secret-never-written-9f3a"


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_cache):
    """Both tiny models, seed 0, prepared and trained in one multirun with SwanLab in local mode."""
    outputs = tmp_path_factory.mktemp("outputs")
    out = run_py("-m", "model=tiny_qwen,tiny_llama", "stage=[prepare,train]", "experiment_name=grp-7e1",
                 f"paths.outputs={outputs}", f"paths.cache={tiny_cache}", "tracking=swanlab", *FAST,
                 env_extra={"SWANLAB_API_KEY": SECRET})
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return outputs, out


@pytest.mark.parametrize("model", ["tiny_qwen", "tiny_llama"])
def test_training_leaves_a_loadable_adapter_and_flat_metrics(trained, model, tiny_cache):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    outputs, _ = trained
    train_dir = outputs / "grp-7e1" / model / "seed0" / "train"
    metrics = read_json(train_dir / "metrics.json")
    assert math.isfinite(metrics["train.eval_loss"]) and metrics["train.eval_loss"] > 0
    assert metrics["train.tokens_seen"] > 0 and metrics["train.tokens_per_s"] > 0
    assert metrics["train.peak_memory_kind"] == "process_rss" and metrics["train.peak_memory_gib"] > 0.1
    assert metrics["train.torch_dtype"] == "float32" and metrics["train.attn_impl"] == "sdpa"
    assert metrics["train.per_device_batch_size"] * metrics["train.gradient_accumulation_steps"] == 8
    assert metrics["runtime.ms-swift"] == "4.6.0"
    assert all(not isinstance(v, (dict, list)) for v in metrics.values())
    done = read_json(train_dir / "done.json")
    assert done["fingerprint"]["data_hash"] and done["code_version"]

    base_dir = tiny_cache / "tiny_models" / model
    base = AutoModelForCausalLM.from_pretrained(base_dir)
    tuned = PeftModel.from_pretrained(base, train_dir / "adapter")
    lora = sum(p.numel() for n, p in tuned.named_parameters() if "lora_" in n)
    assert lora == metrics["train.trainable_params"] > 0
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    batch = tokenizer(["我最近总是睡不着。"], return_tensors="pt")
    with torch.no_grad():
        loss = tuned(**batch, labels=batch["input_ids"]).loss
    assert torch.isfinite(loss)


def test_swanlab_records_each_run_grouped_by_experiment_and_no_secret_is_written(trained):
    outputs, out = trained
    headers = [p.read_bytes()[:400] for p in (outputs / "grp-7e1" / "swanlog").glob("run-*/run-*.swanlab")]
    assert len(headers) == 2
    assert sorted(b"tiny_qwen-seed0" in h for h in headers) == [False, True]
    # the run header is protobuf: field 7 (group) is b":" + length + name
    assert all(b":\x07grp-7e1" in h for h in headers)
    # the curves: ms-swift's logging.jsonl rows, sent while training ran
    runs = [p.read_bytes() for p in (outputs / "grp-7e1" / "swanlog").glob("run-*/run-*.swanlab")]
    assert all(b"train/loss" in r and b"eval/loss" in r and b"train/learning_rate" in r for r in runs)
    for path in outputs.rglob("*"):
        if path.is_file() and path.stat().st_size < 5_000_000:
            assert SECRET.encode() not in path.read_bytes(), f"secret leaked into {path}"
    assert SECRET not in out.stdout + out.stderr
    assert "Please install swanboard" not in out.stdout + out.stderr  # the dashboard is installed


def test_swanlab_watch_shows_the_runs(trained):
    """`swanlab watch <log dir>`, as the README says: its dashboard lists both runs of the group."""
    import json
    import subprocess
    import sys
    import time
    import urllib.request

    from mhcompare.serving.server import free_port

    outputs, _ = trained
    port = free_port()
    watch = subprocess.Popen([sys.executable, "-m", "swanlab", "watch", str(outputs / "grp-7e1" / "swanlog"),
                              "--host", "127.0.0.1", "--port", str(port)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        project = None
        for _ in range(60):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/project", timeout=5) as response:
                    project = json.loads(response.read())["data"]
                break
            except OSError:
                time.sleep(0.5)
        assert project is not None, "swanlab watch did not answer"
        assert sorted(e["name"] for e in project["experiments"]) == ["tiny_llama-seed0", "tiny_qwen-seed0"]
    finally:
        watch.terminate()
        watch.wait(timeout=30)


def test_a_rerun_skips_finished_work_and_force_redoes_it(trained, tiny_cache):
    outputs, _ = trained
    done_path = outputs / "grp-7e1" / "tiny_qwen" / "seed0" / "train" / "done.json"
    before = read_json(done_path)
    args = ["model=tiny_qwen", "stage=[prepare,train]", "experiment_name=grp-7e1", f"paths.outputs={outputs}",
            f"paths.cache={tiny_cache}", "tracking=swanlab", *FAST]
    again = run_py(*args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "is done; skipped" in again.stderr + again.stdout
    assert read_json(done_path) == before
    forced = run_py(*args, "force=true", "tracking=none")
    assert forced.returncode == 0, forced.stderr[-2000:]
    after = read_json(done_path)
    assert after["started"] > before["finished"]
    assert json.loads((done_path.parent / "metrics.json").read_text())["train.eval_loss"] > 0


def test_the_legacy_dialect_gets_the_system_prompt_as_the_first_turn(tmp_path):
    """ms-swift 3.x ignores a ShareGPT row's `system` field when turns use from/value keys: the
    legacy models trained without the system prompt the others saw (their [INPUT] had none)."""
    from mhcompare.io import read_jsonl
    from mhcompare.train.recipe import dataset_for_swift_version

    row = {"id": "a", "system": "你是一位心理咨询师。", "conversations": [{"from": "human", "value": "你好"},
                                                                   {"from": "gpt", "value": "你好，我在。"}]}
    for split in ("train", "val"):
        (tmp_path / f"{split}.jsonl").write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    files = {"train": tmp_path / "train.jsonl", "val": tmp_path / "val.jsonl", "data_hash": "h"}
    assert dataset_for_swift_version(files, "4.6.0") is files
    legacy = dataset_for_swift_version(files, "3.0.3")
    assert legacy["data_hash"] != "h"
    converted = read_jsonl(legacy["train"])[0]
    assert "system" not in converted
    assert converted["conversations"][0] == {"from": "system", "value": "你是一位心理咨询师。"}
    assert converted["conversations"][1:] == row["conversations"]
