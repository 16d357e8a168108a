"""The ids training feeds equal the ids each serving path sends, per model, on its real tokenizer.

Run in each model's runtime on its real files (../shared/fixtures/models): ms-swift's template in
train mode (training), ms-swift's generation prompt (`swift deploy`), and the tokenizer's own chat
template (what LMDeploy's `hf` template and vLLM apply).
"""
import json

import pytest

from conftest import compose_config
from mhcompare.io import read_jsonl
from mhcompare.serving.server import ServingError, check_engine_chat_template
from mhcompare.tokens.counts import run_probe
from mhcompare.train.recipe import for_swift_version
from support.real_models import REAL_MODELS, fixture_dir, runtime_python

pytestmark = pytest.mark.slow

# models whose tokenizer ships a chat template an engine can apply; the others ship none
ENGINE_TEMPLATE = {"qwen": True, "llama": True, "internlm": True, "chatglm": False, "baichuan": False}


def dialogues():
    from mhcompare.config import resource_path

    rows = read_jsonl(resource_path("demo_dialogues.jsonl"))[:2]
    no_system = {k: v for k, v in rows[1].items() if k != "system"}
    return [*rows, no_system]


@pytest.mark.parametrize("model", REAL_MODELS)
def test_training_and_serving_see_the_same_ids(model, runtimes_root, tmp_path):
    cfg = compose_config([f"model={model}"])
    python = runtime_python(runtimes_root, model)
    from mhcompare.runtimes import library_versions
    template = for_swift_version({"template": cfg.model.swift.template}, library_versions(python)["ms-swift"])["template"]
    cases = run_probe(python, "parity", str(fixture_dir(model)), cfg.model.swift.model_type, template,
                      dialogues(), tmp_path)["cases"]
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
            check_engine_chat_template(str(fixture_dir(model)), model)
    else:
        check_engine_chat_template(str(fixture_dir(model)), model)


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
