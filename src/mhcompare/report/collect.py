"""Read every run folder of an experiment once: status, metrics, provenance, failure, loss curve.

A broken file never stops the report: it becomes a problem that names the file, and the run's
other results still count. Every file is read at most once (logging.jsonl included) and no
config is parsed per run, so 10,000 run folders stay cheap.
"""
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from mhcompare import artifacts
from mhcompare.io import read_json
from mhcompare.report.metrics import derived
from mhcompare.train.swift_log import loss_history

STAGES = ("train", "eval", "judge")
NOT_MODELS = {"data", "report", "swanlog"}
# the top-level sections of config.yaml that make the shared recipe (model and seed differ by design)
RECIPE_SECTIONS = ("data", "train", "eval", "judge")


@dataclass
class Run:
    model: str
    seed: int
    folder: Path
    status: dict = field(default_factory=dict)  # stage -> done | unfinished | failed; absent: not started
    metrics: dict = field(default_factory=dict)  # flat name -> number or string, from finished stages
    provenance: dict = field(default_factory=dict)  # code_version.<stage>, data_hash, config_sha256, recipe
    failure: dict | None = None  # failed.json: stage, error, log
    curve: list = field(default_factory=list)  # loss history of a finished training

    @property
    def name(self) -> str:
        return f"{self.model}/seed{self.seed}"


@dataclass
class Collection:
    experiment_dir: Path
    runs: list[Run]
    problems: list[str]  # unreadable files, each named

    @property
    def models(self) -> list[str]:
        return sorted({run.model for run in self.runs})


def run_folders(experiment_dir: Path) -> list[tuple[str, int, Path]]:
    """[(model, seed, folder)] for every outputs/<experiment>/<model>/seed<k>/, sorted."""
    found = []
    for model in os.scandir(experiment_dir):
        if not model.is_dir() or model.name in NOT_MODELS or model.name.startswith("."):
            continue
        for seed in os.scandir(model.path):
            match = re.fullmatch(r"seed(\d+)", seed.name)
            if match and seed.is_dir():
                found.append((model.name, int(match.group(1)), Path(seed.path)))
    return sorted(found, key=lambda f: (f[0], f[1]))


def collect(experiment_dir: Path) -> Collection:
    experiment_dir = Path(experiment_dir)
    problems: list[str] = []
    runs = [read_run(model, seed, folder, experiment_dir, problems)
            for model, seed, folder in run_folders(experiment_dir)]
    return Collection(experiment_dir, runs, problems)


def read_run(model: str, seed: int, folder: Path, experiment_dir: Path, problems: list) -> Run:
    """One run folder. Paths are plain strings and os.path calls here: at 10,000 runs, pathlib's
    object overhead costs more than the reading."""
    run = Run(model, seed, folder)
    base = str(folder)

    def read(path: str):
        """A JSON object, or None with the reason recorded against the file."""
        try:
            value = read_json(path)
        except (ValueError, OSError) as e:
            problems.append(f"{relative(path, experiment_dir)}: {str(e).replace(path, '').lstrip(': ')}")
            return None
        if not isinstance(value, dict):
            problems.append(f"{relative(path, experiment_dir)}: holds a {type(value).__name__}, not a JSON object")
            return None
        return value

    failed_json = os.path.join(base, "failed.json")
    if os.path.exists(failed_json):
        failed = read(failed_json) or {}
        run.failure = {"stage": str(failed.get("stage") or "unknown"), "error": str(failed.get("error") or "unknown"),
                       "log": str(failed.get("log") or "—")}
    config = os.path.join(base, "config.yaml")
    if os.path.exists(config):
        with open(config, "rb") as f:
            text = f.read()
        run.provenance["config_sha256"] = hashlib.sha256(text).hexdigest()[:12]
        run.provenance["recipe"] = recipe_hash(text.decode("utf-8", errors="replace"))
    for stage in STAGES:
        stage_dir = os.path.join(base, stage)
        state = stage_state(base, stage, run.failure)
        if state is not None:
            run.status[stage] = state
        if state != "done":
            continue
        done = read(os.path.join(stage_dir, "done.json")) or {}
        run.provenance[f"code_version.{stage}"] = done.get("code_version")
        if stage == "train":
            run.provenance["data_hash"] = done.get("data_hash") or (done.get("fingerprint") or {}).get("data_hash")
        metrics_file = os.path.join(stage_dir, "metrics.json")
        if not os.path.exists(metrics_file):
            problems.append(f"{relative(metrics_file, experiment_dir)}: missing, though done.json says the stage "
                            "finished")
            continue
        for key, value in (read(metrics_file) or {}).items():
            # runtime.torch from train becomes train.runtime.torch: each stage may run in its own runtime
            run.metrics[key if key.startswith(f"{stage}.") else f"{stage}.{key}"] = value
    run.metrics.update(derived(run.metrics))
    logging_jsonl = artifacts.swift_logging_jsonl(folder)
    if run.status.get("train") == "done" and os.path.exists(logging_jsonl):
        try:
            run.curve = loss_history(logging_jsonl)
        except (ValueError, OSError, KeyError) as e:
            problems.append(f"{relative(logging_jsonl, experiment_dir)}: unreadable loss curve ({e}); "
                            "the run's curve is left out")
    return run


def stage_state(run_folder: str, stage: str, failure: dict | None) -> str | None:
    """done, failed (its latest attempt, says failed.json), unfinished (started, or running now),
    or None: not started."""
    stage_dir = os.path.join(run_folder, stage)
    if os.path.exists(os.path.join(stage_dir, "done.json")):
        return "done"
    if failure and failure.get("stage") == stage:
        return "failed"
    return "unfinished" if os.path.isdir(stage_dir) else None


def recipe_text(config_text: str) -> str:
    """The recipe sections of a run's config.yaml, as written (model and seed differ by design).

    config.yaml is OmegaConf's YAML dump, so a top-level key starts at column 0; slicing the text
    avoids parsing YAML for each of thousands of runs.
    """
    sections, current = {}, None
    for line in config_text.splitlines(keepends=True):
        if line[:1] not in ("", " ", "\t", "-", "#", "\n"):
            current = line.split(":", 1)[0]
        if current in RECIPE_SECTIONS:
            sections.setdefault(current, []).append(line)
    return "".join("".join(sections[name]) for name in RECIPE_SECTIONS if name in sections)


def recipe_hash(config_text: str) -> str | None:
    """Equal hashes: the same data, training, eval and judge settings."""
    text = recipe_text(config_text)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12] if text else None


def relative(path, root: Path) -> str:
    """Paths in the report are relative to the experiment folder, so a moved folder reads the same."""
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)
