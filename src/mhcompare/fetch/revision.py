"""Which version of a model's (or data set's) files a fetch got: a commit, never a branch name.

- ModelScope: the branch or tag asked for (`master` when none) resolved to its newest commit
  through the hub's commits API (GET /api/v1/{models|datasets}/<id>/commits?Ref=<branch>), before
  the download, which then asks for that commit;
- Hugging Face: the commit sha of the snapshot (HfApi.repo_info), likewise resolved first;
- a local folder: the revision its own manifest recorded (a folder fetched before, its files as
  that manifest lists them), the commit of
  a Hugging Face cache snapshot (.../snapshots/<sha>/), else a content hash of the file list and
  every file's sha256 ("sha256:<hex>"), so the same bytes always give the same revision.
"""
import hashlib
import re
from pathlib import Path

from mhcompare.fetch.manifest import MANIFEST
from mhcompare.io import read_json

COMMIT = re.compile(r"^[0-9a-f]{40}$")


def is_commit(revision) -> bool:
    return bool(revision) and bool(COMMIT.match(str(revision)))


def hub_commit(hub: str, repo_id: str, revision: str | None, repo_type: str = "model") -> str | None:
    """The commit `revision` (a branch, tag or commit; None: the default branch) is at now; None
    when the hub answers without one. Network errors propagate (the caller turns them into advice)."""
    if is_commit(revision):
        return str(revision)
    if hub == "modelscope":
        return modelscope_commit(repo_id, revision or "master", repo_type)
    if hub == "huggingface":
        from huggingface_hub import HfApi

        return HfApi().repo_info(repo_id, repo_type=repo_type, revision=revision).sha
    return None


def modelscope_commit(repo_id: str, ref: str, repo_type: str = "model") -> str | None:
    """The newest commit of a ModelScope branch or tag, newest first from its commits API."""
    from modelscope.hub.api import HubApi

    api = HubApi()
    if hasattr(api, "list_repo_commits"):  # the modelscope releases that wrap the endpoint themselves
        history = api.list_repo_commits(repo_id, repo_type=repo_type, revision=ref, page_size=1)
        commits = history.commits if history is not None else []
        return str(commits[0].id) if commits and commits[0].id else None
    import requests

    response = requests.get(f"{api.endpoint}/api/v1/{repo_type}s/{repo_id}/commits",
                            params={"Ref": ref, "PageNumber": 1, "PageSize": 1}, timeout=60)
    response.raise_for_status()
    commits = (response.json().get("Data") or {}).get("Commit") or []
    return str(commits[0]["Id"]) if commits and commits[0].get("Id") else None


def local_revision(source: Path, files: dict) -> tuple[str, str]:
    """(revision, how it was found) for a local source folder; `files` are the checksums of its
    unrepaired copy ({relative path: {"bytes", "sha256"}})."""
    source = Path(source)
    if (source / MANIFEST).is_file():  # a folder fetched before, unchanged since
        recorded = read_json(source / MANIFEST)
        same = {rel: r["sha256"] for rel, r in (recorded.get("files") or {}).items()} == \
            {rel: r["sha256"] for rel, r in files.items()}
        if recorded.get("revision") and same:
            return str(recorded["revision"]), f"the source folder's {MANIFEST}"
    if source.parent.name == "snapshots" and is_commit(source.name):
        return source.name, "the Hugging Face cache snapshot folder's name"
    listing = "".join(f"{rel}\t{record['sha256']}\n" for rel, record in sorted(files.items()))
    return "sha256:" + hashlib.sha256(listing.encode("utf-8")).hexdigest(), \
        "sha256 of the sorted list of 'path<TAB>sha256' lines of the source's files"
