"""How many GPUs this job sees, without importing torch."""
import os
import shutil
import subprocess


def visible_gpus() -> int:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in {"", "-1"}:
        return 0
    if shutil.which("nvidia-smi") is None:
        return 0
    try:
        listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    count = sum(line.startswith("GPU ") for line in listed.splitlines())
    if visible:
        count = min(count, len([v for v in visible.split(",") if v.strip()]))
    return count


def gpu_name() -> str | None:
    """The first visible GPU's name as nvidia-smi prints it ("NVIDIA H100 80GB HBM3"), or None."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        names = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                               text=True, timeout=30).stdout.strip().splitlines()
    except (OSError, subprocess.SubprocessError):
        return None
    return names[0].strip() if names else None
