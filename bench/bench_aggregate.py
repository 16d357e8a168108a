"""How fast stage=aggregate is: the whole report over 10,000 synthetic run folders.

    python bench/bench_aggregate.py [--models 5] [--seeds 2000] [--repeats 2]

Each run folder has what a finished train + eval writes (config.yaml, metrics.json and done.json per
stage, a loss curve in logging.jsonl); 1% of runs failed. Prints seconds and runs/s per build;
the first build reads cold-ish files, the later ones show the cost of re-running.
"""
import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "src")]

from mhcompare.report.build import Settings, build_report  # noqa: E402
from support.synthetic_runs import loss_curve, train_metrics, write_run  # noqa: E402


def write_sweep(experiment: Path, models: int, seeds: int) -> int:
    rng = random.Random(0)
    for m in range(models):
        model = f"model{m}"
        for seed in range(seeds):
            e = rng.gauss(0, 0.01)
            if rng.random() < 0.01:
                write_run(experiment, model, seed, unfinished=("train",),
                          failed={"stage": "train", "error": "synthetic failure", "log": "none"})
                continue
            evals = {"eval.psych_mcq.accuracy": 0.6 + 0.03 * m + e, "eval.psych_mcq.n": 200,
                     "eval.dialogue.rouge_l": 0.2 + e, "eval.dialogue.bleu4": 0.05 + e, "eval.dialogue.n": 200,
                     "eval.crisis.pass_rate": 0.9 - 0.01 * m + e, "eval.crisis.n": 40}
            for dimension in ("empathy", "safety", "professionalism"):
                evals[f"eval.dialogue.judge.{dimension}"] = 3.5 + 0.1 * m + 10 * e
            for k in (1, 4, 16):
                evals[f"eval.perf.c{k}.latency_s"] = (1 + 0.1 * m) * (1 + k / 8) + e
                evals[f"eval.perf.c{k}.ttft_s"] = 0.1 * (1 + m / 10) + e / 10
                evals[f"eval.perf.c{k}.output_tokens_per_s"] = 40 * k / (1 + 0.1 * m) + 100 * e
                evals[f"eval.perf.c{k}.requests_per_s"] = k / (1 + 0.1 * m) + e
            write_run(experiment, model, seed, train=train_metrics(1000 + 100 * m + 1000 * e, 1.3 - 0.02 * m + e),
                      eval=evals, curve=loss_curve(2.0 + e, 1.25 - 0.02 * m + e))
    return models * seeds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        experiment = Path(tmp) / "bench"
        started = time.perf_counter()
        runs = write_sweep(experiment, args.models, args.seeds)
        print(f"wrote {runs} synthetic run folders in {time.perf_counter() - started:.1f} s")
        for attempt in range(args.repeats):
            started = time.perf_counter()
            result = build_report(experiment, experiment / "report", Settings())
            seconds = time.perf_counter() - started
            print(f"aggregate #{attempt + 1}: {result['runs']} runs, {result['failed']} failed, "
                  f"{seconds:.2f} s, {result['runs'] / seconds:.0f} runs/s")


if __name__ == "__main__":
    main()
