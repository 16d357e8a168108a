#!/usr/bin/env python
"""The full recipe at the real Qwen2.5-7B size on one GPU, with no hub access, measured.

    python scripts/gpu_check.py --out gpu_check.json         # one H100/H200: about 10 minutes
    python scripts/gpu_check.py --cpu --out cpu_check.json   # the same path on a tiny copy (CI runs it)

1. builds a random-weight model from Qwen2.5-7B-Instruct's real config and tokenizer
   (../shared/fixtures/models/qwen2.5-7b-instruct, or --files): at the real size on a GPU (made
   on the GPU in bf16), shrunk to 2 layers on a CPU;
2. builds or finds the serving runtime (`python run.py stage=runtime model=qwen`: LMDeploy's, under
   runtimes.root; built once where there is network, found by later runs and by offline nodes);
3. fetches the model like any model, prepares the bundled dialogues and trains --steps optimizer
   steps with the study's recipe (bf16, flash-attn where the runtime has it, else PyTorch SDPA,
   gradient checkpointing, no packing, effective batch 32) through run.py;
4. serves the result with its adapter (LMDeploy on a GPU, swift deploy on a CPU), checks that the
   adapter is in effect (its config as the serving runtime loads it, and greedy answers that differ
   from the base model's), and runs `evalscope perf` at concurrency 1, 8 and 32;
5. writes everything as one JSON and prints it: always, also when a step fails (`ok`, and per step
   what ran, how long, its exit status and, for the one that failed, the last lines of its log).
   Exit status 0 only when every step passed.

MFU, tokens and time as the train stage records them (src/mhcompare/train/throughput.py): real
tokens (no padding) per second of training steps (no evaluation, no checkpoint saves), FLOPs per
token 4N + 12LdT (PaLM's definition for LoRA: N = parameters that multiply, the input embedding
table left out; attention counted), against the dense BF16 peak of the variant nvidia-smi names
(H100 SXM 989.5, PCIe 756.5, NVL 835.5 TFLOP/s; an unknown device gets none).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_FILES = REPO.parent / "shared" / "fixtures" / "models" / "qwen2.5-7b-instruct"


def gpu_name() -> str | None:
    """The GPU nvidia-smi names, for the report of a check that fails before training says which."""
    try:
        names = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                               text=True, timeout=30).stdout.strip().splitlines()
    except (OSError, subprocess.SubprocessError):
        return None
    return names[0] if names else None


class StepFailed(Exception):
    pass


class Steps:
    """Runs the check's steps in order and records each in report["steps"]."""

    def __init__(self, report: dict, log: Path):
        self.report, self.log = report, log

    def command(self, name: str, cmd: list[str]) -> None:
        with open(self.log, "a", encoding="utf-8") as out:
            out.write(f"# step {name}\n$ " + " ".join(cmd) + "\n")
            out.flush()
            started = time.time()
            status = subprocess.run(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                    env={**os.environ, "HF_HUB_OFFLINE": "1"}).returncode
        step = {"step": name, "command": " ".join(cmd), "seconds": round(time.time() - started, 1), "exit": status,
                "status": "ok" if status == 0 else "failed"}
        self.report["steps"].append(step)
        if status != 0:
            step["log_tail"] = "".join(self.log.read_text(encoding="utf-8", errors="replace").splitlines(True)[-40:])
            raise StepFailed(name)

    def python(self, name: str, function, *args):
        """A step run here (no command): its exception is the failure."""
        started = time.time()
        try:
            result = function(*args)
        except Exception as error:
            self.report["steps"].append({"step": name, "seconds": round(time.time() - started, 1), "status": "failed",
                                         "error": f"{type(error).__name__}: {error}"})
            raise StepFailed(name) from error
        self.report["steps"].append({"step": name, "seconds": round(time.time() - started, 1), "status": "ok"})
        return result


def check_inputs(files: Path) -> None:
    if not (files / "config.json").exists():
        raise FileNotFoundError(f"{files} has no config.json; give Qwen2.5-7B-Instruct's files with --files "
                                f"(scripts/fetch_model_files.py downloads them)")


def run_check(args, steps: Steps, work: Path, report: dict) -> None:
    steps.python("inputs", check_inputs, args.files)
    model_dir = work / "qwen2.5-7b-random"
    build = [sys.executable, str(REPO / "src/mhcompare/tiny/from_fixture.py"), str(args.files), str(model_dir)]
    if not args.cpu:
        build += ["--real-size", "--dtype", "bfloat16", "--device", "cuda"]
    steps.command("build_model", build)

    steps_n = args.steps or (3 if args.cpu else 20)
    overrides = [f"model.source={model_dir}", f"paths.models={work / 'models'}", f"paths.outputs={work / 'out'}",
                 f"paths.cache={work / 'cache'}", "experiment_name=gpu_check", "data=demo", "tracking=none",
                 f"+train.swift.max_steps={steps_n}", f"train.swift.eval_steps={steps_n}",
                 f"train.swift.save_steps={steps_n}", "train.swift.logging_steps=1", "eval.tasks=[perf]",
                 "eval.perf.concurrency=[1,8,32]", "eval.perf.requests_per_level=32",
                 f"eval.perf.max_tokens={16 if args.cpu else 128}", f"eval.generation.max_tokens={16 if args.cpu else 128}"]
    if args.cpu:  # served by swift deploy in the training runtime: no GPU runtime to build
        overrides += ["train.effective_batch_size=4", "train.swift.max_length=384", "data.max_rows=64",
                      "eval.serving.backend=transformers"]
    runtimes = [f"runtimes.root={args.runtimes}"] if args.runtimes else []
    steps.command("runtime", [sys.executable, str(REPO / "run.py"), "model=qwen", "stage=runtime", *overrides, *runtimes])
    steps.command("fetch_prepare_train", [sys.executable, str(REPO / "run.py"), "model=qwen",
                                          "stage=[fetch,prepare,train]", *overrides, *runtimes])
    steps.command("serve_check_perf", [sys.executable, str(REPO / "run.py"), "model=qwen", "stage=eval", *overrides,
                                       *runtimes])
    report.update(steps.python("collect", collect, args, work))


def collect(args, work: Path) -> dict:
    run_dir = work / "out" / "gpu_check" / "qwen" / "seed0"
    train = json.loads((run_dir / "train" / "metrics.json").read_text())
    evaluated = json.loads((run_dir / "eval" / "metrics.json").read_text())
    from mhcompare.train.swift_log import safetensors_parameters  # noqa: E402 (after the heavy runs)

    params = sum(safetensors_parameters(p) for p in (work / "models" / "qwen").glob("*.safetensors"))
    tokens_per_s = train["train.tokens_per_s"]
    return {
        "device": train.get("train.device"), "device_variant": train.get("train.device_variant"),
        "model": "Qwen2.5-7B-Instruct config, random weights" + (" (shrunk to 2 layers)" if args.cpu else ""),
        "parameters": params, "steps_trained": train["train.steps"],
        "effective_batch_size": train["train.effective_batch_size"], "torch_dtype": train["train.torch_dtype"],
        "attn_impl": train["train.attn_impl"], "packing": train["train.packing"],
        "train_tokens_per_s": tokens_per_s, "train_peak_memory_gib": train["train.peak_memory_gib"],
        "train_peak_memory_kind": train["train.peak_memory_kind"],
        "train_tokens_per_s_with_padding": train.get("train.tokens_per_s_with_padding"),
        "train_step_time_s": train.get("train.step_time_s"), "train_runtime_s": train["train.runtime_s"],
        "mfu": train.get("train.mfu"), "flops_per_token": train.get("train.flops_per_token"),
        "mfu_formula": "real tokens/s x (4N + 12 L d T) / peak dense BF16 FLOP/s of the variant found "
                       "(src/mhcompare/train/throughput.py)",
        "peak_flops": train.get("train.peak_flops"),
        "adapter_check": {k.split(".")[-1]: v for k, v in evaluated.items() if ".adapter_check." in k},
        "perf": {k[len("eval.perf."):]: v for k, v in evaluated.items() if k.startswith("eval.perf.")},
        "versions": {k[len("runtime."):]: v for k, v in train.items() if k.startswith("runtime.")},
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--cpu", action="store_true", help="tiny model, no GPU (what CI runs)")
    parser.add_argument("--files", type=Path, default=DEFAULT_FILES, help="Qwen2.5-7B-Instruct's non-weight files")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps (default 20 on GPU, 3 on CPU)")
    parser.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one)")
    parser.add_argument("--runtimes", type=Path, default=None, help="runtimes.root (default: the config's)")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="gpu_check_"))
    work.mkdir(parents=True, exist_ok=True)
    log = work / "gpu_check.log"
    started = time.time()
    report = {"ok": False, "device": "cpu" if args.cpu else gpu_name(), "steps": [], "log": str(log)}
    try:
        run_check(args, Steps(report, log), work, report)
        report["ok"] = True
    except StepFailed as failed:
        report["failed_step"] = str(failed)
    finally:
        report["total_s"] = round(time.time() - started, 1)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(json.dumps(report, indent=2))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
