"""Config composition: every model composes, the sweep grid is valid, run.py's CLI stays light."""
import itertools
import subprocess
import sys
import time

import pytest
from omegaconf import OmegaConf

from conftest import REPO, compose_config, run_py
from mhcompare.train.recipe import resolve_recipe

REAL_MODELS = ["qwen", "llama", "chatglm", "internlm", "baichuan"]
ALL_MODELS = REAL_MODELS + ["tiny_qwen", "tiny_llama"]
SWIFT_NAMES = {"qwen": ("qwen2", "qwen2_5"), "llama": ("llama", "llama3_1_pinned_date"), "chatglm": ("chatglm3", "chatglm4"),
               "internlm": ("internlm2", "internlm2"), "baichuan": ("baichuan2", "baichuan")}


@pytest.mark.parametrize("model", ALL_MODELS)
def test_every_model_composes_with_what_a_user_would_look_up(model):
    cfg = compose_config([f"model={model}"])
    OmegaConf.resolve(cfg)
    assert cfg.model.name == model
    assert cfg.model.swift.model_type and cfg.model.swift.template
    assert cfg.model.lora_target_modules
    assert isinstance(cfg.model.trust_remote_code, bool)
    if model in REAL_MODELS:
        assert (cfg.model.swift.model_type, cfg.model.swift.template) == SWIFT_NAMES[model]
        assert cfg.model.hub.modelscope and cfg.model.hub.huggingface and cfg.model.source == "modelscope"
        # every stage reads the fetched copy in the shared models folder
        assert cfg.model.path == f"{cfg.paths.models}/{model}"


def test_the_15_job_grid_composes_with_one_fair_recipe():
    """model x seed: every job valid, every job the same hyper-parameters, effective batch and
    packing rule; only the attention implementation follows what each model's code accepts."""
    recipes = {}
    for model, seed in itertools.product(REAL_MODELS, [0, 1, 2]):
        cfg = compose_config([f"model={model}", f"seed={seed}", "stage=train"])
        recipe, notes = resolve_recipe(cfg, gpus=1, flash_attn_installed=True)
        batch = recipe["per_device_train_batch_size"] * recipe["gradient_accumulation_steps"]
        assert batch == 32, (model, batch)
        assert recipe["packing"] is False
        recipes[(model, seed)] = {k: v for k, v in recipe.items() if k not in {
            "per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps", "attn_impl"}}
        expected_attn = None if model in ("chatglm", "baichuan") else "flash_attn"
        assert recipe["attn_impl"] == expected_attn, model
        assert all("attn_impl" in n for n in notes) and len(notes) == (1 if expected_attn is None else 0), notes
    first = next(iter(recipes.values()))
    assert all(r == first for r in recipes.values())
    assert first["lora_rank"] == 8 and first["lora_alpha"] == 32 and first["lora_dropout"] == 0.1
    assert first["learning_rate"] == 2e-4 and first["num_train_epochs"] == 1 and first["max_length"] == 3072
    assert first["torch_dtype"] == "bfloat16"
    assert first["gradient_checkpointing"] is True and first["target_modules"] == "all-linear"


def test_attention_falls_back_to_what_the_model_code_and_runtime_allow():
    cfg = compose_config(["model=internlm"])
    recipe, notes = resolve_recipe(cfg, gpus=1, flash_attn_installed=False)
    assert recipe["attn_impl"] == "eager" and "flash-attn is not usable here" in notes[0]
    recipe, notes = resolve_recipe(cfg, gpus=0)  # the CPU fallback asks for sdpa, which InternLM2 refuses
    assert recipe["attn_impl"] == "eager" and "accepts only flash_attn, eager" in notes[-1]
    recipe, _ = resolve_recipe(compose_config(["model=qwen"]), gpus=1, flash_attn_installed=False)
    assert recipe["attn_impl"] == "sdpa"


def test_without_a_gpu_the_recipe_falls_back_and_says_so():
    cfg = compose_config(["model=qwen"])
    recipe, notes = resolve_recipe(cfg, gpus=0)
    assert (recipe["torch_dtype"], recipe["attn_impl"], recipe["packing"]) == ("float32", "sdpa", False)
    assert any("no GPU" in n and "attn_impl=sdpa" in n for n in notes)


def test_effective_batch_must_divide_evenly():
    cfg = compose_config(["model=qwen", "train.effective_batch_size=30"])
    with pytest.raises(ValueError, match="not a multiple"):
        resolve_recipe(cfg, gpus=1)


def test_packing_for_a_grid_with_a_model_that_cannot_pack_is_refused():
    """Turning it off for that model alone would give it other optimizer steps than the rest."""
    cfg = compose_config(["model=chatglm", "train.swift.packing=true"])
    with pytest.raises(ValueError, match="chatglm cannot pack.*one rule"):
        resolve_recipe(cfg, gpus=1)
    recipe, _ = resolve_recipe(compose_config(["model=qwen", "train.swift.packing=true"]), gpus=1)
    assert recipe["packing"] is True


def test_any_swift_argument_can_be_overridden_or_added_from_the_command_line():
    cfg = compose_config(["model=qwen", "train.swift.learning_rate=1e-4", "+train.swift.lr_scheduler_kwargs.min_lr=1e-6"])
    recipe, _ = resolve_recipe(cfg, gpus=1)
    assert recipe["learning_rate"] == 1e-4 and recipe["lr_scheduler_kwargs"] == {"min_lr": 1e-6}


def test_help_and_cfg_job_are_fast_and_import_no_heavy_library():
    started = time.perf_counter()
    out = run_py("--cfg", "job", "model=chatglm")
    elapsed = time.perf_counter() - started
    assert out.returncode == 0, out.stderr
    assert "model_type: chatglm3" in out.stdout and "template: chatglm4" in out.stdout
    assert elapsed < 5  # generous bound for a loaded CI machine; bench/ measures the real figure
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, runpy; sys.argv=['run.py','--help']\n"
         "try:\n    runpy.run_path('run.py', run_name='__main__')\nexcept SystemExit:\n    pass\n"
         "heavy=[m for m in ('torch','swift','transformers','evalscope') if m in sys.modules]\n"
         "print('HEAVY', heavy)"], cwd=REPO, capture_output=True, text=True)
    assert "HEAVY []" in probe.stdout, probe.stdout + probe.stderr


def test_an_unknown_model_name_lists_the_known_ones():
    out = run_py("model=gpt5", "stage=prepare")
    assert out.returncode != 0
    assert "model/gpt5" in out.stderr and "qwen" in out.stderr and "baichuan" in out.stderr


def test_an_unknown_stage_is_named():
    out = run_py("stage=trian", "tracking=none")
    assert out.returncode != 0
    assert "unknown stage 'trian'" in out.stderr


def test_experiment_level_stages_create_no_model_seed_folder(tmp_path):
    out = run_py("stage=aggregate", f"paths.outputs={tmp_path}", "tracking=none")
    assert out.returncode != 0 and "no run folders" in out.stderr  # nothing trained, nothing invented
    assert not (tmp_path / "demo" / "tiny_qwen").exists()


def test_help_is_short_and_says_what_a_researcher_needs(tmp_path):
    """#22 finding 7: stages, experiments, the common overrides and where outputs land, in a page."""
    out = run_py("--help", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.splitlines()) < 45, len(out.stdout.splitlines())
    for needed in ("runtime  fetch  prepare  train  eval", "aggregate  status  plan", "experiment=full",
                   "experiment=NAME", "smoke", "model=qwen", "seed=0,1,2", "train.swift.learning_rate",
                   "hydra.launcher.partition", "hydra.launcher.timeout_min", "hydra.launcher.gpus_per_node",
                   "dry_run=true", "outputs/<experiment_name>/<model>/seed<k>/", "--cfg job"):
        assert needed in out.stdout, needed
    assert list(tmp_path.iterdir()) == []


def test_cfg_job_shows_what_training_will_use_on_this_machine(tmp_path):
    """train.swift says flash_attn and bf16 for every model; will_run says what runs here: ChatGLM3's
    own attention (null), InternLM2's eager without flash-attn, float32 without a GPU."""
    from mhcompare.train.hardware import visible_gpus

    if visible_gpus():
        pytest.skip("this machine has a GPU: the CPU fallback does not apply")
    for model, attention in (("chatglm", "null"), ("internlm", "eager"), ("qwen", "sdpa")):
        out = run_py("--cfg", "job", f"model={model}", "experiment=full", cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        will_run = out.stdout.split("will_run:\n", 1)[1].split("\npaths:", 1)[0]
        assert will_run.split() == ["gpus:", "0", "attn_impl:", attention, "torch_dtype:", "float32"], will_run
        assert "experiment_name: full" in out.stdout and "${" not in out.stdout.split("hydra")[0]
    assert list(tmp_path.iterdir()) == []


def test_several_gpus_per_job_compose_into_torchrun_with_the_same_effective_batch():
    from mhcompare.stages.train import swift_command

    cfg = compose_config(["model=qwen", "experiment=full", "hydra.launcher.gpus_per_node=2"])
    recipe, _ = resolve_recipe(cfg, gpus=2)
    assert recipe["per_device_train_batch_size"] * recipe["gradient_accumulation_steps"] * 2 == 32
    assert swift_command("python", 2) == ["python", "-m", "torch.distributed.run", "--nproc_per_node=2", "-m",
                                          "swift.cli.sft"]
    assert swift_command("python", 1) == ["python", "-m", "swift.cli.sft"]


def test_read_only_commands_leave_no_multirun_record(tmp_path):
    out = run_py("stage=plan", f"paths.outputs={tmp_path / 'out'}", "tracking=none", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert not (tmp_path / "multirun").exists()
    out = run_py("stage=status", "experiment=full", f"paths.outputs={tmp_path / 'out'}", "tracking=none",
                 "report.expected.models=[qwen]", "report.expected.seeds=[0]", cwd=tmp_path)
    assert out.returncode == 0 and "Launching" not in out.stdout + out.stderr, out.stderr[-2000:]
    assert not (tmp_path / "multirun").exists()
