"""Find the dataset file: a local file, a local folder, or a hub data set fetched once.

A hub data set (`data.hub`: modelscope or huggingface) is fetched by stage=fetch into
`<paths.cache>/datasets/<owner>__<name>/` with a manifest (the commit it resolved to, every file's
sha256), the way models are; later stages read that folder offline. The file read from a folder
is never a guess: `data.file` when set, else the one file the dataset card's `configs` names
(README.md front matter, the Hugging Face / ModelScope convention), else the folder's only
.json/.jsonl data file; anything else stops with the candidates and the setting to use.
"""
import logging
import time
from pathlib import Path

import yaml

from mhcompare.data.errors import DataError
from mhcompare.fetch.download import FetchError
from mhcompare.fetch.folder import fetch_folder, fill_from
from mhcompare.fetch.manifest import MANIFEST, checksums

log = logging.getLogger(__name__)

DATA_SUFFIXES = (".json", ".jsonl")
# JSON files a data set repository carries beside its data: hub and `datasets` bookkeeping
METADATA_FILES = {"dataset_infos.json", "dataset_info.json", "dataset_dict.json", "state.json",
                  "configuration.json", MANIFEST}
HUB_DATASETS = ("modelscope", "huggingface")


def resolve_source(data_cfg, cache_dir: Path, force: bool = False) -> Path:
    source = Path(str(data_cfg.source)).expanduser()
    if source.is_file():
        return source.resolve()
    if source.is_dir():
        return dataset_file(source.resolve(), data_cfg.get("file"))
    if not data_cfg.hub:
        raise DataError(source, None, "data.source",
                        "file not found; give the path of a JSON/JSONL dialogue file, "
                        "or a hub id with data.hub=huggingface|modelscope")
    folder = fetch_hub_dataset(str(data_cfg.source), str(data_cfg.hub), data_cfg.get("revision"), cache_dir, force)
    return dataset_file(folder, data_cfg.get("file"))


def fetch_hub_dataset(repo_id: str, hub: str, revision, cache_dir: Path, force: bool = False) -> Path:
    """The data set's folder, downloaded once (resumed when interrupted), with a manifest."""
    if hub not in HUB_DATASETS:
        raise DataError(repo_id, None, "data.hub", f"unknown hub {hub!r}; use {' or '.join(HUB_DATASETS)}")
    target = (Path(cache_dir) / "datasets" / repo_id.replace("/", "__")).expanduser().resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    request = {"kind": hub, "repo_type": "dataset", "id": repo_id, "revision": revision}

    def finish(staging: Path, commit, started: float) -> dict:
        files = checksums(staging)
        if not files:
            raise DataError(repo_id, None, "data.source", f"{hub} returned no files for this data set")
        return {"dataset": repo_id, "request": request, "revision": commit, "files": files,
                "bytes": sum(f["bytes"] for f in files.values()), "fetched_at": started,
                "seconds": round(time.time() - started, 3)}

    advice = ("download the data set's files elsewhere and set data.source=/path/to/folder "
              "(or data.source=/path/to/file.jsonl)")
    try:
        fetch_folder(target, request, repo_id, force, fill_from(request, target, repo_type="dataset", advice=advice),
                     finish)
    except FetchError as error:
        raise DataError(repo_id, None, "data.source", str(error)) from error
    return target


def dataset_file(folder: Path, configured=None) -> Path:
    """The one data file of a data set folder that a setting or the dataset card names."""
    candidates = data_files(folder)
    listing = ", ".join(str(p.relative_to(folder)) for p in candidates) or "none"
    if configured:
        path = folder / str(configured)
        if not path.is_file():
            raise DataError(folder, None, "data.file", f"{configured} is not in this folder; its data files: "
                                                       f"{listing}; set data.file to one of them")
        return path
    named = card_data_files(folder)
    if len(named) == 1:
        log.info("data: %s, the file the dataset card (README.md configs) names", named[0])
        return named[0]
    if len(named) > 1:
        raise DataError(folder / "README.md", None, "data.file",
                        f"the dataset card names {len(named)} data files "
                        f"({', '.join(str(p.relative_to(folder)) for p in named)}); "
                        f"set data.file to the one to train on, e.g. data.file={named[0].relative_to(folder)}")
    if len(candidates) == 1:
        log.info("data: %s, the folder's only JSON/JSONL data file", candidates[0])
        return candidates[0]
    if not candidates:
        raise DataError(folder, None, "data.source", "holds no .json/.jsonl data file; give a folder or file with "
                                                     "the dialogues")
    raise DataError(folder, None, "data.file",
                    f"{len(candidates)} JSON/JSONL files ({listing}) and neither data.file nor a dataset card "
                    f"(README.md configs) saying which holds the dialogues; set data.file, e.g. "
                    f"data.file={candidates[0].relative_to(folder)}")


def data_files(folder: Path) -> list[Path]:
    """The .json/.jsonl files of a folder, hidden folders and known metadata files left out."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in DATA_SUFFIXES
                  and p.name not in METADATA_FILES
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def card_data_files(folder: Path) -> list[Path]:
    """The files the dataset card's default config names for training (its `train` split when
    splits are named), globs expanded."""
    card = folder / "README.md"
    if not card.is_file():
        return []
    text = card.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("---"):
        return []
    try:
        front = yaml.safe_load(text.split("---", 2)[1]) or {}
    except yaml.YAMLError as error:
        raise DataError(card, None, "configs", f"the card's YAML front matter does not parse ({error}); "
                                               f"set data.file to the data file instead") from error
    configs = front.get("configs") if isinstance(front, dict) else None
    if not isinstance(configs, list) or not configs:
        return []
    chosen = next((c for c in configs if isinstance(c, dict) and c.get("default")), None) \
        or next((c for c in configs if isinstance(c, dict) and c.get("config_name") == "default"), None) \
        or (configs[0] if len(configs) == 1 and isinstance(configs[0], dict) else None)
    if chosen is None:
        return []
    patterns = split_patterns(chosen.get("data_files"))
    files = []
    for pattern in patterns:
        matched = sorted(p for p in folder.glob(pattern) if p.is_file())
        if not matched:
            raise DataError(card, None, "configs", f"the card names {pattern}, which is not in {folder}; "
                                                   f"fetch the data set again, or set data.file")
        files += [p for p in matched if p not in files]
    return files


def split_patterns(data_files) -> list[str]:
    """data_files as the card may write it: a path, a list of paths, {split: path(s)}, or
    [{split, path(s)}]; the train split's when splits are named."""
    if isinstance(data_files, str):
        return [data_files]
    if isinstance(data_files, dict):
        data_files = [{"split": k, "path": v} for k, v in data_files.items()]
    if not isinstance(data_files, list):
        return []
    if all(isinstance(item, str) for item in data_files):
        return list(data_files)
    splits = [item for item in data_files if isinstance(item, dict)]
    train = [item for item in splits if item.get("split") == "train"] or splits
    paths = []
    for item in train:
        value = item.get("path")
        paths += [value] if isinstance(value, str) else [v for v in value or [] if isinstance(v, str)]
    return paths
