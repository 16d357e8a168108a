"""Experiment tracking: SwanLab, fed by the orchestrator from ms-swift's own training log.

ms-swift appends every logged step to `<output_dir>/logging.jsonl` in every version (3.0 to 4.x),
while only some versions can talk to SwanLab themselves (3.0.3, in the ChatGLM3/Baichuan2 runtime,
cannot). So the framework follows that file while training runs and sends its numbers to SwanLab
from the orchestrating process: the same curves for every model and runtime, and only numeric
fields, which SwanLab accepts.

Each (model, seed) is one SwanLab experiment named `<model>-seed<k>`, grouped by the experiment
name. The cloud API key comes from SWANLAB_API_KEY in the environment only; it is never put on a
command line or into a file.
"""
import json
import logging
import math
import os
import re
import threading
from pathlib import Path

from mhcompare.errors import ConfigError
from mhcompare.train.swift_log import row_step

log = logging.getLogger(__name__)


def check_tracking(cfg) -> None:
    """Stop before any work when the tracking settings cannot work."""
    tracking = cfg.tracking
    if tracking.backend == "none":
        return
    if tracking.backend != "swanlab":
        raise ConfigError(f"unknown tracking.backend {tracking.backend!r}; use tracking=swanlab or tracking=none")
    if tracking.mode not in {"cloud", "local"}:
        raise ConfigError(f"tracking.mode must be cloud or local, got {tracking.mode!r}")
    if tracking.mode == "cloud" and not os.environ.get("SWANLAB_API_KEY"):
        raise ConfigError("tracking.mode=cloud needs your SwanLab API key in the environment: "
                           "export SWANLAB_API_KEY=... (or use tracking.mode=local, or tracking=none)")


def start_run(cfg, name: str, tags: list[str], config: dict | None = None):
    import swanlab

    check_tracking(cfg)
    return swanlab.init(project=cfg.tracking.project, workspace=cfg.tracking.workspace, name=name,
                        group=str(cfg.experiment_name), tags=tags, log_dir=str(cfg.tracking.log_dir),
                        mode={"cloud": "online"}.get(cfg.tracking.mode, cfg.tracking.mode), config=config,
                        reinit=True)


def numeric_fields(row: dict) -> dict:
    """The numbers of one logging.jsonl row, under names SwanLab takes: `loss` -> `train/loss`,
    `eval_loss` -> `eval/loss`, `memory(GiB)` -> `train/memory_GiB`. Strings ("5/10", "12s") are left out."""
    fields = {}
    for key, value in row.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            continue
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", key).strip("_")
        fields[f"eval/{name[5:]}" if name.startswith("eval_") else f"train/{name}"] = float(value)
    return fields


class TrainingLogFollower:
    """Send each new row of ms-swift's logging.jsonl to one SwanLab run while training runs."""

    def __init__(self, cfg, log_path: Path, config: dict, poll_s: float = 2.0):
        self.cfg, self.log_path, self.config, self.poll_s = cfg, Path(log_path), config, poll_s
        self.offset, self.rows_sent, self.run = 0, 0, None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.follow, name="swanlab-follower", daemon=True)

    def __enter__(self):
        if self.cfg.tracking.backend == "swanlab":
            self.run = start_run(self.cfg, f"{self.cfg.model.name}-seed{self.cfg.seed}",
                                 [str(self.cfg.model.name), f"seed{self.cfg.seed}", "train"], self.config)
            self.thread.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.run is None:
            return False
        self.stop.set()
        self.thread.join()
        self.send_new_rows()  # what was written after the last poll
        self.run.finish(state="success" if exc_type is None else "crashed")
        return False

    def follow(self):
        while not self.stop.wait(self.poll_s):
            try:
                self.send_new_rows()
            except Exception:  # tracking must never end a training run
                log.exception("tracking: could not send %s to SwanLab", self.log_path)

    def send_new_rows(self):
        if not self.log_path.exists():
            return
        with open(self.log_path, "rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]  # a line still being written waits for the next poll
        self.offset += len(complete)
        for line in complete.decode("utf-8", errors="replace").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            fields = numeric_fields(row)
            if fields:
                self.run.log(fields, step=row_step(row))
                self.rows_sent += 1


def log_metrics(cfg, stage: str, metrics: dict) -> None:
    """Log a stage's final numbers as one SwanLab experiment `<model>-seed<k>-<stage>` in the group."""
    if cfg.tracking.backend != "swanlab":
        return
    run = start_run(cfg, f"{cfg.model.name}-seed{cfg.seed}-{stage}", [str(cfg.model.name), f"seed{cfg.seed}", stage])
    run.log({k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)})
    run.finish()
