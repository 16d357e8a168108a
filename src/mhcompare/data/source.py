"""Find the dataset file: a local path, or a hub dataset downloaded once."""
from pathlib import Path

from mhcompare.data.errors import DataError


def resolve_source(data_cfg, cache_dir: Path) -> Path:
    source = Path(str(data_cfg.source)).expanduser()
    if source.exists():
        return source.resolve()
    if not data_cfg.hub:
        raise DataError(source, None, "data.source",
                        "file not found; give the path of a JSON/JSONL dialogue file, "
                        "or a hub id with data.hub=huggingface|modelscope")
    return download_hub_dataset(str(data_cfg.source), str(data_cfg.hub), cache_dir)


def download_hub_dataset(repo_id: str, hub: str, cache_dir: Path) -> Path:
    target = Path(cache_dir) / "datasets" / repo_id.replace("/", "__")
    try:
        if hub == "huggingface":
            from huggingface_hub import snapshot_download
            snapshot_download(repo_id, repo_type="dataset", local_dir=str(target))
        elif hub == "modelscope":
            from modelscope.hub.snapshot_download import dataset_snapshot_download
            dataset_snapshot_download(repo_id, local_dir=str(target))
        else:
            raise DataError(repo_id, None, "data.hub", f"unknown hub {hub!r}; use huggingface or modelscope")
    except DataError:
        raise
    except Exception as e:  # network, auth, missing repo: all end in the same advice
        raise DataError(repo_id, None, "data.source",
                        f"could not download the dataset from {hub} ({type(e).__name__}: {e}); "
                        "on a machine without hub access, download it elsewhere and set "
                        "data.source=/path/to/file.jsonl") from e
    files = sorted(p for p in target.rglob("*") if p.suffix in {".json", ".jsonl"} and ".cache" not in p.parts)
    if not files:
        raise DataError(target, None, "data.source", "the downloaded dataset holds no .json/.jsonl file")
    return files[0]
