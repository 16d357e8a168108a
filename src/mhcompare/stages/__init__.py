"""Stage dispatch: `stage=train` or `stage=[prepare,train]` runs those stage modules in order.

Each stage module has `run(cfg) -> dict` and is imported only when it runs, so `run.py --help`
never pays for torch or ms-swift.
"""
import importlib
import logging
import os
import subprocess
import time

from omegaconf import OmegaConf

from mhcompare import artifacts, requests, sweep
from mhcompare.config import as_list
from mhcompare.errors import ConfigError, UserError
from mhcompare.io import atomic_write_json, atomic_write_text, read_json
from mhcompare.train.subprocess_run import STOP_SIGNALS, Interrupted

STAGES = {
    "runtime": "mhcompare.stages.runtime",
    "fetch": "mhcompare.stages.fetch",
    "prepare": "mhcompare.stages.prepare",
    "train": "mhcompare.stages.train",
    "eval": "mhcompare.stages.eval",
    "aggregate": "mhcompare.stages.aggregate",
    "status": "mhcompare.stages.status",
    "plan": "mhcompare.stages.plan",
    "judge": "mhcompare.stages.judge",
    "judge_app": "mhcompare.stages.judge_app",
    "judge_analysis": "mhcompare.stages.judge_analysis",
}

# stages about the whole experiment, not one (model, seed): they get no run folder
EXPERIMENT_STAGES = ("aggregate", "status", "plan", "judge_app", "judge_analysis")

log = logging.getLogger(__name__)
# longer than any Slurm KillWait in practice (default 30 s)
SLURM_STOP_WAIT_S = 600


def run_stage(name: str, cfg) -> dict:
    try:
        return importlib.import_module(STAGES[name]).run(cfg)
    except subprocess.CalledProcessError as error:
        # submitit's USR2 handler runs `scontrol requeue` inside the job; when Slurm starts ending the
        # job before that command returns, the command itself gets the SIGTERM, and its error
        # surfaces here, in whatever the stage was doing: the requeue is under way, not a failure
        if error.cmd[:2] == ["scontrol", "requeue"] and -error.returncode in STOP_SIGNALS:
            raise Interrupted(f"Slurm is requeueing this job ({error})") from error
        raise


def run_stages(cfg) -> dict:
    names = as_list(cfg.stage)
    unknown = [n for n in names if n not in STAGES]
    if unknown:
        raise ConfigError(f"unknown stage {unknown[0]!r}; choose from {', '.join(STAGES)} "
                         "(or a list such as stage=[prepare,train])")
    if all(n in EXPERIMENT_STAGES for n in names):
        return {n: importlib.import_module(STAGES[n]).run(cfg) for n in names}
    if not sweep.in_sweep():  # a sweep's launcher checked every job before the first started
        sweep.warn_slurm_launcher_unused()
        check_single_run(cfg)
        if cfg.get("dry_run"):
            return {}
    run = artifacts.run_dir(cfg)
    # the composed config of this (model, seed), for the report's provenance
    atomic_write_text(run / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    sweep.name_slurm_job()
    results, stages = {}, {}
    for name in names:
        log.info("stage %s: %s seed %s", name, cfg.model.name, cfg.seed)
        before = done_stamps(cfg)
        clear_failure(run, name)
        try:
            results[name] = run_stage(name, cfg)
        except Interrupted:
            # cancelled or pre-empted: not a failure of this stage. Under Slurm, report nothing and
            # let Slurm end the job (it SIGKILLs after KillWait); the launcher then records how the
            # job ended (CANCELLED, PREEMPTED, ...) and a requeued job resumes
            if os.environ.get("SUBMITIT_EXECUTOR") == "slurm":
                log.warning("stage %s: Slurm is stopping this job; waiting for it to end the job", name)
                time.sleep(SLURM_STOP_WAIT_S)
            raise
        except Exception as error:
            failure = {"stage": name, "error": first_line(error), "log": sweep.job_log()}
            atomic_write_json(run / "failed.json", failure)
            if not sweep.in_sweep():
                raise
            # one failing (model, seed) must not end the sweep: record it for the summary
            if isinstance(error, UserError):  # its message says what to do; a traceback would hide it
                log.error("stage %s failed for %s seed %s; the sweep goes on: %s", name, cfg.model.name, cfg.seed,
                          error)
            else:
                log.exception("stage %s failed for %s seed %s; the sweep goes on", name, cfg.model.name, cfg.seed)
            stages[name] = "failed"
            sweep.record_outcome(cfg, "failed", stages, failure)
            return {**results, "failed": failure}
        stages[name] = "ran" if done_stamps(cfg) != before else "done already"
        requests.record_request(cfg, name)  # lets a launcher see this work done before it queues a job
    if sweep.in_sweep():
        sweep.record_outcome(cfg, "succeeded" if "ran" in stages.values() else "skipped", stages)
    return results


def clear_failure(run, stage: str) -> None:
    """failed.json tells the latest failure of this run; it goes when the stage it names runs
    again, so a training that failed stays failed while other stages (fetch, runtime) run in the
    same folder. A job Slurm ended (stage `slurm`) is cleared when the run starts again."""
    path = run / "failed.json"
    try:
        failed = read_json(path).get("stage")
    except (OSError, ValueError, AttributeError):
        return
    if failed == stage or failed not in STAGES:
        path.unlink(missing_ok=True)


def first_line(error: Exception) -> str:
    """`TrainError: ms-swift exited with status 1 ...; full log: ...`: the rest is in the job log.
    A user's error keeps its whole message, its lines joined: the fix command is in it."""
    message = str(error).strip()
    if not message:
        return type(error).__name__
    if isinstance(error, UserError):
        return f"{type(error).__name__}: {' '.join(line.strip() for line in message.splitlines())}"
    return f"{type(error).__name__}: {message.splitlines()[0]}"


def check_single_run(cfg) -> None:
    """The pre-flight check of a run without a launcher (no -m); dry_run=true prints what would run."""
    from mhcompare import preflight
    from mhcompare.train.hardware import visible_gpus

    name = preflight.job_name(cfg)
    if cfg.get("dry_run"):
        preflight.print_plan([(name, requests.work_left(cfg) or "every stage done already; each would skip")], [],
                             "run here")
    try:
        preflight.check([(name, cfg)], None, visible_gpus())
    except preflight.PreflightFailed:
        sweep.discard_run_record()  # nothing ran: no multirun/<date>/<time>/ left to explain
        raise
    if cfg.get("dry_run"):
        print("dry run: the run passed its checks; run the command without dry_run=true to start it", flush=True)


def done_stamps(cfg) -> dict:
    """When each done.json of this run (and its prepared data) was written: a stage that changes
    none of them found its work already done."""
    files = [artifacts.data_dir(cfg) / "done.json", *artifacts.run_dir(cfg).glob("*/done.json")]
    return {str(f): f.stat().st_mtime_ns for f in files if f.exists()}
