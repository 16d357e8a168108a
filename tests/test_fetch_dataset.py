"""The training data set: fetched once from the hub that has it (ModelScope), at a commit, and the
file read from its folder is the one a setting or the dataset card names, never a guess."""
import json
from pathlib import Path

import pytest

from conftest import compose_config, run_py
from mhcompare.data.errors import DataError
from mhcompare.data.source import dataset_file, resolve_source
from mhcompare.fetch.manifest import MANIFEST
from mhcompare.io import read_json

DIALOGUE = {"conversations": [{"from": "human", "value": "我最近总是睡不着。"},
                              {"from": "gpt", "value": "听起来你最近很辛苦，能说说发生了什么吗？"}]}
CARD = "---\nlicense: apache-2.0\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: {}\n---\n# mh\n"


def write(folder: Path, files: dict) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def repository(folder: Path, card: str | None = CARD.format("data/mh_sharegpt.jsonl")) -> Path:
    """A data set repository as ModelScope serves one: bookkeeping JSON files that sort before the data."""
    return write(folder, {"configuration.json": json.dumps({"framework": "other", "task": "chat"}),
                          "dataset_infos.json": "{}", "data/mh_sharegpt.jsonl": json.dumps(DIALOGUE) + "\n",
                          "data/extra.json": "[]", **({"README.md": card} if card else {})})


def test_the_study_data_set_is_fetched_from_modelscope():
    data = compose_config(["data=mh_sharegpt"]).data
    assert (data.source, data.hub, data.file) == ("CodyWhy/mh-sharegpt-20250820", "modelscope", None)


def test_the_file_is_the_one_the_card_or_data_file_names_never_the_alphabetically_first(tmp_path):
    folder = repository(tmp_path / "repo")
    assert dataset_file(folder) == folder / "data" / "mh_sharegpt.jsonl"  # the card's train split
    assert dataset_file(folder, "data/extra.json") == folder / "data" / "extra.json"
    with pytest.raises(DataError, match=r"field 'data.file': data/nope.jsonl is not in this folder; its data files: "
                                        r"data/extra.json, data/mh_sharegpt.jsonl; set data.file"):
        dataset_file(folder, "data/nope.jsonl")

    (folder / "README.md").unlink()  # no card: two data files, and bookkeeping that is never a candidate
    with pytest.raises(DataError) as info:
        dataset_file(folder)
    assert str(info.value) == (f"{folder}: field 'data.file': 2 JSON/JSONL files (data/extra.json, "
                               f"data/mh_sharegpt.jsonl) and neither data.file nor a dataset card (README.md configs) "
                               f"saying which holds the dialogues; set data.file, e.g. data.file=data/extra.json")
    (folder / "data" / "extra.json").unlink()  # the only data file beside the bookkeeping
    assert dataset_file(folder) == folder / "data" / "mh_sharegpt.jsonl"


def test_a_card_that_names_several_files_or_a_missing_one_stops_with_the_setting_to_use(tmp_path):
    several = repository(tmp_path / "several", CARD.format("data/*.json*"))
    with pytest.raises(DataError, match=r"the dataset card names 2 data files \(data/extra.json, "
                                        r"data/mh_sharegpt.jsonl\); set data.file"):
        dataset_file(several)
    missing = repository(tmp_path / "missing", CARD.format("train.jsonl"))
    with pytest.raises(DataError, match="the card names train.jsonl, which is not in"):
        dataset_file(missing)


def test_an_ambiguous_folder_stops_the_run_with_one_message(tmp_path):
    folder = repository(tmp_path / "repo", card=None)
    out = run_py("stage=fetch", f"data.source={folder}", f"paths.outputs={tmp_path}", "tracking=none")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "2 JSON/JSONL files (data/extra.json, data/mh_sharegpt.jsonl)" in out.stderr
    assert "set data.file, e.g. data.file=data/extra.json" in out.stderr


def test_a_hub_data_set_is_fetched_once_at_a_commit_and_read_offline_after(tmp_path, monkeypatch):
    """Through stand-ins for the hub (modelscope.snapshot_download and the commit lookup, which
    test_fetch.py checks over HTTP): what is asked, what is recorded, and that later reads stay local."""
    import modelscope

    from mhcompare.fetch import download

    commit = "0123abcd" * 5
    calls = []

    def snapshot_download(**kwargs):
        calls.append(kwargs)
        repository(Path(kwargs["local_dir"]))
        return kwargs["local_dir"]

    monkeypatch.setattr(modelscope, "snapshot_download", snapshot_download)
    monkeypatch.setattr(download, "hub_commit", lambda hub, repo_id, revision, repo_type: commit)
    data = compose_config(["data=mh_sharegpt"]).data
    cache = tmp_path / "cache"
    target = cache / "datasets" / "CodyWhy__mh-sharegpt-20250820"
    assert resolve_source(data, cache) == target / "data" / "mh_sharegpt.jsonl"
    assert calls == [{"repo_id": "CodyWhy/mh-sharegpt-20250820", "repo_type": "dataset", "revision": commit,
                      "local_dir": str(cache / "datasets" / ".CodyWhy__mh-sharegpt-20250820.partial"),
                      "ignore_file_pattern": []}]
    manifest = read_json(target / MANIFEST)
    assert manifest["revision"] == commit and "data/mh_sharegpt.jsonl" in manifest["files"]

    def offline(*args, **kwargs):
        raise ConnectionError("Failed to resolve 'www.modelscope.cn'")

    monkeypatch.setattr(modelscope, "snapshot_download", offline)
    monkeypatch.setattr(download, "hub_commit", offline)
    assert resolve_source(data, cache) == target / "data" / "mh_sharegpt.jsonl"  # no hub needed any more
    with pytest.raises(DataError, match="could not download CodyWhy/mh-sharegpt-20250820 from modelscope "
                                        r"\(ConnectionError.*data.source=/path/to/folder"):
        resolve_source(data, cache, force=True)
