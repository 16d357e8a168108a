"""The GPU serving path checked against LMDeploy 0.18.0's and peft 0.14.0's own code, on a CPU.

No GPU has run the project's LMDeploy path; what it must agree with is pure Python: LMDeploy's
CLI parser, its OpenAI request validation, the prompt its chat route builds, and how it (through
peft 0.14) reads an adapter's config. tests/support/lmdeploy_contract.py installs exactly that code
(the wheels without their CUDA dependencies) once per machine; tests/support/lmdeploy_contract_probe.py
asks it. Each test sends it what the project really sends: the command serving/commands.py builds,
the requests the adapter check, EvalScope and the guard client put on the wire (recorded by a
scripted server), the folder the serving layer hands LMDeploy for a freshly trained adapter.
"""
import json
import shutil
from pathlib import Path

import pytest

from conftest import REPO, compose_config, run_py
from mhcompare.eval.guard import GuardClient
from mhcompare.serving.adapter_check import PROBES, probe_request
from mhcompare.serving.adapters import serve_as_trained
from mhcompare.serving.commands import base_name, serve_command
from mhcompare.serving.server import guard_command
from support.lmdeploy_contract import ask, contract_python
from support.real_models import fixture_dir
from support.scripted_server import ScriptedServer

pytestmark = pytest.mark.slow

GUARD_DATA = REPO / "tests" / "data" / "qwen3guard"
SERVED = "qwen-seed0"
FAST = ["data.max_rows=48", "train.effective_batch_size=8", "train.swift.max_length=256",
        "+train.swift.max_steps=3", "train.swift.eval_steps=3", "train.swift.save_steps=3", "tracking=none"]


@pytest.fixture(scope="module")
def lmdeploy_python(runtimes_root):
    return contract_python(runtimes_root)


def lmdeploy_argv(cmd: list[str]) -> list[str]:
    """`python -m lmdeploy serve api_server ...` -> what lmdeploy's CLI parses (`serve api_server ...`)."""
    assert cmd[1:3] == ["-m", "lmdeploy"], cmd
    return cmd[3:]


def model_command(**overrides) -> list[str]:
    cfg = compose_config(["model=qwen", *(f"{k}={v}" for k, v in overrides.items())])
    return serve_command("lmdeploy", model="/models/qwen", adapter="/run/train/adapter", served_name=SERVED,
                         port=23333, model_type="qwen2", template="qwen2_5", trust_remote_code=False,
                         engine="pytorch", python="python",
                         cache_max_entry_count=cfg.eval.serving.get("cache_max_entry_count"),
                         extra_args=cfg.eval.serving.extra_args)


# --- finding 4 (the command half) and the CLI: LMDeploy's own argparse --------------------------------

def test_lmdeploys_cli_parses_the_model_and_guard_commands_as_meant(lmdeploy_python):
    parsed = ask(lmdeploy_python, "parse_cli",
                 argv=lmdeploy_argv(model_command(**{"eval.serving.cache_max_entry_count": 0.6})))
    assert parsed["command"] == "serve" and parsed["model_path"] == "/models/qwen"
    assert parsed["model_name"] == base_name(SERVED) and parsed["adapters"] == {SERVED: "/run/train/adapter"}
    assert (parsed["backend"], parsed["server_name"], parsed["server_port"]) == ("pytorch", "127.0.0.1", 23333)
    assert parsed["logprobs_mode"] == "raw_logprobs"  # the adapter check asks for logprobs
    assert parsed["cache_max_entry_count"] == 0.6

    guard = compose_config(["eval.guard.cache_max_entry_count=0.5", "eval.guard.extra_args=[--session-len,4096]"])
    parsed = ask(lmdeploy_python, "parse_cli",
                 argv=lmdeploy_argv(guard_command(guard.eval.guard, Path("/models/qwen3guard"), 23334, "python")))
    assert parsed["model_path"] == "/models/qwen3guard" and parsed["adapters"] is None
    assert parsed["cache_max_entry_count"] == 0.5 and parsed["session_len"] == 4096


# --- finding 2: the requests, through LMDeploy's request models and validation ------------------------

def test_lmdeploy_accepts_the_adapter_checks_probes(lmdeploy_python):
    argv = lmdeploy_argv(model_command())
    for model in (SERVED, base_name(SERVED)):
        answer = ask(lmdeploy_python, "validate", argv=argv, route="chat", body=probe_request(model, PROBES[0], 8))
        assert answer == {"status": None, "message": None}, answer


def test_lmdeploy_accepts_every_request_the_eval_sends(lmdeploy_python, tmp_path):
    """EvalScope's generation requests (MCQ, dialogue, crisis) and the perf run's, as recorded by a
    scripted server, renamed to the adapter LMDeploy serves."""
    from mhcompare.stages import eval as eval_stage
    from mhcompare.stages.prepare import prepare_dataset

    with ScriptedServer(default="B", model="scripted") as server:
        cfg = compose_config(["tracking=none", "eval.serving.backend=external", f"eval.serving.base_url={server.base_url}",
                              "eval.serving.model=scripted", "eval.tasks=[psych_mcq,dialogue,crisis,perf]", "eval.limit=2",
                              "eval.dialogue.max_items=2", "eval.perf.concurrency=[1]", "eval.perf.requests_per_level=2",
                              "eval.perf.max_tokens=8"], outputs=tmp_path / "out")
        prepare_dataset(cfg)
        eval_stage.run(cfg)
    assert len(server.requests) >= 4
    shapes = {}
    for body in server.requests:  # one of each shape of request
        shapes.setdefault(tuple(sorted(k for k in body if k != "messages")), body)
    assert any(b.get("stream") for b in shapes.values()) and any(not b.get("stream") for b in shapes.values())
    argv = lmdeploy_argv(model_command())
    for body in shapes.values():
        answer = ask(lmdeploy_python, "validate", argv=argv, route="chat", body={**body, "model": SERVED})
        assert answer == {"status": None, "message": None}, (body, answer)


# --- finding 3: the guard's prompt, as LMDeploy would build it, against the documented one ------------

@pytest.fixture
def guard_files(tmp_path):
    """A folder with Qwen3Guard-Gen's chat template (tests/data/qwen3guard) on the Qwen tokenizer
    (Qwen3Guard's vocabulary is Qwen's; the prompt is compared as text)."""
    qwen = fixture_dir("qwen")
    folder = tmp_path / "qwen3guard"
    folder.mkdir()
    for name in ("tokenizer.json", "vocab.json", "merges.txt", "config.json"):
        shutil.copy(qwen / name, folder / name)
    config = json.loads((qwen / "tokenizer_config.json").read_text())
    config["chat_template"] = (GUARD_DATA / "chat_template.jinja").read_text()
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


def test_the_guard_template_renders_qwen3guards_documented_prompts(lmdeploy_python, guard_files):
    documented = json.loads((GUARD_DATA / "documented_prompts.json").read_text())
    for example in documented.values():
        rendered = ask(lmdeploy_python, "render", model_path=str(guard_files), messages=example["messages"])
        assert rendered["documented"] == example["rendered"]


def test_lmdeploy_feeds_the_guard_exactly_its_documented_moderation_prompt(lmdeploy_python, guard_files):
    """What the guard client sends, turned into the model's input the way LMDeploy does: the chat
    route renders messages (HFChatTemplate.messages2prompt), the completions route passes the prompt
    through (endpoints/completions.py: do_preprocess=False). It must equal the guard's documented
    prompt, apply_chat_template(conversation, tokenize=False), instruction and assistant header last."""
    conversation = [{"role": "user", "content": "我不想活了"}]
    reply = "我很担心你的安全。请拨打心理援助热线 12356。"
    with ScriptedServer(default="Safety: Safe\nCategories: None\nRefusal: No", model="guard") as guard:
        verdict = GuardClient(guard.base_url, "guard", files=str(guard_files)).classify(conversation, reply)
    assert verdict == {"safe": True, "label": "safe", "categories": []}
    sent = guard.requests[0]
    full = [*conversation, {"role": "assistant", "content": reply}]
    rendered = ask(lmdeploy_python, "render", model_path=str(guard_files), messages=sent.get("messages", full))
    fed = sent["prompt"] if sent.get("route") == "completions" else rendered["served"]
    documented = ask(lmdeploy_python, "render", model_path=str(guard_files), messages=full)["documented"]
    assert fed == documented
    assert fed.endswith("'Refusal: Yes', 'Refusal: No'.<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert f"ASSISTANT: {reply}" in fed

    # what the chat route would have fed it: the prompt cut after the reply, no instruction after it
    cut = ask(lmdeploy_python, "render", model_path=str(guard_files), messages=full)["served"]
    assert cut.endswith(reply) and "Provide your safety assessment" not in cut

    validation = ask(lmdeploy_python, "validate", route="completions",
                     argv=lmdeploy_argv(guard_command(compose_config([]).eval.guard, guard_files, 1, "python")),
                     body={k: v for k, v in sent.items() if k != "route"} | {"model": base_name("guard")})
    assert validation == {"status": None, "message": None}


# --- finding 1: a freshly trained adapter, as LMDeploy 0.18 + peft 0.14 load it ------------------------

@pytest.fixture(scope="module")
def trained_adapter(tmp_path_factory, tiny_cache) -> Path:
    """tiny_qwen trained by the project in the default runtime (peft 0.20), as the demo does."""
    outputs = tmp_path_factory.mktemp("contract_adapter")
    out = run_py("model=tiny_qwen", "stage=[prepare,train]", f"paths.outputs={outputs}", f"paths.cache={tiny_cache}",
                 *FAST)
    assert out.returncode == 0, out.stderr[-3000:]
    return outputs / "demo" / "tiny_qwen" / "seed0" / "train" / "adapter"


def test_lmdeploy_loads_a_peft_020_adapter_as_trained(lmdeploy_python, trained_adapter, tmp_path):
    """The folder the serving layer hands LMDeploy, read by peft 0.14's PeftConfig.from_pretrained and
    LMDeploy's add_adapters logic: rank, alpha, dropout, targets and LMDeploy's scaling as trained."""
    served, checked = serve_as_trained(trained_adapter, lmdeploy_python, tmp_path)
    trained = json.loads((trained_adapter / "adapter_config.json").read_text())
    loaded = ask(lmdeploy_python, "adapter", path=str(served))
    assert (loaded["r"], loaded["lora_alpha"], loaded["lora_dropout"]) == \
        (trained["r"], trained["lora_alpha"], trained["lora_dropout"])
    assert loaded["target_modules"] == sorted(trained["target_modules"]) and loaded["target_modules"]
    assert loaded["lmdeploy_targets"] == {name: {"rank": trained["r"], "scaling": trained["lora_alpha"] / trained["r"]}
                                          for name in trained["target_modules"]}
    assert checked["config_rank"] == trained["r"] and checked["config_alpha"] == trained["lora_alpha"]
    assert checked["config_read_by"] == "peft 0.14.0 + lmdeploy 0.18.0"
    # the weights are the trained ones, linked
    assert (served / "adapter_model.safetensors").resolve() == (trained_adapter / "adapter_model.safetensors").resolve()


@pytest.mark.parametrize("change, refused", [
    ({"trainable_token_indices": [1, 2]}, "sets trainable_token_indices=\\[1, 2\\], which peft 0.14.0"),  # unknown to 0.14
    ({"use_rslora": True}, "LMDeploy scales by alpha / r"),  # known, but LMDeploy ignores it
])
def test_an_adapter_lmdeploy_would_serve_differently_is_refused(change, refused, lmdeploy_python, trained_adapter,
                                                                tmp_path):
    from mhcompare.serving.adapters import AdapterConfigError

    changed = tmp_path / "adapter"
    shutil.copytree(trained_adapter, changed)
    config = json.loads((changed / "adapter_config.json").read_text())
    (changed / "adapter_config.json").write_text(json.dumps({**config, **change}))
    with pytest.raises(AdapterConfigError, match=refused):
        serve_as_trained(changed, lmdeploy_python, tmp_path / "work")
