"""Read what ms-swift wrote: logging.jsonl (loss curve, final summary) and the adapter."""
import json
import re
import struct
from pathlib import Path

from mhcompare.io import read_jsonl


def loss_history(logging_jsonl: Path) -> list[dict]:
    """[{step, loss, eval_loss?}] from ms-swift's logging.jsonl."""
    history = []
    for row in read_jsonl(logging_jsonl):
        step = row.get("global_step/max_steps")
        if not step or "train_runtime" in row:
            continue
        point = {"step": int(str(step).split("/")[0])}
        for key in ("loss", "eval_loss", "learning_rate", "num_input_tokens_seen"):
            if key in row:
                point[key] = float(row[key])
        history.append(point)
    return history


def adapter_parameters(adapter_dir: Path) -> int:
    """Number of trainable (LoRA) parameters, read from the safetensors header alone."""
    with open(Path(adapter_dir) / "adapter_model.safetensors", "rb") as f:
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


def train_summary(logging_jsonl: Path) -> dict:
    """The numbers of the last training segment (after any resume) and the final evaluation."""
    rows = read_jsonl(logging_jsonl)
    runtime = next((r for r in reversed(rows) if "train_runtime" in r), None)
    final = next((r for r in reversed(rows) if "last_model_checkpoint" in r), None)
    if runtime is None or final is None:
        raise RuntimeError(f"{logging_jsonl}: ms-swift did not log a finished run (no train_runtime)")
    history = loss_history(logging_jsonl)
    losses = [p for p in history if "loss" in p]
    evals = [p for p in history if "eval_loss" in p]
    tokens = [p["num_input_tokens_seen"] for p in history if "num_input_tokens_seen" in p]
    return {"runtime": runtime, "final": final, "losses": losses, "evals": evals, "tokens": tokens}
