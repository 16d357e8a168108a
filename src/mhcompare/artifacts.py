"""The artifact contract between stages: where each stage writes, and whether it is done.

    outputs/<experiment>/data/<dataset>/           prepared train/val JSONL
    outputs/<experiment>/<model>/seed<k>/<stage>/  metrics.json, done.json, the stage's files
    outputs/<experiment>/report/                   aggregate's tables and plots

Every path another stage reads is computed here, once.
"""
import time
from pathlib import Path

from mhcompare.io import atomic_write_json, read_json
from mhcompare.provenance import code_version


def experiment_dir(cfg) -> Path:
    return Path(cfg.paths.outputs).resolve() / cfg.experiment_name


def data_dir(cfg) -> Path:
    return experiment_dir(cfg) / "data" / cfg.data.name


def run_dir(cfg) -> Path:
    return experiment_dir(cfg) / cfg.model.name / f"seed{cfg.seed}"


def stage_dir(cfg, stage: str) -> Path:
    return run_dir(cfg) / stage


def swift_output_dir(train_dir: Path) -> Path:
    """Where ms-swift writes checkpoints and logging.jsonl inside a run's train/ folder."""
    return Path(train_dir) / "swift"


def swift_logging_jsonl(run_folder: Path) -> Path:
    return swift_output_dir(Path(run_folder) / "train") / "logging.jsonl"


def report_dir(cfg) -> Path:
    return experiment_dir(cfg) / "report"


def read_done(folder: Path) -> dict | None:
    path = Path(folder) / "done.json"
    return read_json(path) if path.exists() else None


def is_done(folder: Path, fingerprint: dict) -> bool:
    """True when the folder holds a finished result made from the same inputs."""
    done = read_done(folder)
    return done is not None and done.get("fingerprint") == fingerprint


def mark_done(folder: Path, fingerprint: dict, started: float, **extra) -> dict:
    finished = time.time()
    record = {"fingerprint": fingerprint, "code_version": code_version(),
              "started": started, "finished": finished, "seconds": round(finished - started, 3), **extra}
    atomic_write_json(Path(folder) / "done.json", record)
    return record


def write_metrics(folder: Path, metrics: dict) -> None:
    """metrics.json is flat: `train.eval_loss`, `train.tokens_per_s`, ... -> number or string."""
    for key, value in metrics.items():
        if isinstance(value, (dict, list)):
            raise TypeError(f"metrics.json must be flat; {key!r} holds a {type(value).__name__}")
    atomic_write_json(Path(folder) / "metrics.json", metrics)
