"""The pre-flight check: every job of a request is checked before anything is queued or run, and
a request that cannot work stops in seconds with one message per problem, exit 1, no traceback,
nothing run and no sweep record left behind."""
import os
import shutil
import socket

import pytest

from conftest import compose_config, run_py
from mhcompare.preflight import job_problems, slurm_problems

LOCAL = ["tracking=none"]


def problems(*overrides, gpus=1):
    return job_problems(compose_config(list(overrides)), gpus)


def test_recipe_values_of_the_wrong_type_are_refused_by_ms_swifts_own_parser():
    found = problems("model=tiny_qwen", "stage=train", "train.swift.learning_rate=abc", "train.swift.torch_dtype=bf17",
                     "+train.swift.no_such_argument=1")
    assert "train.swift.learning_rate: ms-swift refuses it: invalid float value: 'abc'" in found
    assert any(p.startswith("train.swift.torch_dtype: ms-swift refuses it: invalid choice: 'bf17'") for p in found)
    assert "train.swift.no_such_argument: not an argument ms-swift's `swift sft` knows" in found
    assert len(found) == 3, found


def test_ranges_seeds_and_the_shared_batch_rule_are_checked():
    found = problems("model=tiny_qwen", "stage=train", "seed=-1", "train.swift.lora_rank=0",
                     "train.swift.learning_rate=0", "train.swift.warmup_ratio=1.5")
    assert found == ["seed=-1: a seed is a whole number 0 or more, e.g. seed=0 or -m seed=0,1,2",
                     "train.swift.learning_rate=0: must be above 0", "train.swift.lora_rank=0: must be 1 or more",
                     "train.swift.warmup_ratio=1.5: must be in [0, 1]"], found
    assert problems("model=tiny_qwen", "stage=train", gpus=3)[0].startswith(
        "train.effective_batch_size=32 is not a multiple of per-device batch 4 x 3 GPU(s)")
    assert problems("model=tiny_qwen", "stage=train") == []


def test_the_default_recipe_passes_for_every_model_on_one_and_two_gpus(tmp_path):
    for model in ("qwen", "llama", "chatglm", "internlm", "baichuan"):
        for gpus in (1, 2):
            found = job_problems(compose_config([f"model={model}", f"runtimes.root={tmp_path}",
                                                 "stage=[runtime,fetch,train]"]), gpus)
            assert found == [], (model, gpus, found)


def test_real_models_never_land_in_the_demo_experiment():
    assert compose_config(["model=qwen"]).experiment_name == "trial"
    assert compose_config(["model=tiny_qwen"]).experiment_name == "demo"
    assert compose_config(["model=qwen", "experiment=full"]).experiment_name == "full"
    found = problems("model=qwen", "experiment_name=demo", "stage=[fetch,prepare]")
    assert found and "experiment_name=demo holds the tiny random-weight demo models" in found[0]
    assert "is a tiny random-weight model" in problems("model=tiny_qwen", "experiment=full", "stage=prepare")[0]


def test_a_sweep_over_unfetched_models_stops_before_anything_runs(tmp_path):
    """The design card's command on a machine where nothing was fetched: no tracebacks, each
    model's whole fetch command, exit 1, no run folder and no multirun/ record."""
    out = run_py("-m", "model=qwen,llama", "stage=train", f"paths.models={tmp_path / 'models'}",
                 f"paths.outputs={tmp_path / 'outputs'}", *LOCAL, cwd=tmp_path)
    said = out.stdout + out.stderr
    assert out.returncode == 1, said[-3000:]
    assert "Traceback" not in said and "Launching" not in said
    assert "error: 2 problem(s) found before anything was queued or run" in out.stderr
    for model, name in (("qwen", "Qwen2.5-7B-Instruct"), ("llama", "Llama-3.1-8B-Instruct")):
        assert f"{name} has not been fetched" in out.stderr
        assert f"python run.py model={model} stage=fetch model.source=/path/to/{name}" in out.stderr
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "multirun").exists()


def test_a_bad_value_in_a_sweep_is_one_message_for_every_job(tmp_path):
    out = run_py("-m", "model=tiny_qwen,tiny_llama", "seed=0,1", "stage=[prepare,train]", "train.swift.learning_rate=abc",
                 f"paths.outputs={tmp_path / 'outputs'}", *LOCAL, cwd=tmp_path)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr[-3000:]
    assert out.stderr.count("train.swift.learning_rate: ms-swift refuses it") == 1, out.stderr
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "multirun").exists()


def test_a_dry_run_lists_the_jobs_and_the_skipped_ones_and_starts_nothing(tmp_path):
    out = run_py("-m", "model=tiny_qwen,tiny_llama", "stage=prepare", "dry_run=true",
                 f"paths.outputs={tmp_path / 'outputs'}", *LOCAL, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "dry run: 2 job(s) would be run here, 0 skipped; nothing was." in out.stdout
    assert "tiny_qwen seed0  (prepare: not done)" in out.stdout and "tiny_llama seed0" in out.stdout
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "multirun").exists()


def test_slurm_missing_is_said_as_such_without_a_traceback(tmp_path):
    """experiment=full on a machine without Slurm: no srun/sbatch traceback, the way out, exit 1."""
    out = run_py("experiment=full", f"paths.outputs={tmp_path / 'outputs'}", *LOCAL, cwd=tmp_path,
                 env_extra={"PATH": str(tmp_path)})  # no Slurm binary on this PATH
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr[-3000:]
    assert "Slurm is not installed on this machine (no sbatch or sinfo on PATH)" in out.stderr
    assert "hydra/launcher=local" in out.stderr
    assert not (tmp_path / "multirun").exists()


@pytest.mark.skipif(shutil.which("sinfo") is None, reason="Slurm's client is not installed (scripts/slurm/install.sh)")
def test_slurm_installed_but_its_controller_silent_is_told_apart(tmp_path):
    """The real sinfo against a controller that is not there: not advice to change CPUs or memory."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    conf = tmp_path / "slurm.conf"
    conf.write_text(f"ClusterName=gone\nSlurmctldHost=localhost(127.0.0.1)\nSlurmctldPort={port}\n"
                    "AuthType=auth/none\nNodeName=localhost CPUs=1 State=UNKNOWN\n"
                    "PartitionName=h100 Nodes=localhost Default=YES\n", encoding="utf-8")
    found = slurm_problems_with_conf(conf, {"partition": "h100", "cpus_per_task": 1})
    assert len(found) == 1 and found[0].startswith("Slurm is installed but its controller does not answer"), found
    assert "cpus_per_task" not in found[0]


def slurm_problems_with_conf(conf, params):
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(conf)
    try:
        return slurm_problems(params)
    finally:
        if previous is None:
            os.environ.pop("SLURM_CONF")
        else:
            os.environ["SLURM_CONF"] = previous


def test_hydra_launcher_slurm_without_multirun_is_warned(tmp_path):
    out = run_py("model=tiny_qwen", "stage=prepare", "hydra/launcher=slurm", "dry_run=true",
                 f"paths.outputs={tmp_path / 'outputs'}", *LOCAL, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "hydra/launcher=slurm has no effect without -m (--multirun)" in out.stdout + out.stderr
    assert "To queue it on Slurm: python run.py -m model=tiny_qwen stage=prepare" in out.stdout + out.stderr


def test_a_single_run_that_cannot_work_stops_before_anything_and_leaves_no_record(tmp_path):
    out = run_py("model=tiny_qwen", "stage=train", "seed=-1", f"paths.outputs={tmp_path / 'outputs'}", *LOCAL,
                 cwd=tmp_path)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr[-3000:]
    assert "  - seed=-1: a seed is a whole number 0 or more" in out.stderr
    assert list(tmp_path.iterdir()) == []  # no outputs/, no multirun/<date>/<time>/


def test_checking_the_recipe_leaves_this_process_log_as_it_was():
    """ms-swift's import sets the root logger's stream handlers to ERROR: the sweep summary (INFO)
    of a launcher that parsed the recipe went missing. A fresh interpreter, so that ms-swift is
    imported here for the first time."""
    import subprocess
    import sys

    code = ("import logging, sys\n"
            "logging.basicConfig(level=logging.INFO, stream=sys.stdout, format='%(message)s')\n"
            "from mhcompare.preflight import swift_sft_parser\n"
            "swift_sft_parser()\n"
            "logging.getLogger('mhcompare.sweep').info('Sweep summary: still shown')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Sweep summary: still shown" in out.stdout, out.stdout[-2000:]
