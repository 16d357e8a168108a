"""Where a model's weights are: a hub id, a local folder, or a tiny model we build."""
from pathlib import Path

from mhcompare.config import resource_path


def model_location(cfg) -> str:
    """A local folder or a hub id, building the tiny demo model first when the config names one."""
    if cfg.model.tiny:
        from mhcompare.tiny.build import ensure_tiny_model
        return str(ensure_tiny_model(cfg.model, Path(resource_path("demo_dialogues.jsonl"))).resolve())
    path = Path(str(cfg.model.path)).expanduser()
    return str(path.resolve()) if path.exists() else str(cfg.model.path)


def is_local(location: str) -> bool:
    return Path(location).is_dir()
