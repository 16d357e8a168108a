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
import shutil
import time
from pathlib import Path

from mhcompare.data.source import resolve_source
from mhcompare.errors import ConfigError
from mhcompare.eval.benchmarks import Benchmark, enabled_benchmarks
from mhcompare.fetch.download import COPY_METHOD, HUBS, FetchError
from mhcompare.fetch.folder import fetch_folder, fill_from
from mhcompare.fetch.manifest import checksums, refetch_command
from mhcompare.fetch.repairs import apply_repairs
from mhcompare.fetch.revision import local_revision
from mhcompare.fetch.verify import architecture_problems, check_model_folder, weight_problems

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


def fetch_model(cfg) -> dict:
    target = Path(str(cfg.model.path)).expanduser().resolve()
    request = fetch_request(cfg)

    def check(folder: Path, manifest: dict) -> None:
        problems = check_model_folder(folder, cfg.model, cfg.runtimes.root)
        if problems:
            if folder != target:  # the staging copy: named as what it was copied from, then removed
                origin = request.get("path") or f"{request['kind']}:{request['id']}"
                problems = [p.replace(str(folder), origin) for p in problems]
                shutil.rmtree(folder, ignore_errors=True)
            raise FetchError(refusal(cfg, folder, request, manifest, problems))

    def finish(staging: Path, revision, started: float) -> dict:
        files = checksums(staging)  # as they came, before any repair
        if request["kind"] == "local":
            revision, revision_from = local_revision(Path(request["path"]), files)
        else:
            revision_from = f"the commit {request['kind']} resolved {request['revision'] or 'the default branch'} to"
            if not revision:
                log.warning("fetch: %s named no commit for %s; the manifest records none", request["kind"], request["id"])
        repairs = apply_repairs(staging, request["repairs"])
        for record in repairs:
            log.info("fetch: repaired %s in the fetched copy: %s", record["file"], record["what"])
            files[record["file"]] = {"bytes": (staging / record["file"]).stat().st_size, "sha256": record["sha256_after"]}
        manifest = {"model": str(cfg.model.name), "display_name": str(cfg.model.display_name), "request": request,
                    "revision": revision, "revision_from": revision_from,
                    "copy": COPY_METHOD if request["kind"] == "local" else f"downloaded from {request['kind']}",
                    "repairs": repairs, "files": files, "bytes": sum(f["bytes"] for f in files.values()),
                    "fetched_at": started, "seconds": round(time.time() - started, 3)}
        check(staging, manifest)
        if request["kind"] != "local" and not request["revision"]:
            log.warning("fetch: %s has no pinned revision (model.hub.revision); it was fetched at commit %s: pin it "
                        "in conf/model/%s.yaml (model.hub.revision: %s) so every node gets the same files",
                        cfg.model.name, revision, cfg.model.name, revision)
        return manifest

    copy_or_download = fill_from(request, target, request.get("ignore") or ())

    def fill(staging: Path):
        if request["kind"] == "local":  # a wrong or weightless folder is refused before 15 GB are copied
            problems = architecture_problems(Path(request["path"]), cfg.model) + weight_problems(Path(request["path"]))
            if problems:
                raise FetchError(refusal(cfg, staging, request, {"request": request}, problems))
        return copy_or_download(staging)

    return fetch_folder(target, request, str(cfg.model.name), bool(cfg.force), fill, finish, check)


def refusal(cfg, folder: Path, request: dict, manifest: dict, problems: list[str]) -> str:
    """One message: what is wrong with the folder, and the command that fetches it again."""
    where = request.get("path") or f"{request['kind']} {request['id']} at {manifest.get('revision') or 'the newest'}"
    listed = "\n".join(f"  - {p}" for p in problems)
    target = Path(str(cfg.model.path)).expanduser().resolve()
    state = f"the copy in {target} is kept as it is" if folder == target else f"nothing was written to {target}"
    fix = ("Fix the source folder" if request["kind"] == "local" else
           f"Check model.hub.{request['kind']} and model.hub.revision in conf/model/{cfg.model.name}.yaml")
    return (f"{cfg.model.display_name} from {where} cannot be trained or served ({state}):\n{listed}\n"
            f"{fix}, then fetch again:\n    {refetch_command(str(cfg.model.name), manifest)}")


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


def run(cfg) -> dict:
    data_file = resolve_source(cfg.data, cfg.paths.cache, bool(cfg.force))  # a hub data set: fetched once, here
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
