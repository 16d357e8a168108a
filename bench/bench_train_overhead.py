"""How much the framework costs: `run.py --help` start-up, and `run.py stage=train` against
calling `swift sft` directly with the very same arguments on the tiny model.

    python bench/bench_train_overhead.py [--repeats 3]

Prints seconds and ratios; the baselines are measured in the same run.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def timed(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, env=ENV, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    repeats = parser.parse_args().repeats
    python = sys.executable

    bare = statistics.median(timed([python, "-c", "import hydra"]) for _ in range(repeats))
    help_s = statistics.median(timed([python, "run.py", "--help"]) for _ in range(repeats))
    print(f"run.py --help: {help_s:.2f} s  (python -c 'import hydra': {bare:.2f} s, ratio {help_s / bare:.2f})")

    with tempfile.TemporaryDirectory() as tmp:
        common = ["model=tiny_qwen", f"paths.outputs={tmp}/out", f"paths.cache={tmp}/cache", "tracking=none",
                  "train.swift.max_length=512", "train.effective_batch_size=16"]
        subprocess.run([python, "run.py", "stage=prepare", *common], cwd=REPO, env=ENV, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        framework, direct = [], []
        for _ in range(repeats):
            framework.append(timed([python, "run.py", "stage=train", "force=true", *common]))
            attempt = json.loads(Path(tmp, "out/demo/tiny_qwen/seed0/train/attempt.json").read_text())
            args = {**attempt["swift_args"], "output_dir": f"{tmp}/direct"}
            argv = []
            for key, value in args.items():
                if value is None:
                    continue
                argv += [f"--{key}", str(value).lower() if isinstance(value, bool) else str(value)]
            direct.append(timed([python, "-m", "swift.cli.sft", *argv]))
            subprocess.run(["rm", "-rf", f"{tmp}/direct"], check=True)
    f, d = statistics.median(framework), statistics.median(direct)
    print(f"train tiny_qwen via run.py: {f:.1f} s, swift sft directly: {d:.1f} s, "
          f"overhead ratio {f / d:.2f} ({f - d:+.1f} s)")


if __name__ == "__main__":
    main()
