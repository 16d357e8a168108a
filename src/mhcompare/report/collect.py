"""Collect every run folder of an experiment into one table (one row per model and seed)."""
import re
from pathlib import Path

import pandas as pd

from mhcompare.io import read_json

STAGES_WITH_METRICS = ("prepare", "train", "eval", "judge")


def run_folders(experiment_dir: Path) -> list[tuple[str, int, Path]]:
    """[(model, seed, folder)] for every outputs/<experiment>/<model>/seed<k>/ folder."""
    found = []
    for seed_dir in sorted(Path(experiment_dir).glob("*/seed*")):
        match = re.fullmatch(r"seed(\d+)", seed_dir.name)
        if match and seed_dir.is_dir() and seed_dir.parent.name not in {"data", "report", "swanlog"}:
            found.append((seed_dir.parent.name, int(match.group(1)), seed_dir))
    return found


def collect_runs(experiment_dir: Path) -> pd.DataFrame:
    """A row per run: model, seed, and every metric of every stage that finished.

    `status` says per run which stages are done and which have a metrics.json but no done.json
    (failed or still running); a corrupt file raises an error that names it.
    """
    rows = []
    for model, seed, folder in run_folders(experiment_dir):
        row = {"model": model, "seed": seed, "run_dir": str(folder)}
        for stage in STAGES_WITH_METRICS:
            stage_dir = folder / stage
            if not stage_dir.is_dir():
                continue
            done = (stage_dir / "done.json").exists()
            row[f"status.{stage}"] = "done" if done else "incomplete"
            if done and (stage_dir / "metrics.json").exists():
                row.update(read_json(stage_dir / "metrics.json"))
        rows.append(row)
    return pd.DataFrame(rows)
