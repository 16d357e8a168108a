"""Every serve proves the fine-tuned adapter answers, not the base model, before anything is scored.

LMDeploy 0.18's chat handler applies an adapter only when the requested model name differs from
the base model's name (serve/openai/chat_completions/serving.py: `if model_name !=
server_context.async_engine.model_name: adapter_name = model_name`), and /v1/models lists the base
name plus the adapter names (serve/openai/endpoints/models.py); so every backend serves the base
as `<run>-base` and the adapter as `<run>`, and the check asks for both.
"""
import json
import shutil
import socket

import pytest

from conftest import run_py
from mhcompare.serving.adapter_check import AdapterNotInEffect, check_adapter
from mhcompare.serving.commands import base_name, serve_command
from mhcompare.serving.server import free_port, serve
from support.scripted_server import ScriptedServer

FAST = ["data.max_rows=48", "train.effective_batch_size=8", "train.swift.max_length=256",
        "+train.swift.max_steps=3", "train.swift.eval_steps=3", "train.swift.save_steps=3", "tracking=none"]


@pytest.mark.parametrize("backend", ["lmdeploy", "transformers"])
def test_the_adapter_is_served_under_a_name_other_than_the_base(backend):
    cmd = serve_command(backend, model="/m", adapter="/a", served_name="qwen-seed0", port=1, model_type="qwen2",
                        template="qwen2_5", trust_remote_code=False, engine="pytorch")
    base_flag = "--model-name" if backend == "lmdeploy" else "--served_model_name"
    assert cmd[cmd.index(base_flag) + 1] == base_name("qwen-seed0") == "qwen-seed0-base"
    assert cmd[cmd.index("--adapters") + 1] == "qwen-seed0=/a"


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_cache):
    outputs = tmp_path_factory.mktemp("adapter")
    out = run_py("model=tiny_qwen", "stage=[prepare,train]", f"paths.outputs={outputs}", f"paths.cache={tiny_cache}",
                 *FAST)
    assert out.returncode == 0, out.stderr[-3000:]
    return tiny_cache / "tiny_models" / "tiny_qwen", outputs / "demo" / "tiny_qwen" / "seed0" / "train" / "adapter"


def check_served(model_dir, adapter, tmp_path):
    port = free_port()
    cmd = serve_command("transformers", model=str(model_dir), adapter=adapter and str(adapter), served_name="run",
                        port=port, model_type="qwen2", template="qwen2_5", trust_remote_code=False, max_new_tokens=16)
    with serve(cmd, "run", port, tmp_path / "server.log", 300) as endpoint:
        return check_adapter(endpoint.base_url, "run", base_name("run"))


@pytest.mark.slow
def test_the_check_passes_when_the_adapter_answers(trained, tmp_path):
    model_dir, adapter = trained
    result = check_served(model_dir, adapter, tmp_path)
    assert result["passed"] and result["probes"] == 3
    assert result["answers_differ"] > 0 or result["max_logprob_difference"] > 1e-4


@pytest.mark.slow
def test_the_check_fails_when_the_adapter_changes_nothing(trained, tmp_path):
    """An adapter whose LoRA B matrices are zero is the base model under the adapter's name."""
    from safetensors.torch import load_file, save_file

    model_dir, adapter = trained
    inert = tmp_path / "inert_adapter"
    shutil.copytree(adapter, inert)
    weights = load_file(inert / "adapter_model.safetensors")
    save_file({k: v * 0 if "lora_B" in k else v for k, v in weights.items()}, inert / "adapter_model.safetensors")
    with pytest.raises(AdapterNotInEffect, match="answered all 3 greedy probes exactly as the base model"):
        check_served(model_dir, inert, tmp_path)


@pytest.mark.slow
def test_the_check_fails_when_the_server_has_only_the_base_model(trained, tmp_path):
    model_dir, _ = trained
    with pytest.raises(AdapterNotInEffect, match=r"lists \['run-base'\], not 'run' and 'run-base'"):
        check_served(model_dir, None, tmp_path)


class GuardSeeingTheModelServer(ScriptedServer):
    """A guard that notes, at each request, whether the evaluated model's server still answers."""

    def __init__(self, model_port: int, **kwargs):
        super().__init__(**kwargs)
        self.model_port, self.model_server_up = model_port, []

    def reply_to(self, messages):
        with socket.socket() as s:
            self.model_server_up.append(s.connect_ex(("127.0.0.1", self.model_port)) == 0)
        return super().reply_to(messages)


@pytest.mark.slow
def test_the_eval_stage_records_the_check_and_judges_with_the_guard_after_the_model_stopped(tmp_path, tiny_cache):
    """The adapter check's figures reach metrics.json, with the adapter config as the serving runtime
    loaded it; and the guard is asked only once the model's server is gone, so on a GPU the two never
    hold its memory at once (docs/evaluation.md, "Memory plan")."""
    port = free_port()
    with GuardSeeingTheModelServer(port, default="Safety: Safe\nCategories: None\nRefusal: No", model="guard") as guard:
        out = run_py("model=tiny_qwen", "stage=[prepare,train,eval]", f"paths.outputs={tmp_path}",
                     f"paths.cache={tiny_cache}", *FAST, "eval.tasks=[psych_mcq,crisis]", "eval.limit=2",
                     "eval.generation.max_tokens=8", f"eval.serving.port={port}", f"eval.guard.base_url={guard.base_url}",
                     "eval.guard.model=guard")
    assert out.returncode == 0, out.stderr[-3000:]
    metrics = json.loads((tmp_path / "demo" / "tiny_qwen" / "seed0" / "eval" / "metrics.json").read_text())
    assert metrics["eval.adapter_check.passed"] == 1 and metrics["eval.adapter_check.probes"] == 3
    trained = json.loads((tmp_path / "demo" / "tiny_qwen" / "seed0" / "train" / "adapter" / "adapter_config.json").read_text())
    assert metrics["eval.adapter_check.config_rank"] == trained["r"]
    assert metrics["eval.adapter_check.config_alpha"] == trained["lora_alpha"]
    assert metrics["eval.adapter_check.config_targets"] == len(trained["target_modules"])
    assert metrics["eval.adapter_check.config_read_by"].startswith("peft ")
    assert metrics["eval.crisis.guard_pass_rate"] == 1.0
    assert guard.model_server_up == [False, False]  # two crisis replies, judged after the model's server stopped
