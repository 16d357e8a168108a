"""Getting a model's files: from ModelScope or Hugging Face with the libraries' own download
functions (they resume an interrupted download in the same folder), or from a local folder; a
benchmark's data set (repo_type="dataset") from ModelScope or a folder."""
import os
import shutil
from pathlib import Path

from mhcompare.errors import UserError
from mhcompare.fetch.manifest import MANIFEST

HUBS = ("modelscope", "huggingface")
# weights are linked, not copied, when the local source is on the same file system; the small
# files (code, tokenizer, configs) are always copied, so a repair never touches the source
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")


class FetchError(UserError, RuntimeError):
    pass


MODEL_ADVICE = "copy the model folder there and fetch from it with model.source=/path/to/folder"


def download_from_hub(hub: str, repo_id: str, revision: str | None, ignore: list[str], target: Path,
                      repo_type: str = "model", advice: str = MODEL_ADVICE) -> str | None:
    """Download a snapshot into target (resuming what is there); the commit it resolved to, if known
    (for a ModelScope data set: the revision asked for, None for the newest)."""
    target.mkdir(parents=True, exist_ok=True)
    try:
        if hub == "modelscope" and repo_type == "dataset":
            from modelscope import snapshot_download

            snapshot_download(repo_id=repo_id, repo_type="dataset", revision=revision, local_dir=str(target),
                              ignore_file_pattern=list(ignore))
            return revision
        if hub == "modelscope":
            from modelscope import snapshot_download
            from modelscope.hub.api import HubApi

            snapshot_download(repo_id, revision=revision, local_dir=str(target), ignore_file_pattern=list(ignore))
            return HubApi().get_valid_revision(repo_id, revision=revision)
        if hub == "huggingface":
            from huggingface_hub import HfApi, snapshot_download

            snapshot_download(repo_id, revision=revision, local_dir=str(target), ignore_patterns=list(ignore))
            return HfApi().model_info(repo_id, revision=revision).sha
    except Exception as error:  # network, auth, a gated repository: all end in the same advice
        raise FetchError(f"could not download {repo_id} from {hub} ({type(error).__name__}: {error}). "
                         f"What was downloaded stays in {target} and the next try resumes it. On a machine "
                         f"without hub access, {advice}") from error
    raise FetchError(f"unknown hub {hub!r} in model.source; use one of {', '.join(HUBS)} or a local folder")


def copy_local(source: Path, target: Path) -> None:
    """Copy a model folder (weights hard-linked where possible); hidden files and manifests left out."""
    if not (source / "config.json").is_file():
        raise FetchError(f"model.source={source}: no config.json there; give the folder that holds the "
                         f"model's config.json, tokenizer and weights")
    copy_tree(source, target)


def copy_tree(source: Path, target: Path) -> None:
    """Copy a folder (weights hard-linked where possible); hidden files and manifests left out."""
    shutil.rmtree(target, ignore_errors=True)
    for root, dirs, names in os.walk(source):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            if name.startswith(".") or name == MANIFEST:
                continue
            src = Path(root, name)
            dst = target / src.relative_to(source)
            dst.parent.mkdir(parents=True, exist_ok=True)
            if name.endswith(WEIGHT_SUFFIXES):
                try:
                    os.link(src, dst)
                    continue
                except OSError:
                    pass
            shutil.copy2(src, dst)
