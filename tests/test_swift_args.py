"""The ms-swift command line we build is checked against ms-swift's own argument parser."""
import pytest

from conftest import compose_config
from mhcompare.errors import ConfigError
from mhcompare.stages.train import build_swift_args
from mhcompare.train.recipe import as_cli, resolve_recipe

swift = pytest.importorskip("swift")


def swift_sft_parser():
    from swift.arguments import SftArguments
    from swift.utils.utils import HfArgumentParser, _patch_get_type_hints

    with _patch_get_type_hints():
        return HfArgumentParser([SftArguments])


@pytest.mark.parametrize("model", ["qwen", "llama", "chatglm", "internlm", "baichuan"])
def test_swift_sft_accepts_every_argument_for_each_real_model(model, tmp_path):
    import runpy

    from swift.model import MODEL_MAPPING
    from swift.template import TEMPLATE_MAPPING

    cfg = compose_config([f"model={model}", "seed=1"], outputs=tmp_path)
    recipe, _ = resolve_recipe(cfg, gpus=1)
    files = {"train": tmp_path / "train.jsonl", "val": tmp_path / "val.jsonl"}
    args = build_swift_args(cfg, cfg.model.path, files, tmp_path / "swift", recipe)
    namespace, unknown = swift_sft_parser().parse_known_args(as_cli(args))
    assert unknown == [], f"ms-swift does not know {unknown}"
    assert namespace.model == str(tmp_path.parent / "models" / model) or namespace.model == cfg.model.path
    runpy.run_path(namespace.external_plugins[0])  # as ms-swift loads it before looking the template up
    assert namespace.model_type in MODEL_MAPPING and namespace.template in TEMPLATE_MAPPING
    assert namespace.tuner_type == "lora" and namespace.lora_rank == 8 and namespace.lora_alpha == 32
    assert namespace.seed == 1 and namespace.check_model is False and namespace.add_version is False
    assert namespace.per_device_train_batch_size * namespace.gradient_accumulation_steps == 32
    assert namespace.split_dataset_ratio == 0.0


def test_no_tracking_setting_or_key_is_put_on_the_command_line(tmp_path, monkeypatch):
    """SwanLab is fed by the orchestrator (tracking.py); ms-swift's command line (which it saves to
    disk) carries no key and no SwanLab setting."""
    monkeypatch.setenv("SWANLAB_API_KEY", "sk-never-in-argv")
    cfg = compose_config(["model=qwen", "tracking.mode=cloud"], outputs=tmp_path)
    recipe, _ = resolve_recipe(cfg, gpus=1)
    argv = as_cli(build_swift_args(cfg, cfg.model.path, {"train": "t", "val": "v"}, tmp_path, recipe))
    assert "sk-never-in-argv" not in " ".join(argv) and not any("swanlab" in a for a in argv)
    assert argv[argv.index("--report_to") + 1] == "none"


def test_cloud_tracking_without_a_key_says_how_to_give_one(tmp_path, monkeypatch):
    from mhcompare.tracking import check_tracking

    monkeypatch.delenv("SWANLAB_API_KEY", raising=False)
    cfg = compose_config(["model=qwen", "tracking.mode=cloud"], outputs=tmp_path)
    with pytest.raises(ConfigError, match="export SWANLAB_API_KEY"):
        check_tracking(cfg)
