"""What a (model, seed) was last asked to do, so a launcher can tell finished work before it queues a job.

A stage's own done check needs the job's node (the runtime's library versions, its GPUs), which a
submitting login node does not have. So each run folder also keeps, per finished stage, a hash of
the configuration sections that stage reads (`requests.json`). Before submitting, the launcher
composes each job's config and compares: a job whose every stage is done for the same request is
not queued. The job's own check stays the authority: a job that is queued anyway finds its work
done in seconds, and `force=true` always queues.

    outputs/<experiment>/<model>/seed<k>/requests.json   {stage: request hash}
"""
from pathlib import Path

from omegaconf import OmegaConf

from mhcompare import artifacts
from mhcompare.config import as_list, config_hash
from mhcompare.io import atomic_write_json, read_json

REQUESTS = "requests.json"
# the config sections each per-run stage's result depends on (paths, tracking and the launcher do not)
STAGE_INPUTS = {
    "prepare": ("data", "model"),
    "train": ("data", "model", "train", "seed"),
    "eval": ("data", "model", "train", "seed", "eval"),
    "judge": ("data", "model", "train", "seed", "judge"),
}


def stage_request(cfg, stage: str) -> str:
    sections = {}
    for key in STAGE_INPUTS[stage]:
        value = cfg[key]
        sections[key] = OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
    return config_hash(sections)


def done_folder(cfg, stage: str) -> Path:
    """Where the stage keeps its done.json: prepare's result is the experiment's data folder."""
    return Path(artifacts.data_dir(cfg) if stage == "prepare" else artifacts.stage_dir(cfg, stage))


def record_request(cfg, stage: str) -> None:
    """After `stage` finished (or found itself done) for this run."""
    if stage not in STAGE_INPUTS:
        return
    path = artifacts.run_dir(cfg) / REQUESTS
    requests = read_json(path) if path.exists() else {}
    requests[stage] = stage_request(cfg, stage)
    atomic_write_json(path, requests)


def done_already(cfg) -> dict | None:
    """{stage: "done already"} when every stage of this job is done for the same request (the
    job need not be queued), else None."""
    return None if work_left(cfg) else {stage: "done already" for stage in as_list(cfg.stage)}


def work_left(cfg) -> str | None:
    """Why this job must be queued (`train: not done`), or None when its work is all done."""
    stages = as_list(cfg.stage)
    if cfg.force:
        return "force=true"
    unknown = [stage for stage in stages if stage not in STAGE_INPUTS]
    if unknown or not stages:
        return f"{unknown[0] if unknown else 'no stage'}: not checked before submission"
    path = artifacts.run_dir(cfg) / REQUESTS
    requests = read_json(path) if path.exists() else {}
    for stage in stages:
        if not (done_folder(cfg, stage) / "done.json").exists():
            return f"{stage}: not done"
        if requests.get(stage) != stage_request(cfg, stage):
            return f"{stage}: done for another request" if stage in requests else f"{stage}: no request recorded"
    return None
