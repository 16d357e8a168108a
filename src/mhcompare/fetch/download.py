"""Getting a model's files: from ModelScope or Hugging Face with the libraries' own download
functions (they resume an interrupted download in the same folder), or from a local folder; a
benchmark's data set (repo_type="dataset") from ModelScope or a folder."""
import os
import shutil
import stat
from pathlib import Path

from mhcompare.errors import UserError
from mhcompare.fetch.manifest import MANIFEST
from mhcompare.fetch.revision import hub_commit

HUBS = ("modelscope", "huggingface")
# how a local source's files reach the fetched copy: copied, never linked, so writing into the copy
# (a repair, a user's edit) can never change the source; on a file system that shares blocks
# (btrfs, XFS, ZFS 2.2+, NFS 4.2 server-side copy) the copy is a reflink and costs no space
COPY_METHOD = "copied with copy_file_range (a reflink where the file system supports it), never linked"


class FetchError(UserError, RuntimeError):
    pass


MODEL_ADVICE = "copy the model folder there and fetch from it with model.source=/path/to/folder"


def download_from_hub(hub: str, repo_id: str, revision: str | None, ignore: list[str], target: Path,
                      repo_type: str = "model", advice: str = MODEL_ADVICE) -> str | None:
    """Download a snapshot into target (resuming what is there) at the commit `revision` resolves
    to now (fetch/revision.py); that commit, or None when the hub named none."""
    target.mkdir(parents=True, exist_ok=True)
    try:
        if hub not in HUBS:
            raise FetchError(f"unknown hub {hub!r} in model.source; use one of {', '.join(HUBS)} or a local folder")
        commit = hub_commit(hub, repo_id, revision, repo_type)
        if hub == "modelscope":
            from modelscope import snapshot_download

            snapshot_download(repo_id=repo_id, repo_type=repo_type, revision=commit or revision,
                              local_dir=str(target), ignore_file_pattern=list(ignore))
        else:
            from huggingface_hub import snapshot_download

            snapshot_download(repo_id, repo_type=repo_type, revision=commit or revision, local_dir=str(target),
                              ignore_patterns=list(ignore))
        return commit
    except FetchError:
        raise
    except Exception as error:  # network, auth, a gated repository: all end in the same advice
        raise FetchError(f"could not download {repo_id} from {hub} ({type(error).__name__}: {error}). "
                         f"What was downloaded stays in {target} and the next try resumes it. On a machine "
                         f"without hub access, {advice}") from error


def copy_local(source: Path, target: Path) -> None:
    """Copy a model folder; hidden files and manifests left out."""
    if not (source / "config.json").is_file():
        raise FetchError(f"model.source={source}: no config.json there; give the folder that holds the "
                         f"model's config.json, tokenizer and weights")
    copy_tree(source, target)


def copy_tree(source: Path, target: Path) -> None:
    """Copy a folder (COPY_METHOD); hidden files and manifests left out."""
    shutil.rmtree(target, ignore_errors=True)
    for root, dirs, names in os.walk(source):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            if name.startswith(".") or name == MANIFEST:
                continue
            src = Path(root, name)
            dst = target / src.relative_to(source)
            dst.parent.mkdir(parents=True, exist_ok=True)
            copy_file(src, dst)


def copy_file(src: Path, dst: Path) -> None:
    """A copy that owns its bytes: os.copy_file_range lets the kernel share blocks where the file
    system can (a reflink: instant, no space, copy-on-write); elsewhere it copies. Mode and times
    follow the source, made writable by the owner (a read-only source stays repairable in the copy)."""
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        remaining = os.fstat(fin.fileno()).st_size
        try:
            while remaining > 0:
                done = os.copy_file_range(fin.fileno(), fout.fileno(), remaining)
                if done == 0:
                    break
                remaining -= done
        except (AttributeError, OSError):  # no copy_file_range here (macOS, old kernels, some FUSE)
            fin.seek(0)
            fout.seek(0)
            fout.truncate()
            shutil.copyfileobj(fin, fout, 16 * 1024 * 1024)
    shutil.copystat(src, dst)
    os.chmod(dst, os.stat(dst).st_mode | stat.S_IWUSR)
