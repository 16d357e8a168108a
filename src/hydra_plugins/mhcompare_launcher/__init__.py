"""The launchers of conf/hydra/launcher/ (local.yaml, slurm.yaml). Hydra instantiates launchers
only from the hydra_plugins namespace, hence this package; the sweep's bookkeeping is in
mhcompare.sweep, the checks made before anything starts in mhcompare.preflight."""
import logging
import sys
import time
from pathlib import Path

from hydra._internal.core_plugins.basic_launcher import BasicLauncher
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher import submitit_launcher
from omegaconf import OmegaConf

log = logging.getLogger(__name__)
# states in which Slurm itself ended a job: its stages then raise Interrupted and record nothing
ENDED_BY_SLURM = ("CANCELLED", "PREEMPTED", "TIMEOUT", "NODE_FAIL", "DEADLINE")
# what sbatch says when no controller answers (not a refusal of the request)
CONTROLLER_GONE = ("Unable to contact slurm controller", "Socket timed out", "Connection refused",
                   "Could not establish a configuration source")
# how often the launcher asks Slurm about its jobs while they wait or run (submitit alone backs off
# to minutes, so a cancelled job went unnoticed for that long)
POLL_S = 5


def plan_jobs(launcher, job_overrides) -> list[dict]:
    """Each job's composed config and why it has work left (None: all its stages are done for
    this request, so it need not be queued)."""
    from mhcompare.preflight import job_name
    from mhcompare.requests import work_left

    jobs = []
    for overrides in job_overrides:
        cfg = launcher.hydra_context.config_loader.load_sweep_config(launcher.config, list(overrides))
        jobs.append({"overrides": overrides, "cfg": cfg, "name": job_name(cfg), "work": work_left(cfg)})
    return jobs


def preflight(launcher, jobs: list[dict], where: str, gpus: int, slurm_params: dict | None = None) -> None:
    """Check the jobs with work left before any starts (mhcompare.preflight); on a problem, or
    for dry_run=true, stop here with the sweep record Hydra opened removed again."""
    from mhcompare import preflight as checks

    pending = [job for job in jobs if job["work"]]
    dry_run = bool(launcher.config.get("dry_run"))
    if dry_run:
        checks.print_plan([(j["name"], j["work"]) for j in pending],
                          [(j["name"], "every stage done already for this request") for j in jobs if not j["work"]], where)
    try:
        checks.check([(j["name"], j["cfg"]) for j in pending], slurm_params if pending else None, gpus)
    except checks.PreflightFailed as problems:
        checks.discard_record(Path(str(launcher.config.hydra.sweep.dir)))
        sys.stderr.write(f"error: {problems}\n")
        raise SystemExit(1) from None
    if dry_run:
        print("dry run: every job passed its checks; run the command without dry_run=true to start them", flush=True)
        checks.discard_record(Path(str(launcher.config.hydra.sweep.dir)))
        raise SystemExit(0)


class LocalLauncher(BasicLauncher):
    """Hydra's basic launcher (the jobs one after another in this process), after the pre-flight
    check of every job."""

    def launch(self, job_overrides, initial_job_idx):
        from mhcompare.train.hardware import visible_gpus

        preflight(self, plan_jobs(self, job_overrides), "run here", visible_gpus())
        return super().launch(job_overrides, initial_job_idx)


class SlurmLauncher(submitit_launcher.SlurmLauncher):
    """hydra-submitit-launcher's Slurm launcher, except that a job Slurm ends without a result
    (cancelled, killed for memory, node failure, out of time-outs) becomes a failed run in the
    summary rather than an exception that abandons the sweep while other jobs still run."""

    def launch(self, job_overrides, initial_job_idx):
        """Queue one array task per (model, seed) that has work left; the rest are reported as
        skipped without a job. Then watch the jobs until they end."""
        from mhcompare.config import as_list
        from mhcompare.preflight import gpus_of
        from mhcompare.sweep import write_outcome

        jobs = plan_jobs(self, job_overrides)
        preflight(self, jobs, "queued", gpus_of(self.params), self.params)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        returns, queued = {}, []
        for index, (overrides, job) in enumerate(zip(job_overrides, jobs)):
            cfg = job["cfg"]
            if job["work"]:
                log.info("\t%s seed%s: queued (%s)", cfg.model.name, cfg.seed, job["work"])
                queued.append(index)
                continue
            done = {stage: "done already" for stage in as_list(cfg.stage)}
            write_outcome(sweep_dir / str(cfg.hydra.sweep.subdir), cfg, "skipped", done, None, None)
            returns[index] = JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED)
            returns[index].return_value = {"skipped": done}
        log.info("%d of %d runs are done already for this request: skipped without a Slurm job",
                 len(returns), len(job_overrides))
        if queued:
            results = self._submit([job_overrides[i] for i in queued], [initial_job_idx + i for i in queued])
            returns.update(zip(queued, results))
        return [returns[i] for i in range(len(job_overrides))]

    def _submit(self, job_overrides, indices):
        import submitit
        from submitit.core.utils import FailedJobError

        params = dict(self.params)
        executor = submitit.AutoExecutor(cluster="slurm", folder=params.pop("submitit_folder"),
                                         slurm_max_num_timeout=params.pop("max_num_timeout"))
        shared = set(OmegaConf.structured(submitit_launcher.BaseQueueConf).keys())
        executor.update_parameters(**{k if k in shared else f"slurm_{k}": v for k, v in params.items()})
        # the arguments hydra-submitit passes to __call__, one array task per job
        try:
            jobs = executor.map_array(self, [list(o) for o in job_overrides], ["hydra.sweep.dir"] * len(indices),
                                      indices, [f"job_id_for_{i}" for i in indices],
                                      [Singleton.get_state()] * len(indices))
        except FailedJobError as refused:  # sbatch said no: a request no node of the partition can hold
            from mhcompare import slurm

            why = str(refused).strip().splitlines()[-1] if str(refused).strip() else "no reason given"
            if any(sign in why for sign in CONTROLLER_GONE):  # it stopped answering after the pre-flight check
                log.error("Slurm's controller did not answer sbatch (%s); nothing was queued: check that slurmctld "
                          "runs and SLURM_CONF, then run the same command again", why)
                raise SystemExit(1) from None
            log.error("Slurm refused the sweep's jobs (%s): they asked for %s and partition %s offers %s; "
                      "change hydra.launcher.cpus_per_task, mem_gb, gpus_per_node or partition", why, self._request(),
                      self.params.get("partition"), slurm.partition_offer(self.params.get("partition")))
            raise SystemExit(1) from None
        for idx, overrides, job in zip(indices, job_overrides, jobs):
            log.info("\t#%d : %s -> Slurm job %s", idx, " ".join(filter_overrides(overrides)), job.job_id)
        log.info("%d jobs queued; their Slurm logs are under %s", len(jobs), Path(str(jobs[0].paths.folder)).parent)
        never_start = self._watch(jobs)
        return [self._result(job, overrides, never_start.get(job.job_id)) for job, overrides in zip(jobs, job_overrides)]

    def _watch(self, jobs) -> dict[str, str]:
        """Wait until every job has ended, asking Slurm every POLL_S seconds; cancel a job that
        waits for a reason no wait resolves. {job id: why it could never start}."""
        from mhcompare import slurm

        never_start = {}
        while True:
            jobs[0].watcher.update()  # one sacct call for the whole array
            waiting = [job for job in jobs if not job.done() and job.job_id not in never_start]
            if not waiting:
                return never_start
            for job_id, reason in slurm.pending_reasons([job.job_id for job in waiting]).items():
                if slurm.never_starts(reason):
                    never_start[job_id] = (f"could never start: Slurm holds it with reason {reason}; it asked for "
                                           f"{self._request()} and partition {self.params.get('partition')} offers "
                                           f"{slurm.partition_offer(self.params.get('partition'))}")
                    log.error("Slurm job %s %s; cancelled", job_id, never_start[job_id])
                    slurm.cancel(job_id)
            time.sleep(POLL_S)

    def _request(self) -> str:
        p = self.params
        return (f"{p.get('cpus_per_task')} CPUs per task, {p.get('mem_gb')} GB, {p.get('gpus_per_node')} GPUs per node, "
                f"{p.get('timeout_min')} min")

    def _result(self, job, overrides, never_started: str | None = None) -> JobReturn:
        """The job's own JobReturn or, for a job that died without one, a recorded failure."""
        from submitit.core.utils import FailedJobError, UncompletedJobError

        from mhcompare.sweep import record_lost_job

        try:
            if never_started:
                raise UncompletedJobError(never_started)
            return job.results()[0]
        except FailedJobError as error:  # Python failed outside the stages (they record their own)
            reason = f"failed outside its stages: {str(error).strip().splitlines()[-1]}"
            if job.state.startswith(ENDED_BY_SLURM):  # it raised because it was being stopped
                reason = f"ended as {job.state} before it reported a result"
        except UncompletedJobError:
            reason = never_started or f"ended as {job.state} before it reported a result"
        failure = {"stage": "slurm", "error": f"Slurm job {job.job_id} {reason}", "log": str(job.paths.stdout)}
        log.error("%s: %s", " ".join(filter_overrides(overrides)), failure["error"])
        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
        record_lost_job(cfg, Path(str(self.config.hydra.sweep.dir)) / str(cfg.hydra.sweep.subdir), failure)
        # COMPLETED with a failure record, as run_stages returns in a sweep: the sweeper stops
        # at a FAILED return, before the summary and the aggregate
        ret = JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED)
        ret.return_value = {"failed": failure}
        return ret
