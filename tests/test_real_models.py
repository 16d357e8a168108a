"""The five real models end to end, each in its runtime, with experiment=full's settings.

Each model is a tiny random-weight copy built from its real files (real tokenizer, chat template
and remote code; ../shared/fixtures/models), fetched from that folder like a colleague's copy,
then prepared, trained with the shared LoRA recipe, served with its adapter and evaluated on
every task at small n, with SwanLab in local mode, as `python run.py experiment=full` runs them
(on a CPU: float32, no flash-attn, swift deploy instead of LMDeploy).
"""
import shutil

import pytest

from conftest import compose_config, run_py
from mhcompare.fetch.manifest import MANIFEST
from mhcompare.io import read_json, read_jsonl
from mhcompare.train.swift_log import dataset_lengths
from support.real_models import REAL_MODELS

pytestmark = pytest.mark.slow

SMALL = ["data=demo", "data.max_rows=40", "train.effective_batch_size=4", "train.swift.max_length=384",
         "+train.swift.max_steps=2", "train.swift.eval_steps=2", "train.swift.save_steps=1",
         "train.swift.logging_steps=1", "eval.limit=3", "eval.dialogue.max_items=3", "eval.generation.max_tokens=16",
         "eval.perf.concurrency=[1]", "eval.perf.requests_per_level=2", "eval.perf.max_tokens=16"]
STACK = {"qwen": ("default", "5.19.0", "4.6.0"), "llama": ("default", "5.19.0", "4.6.0"),
         "chatglm": ("legacy", "4.41.2", "3.0.3"), "baichuan": ("legacy", "4.41.2", "3.0.3"),
         "internlm": ("legacy", "4.41.2", "3.0.3")}


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    return tmp_path_factory.mktemp("real_models")


@pytest.fixture(scope="module")
def full_run(outputs, tiny_real_model, runtimes_root):
    """full_run("qwen") -> (run.py's output, the source): the whole pipeline once per model and module."""
    done = {}

    def run(model):
        if model not in done:
            source = tiny_real_model(model)
            done[model] = run_py("experiment=full", f"model={model}", "seed=0", "hydra/launcher=local",
                                 "stage=[fetch,prepare,train,eval]", f"model.source={source}",
                                 f"paths.models={outputs / 'models'}", f"paths.outputs={outputs}",
                                 f"runtimes.root={runtimes_root}", *SMALL, timeout=1500), source
        return done[model]
    return run


@pytest.mark.parametrize("model", REAL_MODELS)
def test_fetch_prepare_train_eval_with_the_full_setup(model, outputs, full_run, runtimes_root):
    out, source = full_run(model)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    assert f"{model} seed0: succeeded" in out.stdout + out.stderr

    manifest = read_json(outputs / "models" / model / MANIFEST)
    assert manifest["request"]["path"] == str(source)
    assert [r["repair"] for r in manifest["repairs"]] == (["baichuan_tokenizer_order"] if model == "baichuan" else [])

    run = outputs / "full" / model / "seed0"
    prepared = read_json(run / "prepare" / "metrics.json")
    assert prepared["prepare.tokens_counted_with"] == "ms-swift template"
    assert 0 < prepared["prepare.tokens_mean"] <= prepared["prepare.tokens_max"]

    train = read_json(run / "train" / "metrics.json")
    runtime, transformers, swift = STACK[model]
    assert (train["runtime.name"], train["runtime.transformers"], train["runtime.ms-swift"]) == STACK[model]
    assert train["train.steps"] == 2 and 0 < train["train.eval_loss"] < 30
    assert train["train.tokens_per_step"] > 0 and train["train.trainable_params"] > 0
    assert train["train.packing"] is False
    assert train["train.attn_impl"] == {"qwen": "sdpa", "llama": "sdpa", "internlm": "eager"}.get(model)

    metrics = read_json(run / "eval" / "metrics.json")
    for key in ("eval.psych_mcq.accuracy", "eval.dialogue.rouge_l", "eval.crisis.rule_pass_rate",
                "eval.perf.c1.latency_s"):
        assert key in metrics, key
    assert metrics["eval.psych_mcq.n"] == metrics["eval.crisis.n"] == 3
    assert metrics["eval.perf.c1.failed_requests"] == 0
    server_log = (run / "eval" / "server.log").read_text()
    # served in its own runtime, in the dialect of that runtime's ms-swift
    assert f"{runtime}/bin/python -m swift.cli.deploy" in server_log or runtime == "default"
    assert ("--infer_backend pt" in server_log) == swift.startswith("3.")
    if model == "chatglm":
        assert "--template glm4" in server_log

    # SwanLab (local) has the training curve of this run, in the experiment's group
    runs = [p.read_bytes() for p in (outputs / "full" / "swanlog").glob("run-*/run-*.swanlab")
            if f"{model}-seed0".encode() in p.read_bytes()[:400]]
    assert runs and all(b":\x04full" in r[:400] for r in runs)
    assert any(b"train/loss" in r and b"eval/loss" in r and b"train/learning_rate" in r for r in runs)
    assert metrics["eval.adapter_check.passed"] == 1
    assert metrics["eval.adapter_check.base_from"] == ("a server of the base model alone" if model == "chatglm"
                                                       else "same server")

    # ms-swift trained on exactly the tokens prepare counted (system prompt included, in both dialects)
    trained = dataset_lengths(read_jsonl(run / "train" / "swift" / "logging.jsonl")[-1])
    if prepared["prepare.over_max_length"] == 0:
        assert trained.tokens == prepared["prepare.tokens_total"]
    # one segment of exactly ms-swift's own runtime, though the run evaluated (eval rows repeat steps)
    assert train["train.segments"] == 1 and train["train.runtime_s"] == train_runtime(run)
    assert train["train.tokens_per_s"] > 0 and train["train.tokens_seen_with_padding"] > 0

    if model in {"qwen", "internlm"}:   # one model per runtime: a job the time limit stopped resumes
        shutil.rmtree(run / "train" / "swift" / "checkpoint-2")
        (run / "train" / "done.json").unlink()
        again = run_py("experiment=full", f"model={model}", "seed=0", "hydra/launcher=local", "stage=train",
                       f"model.source={source}", f"paths.models={outputs / 'models'}", f"paths.outputs={outputs}",
                       f"runtimes.root={runtimes_root}", *SMALL, timeout=900)
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-5000:]
        resumed = read_json(run / "train" / "metrics.json")
        assert (resumed["train.resumed_from_step"], resumed["train.segments"], resumed["train.steps"]) == (1, 2, 2)


def train_runtime(run) -> float:
    rows = read_jsonl(run / "train" / "swift" / "logging.jsonl")
    return next(row["train_runtime"] for row in rows if "train_runtime" in row)

@pytest.mark.parametrize("model", REAL_MODELS)
def test_the_trained_adapter_loads_as_trained_where_a_gpu_node_serves_it(model, outputs, full_run, runtimes_root,
                                                                         tmp_path):
    """Each model's adapter, trained in its runtime, handed to the runtime that serves it on a GPU
    node: LMDeploy 0.18 + peft 0.14 (Qwen2.5, Llama-3.1, InternLM2; read by LMDeploy's own code in
    the contract environment, tests/test_lmdeploy_contract.py) or swift deploy in the training
    runtime (ChatGLM3, Baichuan2). Rank, alpha, dropout and targets must be the trained ones."""
    from mhcompare.runtimes import runtime_python
    from mhcompare.serving.adapters import serve_as_trained
    from mhcompare.serving.commands import serving_plan
    from support.lmdeploy_contract import ask, contract_python

    out, _ = full_run(model)
    assert out.returncode == 0, out.stderr[-3000:]
    adapter = outputs / "full" / model / "seed0" / "train" / "adapter"
    trained = read_json(adapter / "adapter_config.json")
    _, runtime, _ = serving_plan(compose_config([f"model={model}"]), gpus=1)
    python = contract_python(runtimes_root) if runtime == "lmdeploy" else runtime_python(runtimes_root, runtime)
    served, checked = serve_as_trained(adapter, python, tmp_path)
    assert (checked["config_rank"], checked["config_alpha"]) == (trained["r"], trained["lora_alpha"])
    if runtime == "lmdeploy":
        loaded = ask(python, "adapter", path=str(served))
        assert (loaded["r"], loaded["lora_alpha"], loaded["lora_dropout"], loaded["target_modules"]) == \
            (trained["r"], trained["lora_alpha"], trained["lora_dropout"], sorted(trained["target_modules"]))
        assert {t["scaling"] for t in loaded["lmdeploy_targets"].values()} == {trained["lora_alpha"] / trained["r"]}
