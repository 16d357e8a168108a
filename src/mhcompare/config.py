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


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("mhc.resource"):
        OmegaConf.register_new_resolver("mhc.resource", resource_path)


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
