"""Evaluation cost on the tiny model: EvalScope wall time per 100 dialogue items, and the eval
stage's overhead over calling EvalScope directly, against the same already-running server.

    python bench/bench_eval.py [--items 100]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from conftest import compose_config  # noqa: E402
from mhcompare.eval.datasets import dialogue_records, write_qa_sets  # noqa: E402
from mhcompare.eval.evalscope_run import run_evalscope  # noqa: E402
from mhcompare.serving import served_model  # noqa: E402
from mhcompare.stages import eval as eval_stage  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100)
    items = parser.parse_args().items
    with tempfile.TemporaryDirectory() as tmp:
        common = ["model=tiny_qwen", f"paths.outputs={tmp}/out", f"paths.cache={tmp}/cache", "tracking=none",
                  "train.swift.max_length=512", "train.effective_batch_size=16", "data.val_ratio=0.2",
                  "eval.generation.max_tokens=32"]
        subprocess.run([sys.executable, "run.py", "stage=[prepare,train]", *common], cwd=REPO, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cfg = compose_config(common + ["eval.tasks=[dialogue]"])
        with served_model(cfg, log_path=Path(tmp) / "server.log") as endpoint:
            records = dialogue_records(Path(tmp) / "out/demo/data/demo/val.jsonl", items)
            folder = write_qa_sets(Path(tmp) / "direct", {"dialogue": records})
            # warm-up: the first EvalScope call in a process pays its imports and tokenizer loads
            run_evalscope(endpoint, {"general_qa": {"local_path": str(folder), "subset_list": ["dialogue"]}},
                          Path(tmp) / "warm_work", cfg.eval.generation, cfg.eval.eval_batch_size, limit=4)
            started = time.perf_counter()
            run_evalscope(endpoint, {"general_qa": {"local_path": str(folder), "subset_list": ["dialogue"]}},
                          Path(tmp) / "direct_work", cfg.eval.generation, cfg.eval.eval_batch_size)
            direct = time.perf_counter() - started
            staged = compose_config(common + ["eval.tasks=[dialogue]", f"eval.dialogue.max_items={len(records)}",
                                              "eval.serving.backend=external", f"eval.serving.base_url={endpoint.base_url}",
                                              f"eval.serving.model={endpoint.model}"])
            started = time.perf_counter()
            eval_stage.run(staged)
            stage = time.perf_counter() - started
    n = len(records)
    print(f"EvalScope directly: {direct:.1f} s for {n} items = {100 * direct / n:.1f} s per 100 items")
    print(f"eval stage on the same {n} items and server: {stage:.1f} s; overhead ratio stage/direct "
          f"{stage / direct:.2f} ({stage - direct:+.1f} s)")


if __name__ == "__main__":
    main()
