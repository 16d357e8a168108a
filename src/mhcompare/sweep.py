"""Multiruns that survive what clusters do to jobs, and say at the end what happened to each.

    multirun/<date>/<time>/                 the sweep's record
        multirun.yaml                       its launch config (Hydra)
        summary.json                        every (model, seed): succeeded | skipped | failed
        <model>_seed<k>/outcome.json        what that job did (beside run.log, its Hydra log)
        .submitit/<array>_<task>/           on Slurm: the job's log, <array>_<task>_0_log.out

A failing job records its failure (outcome.json here, failed.json in its run folder) instead of
raising, so one bad (model, seed) never stops the others; the summary then lists it, and the
sweep command exits 1. Jobs Slurm kills are recorded by hydra_plugins.mhcompare_launcher.
"""
import logging
import os
import subprocess
import time
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode

from mhcompare import artifacts
from mhcompare.io import atomic_write_json, read_json

log = logging.getLogger(__name__)
OUTCOME = "outcome.json"


def in_sweep() -> bool:
    """True inside one job of a multirun (local or Slurm), where failures are recorded, not raised."""
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def warn_slurm_launcher_unused() -> None:
    """hydra/launcher=slurm without -m: Hydra runs the one job here, on this machine."""
    if not HydraConfig.initialized() or "SlurmLauncher" not in str(HydraConfig.get().launcher.get("_target_")):
        return
    log.warning("hydra/launcher=slurm has no effect without -m (--multirun): this run goes to no queue and "
                "runs here, on this machine. To queue it on Slurm: python run.py -m %s hydra/launcher=slurm",
                " ".join(o for o in HydraConfig.get().overrides.task if o != "dry_run=true"))


def discard_run_record() -> None:
    """Remove the folder Hydra opened for this run (its .hydra/ and log alone), and the folders
    above it that this leaves empty, when the run stopped before doing anything."""
    import shutil

    if not HydraConfig.initialized():
        return
    hydra = HydraConfig.get()
    folder = Path(hydra.runtime.output_dir)
    if not folder.is_dir() or folder == Path.cwd() or {p.name for p in folder.iterdir()} - {
            ".hydra", f"{hydra.job.name}.log"}:
        return
    shutil.rmtree(folder, ignore_errors=True)
    for parent in (folder.parent, folder.parent.parent):  # multirun/<date>/
        try:
            parent.rmdir()
        except OSError:
            return


def job_log() -> str | None:
    """The log to read when this job fails: Slurm's log of the job, else Hydra's log of it."""
    if os.environ.get("SUBMITIT_EXECUTOR") == "slurm":
        import submitit

        return str(submitit.JobEnvironment().paths.stdout)
    if HydraConfig.initialized():
        hydra = HydraConfig.get()
        return str(Path(hydra.runtime.output_dir) / f"{hydra.job.name}.log")
    return None


def name_slurm_job() -> None:
    """Rename this Slurm array task after its Hydra job folder (`qwen_seed0`), so squeue and sacct
    say which run it is; the array keeps the launcher's `name` while its tasks wait."""
    if not (in_sweep() and os.environ.get("SUBMITIT_EXECUTOR") == "slurm"):
        return
    import submitit

    # the array_task form: the last task runs under the array's own id, which names every task
    task = submitit.JobEnvironment().job_id
    name = Path(HydraConfig.get().runtime.output_dir).name
    subprocess.run(["scontrol", "update", f"JobId={task}", f"JobName={name}"], check=False,
                   capture_output=True, timeout=60)


def record_outcome(cfg, status: str, stages: dict, failure: dict | None = None) -> dict:
    """Write this job's outcome.json into its folder of the sweep record, for the summary."""
    return write_outcome(Path(HydraConfig.get().runtime.output_dir), cfg, status, stages, failure, job_log())


def write_outcome(job_dir: Path, cfg, status: str, stages: dict, failure: dict | None, log_path: str | None) -> dict:
    outcome = {"model": str(cfg.model.name), "seed": int(cfg.seed), "status": status, "stages": stages,
               "failure": failure, "log": log_path, "finished": time.time()}
    atomic_write_json(job_dir / OUTCOME, outcome)
    return outcome


def record_lost_job(cfg, job_dir: Path, failure: dict) -> None:
    """For a job Slurm ended before it could record anything itself: failed.json in its run
    folder (for aggregate) and outcome.json in its folder of the sweep record (for the summary)."""
    atomic_write_json(artifacts.run_dir(cfg) / "failed.json", failure)
    write_outcome(job_dir, cfg, "failed", {}, failure, failure["log"])


class AggregateAfterSweep(Callback):
    """When a multirun ends: aggregate every run of the experiment, then summarize this sweep's
    jobs (logged, and summary.json in the sweep record). Exits 1 if any run failed."""

    def on_multirun_start(self, config, **kwargs) -> None:
        self.started = time.time()

    def on_multirun_end(self, config, **kwargs) -> None:
        from mhcompare.stages import aggregate

        from mhcompare.errors import UserError

        try:
            aggregate.run(config)
        except UserError as error:
            log.error("aggregate after the sweep: %s", error)
        except Exception:  # the sweep's own results stay valid; say why the report is missing
            log.exception("aggregate after the sweep failed; run `python run.py stage=aggregate "
                          "experiment_name=%s` to retry", config.experiment_name)
        summary = summarize(Path(str(config.hydra.sweep.dir)), self.started)
        if summary["counts"].get("failed"):
            raise SystemExit(1)


def summarize(sweep_dir: Path, started: float) -> dict:
    """Collect the outcome of every job this sweep ran, log it and write summary.json."""
    runs = []
    for path in sorted(sweep_dir.glob(f"*/{OUTCOME}")):
        outcome = read_json(path)
        if outcome["finished"] >= started:  # not a job of an earlier sweep into the same folder
            runs.append({**outcome, "job_dir": str(path.parent)})
    counts = {status: sum(r["status"] == status for r in runs) for status in ("succeeded", "skipped", "failed")}
    summary = {"sweep_dir": str(sweep_dir), "counts": {k: v for k, v in counts.items() if v}, "runs": runs}
    atomic_write_json(sweep_dir / "summary.json", summary)

    log.info("Sweep summary: %s (%s)", ", ".join(f"{v} {k}" for k, v in summary["counts"].items()) or "no jobs",
             sweep_dir / "summary.json")
    for run in runs:
        if run["status"] == "failed":
            failure = run["failure"]
            log.error("  %s seed%s: FAILED in %s: %s\n      log: %s", run["model"], run["seed"], failure["stage"],
                      failure["error"], run["log"])
        else:
            stages = ", ".join(f"{k}: {v}" for k, v in run["stages"].items())
            log.info("  %s seed%s: %s (%s)", run["model"], run["seed"], run["status"], stages)
    return summary
