"""Sweeps through a real one-node Slurm cluster (hydra-submitit-launcher, slurmctld, slurmd,
slurmdbd): both tiny models x 2 seeds train; a model with bad LoRA targets fails in ms-swift and a
job cancelled by Slurm dies outright, and neither sinks the sweep; re-submitting runs nothing."""
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import REPO, run_py
from mhcompare.io import read_json
from support.slurm_cluster import build_tiny_models, slurm_cluster, unavailable

pytestmark = [pytest.mark.slow, pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))]

SMALL = ["stage=[prepare,train]", "tracking=none", "data.max_rows=96", "train.effective_batch_size=8",
         "train.swift.max_length=512", "train.swift.eval_steps=6", "train.swift.save_steps=6",
         "hydra/launcher=slurm", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=2"]
GOOD = [(model, seed) for model in ("tiny_llama", "tiny_qwen") for seed in (0, 1)]


@pytest.fixture(scope="module")
def cluster():
    with slurm_cluster() as running:
        yield running


@pytest.fixture(scope="module")
def extra_conf(tmp_path_factory):
    """A config folder on Hydra's search path with `tiny_broken`: tiny_qwen with LoRA target modules
    the model does not have, so its training fails in ms-swift the way a bad model config does
    (a bad template would already fail at prepare, where tokens are counted with it)."""
    conf = tmp_path_factory.mktemp("conf")
    text = (REPO / "conf" / "model" / "tiny_qwen.yaml").read_text()
    broken = text.replace("name: tiny_qwen", "name: tiny_broken").replace("lora_target_modules: all-linear",
                                                                          "lora_target_modules: [no_such_module]")
    (conf / "model").mkdir()
    (conf / "model" / "tiny_broken.yaml").write_text(broken)
    return conf


def cancel_when_running(cluster, job_name: str, found: dict, deadline_s: float = 300) -> None:
    """scancel the job as soon as it runs under its (model, seed) name."""
    env = {**os.environ, **cluster.env}
    stop = time.time() + deadline_s
    while time.time() < stop:
        out = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-n", job_name, "-o", "%i"], env=env,
                             capture_output=True, text=True, check=False).stdout.split()
        if out:
            subprocess.run(["scancel", out[0]], env=env, check=True)
            found["job"] = out[0]
            return
        time.sleep(0.2)


@pytest.fixture(scope="module")
def sweep(cluster, extra_conf, tmp_path_factory, tiny_cache):
    """One sweep of 6 jobs: 4 good, tiny_broken seed 0 fails in ms-swift, tiny_broken seed 1 is
    cancelled by Slurm as soon as it runs. The cancelled job comes first (seed=1,0): the launcher
    collects results in order, and submitit notices a job that left none only at its next poll
    of sacct, which comes soon after the start and late after a long wait."""
    build_tiny_models(tiny_cache)
    outputs = tmp_path_factory.mktemp("outputs")
    sweep_dir = outputs / "multirun" / "first"
    cancelled = {}
    canceller = threading.Thread(target=cancel_when_running, args=(cluster, "tiny_broken_seed1", cancelled))
    canceller.start()
    out = run_py("-m", "model=tiny_broken,tiny_qwen,tiny_llama", "seed=1,0", "experiment_name=slurm-e2e",
                 f"hydra.searchpath=[file://{extra_conf}]", f"paths.outputs={outputs}",
                 f"paths.cache={tiny_cache}", f"hydra.sweep.dir={sweep_dir}", *SMALL, env_extra=cluster.env)
    canceller.join()
    return {"outputs": outputs, "experiment": outputs / "slurm-e2e", "sweep_dir": sweep_dir, "out": out,
            "cancelled": cancelled.get("job")}


def test_good_runs_finish_and_failures_do_not_sink_the_sweep(sweep):
    out = sweep["out"]
    assert out.returncode == 1, out.stdout[-4000:] + out.stderr[-4000:]  # some runs failed: exit 1
    summary = read_json(sweep["sweep_dir"] / "summary.json")
    assert summary["counts"] == {"succeeded": 4, "failed": 2}, summary
    for model, seed in GOOD:
        train = sweep["experiment"] / model / f"seed{seed}" / "train"
        assert (train / "done.json").exists() and (train / "adapter" / "adapter_model.safetensors").exists()
        assert read_json(train / "metrics.json")["train.steps"] > 0
        assert not (train.parent / "failed.json").exists()
    assert "Sweep summary: 4 succeeded, 2 failed" in out.stdout + out.stderr


def test_a_failing_job_says_why_and_where_its_log_is(sweep):
    failed = read_json(sweep["experiment"] / "tiny_broken" / "seed0" / "failed.json")
    assert failed["stage"] == "train" and "ms-swift exited with status" in failed["error"]
    assert failed["log"].endswith("_0_log.out") and "/.submitit/" in failed["log"]
    assert "no_such_module" in Path(failed["log"]).read_text(encoding="utf-8")  # ms-swift's own error is in it
    run = next(r for r in read_json(sweep["sweep_dir"] / "summary.json")["runs"]
               if (r["model"], r["seed"]) == ("tiny_broken", 0))
    assert run["status"] == "failed" and run["failure"] == failed


def test_a_job_slurm_cancels_is_reported_failed_with_its_state(sweep):
    assert sweep["cancelled"], "the tiny_broken seed 1 job was never seen running"
    failed = read_json(sweep["experiment"] / "tiny_broken" / "seed1" / "failed.json")
    assert failed["stage"] == "slurm" and "CANCELLED" in failed["error"] and sweep["cancelled"] in failed["error"]
    run = next(r for r in read_json(sweep["sweep_dir"] / "summary.json")["runs"]
               if (r["model"], r["seed"]) == ("tiny_broken", 1))
    assert run["status"] == "failed" and run["log"] == failed["log"]


def test_aggregate_reports_the_good_runs_and_lists_the_failed(sweep):
    report = sweep["experiment"] / "report"
    text = (report / "performance_comparison.md").read_text(encoding="utf-8")
    assert "Finished stages: train in 4" in text and "tiny_qwen" in text and "tiny_llama" in text
    failed = text[text.index("Failed runs (2)"):]  # listed with their reasons, not silently dropped
    assert "| tiny_broken/seed0 | train | TrainError" in failed and "| tiny_broken/seed1 | slurm |" in failed


def test_the_multirun_record_holds_launch_config_and_slurm_logs(sweep, cluster):
    sweep_dir = sweep["sweep_dir"]
    launch = (sweep_dir / "multirun.yaml").read_text()
    assert "_target_: hydra_plugins.mhcompare_launcher.SlurmLauncher" in launch and "partition: h100" in launch
    assert len(list((sweep_dir / ".submitit").glob("*/*_0_log.out"))) == 6
    assert len(list(sweep_dir.glob("*_seed*/outcome.json"))) == 6
    # each array task renamed itself after its run, so sacct says which (model, seed) it was
    names = {row[0] for row in cluster.sacct("-X", "--format=JobName")}
    assert {f"{m}_seed{s}" for m, s in GOOD} <= names


def test_resubmitting_a_finished_sweep_runs_nothing_new(sweep, cluster, tiny_cache):
    """Queue time is the scarce resource: a finished sweep re-submitted queues no Slurm job."""
    experiment = sweep["experiment"]
    stamps = {p: p.stat().st_mtime_ns for p in experiment.glob("*/seed*/train/**/*") if p.is_file()}
    jobs_before = len(cluster.sacct("-X", "--format=JobID"))
    again = sweep["outputs"] / "multirun" / "again"
    out = run_py("-m", "model=tiny_qwen,tiny_llama", "seed=0,1", "experiment_name=slurm-e2e",
                 f"paths.outputs={sweep['outputs']}", f"paths.cache={tiny_cache}", f"hydra.sweep.dir={again}",
                 *SMALL, env_extra=cluster.env)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    summary = read_json(again / "summary.json")
    assert summary["counts"] == {"skipped": 4}
    assert all(r["stages"] == {"prepare": "done already", "train": "done already"} for r in summary["runs"])
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # not one training file rewritten
    assert len(cluster.sacct("-X", "--format=JobID")) == jobs_before, "a job was queued for finished work"
    assert "4 of 4 runs are done already for this request: skipped without a Slurm job" in out.stdout + out.stderr


def test_a_dry_run_lists_what_would_be_queued_and_skipped_and_queues_nothing(sweep, cluster, extra_conf, tiny_cache):
    jobs_before = len(cluster.sacct("-X", "--format=JobID"))
    plan = sweep["outputs"] / "multirun" / "plan"
    out = run_py("-m", "model=tiny_broken,tiny_qwen", "seed=0", "experiment_name=slurm-e2e", "dry_run=true",
                 f"hydra.searchpath=[file://{extra_conf}]", f"paths.outputs={sweep['outputs']}",
                 f"paths.cache={tiny_cache}", f"hydra.sweep.dir={plan}", *SMALL, env_extra=cluster.env)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    assert "dry run: 1 job(s) would be queued, 1 skipped; nothing was." in out.stdout
    assert "queued  tiny_broken seed0  (train: not done)" in out.stdout
    assert "skipped  tiny_qwen seed0  (every stage done already for this request)" in out.stdout
    assert len(cluster.sacct("-X", "--format=JobID")) == jobs_before and not plan.exists()


def test_a_half_finished_sweep_queues_only_what_is_missing(sweep, extra_conf, tiny_cache):
    """Read from the first sweep's real run folders: the runs that trained are done for the same
    request; the failed one, a changed recipe, or force=true are not."""
    from conftest import compose_config
    from mhcompare.requests import done_already

    def config(*overrides):
        return compose_config(["experiment_name=slurm-e2e", *SMALL[:7], f"hydra.searchpath=[file://{extra_conf}]",
                               *overrides], outputs=sweep["outputs"], cache=tiny_cache)

    assert done_already(config("model=tiny_qwen", "seed=0")) == {"prepare": "done already", "train": "done already"}
    assert done_already(config("model=tiny_broken", "seed=0")) is None  # failed in train: queued again
    assert done_already(config("model=tiny_qwen", "seed=0", "train.swift.learning_rate=1e-3")) is None
    assert done_already(config("model=tiny_qwen", "seed=0", "force=true")) is None
    assert done_already(config("model=tiny_qwen", "seed=0", "stage=[prepare,train,eval]")) is None


def node_cpus(cluster) -> str:
    return subprocess.run(["sinfo", "-h", "-o", "%c"], env={**os.environ, **cluster.env}, capture_output=True,
                          text=True, check=True).stdout.split()[0]


def test_a_request_the_partition_can_never_hold_is_refused_before_sbatch(cluster, tmp_path, tiny_cache):
    """64 CPUs per task and 4000 GB on a small node: the pre-flight check compares the request with
    what sinfo says the partition's nodes have, and stops in seconds with both, queuing nothing."""
    started = time.monotonic()
    out = run_py("-m", "model=tiny_qwen", "seed=0", "experiment_name=never", "stage=prepare", "tracking=none",
                 f"paths.outputs={tmp_path}", f"paths.cache={tiny_cache}", f"hydra.sweep.dir={tmp_path / 'sweep'}",
                 "hydra/launcher=slurm", "hydra.launcher.cpus_per_task=64", "hydra.launcher.mem_gb=4000",
                 env_extra=cluster.env, timeout=300)
    took = time.monotonic() - started
    assert out.returncode == 1 and took < 60, (took, out.stdout[-3000:] + out.stderr[-3000:])
    assert "error: 2 problem(s) found before anything was queued or run" in out.stderr
    assert f"hydra.launcher.cpus_per_task=64: partition h100 offers at most {node_cpus(cluster)} " in out.stderr
    assert "hydra.launcher.mem_gb=4000: partition h100 offers at most" in out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "sweep").exists()
    assert not cluster.sacct("-X", "--name=mhc_never", "-S", "now-1hour")


def test_a_request_slurm_refuses_outright_says_so_without_a_traceback(cluster, tmp_path, tiny_cache):
    """A node feature no node has: sinfo's limits cannot tell, sbatch refuses it."""
    out = run_py("-m", "model=tiny_qwen", "seed=0", "experiment_name=refused", "stage=prepare", "tracking=none",
                 f"paths.outputs={tmp_path}", f"paths.cache={tiny_cache}", f"hydra.sweep.dir={tmp_path / 'sweep'}",
                 "hydra/launcher=slurm", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1",
                 "hydra.launcher.constraint=no_such_feature", env_extra=cluster.env, timeout=300)
    text = out.stdout + out.stderr
    assert out.returncode == 1, text[-3000:]
    assert "Slurm refused the sweep's jobs (sbatch: error: Batch job submission failed" in text
    assert "1 GB" in text and f"offers nodes with {node_cpus(cluster)} CPUs" in text and "Traceback" not in text


def test_cancelling_a_pending_job_ends_the_sweep_within_seconds(cluster, tmp_path, tiny_cache):
    """A job held until tomorrow (--begin) is cancelled from outside while it waits: the sweep
    ends within seconds of the cancel, with the job failed as CANCELLED."""
    env = {**os.environ, **cluster.env}
    cancelled = {}

    def cancel_when_pending():
        stop = time.time() + 120
        while time.time() < stop:
            ids = subprocess.run(["squeue", "-h", "-r", "-n", "mhc_held", "-o", "%i"], env=env, capture_output=True,
                                 text=True, check=False).stdout.split()
            if ids:
                time.sleep(2)
                subprocess.run(["scancel", ids[0]], env=env, check=True)
                cancelled["at"] = time.monotonic()
                return
            time.sleep(0.2)

    canceller = threading.Thread(target=cancel_when_pending)
    canceller.start()
    out = run_py("-m", "model=tiny_qwen", "seed=0", "experiment_name=held", "stage=prepare", "tracking=none",
                 f"paths.outputs={tmp_path}", f"paths.cache={tiny_cache}", f"hydra.sweep.dir={tmp_path / 'sweep'}",
                 "hydra/launcher=slurm", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1",
                 "hydra.launcher.name=mhc_held", "+hydra.launcher.additional_parameters.begin=now+1day",
                 env_extra=cluster.env, timeout=300)
    ended = time.monotonic()
    canceller.join()
    assert "at" in cancelled, out.stdout[-3000:] + out.stderr[-3000:]
    # the sweep's own end (aggregate, summary) takes a few seconds of its own
    assert ended - cancelled["at"] < 30, ended - cancelled["at"]
    failure = read_json(tmp_path / "sweep" / "summary.json")["runs"][0]["failure"]
    assert "CANCELLED" in failure["error"]
