"""Read what ms-swift wrote: logging.jsonl (loss curve, final summary) and the adapter."""
import json
import re
import struct
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


def safetensors_parameters(path: Path) -> int:
    """Number of values stored in a safetensors file, from its header alone (no tensor is read)."""
    with open(path, "rb") as f:
        (header_size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(header_size))
    total = 0
    for name, info in header.items():
        if name != "__metadata__":
            count = 1
            for dim in info["shape"]:
                count *= dim
            total += count
    return total


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


def segment_seconds(rows: list[dict]) -> list[float]:
    """Wall time of each segment of a run (one segment per start: the first and every resume).

    ms-swift appends to the same logging.jsonl after a resume; a segment starts where the step goes
    back to a checkpoint or the elapsed time starts again. A segment that was killed (pre-emption,
    time limit) ends with its last logged row; a finished one with its exact train_runtime."""
    segments, last_step, last_elapsed = [], None, None
    for row in rows:
        if "train_runtime" in row:
            if segments:
                segments[-1] = float(row["train_runtime"])
            continue
        step = row_step(row)
        if "elapsed_time" not in row or step is None:
            continue
        elapsed = elapsed_seconds(row["elapsed_time"])
        if last_step is None or step <= last_step or elapsed < last_elapsed:
            segments.append(0.0)
        segments[-1] = max(segments[-1], float(elapsed))
        last_step, last_elapsed = step, elapsed
    return segments


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
            "segments": segment_seconds(rows),
            "mean_logged_loss": sum(by_step.values()) / len(by_step) if by_step else None}
