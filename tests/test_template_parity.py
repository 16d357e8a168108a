"""The ids training feeds equal the ids each serving path sends, per model, on its real tokenizer.

Run in each model's runtime on its real files (../shared/fixtures/models): ms-swift's template in
train mode (training), ms-swift's generation prompt (`swift deploy`), and the tokenizer's own chat
template (what LMDeploy's `hf` template and vLLM apply).
"""
import json
import shutil

import pytest

from conftest import compose_config
from mhcompare.fetch.repairs import apply_repairs
from mhcompare.io import read_jsonl
from mhcompare.serving.server import ServingError, check_engine_chat_template
from mhcompare.stages.prepare import swift_template
from mhcompare.tokens.counts import run_probe
from support.real_models import REAL_MODELS, fixture_dir, runtime_python

pytestmark = pytest.mark.slow

# models whose tokenizer ships a chat template an engine can apply; the others ship none
ENGINE_TEMPLATE = {"qwen": True, "llama": True, "internlm": True, "chatglm": False, "baichuan": False}


def dialogues():
    from mhcompare.config import resource_path

    rows = read_jsonl(resource_path("demo_dialogues.jsonl"))[:2]
    no_system = {k: v for k, v in rows[1].items() if k != "system"}
    return [*rows, no_system]


def model_files(model: str, cfg, tmp_path):
    """The model's real files as stage=fetch leaves them: repaired where the model file says so."""
    if not cfg.model.get("repairs"):
        return fixture_dir(model)
    folder = tmp_path / "files"
    shutil.copytree(fixture_dir(model), folder)
    for path in [folder, *folder.iterdir()]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    apply_repairs(folder, list(cfg.model.repairs))
    return folder


@pytest.mark.parametrize("model", REAL_MODELS)
def test_training_and_serving_see_the_same_ids(model, runtimes_root, tmp_path):
    cfg = compose_config([f"model={model}"])
    files = model_files(model, cfg, tmp_path)
    python = runtime_python(runtimes_root, model)
    template = swift_template(cfg, python)
    cases = run_probe(python, "parity", str(files), cfg.model.swift.model_type, template,
                      dialogues(), tmp_path, cfg.model.swift.get("system"))["cases"]
    assert len(cases) >= 6
    for case in cases:
        # what swift deploy sends is exactly the start of what training fed
        assert case["swift_is_train_prefix"], (model, case["row"], case["turn"], case["swift_text"])
        if ENGINE_TEMPLATE[model]:
            assert case["engine"] == case["swift"], (model, case["row"], case["turn"],
                                                     case["swift_text"], case["engine_text"])
        else:
            assert case["engine"] is None
    if not ENGINE_TEMPLATE[model]:
        # so it must not be served by an engine that applies the tokenizer's template
        assert cfg.model.serving.backend == "transformers"
        with pytest.raises(ServingError, match="has no chat_template"):
            check_engine_chat_template(str(files), model)
    else:
        check_engine_chat_template(str(files), model)


def test_llama_prompts_do_not_depend_on_the_day(runtimes_root, tmp_path):
    """ms-swift's own llama3_2 template writes today's date; the pinned one writes Llama-3.1's."""
    cfg = compose_config(["model=llama"])
    assert cfg.model.swift.template == "llama3_1_pinned_date"
    python = runtime_python(runtimes_root, "llama")
    rows = dialogues()[:1]
    pinned = run_probe(python, "parity", str(fixture_dir("llama")), "llama", "llama3_1_pinned_date", rows, tmp_path)
    dated = run_probe(python, "parity", str(fixture_dir("llama")), "llama", "llama3_2", rows, tmp_path)
    assert "Today Date: 26 Jul 2024" in pinned["cases"][0]["swift_text"]
    import datetime
    assert f"Today Date: {datetime.date.today():%d %b %Y}" in dated["cases"][0]["swift_text"]
    assert json.dumps(pinned) != json.dumps(dated)


def test_internlm2_without_the_empty_system_would_train_on_a_prompt_serving_never_sends(runtimes_root, tmp_path):
    """ms-swift's internlm2 template adds its default system prompt where a dialogue has none."""
    python = runtime_python(runtimes_root, "internlm")
    no_system = dialogues()[2:]
    default = run_probe(python, "parity", str(fixture_dir("internlm")), "internlm2", "internlm2", no_system, tmp_path)
    assert "You are an AI assistant whose name is InternLM" in default["cases"][0]["swift_text"]
    assert default["cases"][0]["swift"] != default["cases"][0]["engine"]
