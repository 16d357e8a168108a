"""Config helpers shared by run.py, the stages and the tests (no heavy imports)."""
import hashlib
import json
from importlib import resources
from pathlib import Path

from omegaconf import DictConfig, ListConfig, OmegaConf

RESOURCES = Path(str(resources.files("mhcompare") / "resources"))
CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def resource_path(name: str) -> str:
    """`${mhc.resource:demo_dialogues.jsonl}`: a file the package ships. Its existence is checked
    by the stage that reads it, so composing a config never fails on a file the run won't use."""
    return str(RESOURCES / name)


def will_run(key: str, *, _root_) -> object:
    """`${mhc.will_run:attn_impl}`: what training uses on this machine once the model's code and
    this machine's GPUs and libraries have had their say (train.recipe.resolve_recipe), so that
    `--cfg job` shows it; `gpus` is what this machine has. Never raises: a config that cannot
    work is reported by the pre-flight check, not by printing it."""
    from mhcompare.runtimes import flash_attn_installed
    from mhcompare.train.hardware import visible_gpus
    from mhcompare.train.recipe import resolve_recipe

    gpus = visible_gpus()
    if key == "gpus":
        return gpus
    try:
        recipe, _ = resolve_recipe(_root_, gpus, flash_attn_installed(_root_.runtimes.root, _root_.model.runtime))
    except Exception as error:  # noqa: BLE001 - shown in the value instead
        return f"unknown ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"
    return recipe.get(key)


DEMO_EXPERIMENT, REAL_MODELS_EXPERIMENT = "demo", "trial"


def default_experiment_name(*, _root_) -> str:
    """`${mhc.default_experiment_name:}`: where a run lands without experiment= or
    experiment_name=: the tiny models in `demo`, real ones in `trial`, so a real model's first try
    never mixes with the random-weight demo models (docs/DESIGN.md)."""
    return DEMO_EXPERIMENT if _root_.model.tiny else REAL_MODELS_EXPERIMENT


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("mhc.default_experiment_name"):
        OmegaConf.register_new_resolver("mhc.default_experiment_name", default_experiment_name)
    if not OmegaConf.has_resolver("mhc.resource"):
        OmegaConf.register_new_resolver("mhc.resource", resource_path)
    if not OmegaConf.has_resolver("mhc.will_run"):
        OmegaConf.register_new_resolver("mhc.will_run", will_run)


def as_list(value) -> list:
    """`stage=train` and `stage=[prepare,train]` both become a list of names."""
    if isinstance(value, (list, tuple, ListConfig)):
        return [str(v) for v in value]
    return [str(value)]


def to_plain(node):
    if isinstance(node, (DictConfig, ListConfig)):
        return OmegaConf.to_container(node, resolve=True)
    return node


def config_hash(*nodes) -> str:
    """A stable hash of resolved config values: equal configs, equal hashes."""
    blob = json.dumps([to_plain(n) for n in nodes], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]
