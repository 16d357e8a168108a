"""stage=status: where an experiment's grid stands, one row per (model, seed).

    python run.py stage=status experiment_name=full [report.expected.models=[...] report.expected.seeds=[...]]

Reads only files (the run folders, the tail of each running training's logging.jsonl) and, where
Slurm is there, one `sacct` call; so it is cheap on 15 runs and on 1,000. Each row: the state of
every stage (done, running, failed, not started), the run's latest Slurm job (state and id), the
last logged step and loss, elapsed and remaining time as ms-swift estimates them, and for a failed
run its reason and log. Also written as `<experiment>/report/status.json`.
"""
import json
import os
import shutil
import subprocess

from mhcompare import artifacts
from mhcompare.errors import UserError
from mhcompare.io import atomic_write_json, read_json
from mhcompare.report.collect import STAGES, run_folders, stage_state


def last_logged_row(path: str, tail_bytes: int = 16384) -> dict | None:
    """The last training row (one with a loss) of a logging.jsonl, reading only its end."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - tail_bytes))
            lines = f.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "loss" in row and "global_step/max_steps" in row:
            return row
    return None


def slurm_jobs(names: set[str]) -> dict[str, dict]:
    """{job name: {id, state, elapsed}} of the newest Slurm job of each name; {} without Slurm."""
    if not shutil.which("sacct"):
        return {}
    try:
        out = subprocess.run(["sacct", "-n", "-P", "-X", "-S", "now-30days", "--format=JobID,JobName,State,Elapsed"],
                             capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    jobs = {}
    for line in out.splitlines():
        parts = line.split("|")
        if len(parts) == 4 and parts[1] in names:
            jobs[parts[1]] = {"id": parts[0], "state": parts[2].split()[0], "elapsed": parts[3]}  # newest last
    return jobs


def run_status(model: str, seed: int, folder, job: dict | None) -> dict:
    row = {"model": model, "seed": seed, "stages": {}, "slurm": job, "step": None, "loss": None,
           "elapsed": None, "remaining": None, "failure": None}
    if folder is None:
        return {**row, "stages": {s: "not started" for s in STAGES}}
    failure = None
    if os.path.exists(os.path.join(folder, "failed.json")):
        try:
            failure = read_json(os.path.join(folder, "failed.json"))
        except (ValueError, OSError):
            failure = {"stage": "unknown", "error": "failed.json unreadable", "log": None}
    for stage in STAGES:
        state = stage_state(folder, stage, failure)
        row["stages"][stage] = {"unfinished": "running", None: "not started"}.get(state, state)
    if failure:
        row["failure"] = {"error": failure.get("error"), "log": failure.get("log")}
    logged = last_logged_row(str(artifacts.swift_logging_jsonl(folder)))
    if logged:
        row.update(step=logged["global_step/max_steps"], loss=logged["loss"], elapsed=logged.get("elapsed_time"),
                   remaining=None if row["stages"]["train"] == "done" else logged.get("remaining_time"))
    return row


def grid(cfg) -> list[dict]:
    experiment = artifacts.experiment_dir(cfg)
    folders = {(m, s): str(f) for m, s, f in run_folders(experiment)} if experiment.is_dir() else {}
    models = [str(m) for m in cfg.report.expected.models or []]
    seeds = [int(s) for s in cfg.report.expected.seeds or []]
    keys = sorted(set(folders) | {(m, s) for m in models for s in seeds})
    jobs = slurm_jobs({f"{m}_seed{s}" for m, s in keys})
    return [run_status(m, s, folders.get((m, s)), jobs.get(f"{m}_seed{s}")) for m, s in keys]


def render(rows: list[dict]) -> str:
    header = ["model", "seed", *STAGES, "slurm", "step", "loss", "elapsed", "remaining", "failure"]
    lines = []
    for r in rows:
        slurm = f"{r['slurm']['state']} {r['slurm']['id']}" if r["slurm"] else "—"
        failure = f"{r['failure']['error']} (log: {r['failure']['log']})" if r["failure"] else ""
        loss = f"{r['loss']:.4f}" if isinstance(r["loss"], (int, float)) else "—"
        lines.append([r["model"], str(r["seed"]), *(r["stages"][s] for s in STAGES), slurm, r["step"] or "—", loss,
                      r["elapsed"] or "—", r["remaining"] or "—", failure])
    widths = [max(len(str(x)) for x in column) for column in zip(header, *lines)]
    return "\n".join("  ".join(str(x).ljust(w) for x, w in zip(line, widths)).rstrip() for line in [header, *lines])


def run(cfg) -> dict:
    rows = grid(cfg)
    if not rows:
        raise UserError(f"no run folders under {artifacts.experiment_dir(cfg)} and no expected grid "
                                f"(report.expected.models/seeds): nothing of experiment {cfg.experiment_name!r} yet")
    print(render(rows), flush=True)
    atomic_write_json(artifacts.report_dir(cfg) / "status.json", rows)
    return {"runs": len(rows)}
