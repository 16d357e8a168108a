"""stage=fetch: download each model once (and the dataset, and the enabled benchmarks' data), before
any job needs them.

    python run.py -m model=qwen,llama,chatglm,internlm,baichuan stage=fetch          # from the hub
    python run.py model=baichuan stage=fetch model.source=/shared/models/Baichuan2-7B-Chat
    python run.py stage=fetch eval.benchmarks.cmmlu.enabled=true eval.benchmarks.mmlu.enabled=true

Run it on a node with network; every later stage reads the fetched copy through its manifest,
so training, serving and token counting run offline. Several jobs may run it at once: they take
turns on a lock, and the later ones find the work done. An interrupted download resumes.
"""
import logging
import os
import shutil
import time
from pathlib import Path

from mhcompare.data.source import resolve_source
from mhcompare.errors import ConfigError
from mhcompare.eval.benchmarks import Benchmark, enabled_benchmarks
from mhcompare.fetch.download import HUBS, FetchError, copy_local, copy_tree, download_from_hub
from mhcompare.fetch.manifest import MANIFEST, checksums, manifest_path, missing_or_changed
from mhcompare.fetch.repairs import apply_repairs
from mhcompare.io import atomic_write_json, exclusive_lock, read_json

log = logging.getLogger(__name__)


def fetch_request(cfg) -> dict:
    """What is asked for; a manifest made for the same request is reused."""
    source = str(cfg.model.source)
    hub = cfg.model.hub
    request = {"repairs": list(cfg.model.get("repairs") or [])}
    if source in HUBS:
        repo_id = hub.get(source)
        if not repo_id:
            raise ConfigError(f"model.hub.{source} is not set for {cfg.model.name}; "
                             f"set it, or fetch from a folder with model.source=/path/to/model")
        return {**request, "kind": source, "id": str(repo_id), "revision": hub.get("revision"),
                "ignore": list(hub.get("ignore") or [])}
    folder = Path(source).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"model.source={source}: neither a hub ({', '.join(HUBS)}) nor an existing "
                                f"folder; give the folder that holds the model's config.json and weights")
    return {**request, "kind": "local", "path": str(folder.resolve())}


def fetch_folder(target: Path, request: dict, name: str, force: bool, fill, finish) -> dict:
    """The one way a folder is fetched, for models and benchmark data alike: under a lock (several
    jobs take turns), skipped when its manifest matches the request and the files on disk, else
    filled in a staging folder (`fill(staging) -> revision`; kept when interrupted, so a download
    resumes), finished by `finish(staging, revision, started)` (repairs, checks), which returns
    the manifest, written last, and renamed into place."""
    lock = target.parent / f".{target.name}.lock"
    with exclusive_lock(lock, f"fetch: another job is fetching {name}; waiting for it", log.info):
        if manifest_path(target).exists() and not force:
            manifest = read_json(manifest_path(target))
            if manifest.get("request") == request and not missing_or_changed(target, manifest):
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


def fetch_model(cfg) -> dict:
    target = Path(str(cfg.model.path)).expanduser().resolve()
    request = fetch_request(cfg)

    def finish(staging: Path, revision, started: float) -> dict:
        repairs = apply_repairs(staging, request["repairs"])
        for record in repairs:
            log.info("fetch: repaired %s in the fetched copy: %s", record["file"], record["what"])
        files = checksums(staging)
        if request["kind"] != "local" and not request["revision"]:
            log.warning("fetch: %s has no pinned revision (model.hub.revision); the manifest records the one "
                        "fetched (%s): pin it in conf/model/%s.yaml so every node gets the same files",
                        cfg.model.name, revision, cfg.model.name)
        return {"model": str(cfg.model.name), "display_name": str(cfg.model.display_name), "request": request,
                "revision": revision, "repairs": repairs, "files": files,
                "bytes": sum(f["bytes"] for f in files.values()), "fetched_at": started,
                "seconds": round(time.time() - started, 3)}

    return fetch_folder(target, request, str(cfg.model.name), bool(cfg.force),
                        fill_from(request, target, request.get("ignore") or ()), finish)


# EvalScope deletes these from a local data folder when it reads it (evalscope/api/dataset/hub.py:122-126,
# "to avoid datasets errors"); the fetched copy goes without them, so its manifest stays true
EVALSCOPE_DELETES = ("dataset_infos.json",)


def benchmark_fetch_request(bench: Benchmark) -> dict:
    """What is asked for a benchmark's data: EvalScope's ModelScope data set, or a folder."""
    if bench.source == "modelscope":
        return {"kind": "modelscope", "repo_type": "dataset", "id": bench.dataset_id, "revision": bench.revision}
    folder = Path(bench.source).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"eval.benchmarks.{bench.name}.source={bench.source}: neither modelscope nor an existing "
                          f"folder; give a folder holding the files of ModelScope's {bench.dataset_id}")
    return {"kind": "local", "path": str(folder.resolve())}


def fetch_benchmark(bench: Benchmark, force: bool = False) -> dict:
    """The benchmark's data in its local folder with a manifest (source, licence, revision, checksums)."""
    target = bench.local_path.expanduser().resolve()
    request = benchmark_fetch_request(bench)

    def finish(staging: Path, revision, started: float) -> dict:
        removed = [name for name in EVALSCOPE_DELETES if (staging / name).is_file()]
        for name in removed:
            (staging / name).unlink()
        files = checksums(staging)
        if not files:
            raise FetchError(f"fetch: {bench.name}: no files came from {request.get('path') or request['id']}")
        if request["kind"] != "local" and not request["revision"]:
            log.warning("fetch: %s has no pinned revision (eval.benchmarks.%s.revision): the newest was fetched; "
                        "pin one so every node gets the same items", bench.dataset_id, bench.name)
        return {"benchmark": bench.name, "evalscope": bench.evalscope, "dataset_id": bench.dataset_id,
                "homepage": bench.homepage, "licence": bench.licence, "request": request,
                "revision": revision, "removed": removed, "files": files,
                "bytes": sum(f["bytes"] for f in files.values()), "fetched_at": started,
                "seconds": round(time.time() - started, 3)}

    advice = (f"copy the data set's folder there and fetch from it with "
              f"eval.benchmarks.{bench.name}.source=/path/to/folder")
    return fetch_folder(target, request, bench.name, force,
                        fill_from(request, target, repo_type="dataset", advice=advice), finish)


def fetch_benchmarks(cfg) -> dict:
    """Every enabled benchmark's data (eval.benchmarks.<name>.enabled=true); none by default."""
    summary = {}
    for bench in enabled_benchmarks(cfg):
        fetch_benchmark(bench, bool(cfg.force))
        summary[f"fetch.benchmark.{bench.name}"] = str(bench.local_path.expanduser().resolve())
    return summary


def replace_folder(new: Path, final: Path) -> None:
    """Put a finished folder in place in one rename (the old copy, if any, is removed after)."""
    old = final.parent / f".{final.name}.old-{os.getpid()}"
    if final.exists():
        os.replace(final, old)
    os.replace(new, final)
    shutil.rmtree(old, ignore_errors=True)


def run(cfg) -> dict:
    data_file = resolve_source(cfg.data, cfg.paths.cache)  # a hub dataset is downloaded once, here
    log.info("fetch: dataset %s", data_file)
    benchmarks = fetch_benchmarks(cfg)
    if cfg.model.tiny:
        from mhcompare.models import model_location
        location = model_location(cfg)  # tiny models are built offline, not fetched
        return {"fetch.model": location, "fetch.data": str(data_file), **benchmarks}
    manifest = fetch_model(cfg)
    summary = {"fetch.model": str(Path(str(cfg.model.path)).resolve()), "fetch.data": str(data_file),
               "fetch.revision": manifest["revision"], "fetch.files": len(manifest["files"]),
               "fetch.repairs": len(manifest["repairs"]), **benchmarks}
    return summary
