"""Synthetic run folders with exactly the files the stages write (config.yaml, <stage>/metrics.json,
<stage>/done.json, train/swift/logging.jsonl, failed.json), so report tests and the aggregate
benchmark need no training. Values are the caller's: tests plant the differences they check."""
import json
from pathlib import Path

import yaml

FACTS = {"params_b": 7.62, "license": "Apache-2.0", "chinese": "native", "context_length": 32768}
RUNTIME = {"runtime.name": "default", "runtime.torch": "2.5.1+cu124", "runtime.transformers": "4.51.3",
           "runtime.peft": "0.14.0", "runtime.ms-swift": "4.6.0"}


def train_metrics(tokens_per_s=1000.0, eval_loss=1.5, runtime_s=3600.0, **more) -> dict:
    """What stage=train writes, with the numbers a test cares about in front."""
    return {"train.tokens_per_s": tokens_per_s, "train.text_bytes_per_token": 1.5, "train.eval_loss": eval_loss, "train.final_loss": eval_loss - 0.1,
            "train.train_loss": eval_loss + 0.2, "train.samples_per_s": tokens_per_s / 500,
            "train.runtime_s": runtime_s,
            "train.gpu_hours": runtime_s / 3600, "train.cpu_hours": 0.0, "train.peak_memory_gib": 40.0,
            "train.peak_memory_kind": "gpu_max_reserved", "train.trainable_params": 20185088,
            "train.tokens_seen": int(tokens_per_s * runtime_s), "train.steps": 100, "train.resumed_from_step": 0,
            **RUNTIME, **more}


def loss_curve(start: float, end: float, steps: int = 100, log_every: int = 10, eval_every: int = 50) -> list[dict]:
    """A straight-line loss from start to end: [{step, loss}] and [{step, eval_loss}] points."""
    points = []
    for step in range(log_every, steps + 1, log_every):
        loss = start + (end - start) * step / steps
        points.append({"step": step, "loss": loss})
        if step % eval_every == 0:
            points.append({"step": step, "eval_loss": loss + 0.05})
    return points


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def config_yaml(experiment: str, model: str, seed: int, facts: dict | None, learning_rate: float) -> str:
    config = {
        "model": {"name": model, "display_name": f"{model.title()}-7B-Chat",
                  "hub": {"modelscope": f"org/{model}-7b", "huggingface": f"org/{model}-7b-hf"},
                  "runtime": "default", "facts": facts if facts is not None else FACTS},
        "train": {"effective_batch_size": 32, "swift": {"lora_rank": 8, "learning_rate": learning_rate}},
        "data": {"name": "mh_sharegpt", "val_ratio": 0.05},
        "experiment_name": experiment, "seed": seed, "stage": ["prepare", "train"],
    }
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True)


def swift_logging_lines(curve: list[dict], runtime_s: float) -> list[dict]:
    """ms-swift's logging.jsonl rows for a curve: one row per logged point, then the summary rows."""
    last = max(p["step"] for p in curve)
    rows = []
    for point in curve:
        row = {k: v for k, v in point.items() if k != "step"}
        rows.append({**row, "num_input_tokens_seen": point["step"] * 1000,
                     "global_step/max_steps": f"{point['step']}/{last}"})
    rows.append({"train_runtime": runtime_s, "train_samples_per_second": 1.0, "train_loss": curve[-1].get("loss", 0.0),
                 "global_step/max_steps": f"{last}/{last}"})
    rows.append({"last_model_checkpoint": f"checkpoint-{last}", "best_model_checkpoint": None, "global_step": last,
                 "memory": 40.0})
    return rows


def write_run(experiment_dir: Path, model: str, seed: int, *, train: dict | None = None, eval: dict | None = None,
              judge: dict | None = None, curve: list[dict] | None = None, failed: dict | None = None,
              facts: dict | None = None, config: bool = True, code_version: str = "0123456789ab",
              data_hash: str = "d4a7a0a5d4a7a0a5", learning_rate: float = 2e-4,
              unfinished: tuple[str, ...] = ()) -> Path:
    """One outputs/<experiment>/<model>/seed<k>/ folder. A stage whose metrics are given is finished
    (metrics.json + done.json); a stage in `unfinished` has a folder and no done.json."""
    folder = Path(experiment_dir) / model / f"seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    if config:
        (folder / "config.yaml").write_text(config_yaml(Path(experiment_dir).name, model, seed, facts, learning_rate),
                                            encoding="utf-8")
    for stage, metrics in (("train", train), ("eval", eval), ("judge", judge)):
        if metrics is None:
            continue
        write_json(folder / stage / "metrics.json", metrics)
        done = {"code_version": code_version, "started": 0.0, "finished": 1.0, "seconds": 1.0,
                "fingerprint": {"config": f"{model}{seed}{stage}", "data_hash": data_hash}}
        if stage == "train":
            done["data_hash"] = data_hash
        write_json(folder / stage / "done.json", done)
    for stage in unfinished:
        (folder / stage).mkdir(parents=True, exist_ok=True)
    if curve:
        runtime_s = float((train or {}).get("train.runtime_s", 60.0))
        logging_jsonl = folder / "train" / "swift" / "logging.jsonl"
        logging_jsonl.parent.mkdir(parents=True, exist_ok=True)
        logging_jsonl.write_text("".join(json.dumps(row) + "\n" for row in swift_logging_lines(curve, runtime_s)),
                                 encoding="utf-8")
    if failed is not None:
        write_json(folder / "failed.json", failed)
    return folder


# A 3-model x 5-seed sweep with planted differences, for the report's tests and its screenshot.
SEEDS = range(5)
SEED_EFFECT = [0.00, 0.02, -0.01, 0.03, -0.02]  # shared by every model: the pairing removes it
JITTER = {"alpha": [0.001, -0.002, 0.000, 0.002, -0.001], "beta": [-0.001, 0.001, 0.002, -0.002, 0.000],
          "gamma": [0.002, 0.000, -0.001, 0.001, -0.002]}
# planted: alpha is best at the MCQ, beta and gamma differ by 0.001 (noise); gamma trains fastest and
# uses the least memory (alpha and beta the same); beta serves fastest and reaches the target loss first
ACCURACY = {"alpha": 0.80, "beta": 0.70, "gamma": 0.699}
TOKENS_PER_S = {"alpha": 1000.0, "beta": 1500.0, "gamma": 2000.0}
MEMORY = {"alpha": 40.0, "beta": 40.0, "gamma": 30.0}
LATENCY = {"alpha": 1.0, "beta": 0.5, "gamma": 0.8}
FINAL_LOSS = {"alpha": 1.2, "beta": 1.0, "gamma": 1.5}


def noise(model, seed):
    return SEED_EFFECT[seed] + JITTER[model][seed]


def accuracy(model, seed):
    return ACCURACY[model] + noise(model, seed)


def write_planted_sweep(experiment_dir):
    for model in ACCURACY:
        for seed in SEEDS:
            e = noise(model, seed)
            evals = {"eval.psych_mcq.accuracy": accuracy(model, seed), "eval.psych_mcq.n": 200}
            for k, slower in ((1, 1.0), (4, 2.5)):
                evals[f"eval.perf.c{k}.latency_s"] = LATENCY[model] * slower + e
                evals[f"eval.perf.c{k}.output_tokens_per_s"] = 50 * k / LATENCY[model] + 100 * e
            train = train_metrics(tokens_per_s=TOKENS_PER_S[model] + 1000 * e, eval_loss=FINAL_LOSS[model] + 0.05 + e,
                                  **{"train.peak_memory_gib": MEMORY[model] + 10 * e})
            write_run(experiment_dir, model, seed, train=train, eval=evals,
                      curve=loss_curve(2.0 + e, FINAL_LOSS[model] + e))
