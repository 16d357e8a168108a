"""The Slurm launcher of conf/hydra/launcher/slurm.yaml. Hydra instantiates launchers only from
the hydra_plugins namespace, hence this package; the sweep's bookkeeping is in mhcompare.sweep."""
import logging
from pathlib import Path

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher import submitit_launcher
from omegaconf import OmegaConf

log = logging.getLogger(__name__)
# states in which Slurm itself ended a job: its stages then raise Interrupted and record nothing
ENDED_BY_SLURM = ("CANCELLED", "PREEMPTED", "TIMEOUT", "NODE_FAIL", "DEADLINE")


class SlurmLauncher(submitit_launcher.SlurmLauncher):
    """hydra-submitit-launcher's Slurm launcher, except that a job Slurm ends without a result
    (cancelled, killed for memory, node failure, out of time-outs) becomes a failed run in the
    summary rather than an exception that abandons the sweep while other jobs still run."""

    def launch(self, job_overrides, initial_job_idx):
        import submitit

        params = dict(self.params)
        executor = submitit.AutoExecutor(cluster="slurm", folder=params.pop("submitit_folder"),
                                         slurm_max_num_timeout=params.pop("max_num_timeout"))
        shared = set(OmegaConf.structured(submitit_launcher.BaseQueueConf).keys())
        executor.update_parameters(**{k if k in shared else f"slurm_{k}": v for k, v in params.items()})
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        indices = list(range(initial_job_idx, initial_job_idx + len(job_overrides)))
        # the arguments hydra-submitit passes to __call__, one array task per job
        jobs = executor.map_array(self, [list(o) for o in job_overrides], ["hydra.sweep.dir"] * len(indices),
                                  indices, [f"job_id_for_{i}" for i in indices],
                                  [Singleton.get_state()] * len(indices))
        for idx, overrides, job in zip(indices, job_overrides, jobs):
            log.info("\t#%d : %s -> Slurm job %s", idx, " ".join(filter_overrides(overrides)), job.job_id)
        log.info("%d jobs queued; their Slurm logs are under %s", len(jobs), Path(str(jobs[0].paths.folder)).parent)
        return [self._result(job, overrides) for job, overrides in zip(jobs, job_overrides)]

    def _result(self, job, overrides) -> JobReturn:
        """The job's own JobReturn or, for a job that died without one, a recorded failure."""
        from submitit.core.utils import FailedJobError, UncompletedJobError

        from mhcompare.sweep import record_lost_job

        try:
            return job.results()[0]
        except FailedJobError as error:  # Python failed outside the stages (they record their own)
            reason = f"failed outside its stages: {str(error).strip().splitlines()[-1]}"
            if job.state.startswith(ENDED_BY_SLURM):  # it raised because it was being stopped
                reason = f"ended as {job.state} before it reported a result"
        except UncompletedJobError:
            reason = f"ended as {job.state} before it reported a result"
        failure = {"stage": "slurm", "error": f"Slurm job {job.job_id} {reason}", "log": str(job.paths.stdout)}
        log.error("%s: %s", " ".join(filter_overrides(overrides)), failure["error"])
        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
        record_lost_job(cfg, Path(str(self.config.hydra.sweep.dir)) / str(cfg.hydra.sweep.subdir), failure)
        # COMPLETED with a failure record, as run_stages returns in a sweep: the sweeper stops
        # at a FAILED return, before the summary and the aggregate
        ret = JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED)
        ret.return_value = {"failed": failure}
        return ret
