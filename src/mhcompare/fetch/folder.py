"""Fetching a folder once: under a lock, into a staging folder, finished with a manifest written
last and renamed into place. Models, benchmark data and the training data set all go this way."""
import logging
import os
import shutil
import time
from pathlib import Path

from mhcompare.fetch.download import copy_local, copy_tree, download_from_hub
from mhcompare.fetch.manifest import MANIFEST, manifest_path, missing_or_changed
from mhcompare.io import atomic_write_json, exclusive_lock, read_json

log = logging.getLogger("mhcompare.stages.fetch")


def fetch_folder(target: Path, request: dict, name: str, force: bool, fill, finish, check=None) -> dict:
    """The one way a folder is fetched, for models and benchmark data alike: under a lock (several
    jobs take turns), skipped when its manifest matches the request and the files on disk (and
    `check(folder)`, when given, passes), else filled in a staging folder (`fill(staging) ->
    revision`; kept when interrupted, so a download resumes), finished by `finish(staging,
    revision, started)` (repairs, checks), which returns the manifest, written last, and renamed
    into place."""
    lock = target.parent / f".{target.name}.lock"
    with exclusive_lock(lock, f"fetch: another job is fetching {name}; waiting for it", log.info):
        if manifest_path(target).exists() and not force:
            manifest = read_json(manifest_path(target))
            if manifest.get("request") == request and not missing_or_changed(target, manifest):
                if check:
                    check(target, manifest)
                log.info("fetch: %s is up to date in %s", name, target)
                return manifest
        started = time.time()
        staging = target.parent / f".{target.name}.partial"
        revision = fill(staging)
        manifest = finish(staging, revision, started)
        atomic_write_json(staging / MANIFEST, manifest)
        replace_folder(staging, target)
        log.info("fetch: %s -> %s (%d files, %.2f GB)", name, target, len(manifest["files"]), manifest["bytes"] / 1e9)
        return manifest


def fill_from(request: dict, target: Path, ignore=(), repo_type: str = "model", advice: str | None = None):
    """fill(staging) for fetch_folder: a copy of a local folder, or a hub download."""
    def fill(staging: Path):
        if request["kind"] == "local":
            log.info("fetch: copying %s -> %s", request["path"], target)
            (copy_local if repo_type == "model" else copy_tree)(Path(request["path"]), staging)
            return None
        log.info("fetch: downloading %s from %s (revision %s) -> %s", request["id"], request["kind"],
                 request["revision"] or "newest", target)
        extra = {"repo_type": repo_type, "advice": advice} if repo_type != "model" else {}
        return download_from_hub(request["kind"], request["id"], request["revision"], list(ignore), staging, **extra)
    return fill


def replace_folder(new: Path, final: Path) -> None:
    """Put a finished folder in place in one rename (the old copy, if any, is removed after)."""
    old = final.parent / f".{final.name}.old-{os.getpid()}"
    if final.exists():
        os.replace(final, old)
    os.replace(new, final)
    shutil.rmtree(old, ignore_errors=True)
