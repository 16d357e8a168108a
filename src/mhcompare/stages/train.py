"""stage=train: LoRA fine-tuning with ms-swift, one (model, seed) per job.

    prepared data + model + recipe -> `swift sft` (child process) -> adapter/, metrics.json, done.json

An interrupted run (pre-emption, time limit) resumes from its last checkpoint when the job is
started again with the same config; a finished one is skipped unless force=true.
"""
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from mhcompare import artifacts
from mhcompare.config import config_hash
from mhcompare.io import atomic_dir, atomic_write_json, read_json
from mhcompare.models import model_location
from mhcompare.runtimes import library_versions, runtime_python
from mhcompare.stages.prepare import prepared_files
from mhcompare.tokens import SWIFT_PLUGIN
from mhcompare.tracking import TrainingLogFollower, check_tracking
from mhcompare.train.hardware import gpu_name, visible_gpus
from mhcompare.train.recipe import as_cli, dataset_for_swift_version, for_swift_version, resolve_recipe
from mhcompare.train.subprocess_run import check_not_stopped, run_streamed
from mhcompare.train.swift_log import adapter_parameters, dataset_lengths, latest_checkpoint, train_summary
from mhcompare.train.throughput import attention_width, device_peak, flops_per_token, mfu, multiplying_parameters

log = logging.getLogger(__name__)
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "additional_config.json")


class TrainError(RuntimeError):
    pass


def build_swift_args(cfg, location: str, files: dict, output_dir, recipe: dict) -> dict:
    """Every argument `swift sft` gets, as a dict (see recipe.as_cli for the command line)."""
    return {
        "model": location,
        "model_type": cfg.model.swift.model_type,
        "template": cfg.model.swift.template,
        # null: the template's default system prompt; a model file may replace it (InternLM2)
        "system": cfg.model.swift.get("system"),
        "check_model": False,
        "dataset": str(files["train"]),
        "val_dataset": str(files["val"]),
        "split_dataset_ratio": 0.0,
        "output_dir": str(output_dir),
        "add_version": False,
        "seed": int(cfg.seed),
        "data_seed": int(cfg.seed),
        "include_num_input_tokens_seen": True,
        # templates that do not change with the date (tokens/swift_plugin.py)
        "external_plugins": [str(SWIFT_PLUGIN)],
        **recipe,
        # SwanLab is fed by the orchestrator from ms-swift's logging.jsonl (tracking.py)
        "report_to": "none",
    }


def fingerprint(swift_args: dict, data_hash: str, versions: dict) -> dict:
    """What the result depends on: the resolved ms-swift arguments (paths aside), the data and
    the library versions of the runtime."""
    stable = {k: v for k, v in swift_args.items() if k not in {"dataset", "val_dataset", "output_dir", "report_to"}}
    return {"config": config_hash(stable), "data_hash": data_hash, "runtime": config_hash(versions)}


@dataclass
class TrainJob:
    """One run's training, resolved and checked before anything is written."""
    python: str                  # the interpreter of the model's runtime
    versions: dict               # its library versions
    gpus: int
    recipe: dict                 # the fair recipe, adapted to this machine
    notes: list[str]             # what was adapted, and why
    files: dict                  # the prepared train/val files and their hash
    swift_args: dict             # every `swift sft` argument
    expected: dict               # the fingerprint a finished run must match


def run(cfg) -> dict:
    out = artifacts.stage_dir(cfg, "train")
    job = resolve_job(cfg, out)
    if not cfg.force and artifacts.is_done(out, job.expected):
        log.info("train: %s is done; skipped (force=true redoes it)", out)
        return read_json(out / "metrics.json")
    resumed_from, tokens_at_resume = start_or_resume(cfg, out, job)
    started = time.time()
    result = run_swift(cfg, out, job)
    summary = train_summary(artifacts.swift_output_dir(out) / "logging.jsonl")
    keep_adapter(summary, out / "adapter")
    metrics = train_metrics(cfg, summary=summary, result=result, recipe=job.recipe, gpus=job.gpus,
                            resumed_from=resumed_from, tokens_at_resume=tokens_at_resume,
                            swift_dir=artifacts.swift_output_dir(out), adapter_dir=out / "adapter",
                            versions=job.versions)
    artifacts.write_metrics(out, metrics)
    artifacts.mark_done(out, job.expected, started, data_hash=job.files["data_hash"], notes=job.notes)
    log.info("train: %s seed %s eval_loss=%.4f tokens/s=%.1f -> %s", cfg.model.name, cfg.seed,
             metrics.get("train.eval_loss", float("nan")), metrics["train.tokens_per_s"], out)
    return metrics


def resolve_job(cfg, out: Path) -> TrainJob:
    """Inputs checked: tracking, the runtime, the recipe for this machine, the model's files, the
    prepared data; then every `swift sft` argument and the fingerprint they make."""
    check_tracking(cfg)
    python = runtime_python(cfg.runtimes.root, cfg.model.runtime, cfg.model.name)
    versions = library_versions(python)
    gpus = visible_gpus()
    recipe, notes = resolve_recipe(cfg, gpus, flash_attn_installed=bool(versions.get("flash-attn")))
    location = model_location(cfg)
    files = dataset_for_swift_version(prepared_files(cfg), versions["ms-swift"])
    swift_args = build_swift_args(cfg, location, files, artifacts.swift_output_dir(out), recipe)
    return TrainJob(python, versions, gpus, recipe, notes, files, swift_args,
                    fingerprint(swift_args, files["data_hash"], versions))


def start_or_resume(cfg, out: Path, job: TrainJob) -> tuple[Path | None, int]:
    """Clear a run made under other settings (or any, with force=true); resume from the newest
    checkpoint otherwise. Returns that checkpoint and the tokens seen up to it."""
    previous = out / "attempt.json"
    if cfg.force or (previous.exists() and read_json(previous)["fingerprint"] != job.expected):
        shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    for note in job.notes:
        log.warning("train: %s", note)
    resume = latest_checkpoint(artifacts.swift_output_dir(out))
    tokens_at_resume = 0
    if resume is not None:
        job.swift_args["resume_from_checkpoint"] = str(resume)
        tokens_at_resume = read_json(resume / "trainer_state.json").get("num_input_tokens_seen", 0)
        log.info("train: resuming from %s", resume)
    atomic_write_json(previous, {"fingerprint": job.expected, "swift_args": job.swift_args, "notes": job.notes})
    return resume, tokens_at_resume


def run_swift(cfg, out: Path, job: TrainJob) -> dict:
    """`swift sft` as a child process in the model's runtime, its log streamed to swift.log and its
    metrics to the tracker; stops with the log's last lines if it fails."""
    cmd = swift_command(job.python, job.gpus) + as_cli(for_swift_version(job.swift_args, job.versions["ms-swift"]))
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
    if not job.gpus:
        env.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    if "resume_from_checkpoint" in job.swift_args and loads_rng_state_unsafely(job.versions):
        # transformers < 4.50 reads the checkpoint's rng_state.pth (numpy arrays inside) with a plain
        # torch.load, which torch >= 2.6 refuses as not weights-only: every resume in the legacy
        # runtime failed. The file is this run's own checkpoint, written by this same process tree.
        env["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"
    logging_jsonl = artifacts.swift_output_dir(out) / "logging.jsonl"
    with TrainingLogFollower(cfg, logging_jsonl, config={**job.swift_args, "notes": job.notes}):
        result = run_streamed(cmd, out / "swift.log", env=env)
    check_not_stopped(result["returncode"], "ms-swift")
    if result["returncode"] != 0:
        raise TrainError(f"ms-swift exited with status {result['returncode']} for {cfg.model.name} seed {cfg.seed}; "
                         f"full log: {out / 'swift.log'}\n--- last lines ---\n{result['tail']}")
    return result


def keep_adapter(summary: dict, adapter_dir: Path) -> None:
    """The best (else the last) checkpoint's adapter files, into adapter/ (all or nothing)."""
    checkpoint = summary["final"].get("best_model_checkpoint") or summary["final"]["last_model_checkpoint"]
    with atomic_dir(adapter_dir) as tmp:
        for name in ADAPTER_FILES:
            if (Path(checkpoint) / name).exists():
                shutil.copy2(Path(checkpoint) / name, tmp / name)


def loads_rng_state_unsafely(versions: dict) -> bool:
    """Whether the runtime's transformers resumes with a torch.load that torch >= 2.6 refuses."""
    from packaging.version import Version

    return bool(versions.get("transformers")) and Version(versions["transformers"]) < Version("4.50")


def swift_command(python: str, gpus: int) -> list[str]:
    if gpus > 1:
        return [python, "-m", "torch.distributed.run", f"--nproc_per_node={gpus}", "-m", "swift.cli.sft"]
    return [python, "-m", "swift.cli.sft"]


def train_metrics(cfg, *, summary: dict, result: dict, recipe: dict, gpus: int, resumed_from: Path | None,
                  tokens_at_resume: int, swift_dir: Path, adapter_dir: Path, versions: dict) -> dict:
    """Flat, unit-bearing numbers. Time, GPU-hours and the mean loss cover every segment of a run
    that was resumed; throughput is measured on the last segment alone (a clean measurement), in
    real tokens over its training steps only (train/throughput.py)."""
    runtime, final = summary["runtime"], summary["final"]
    segments = summary["segments"]
    total_s = sum(segment.wall_s for segment in segments) or float(runtime["train_runtime"])
    tokens = summary["tokens"]
    padded_tokens = tokens[-1] - tokens_at_resume if tokens else 0
    resumed_step = int(resumed_from.name.split("-")[1]) if resumed_from else 0
    steps = int(final["global_step"])
    measured, trained_steps = segments[-1], steps - resumed_step
    if measured.first_step is None and len(segments) == 2:
        # resumed from the final checkpoint (killed after training, before done.json): nothing was
        # trained in the last segment, so the first one, which started at step 0, is measured
        measured, trained_steps = segments[0], segments[0].last_step or 0
    speed = segment_throughput(measured, swift_dir, summary, trained_steps)
    gpu_memory = float(final.get("memory") or 0)
    metrics = {
        "train.final_loss": summary["losses"][-1]["loss"] if summary["losses"] else None,
        # the mean of the logged losses over the whole run (ms-swift's train_loss covers one segment)
        "train.train_loss": summary["mean_logged_loss"],
        "train.eval_loss": summary["evals"][-1]["eval_loss"] if summary["evals"] else None,
        "train.steps": steps,
        "train.runtime_s": total_s,
        "train.segments": len(segments),
        "train.step_time_s": speed["step_time_s"],
        "train.samples_per_s": speed["samples_per_s"],
        # real tokens: ms-swift's own tokenization of what it trained on, no padding
        "train.tokens_seen": speed["tokens_per_step"] * steps if speed["tokens_per_step"] else None,
        "train.tokens_per_step": speed["tokens_per_step"],
        "train.tokens_per_s": speed["tokens_per_s"],
        # transformers' counter (every position of the padded batch): grows with the per-device batch
        "train.tokens_seen_with_padding": int(tokens[-1]) if tokens else None,
        "train.tokens_per_s_with_padding": padded_tokens / speed["step_time_s"] if speed["step_time_s"] else None,
        "train.peak_memory_gib": gpu_memory if gpus else result["peak_rss_gib"],
        "train.peak_memory_kind": "gpu_max_reserved" if gpus else "process_rss",
        "train.trainable_params": adapter_parameters(adapter_dir),
        "train.resumed_from_step": resumed_step,
        "train.gpus": gpus,
        "train.gpu_hours": gpus * total_s / 3600,
        "train.cpu_hours": (0 if gpus else total_s / 3600),
        "train.effective_batch_size": int(cfg.train.effective_batch_size),
        "train.per_device_batch_size": recipe["per_device_train_batch_size"],
        "train.gradient_accumulation_steps": recipe["gradient_accumulation_steps"],
        "train.torch_dtype": recipe["torch_dtype"],
        "train.attn_impl": recipe["attn_impl"],
        "train.packing": bool(recipe["packing"]),
        "runtime.name": str(cfg.model.runtime),
    }
    metrics.update(utilisation(cfg, speed, summary, gpus))
    metrics.update({f"runtime.{k}": v for k, v in versions.items() if v is not None})
    metrics["train.text_bytes_per_token"] = text_bytes_per_token(cfg)
    return metrics


def segment_throughput(segment, swift_dir: Path, summary: dict, steps: int) -> dict:
    """Real tokens and samples per second of training steps in one segment: its wall time less its
    evaluations (ms-swift's eval_runtime) and its checkpoint saves (the span of each saved file's
    modification time); real tokens from ms-swift's statistics of the dataset, spread evenly over
    an epoch's optimizer steps."""
    saves = checkpoint_save_seconds(swift_dir, segment.first_step, segment.last_step)
    step_time_s = max(segment.wall_s - segment.eval_s - saves, 0.0) or None
    lengths = dataset_lengths(summary["final"])
    epochs_per_step = float(summary["runtime"].get("epoch") or 0) / int(summary["final"]["global_step"] or 1)
    if lengths is None or not epochs_per_step or not step_time_s:
        return {"step_time_s": step_time_s, "tokens_per_step": None, "tokens_per_s": None, "samples_per_s": None,
                "lengths": lengths}
    tokens_per_step = lengths.tokens * epochs_per_step
    return {"step_time_s": step_time_s, "tokens_per_step": tokens_per_step, "lengths": lengths,
            "tokens_per_s": tokens_per_step * steps / step_time_s,
            "samples_per_s": lengths.rows * epochs_per_step * steps / step_time_s}


def checkpoint_save_seconds(swift_dir: Path, first_step: int | None, last_step: int | None) -> float:
    """Time spent saving the checkpoints of steps first_step..last_step: for each, from its first
    file's modification to its last's (what the folder still holds; a deleted one counts 0)."""
    total = 0.0
    for path in Path(swift_dir).glob("checkpoint-*"):
        step = path.name.split("-")[-1]
        if not step.isdigit() or first_step is None or not first_step <= int(step) <= (last_step or 0):
            continue
        times = [f.stat().st_mtime for f in path.iterdir() if f.is_file()]
        if times:
            total += max(times) - min(times)
    return total


def utilisation(cfg, speed: dict, summary: dict, gpus: int) -> dict:
    """MFU against the peak of the device found (train/throughput.py); none on a CPU or an unknown device."""
    name = gpu_name() if gpus else None
    found = device_peak(name)
    if not found or not speed["tokens_per_s"]:
        return {"train.device": name or "cpu"}
    variant, peak = found
    location = Path(model_location(cfg))
    config = read_json(location / "config.json")
    layers, width = attention_width(config)
    per_token = flops_per_token(multiplying_parameters(location), layers, width, speed["lengths"].mean,
                                speed["lengths"].sd)
    return {"train.device": name, "train.device_variant": variant, "train.peak_flops": peak,
            "train.flops_per_token": per_token, "train.mfu": mfu(speed["tokens_per_s"], per_token, gpus, peak)}


def text_bytes_per_token(cfg) -> float | None:
    """UTF-8 bytes of the training text per token of this model's tokenizer and template (from
    prepare's count): turns tokens/s into text bytes/s, which compares across tokenizers."""
    prepared = artifacts.stage_dir(cfg, "prepare") / "metrics.json"
    if not prepared.exists():
        return None
    counts = read_json(prepared)
    text_bytes, tokens = counts.get("prepare.text_bytes_total"), counts.get("prepare.tokens_total")
    return text_bytes / tokens if text_bytes and tokens else None
