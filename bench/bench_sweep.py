"""How long a sweep through Slurm takes: cluster cold start, the time from the sweep command to
all its jobs queued, the sweep's total wall time, and a re-submission that finds everything done
(the launcher queues no job for it: its wall time as a ratio of the first submission's).

    sudo bash scripts/slurm/install.sh      # once
    python bench/bench_sweep.py [--models tiny_qwen,tiny_llama] [--seeds 0,1]

Starts its own one-node cluster (scripts/slurm/start.sh) and stops it at the end.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from support.slurm_cluster import build_tiny_models, slurm_cluster, unavailable

SMALL = ["stage=[prepare,train]", "tracking=none", "data.max_rows=96", "train.effective_batch_size=8",
         "train.swift.max_length=512", "hydra/launcher=slurm", "hydra.launcher.cpus_per_task=1",
         "hydra.launcher.mem_gb=2"]


def timed_sweep(cluster, args: list[str]) -> tuple[float, float]:
    """(seconds until the sweep's job array is in Slurm's queue, seconds until the command ends).
    The launcher submits one array with a single sbatch, so its tasks are queued all at once."""
    env = {**os.environ, **cluster.env, "HF_HUB_OFFLINE": "1"}
    known = {row[0] for row in cluster.sacct("-X", "--format=JobIDRaw")}
    started = time.perf_counter()
    sweep = subprocess.Popen([sys.executable, "run.py", "-m", *args], cwd=REPO, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    queued = None  # stays None when the launcher queues nothing
    while sweep.poll() is None:
        if queued is None:
            listed = subprocess.run(["squeue", "-h", "-o", "%F"], env=env, capture_output=True, text=True,
                                    check=False)
            if set(listed.stdout.split()) - known:
                queued = time.perf_counter() - started
        time.sleep(0.05)
    if sweep.returncode != 0:
        raise SystemExit(f"the sweep failed (exit {sweep.returncode}); run it by hand to see why: run.py -m {args}")
    return queued, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="tiny_qwen,tiny_llama")
    parser.add_argument("--seeds", default="0,1")
    options = parser.parse_args()
    if unavailable():
        raise SystemExit(unavailable())
    jobs = len(options.models.split(",")) * len(options.seeds.split(","))
    with tempfile.TemporaryDirectory() as tmp, slurm_cluster() as cluster:
        build_tiny_models(Path(tmp) / "cache", options.models.split(","))
        print(f"cluster cold start: {cluster.started_in_s:.1f} s")
        common = [f"model={options.models}", f"seed={options.seeds}", f"paths.outputs={tmp}/out",
                  f"paths.cache={tmp}/cache", *SMALL]
        queued, total = timed_sweep(cluster, [*common, f"hydra.sweep.dir={tmp}/sweep1"])
        print(f"sweep of {jobs} jobs: all queued after {queued:.1f} s, finished after {total:.1f} s")
        for job_id, name, elapsed in cluster.sacct("-X", "--format=JobID,JobName,ElapsedRaw"):
            print(f"  {job_id:>8} {name:<20} {elapsed:>4} s in the job")
        first_total, first_jobs = total, len(cluster.sacct("-X", "--format=JobID"))
        queued, total = timed_sweep(cluster, [*common, f"hydra.sweep.dir={tmp}/sweep2"])
        new_jobs = len(cluster.sacct("-X", "--format=JobID")) - first_jobs
        print(f"re-submission (everything done): {new_jobs} Slurm jobs queued, finished after {total:.1f} s; "
              f"{total / first_total:.3f} x the first submission's wall time")


if __name__ == "__main__":
    main()
