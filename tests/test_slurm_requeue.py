"""A job killed by its time limit on a real Slurm cluster: the USR2 Slurm sends before the limit
makes submitit requeue it, training resumes from its last checkpoint, and the result equals that
of a run never stopped (trained meanwhile on this machine without Slurm)."""
import math
import os
import subprocess
import sys

import pytest

from conftest import REPO, run_py
from mhcompare.io import read_json
from support.slurm_cluster import build_tiny_models, slurm_cluster, unavailable

pytestmark = [pytest.mark.slow, pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))]

# four epochs over the demo set (168 steps): more than one allocation can train, so at least one
# requeue; a checkpoint every 2 steps, since the first USR2 can come 25 s in, when prepare (token
# counting in the runtime) and ms-swift's start-up leave training only a few steps
RECIPE = ["model=tiny_qwen", "seed=0", "stage=[prepare,train]", "tracking=none", "experiment_name=requeue",
          "train.effective_batch_size=8", "train.swift.num_train_epochs=4", "train.swift.max_length=512",
          "train.swift.save_steps=2", "train.swift.eval_steps=1000", "train.swift.logging_steps=2"]
# a one-minute limit; USR2 5 s before it (Slurm checks every 30 s, so it comes 25-55 s in). Two
# allocations on a quiet machine (about 90 s in all); more under load, hence the generous count
TIME_LIMITED = ["hydra/launcher=slurm", "hydra.launcher.timeout_min=1", "hydra.launcher.signal_delay_s=5",
                "hydra.launcher.max_num_timeout=20", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=2"]
SAME = ("train.eval_loss", "train.final_loss", "train.train_loss", "train.steps", "train.tokens_seen",
        "train.trainable_params")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_cache):
    build_tiny_models(tiny_cache, ["tiny_qwen"])
    limited_out, reference_out = tmp_path_factory.mktemp("limited"), tmp_path_factory.mktemp("reference")
    sweep_dir = limited_out / "multirun"
    with slurm_cluster() as cluster:
        limited = subprocess.Popen(
            [sys.executable, str(REPO / "run.py"), "-m", *RECIPE, *TIME_LIMITED, f"paths.outputs={limited_out}",
             f"paths.cache={tiny_cache}", f"hydra.sweep.dir={sweep_dir}"],
            cwd=REPO, env={**os.environ, **cluster.env, "HF_HUB_OFFLINE": "1"}, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        reference = run_py(*RECIPE, f"paths.outputs={reference_out}", f"paths.cache={tiny_cache}",
                           f"hydra.run.dir={reference_out / 'run'}")
        output, _ = limited.communicate(timeout=900)
        attempts = cluster.sacct("-D", "-X", "--format=JobID,State")
    assert reference.returncode == 0, reference.stdout[-3000:] + reference.stderr[-3000:]
    assert limited.returncode == 0, output[-5000:]
    return {"limited": limited_out / "requeue" / "tiny_qwen" / "seed0" / "train",
            "reference": reference_out / "requeue" / "tiny_qwen" / "seed0" / "train",
            "sweep_dir": sweep_dir, "attempts": [state for _, state in attempts]}


def test_the_time_limit_requeued_the_job_and_it_resumed_from_a_checkpoint(runs):
    states = runs["attempts"]
    assert "REQUEUED" in states and states[-1] == "COMPLETED", (
        f"{states}: the training finished before Slurm's time-limit signal; lengthen RECIPE in this test")
    log = next((runs["sweep_dir"] / ".submitit").glob("*/*_0_log.out")).read_text(encoding="utf-8")
    assert "Caught signal SIGUSR2" in log and "this job is timed-out" in log and "Requeued job" in log
    metrics = read_json(runs["limited"] / "metrics.json")
    assert metrics["train.resumed_from_step"] > 0
    # time adds up over the segments: more than the last segment's own train_runtime
    from mhcompare.io import read_jsonl
    rows = read_jsonl(runs["limited"] / "swift" / "logging.jsonl")
    last_segment = [r for r in rows if "train_runtime" in r][-1]["train_runtime"]
    assert metrics["train.segments"] >= 2 and metrics["train.runtime_s"] > last_segment + 10
    summary = read_json(runs["sweep_dir"] / "summary.json")
    assert summary["counts"] == {"succeeded": 1}


def test_the_resumed_run_ends_exactly_where_an_uninterrupted_one_does(runs):
    import torch
    from safetensors.torch import load_file

    limited, reference = read_json(runs["limited"] / "metrics.json"), read_json(runs["reference"] / "metrics.json")
    assert reference["train.resumed_from_step"] == 0
    for key in SAME:
        assert math.isclose(limited[key], reference[key], rel_tol=1e-6), (key, limited[key], reference[key])
    tuned = load_file(runs["limited"] / "adapter" / "adapter_model.safetensors")
    expected = load_file(runs["reference"] / "adapter" / "adapter_model.safetensors")
    assert tuned.keys() == expected.keys()
    for name, tensor in expected.items():
        assert torch.allclose(tuned[name], tensor, rtol=0, atol=1e-6), name
