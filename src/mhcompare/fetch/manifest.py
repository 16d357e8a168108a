"""The manifest of a fetched model: where it came from, at which revision, every file's checksum,
and the repairs made to the copy. Every later stage finds the model through it.

    <paths.models>/<name>/mhcompare-manifest.json
"""
import os
from pathlib import Path

from mhcompare.errors import UserError
from mhcompare.io import file_sha256, read_json

MANIFEST = "mhcompare-manifest.json"


class ModelNotFetched(UserError, RuntimeError):
    pass


def manifest_path(folder) -> Path:
    return Path(folder) / MANIFEST


def model_files(folder: Path) -> list[Path]:
    """Every file of a model folder, relative, in a stable order (hub caches and the manifest aside)."""
    folder = Path(folder)
    files = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        files += [Path(root, n).relative_to(folder) for n in sorted(names)
                  if n != MANIFEST and not n.startswith(".")]
    return files


def checksums(folder: Path, progress=None) -> dict:
    """{relative path: {"bytes": n, "sha256": hex}}."""
    result = {}
    for rel in model_files(folder):
        result[str(rel)] = {"bytes": (Path(folder) / rel).stat().st_size, "sha256": file_sha256(Path(folder) / rel)}
        if progress:
            progress(result[str(rel)]["bytes"])
    return result


def missing_or_changed(folder: Path, manifest: dict) -> list[str]:
    """Files the manifest lists that are gone or have another size (a cheap check every stage makes)."""
    bad = []
    for rel, record in manifest["files"].items():
        path = Path(folder) / rel
        if not path.is_file() or path.stat().st_size != record["bytes"]:
            bad.append(rel)
    return bad


def fetched_model_dir(cfg) -> Path:
    """The fetched copy of this run's model; stops with the command to run when there is none."""
    folder = Path(str(cfg.model.path)).expanduser().resolve()
    manifest = manifest_path(folder)
    hint = (f"fetch it once (on a node with network, or from a folder you already have):\n"
            f"    python run.py model={cfg.model.name} stage=fetch"
            f"\n    python run.py model={cfg.model.name} stage=fetch model.source=/path/to/{cfg.model.display_name}")
    if not manifest.exists():
        raise ModelNotFetched(f"{cfg.model.display_name} has not been fetched: no {manifest}; {hint}")
    recorded = read_json(manifest)
    bad = missing_or_changed(folder, recorded)
    if bad:
        raise ModelNotFetched(f"{folder} does not match its manifest ({len(bad)} file(s) missing or changed, "
                              f"e.g. {bad[0]}); fetch it again from where it came from:\n"
                              f"    {refetch_command(str(cfg.model.name), recorded)}")
    return folder


def refetch_command(name: str, manifest: dict) -> str:
    """The command that fetches the same thing again: the recorded source (a folder, or the hub at
    the recorded commit), never a bare force=true that would go to the default hub."""
    request = manifest.get("request") or {}
    command = f"python run.py model={name} stage=fetch force=true"
    if request.get("kind") == "local":
        return f"{command} model.source={request['path']}"
    if request.get("kind"):
        revision = manifest.get("revision") or request.get("revision")
        return f"{command} model.source={request['kind']}" + (f" model.hub.revision={revision}" if revision else "")
    return command
