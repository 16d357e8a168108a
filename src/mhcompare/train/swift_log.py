"""Read what ms-swift wrote: logging.jsonl (loss curve, final summary) and the adapter."""
import json
import math
import re
import struct
from dataclasses import dataclass
from pathlib import Path

from mhcompare.io import read_jsonl


def row_step(row: dict) -> int | None:
    """The optimizer step of a logging.jsonl row (`"global_step/max_steps": "5/10"` -> 5), if it has one."""
    progress = str(row.get("global_step/max_steps", "")).split("/")[0]
    return int(progress) if progress.isdigit() else None


def loss_history(logging_jsonl: Path) -> list[dict]:
    """[{step, loss, eval_loss?}] from ms-swift's logging.jsonl."""
    history = []
    for row in read_jsonl(logging_jsonl):
        step = row_step(row)
        if step is None or "train_runtime" in row:
            continue
        point = {"step": step}
        for key in ("loss", "eval_loss", "learning_rate", "num_input_tokens_seen"):
            if key in row:
                point[key] = float(row[key])
        history.append(point)
    return history


def adapter_parameters(adapter_dir: Path) -> int:
    """Number of trainable (LoRA) parameters, read from the safetensors header alone."""
    return safetensors_parameters(Path(adapter_dir) / "adapter_model.safetensors")


def safetensors_header(path: Path) -> dict:
    """The JSON header of a safetensors file: tensor names, dtypes, shapes and byte offsets."""
    with open(path, "rb") as f:
        (header_size,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(header_size))


def safetensors_parameters(path: Path) -> int:
    """Number of values stored in a safetensors file, from its header alone (no tensor is read)."""
    return sum(math.prod(info["shape"]) for name, info in safetensors_header(path).items() if name != "__metadata__")


def latest_checkpoint(swift_dir: Path) -> Path | None:
    """The highest-numbered checkpoint-N folder that finished saving (has trainer_state.json)."""
    found = []
    for path in Path(swift_dir).glob("checkpoint-*"):
        match = re.fullmatch(r"checkpoint-(\d+)", path.name)
        if match and (path / "trainer_state.json").exists():
            found.append((int(match.group(1)), path))
    return max(found)[1] if found else None


def elapsed_seconds(text: str) -> int:
    """ms-swift's `elapsed_time` ("1d 2h 3m 4s", "5m 6s", "7s") in seconds."""
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([dhms])", str(text)))


@dataclass
class Segment:
    """One start of `swift sft` (the first, or a resume) as its rows in logging.jsonl tell it."""
    wall_s: float = 0.0        # ms-swift's train_runtime where the segment finished, else its last elapsed_time
    eval_s: float = 0.0        # evaluation inside the segment (the eval rows' eval_runtime)
    first_step: int | None = None
    last_step: int | None = None
    finished: bool = False


def segments(rows: list[dict]) -> list[Segment]:
    """The segments of a run (one per start: the first and every resume).

    ms-swift appends to the same logging.jsonl after a resume, and its clock (elapsed_time) starts
    again with every process. A segment starts where that clock goes back, or where a *training*
    row's step is not past the previous training row's (resumed from an earlier checkpoint).
    Evaluation rows repeat the step of the training row before them and never start a segment. A
    segment that was killed (pre-emption, time limit) ends with its last logged row; a finished one
    with its exact train_runtime."""
    found: list[Segment] = []
    last_train_step, last_elapsed = None, None
    for row in rows:
        step = row_step(row)
        timed = "elapsed_time" in row and step is not None
        if not timed and "train_runtime" not in row:
            continue
        elapsed = float(elapsed_seconds(row["elapsed_time"])) if timed else None
        training = "loss" in row
        clock_restarted = None not in (elapsed, last_elapsed) and elapsed < last_elapsed
        step_went_back = training and last_train_step is not None and step <= last_train_step
        if not found or found[-1].finished or clock_restarted or step_went_back:
            found.append(Segment())
            last_train_step = None
        segment = found[-1]
        last_elapsed = elapsed if timed else last_elapsed
        if "train_runtime" in row:
            # a resume from the final checkpoint trains no step and logs only this row
            segment.wall_s, segment.finished = float(row["train_runtime"]), True
            continue
        segment.first_step = step if segment.first_step is None else segment.first_step
        segment.wall_s = max(segment.wall_s, elapsed)
        segment.last_step = step
        if "eval_runtime" in row:
            segment.eval_s += float(row["eval_runtime"])
        if training:
            last_train_step = step
    return found


def segment_seconds(rows: list[dict]) -> list[float]:
    """Wall time of each segment of a run (see `segments`)."""
    return [segment.wall_s for segment in segments(rows)]


@dataclass(frozen=True)
class DatasetLengths:
    """Token lengths of the dataset ms-swift trained on: its own tokenization and truncation."""
    mean: float
    sd: float
    rows: int

    @property
    def tokens(self) -> int:
        return round(self.mean * self.rows)


def dataset_lengths(final_row: dict, key: str = "train_dataset") -> DatasetLengths | None:
    """From the statistics ms-swift logs in its last row
    (`"train_dataset": "146.710526±22.670300, min=106.000000, max=195.000000, size=76"`), or None
    where it logged none (lazy tokenization, streaming)."""
    match = re.match(r"\s*([0-9.]+)±([0-9.]+).*size=(\d+)", str(final_row.get(key, "")))
    if not match:
        return None
    return DatasetLengths(float(match.group(1)), float(match.group(2)), int(match.group(3)))


def train_summary(logging_jsonl: Path) -> dict:
    """The numbers of the whole run (every segment, when it resumed) and the final evaluation."""
    rows = read_jsonl(logging_jsonl)
    runtime = next((r for r in reversed(rows) if "train_runtime" in r), None)
    final = next((r for r in reversed(rows) if "last_model_checkpoint" in r), None)
    if runtime is None or final is None:
        raise RuntimeError(f"{logging_jsonl}: ms-swift did not log a finished run (no train_runtime)")
    history = loss_history(logging_jsonl)
    losses = [p for p in history if "loss" in p]
    evals = [p for p in history if "eval_loss" in p]
    tokens = [p["num_input_tokens_seen"] for p in history if "num_input_tokens_seen" in p]
    # a step logged by a killed segment and again after the resume counts once (the later row)
    by_step = {p["step"]: p["loss"] for p in losses}
    return {"runtime": runtime, "final": final, "losses": losses, "evals": evals, "tokens": tokens,
            "segments": segments(rows),
            "mean_logged_loss": sum(by_step.values()) / len(by_step) if by_step else None}
