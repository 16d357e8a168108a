#!/usr/bin/env python
"""The full recipe at the real Qwen2.5-7B size on one GPU, with no hub access, measured.

    python scripts/gpu_check.py --out gpu_check.json         # one H100/H200: about 10 minutes
    python scripts/gpu_check.py --cpu --out cpu_check.json   # the same path on a tiny copy (CI runs it)

1. builds a random-weight model from Qwen2.5-7B-Instruct's real config and tokenizer
   (../shared/fixtures/models/qwen2.5-7b-instruct, or --files): at the real size on a GPU (made
   on the GPU in bf16), shrunk to 2 layers on a CPU;
2. fetches it like any model, prepares the bundled dialogues and trains --steps optimizer steps with
   the study's recipe (bf16, flash-attn where the runtime has it, else PyTorch SDPA, gradient
   checkpointing, no packing, effective batch 32) through run.py;
3. serves the result with its adapter (LMDeploy on a GPU, swift deploy on a CPU), checks that the
   adapter is in effect, and runs `evalscope perf` at concurrency 1, 8 and 32;
4. writes everything as one JSON and prints it.

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
def run(cmd: list[str], log: Path) -> None:
    with open(log, "a", encoding="utf-8") as out:
        out.write("$ " + " ".join(cmd) + "\n")
        out.flush()
        status = subprocess.run(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "HF_HUB_OFFLINE": "1"}).returncode
    if status != 0:
        tail = "".join(log.read_text(encoding="utf-8", errors="replace").splitlines(True)[-40:])
        raise SystemExit(f"failed (exit {status}): {' '.join(cmd[:4])} ...; log: {log}\n{tail}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--cpu", action="store_true", help="tiny model, no GPU (what CI runs)")
    parser.add_argument("--files", type=Path, default=DEFAULT_FILES, help="Qwen2.5-7B-Instruct's non-weight files")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps (default 20 on GPU, 3 on CPU)")
    parser.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one)")
    args = parser.parse_args(argv)
    if not (args.files / "config.json").exists():
        raise SystemExit(f"{args.files} has no config.json; give Qwen2.5-7B-Instruct's files with --files "
                         f"(scripts/fetch_model_files.py downloads them)")
    steps = args.steps or (3 if args.cpu else 20)
    work = args.work or Path(tempfile.mkdtemp(prefix="gpu_check_"))
    log = work / "gpu_check.log"
    work.mkdir(parents=True, exist_ok=True)
    started = time.time()

    model_dir = work / "qwen2.5-7b-random"
    build = [sys.executable, str(REPO / "src/mhcompare/tiny/from_fixture.py"), str(args.files), str(model_dir)]
    if not args.cpu:
        build += ["--real-size", "--dtype", "bfloat16", "--device", "cuda"]
    run(build, log)
    built_s = time.time() - started

    overrides = [f"model.source={model_dir}", f"paths.models={work / 'models'}", f"paths.outputs={work / 'out'}",
                 f"paths.cache={work / 'cache'}", "experiment_name=gpu_check", "data=demo", "tracking=none",
                 f"+train.swift.max_steps={steps}", f"train.swift.eval_steps={steps}",
                 f"train.swift.save_steps={steps}", "train.swift.logging_steps=1", "eval.tasks=[perf]",
                 "eval.perf.concurrency=[1,8,32]", "eval.perf.requests_per_level=32",
                 f"eval.perf.max_tokens={16 if args.cpu else 128}", f"eval.generation.max_tokens={16 if args.cpu else 128}"]
    if args.cpu:
        overrides += ["train.effective_batch_size=4", "train.swift.max_length=384", "data.max_rows=64"]
    run([sys.executable, str(REPO / "run.py"), "model=qwen", "stage=[fetch,prepare,train,eval]", *overrides], log)

    run_dir = work / "out" / "gpu_check" / "qwen" / "seed0"
    train = json.loads((run_dir / "train" / "metrics.json").read_text())
    evaluated = json.loads((run_dir / "eval" / "metrics.json").read_text())
    from mhcompare.train.swift_log import safetensors_parameters  # noqa: E402 (after the heavy runs)

    params = sum(safetensors_parameters(p) for p in (work / "models" / "qwen").glob("*.safetensors"))
    tokens_per_s = train["train.tokens_per_s"]
    report = {
        "device": train.get("train.device"), "device_variant": train.get("train.device_variant"), "model": "Qwen2.5-7B-Instruct config, random weights"
        + (" (shrunk to 2 layers)" if args.cpu else ""), "parameters": params, "steps": train["train.steps"],
        "effective_batch_size": train["train.effective_batch_size"], "torch_dtype": train["train.torch_dtype"],
        "attn_impl": train["train.attn_impl"], "packing": train["train.packing"],
        "train_tokens_per_s": tokens_per_s, "train_peak_memory_gib": train["train.peak_memory_gib"],
        "train_peak_memory_kind": train["train.peak_memory_kind"],
        "train_tokens_per_s_with_padding": train.get("train.tokens_per_s_with_padding"),
        "train_step_time_s": train.get("train.step_time_s"), "train_runtime_s": train["train.runtime_s"],
        "mfu": train.get("train.mfu"), "flops_per_token": train.get("train.flops_per_token"),
        "mfu_formula": "real tokens/s x (4N + 12 L d T) / peak dense BF16 FLOP/s of the variant found "
                       "(src/mhcompare/train/throughput.py)",
        "peak_flops": train.get("train.peak_flops"), "adapter_check": {k.split(".")[-1]: v for k, v in evaluated.items() if ".adapter_check." in k},
        "perf": {k[len("eval.perf."):]: v for k, v in evaluated.items() if k.startswith("eval.perf.")},
        "versions": {k[len("runtime."):]: v for k, v in train.items() if k.startswith("runtime.")},
        "build_model_s": round(built_s, 1), "total_s": round(time.time() - started, 1), "log": str(log),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
