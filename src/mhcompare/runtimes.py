"""Named runtimes: an interpreter with a pinned requirement set, for the models whose libraries
cannot share one environment (ChatGLM3 and Baichuan2 remote code, LMDeploy's own torch).

    runtimes/<name>.txt            pinned requirements, kept in the repository
    <runtimes.root>/<name>/        its virtual environment, created once by `stage=runtime`
    <runtimes.root>/<name>/.mhcompare-runtime.json
                                   written last: the requirement hash it was built from

`default` is the interpreter running mhcompare. A runtime whose stamp is missing (never built,
or its build was interrupted) or whose requirement hash changed is rebuilt, never half-used.
"""
import functools
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

from mhcompare.errors import UserError
from mhcompare.io import atomic_write_json, exclusive_lock, read_json
from mhcompare.train.subprocess_run import check_not_stopped

DEFAULT = "default"
REQUIREMENTS_DIR = Path(__file__).resolve().parents[2] / "runtimes"
STAMP = ".mhcompare-runtime.json"
VERSIONED = ("torch", "transformers", "tokenizers", "peft", "trl", "accelerate", "ms-swift", "lmdeploy", "vllm",
             "flash-attn")


class RuntimeMissing(UserError, RuntimeError):
    pass


def requirements_file(name: str) -> Path:
    path = REQUIREMENTS_DIR / f"{name}.txt"
    if not path.exists():
        known = sorted(p.stem for p in REQUIREMENTS_DIR.glob("*.txt"))
        raise RuntimeMissing(f"no runtime named {name!r}: {path} does not exist; known runtimes: {', '.join(known)}")
    return path


def requirements_hash(name: str) -> str:
    return hashlib.sha256(requirements_file(name).read_bytes()).hexdigest()[:16]


def runtime_dir(root, name: str) -> Path:
    return Path(root).resolve() / name


def is_current(root, name: str) -> bool:
    stamp = runtime_dir(root, name) / STAMP
    return stamp.exists() and read_json(stamp).get("requirements_sha256") == requirements_hash(name)


def runtime_python(root, name: str, model_name: str = "<model>") -> str:
    """The interpreter of a runtime; a missing or stale one stops with the command that builds it."""
    if name == DEFAULT:
        return sys.executable
    requirements_file(name)  # an unknown name is a typo, not a missing build
    if not is_current(root, name):
        state = "is out of date" if (runtime_dir(root, name) / STAMP).exists() else "has not been created"
        raise RuntimeMissing(f"runtime {name!r} {state} (at {runtime_dir(root, name)}); create it with:\n"
                             f"    python run.py stage=runtime model={model_name}")
    return str(runtime_dir(root, name) / "bin" / "python")


def create_runtime(root, name: str, log=print) -> Path:
    """Build (or rebuild) a runtime's virtual environment from its pinned requirements. Jobs that
    need the same runtime at once take turns on a lock; the later ones find it built."""
    folder = runtime_dir(root, name)
    if name == DEFAULT or is_current(root, name):
        return folder
    with exclusive_lock(folder.parent / f".{name}.lock", f"runtime {name}: another job is building it; waiting", log):
        if not is_current(root, name):
            build_runtime(folder, name, log)
    return folder


def build_runtime(folder: Path, name: str, log) -> None:
    requirements = requirements_file(name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    log_path = folder.parent / f"{name}.install.log"
    with open(log_path, "w", encoding="utf-8") as out:
        for cmd in build_commands(folder, name):
            log(f"runtime {name}: {' '.join(cmd)}")
            out.write("$ " + " ".join(cmd) + "\n")
            out.flush()
            status = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT).returncode
            if status != 0:
                shutil.rmtree(folder, ignore_errors=True)
                tail = "".join(log_path.read_text(encoding="utf-8", errors="replace").splitlines(True)[-25:])
                raise RuntimeMissing(f"building runtime {name!r} from {requirements} failed (exit {status}); "
                                     f"nothing was kept. Full log: {log_path}\n--- last lines ---\n{tail}")
    python = str(folder / "bin" / "python")
    versions = library_versions(python)
    atomic_write_json(folder / STAMP, {"name": name, "requirements_sha256": requirements_hash(name),
                                       "requirements": str(requirements), "versions": versions})


@functools.lru_cache(maxsize=None)
def library_versions(python: str) -> dict:
    """Versions of the libraries that decide results, as seen by that interpreter."""
    code = ("import json, importlib.metadata as m\n"
            "def v(n):\n    try:\n        return m.version(n)\n    except m.PackageNotFoundError:\n        return None\n"
            f"print(json.dumps({{n: v(n) for n in {list(VERSIONED)!r}}}))")
    result = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120)
    check_not_stopped(result.returncode, f"the runtime interpreter {python}")
    if result.returncode != 0:
        raise RuntimeMissing(f"the runtime interpreter {python} does not start (exit {result.returncode}):\n"
                             f"{result.stderr[-2000:]}")
    versions = json.loads(result.stdout)
    versions["python"] = subprocess.run([python, "-c", "import platform; print(platform.python_version())"],
                                        capture_output=True, text=True, timeout=60).stdout.strip()
    return versions


def flash_attn_installed(root, name: str) -> bool:
    """Whether a runtime has the flash-attn package, without starting its interpreter."""
    if name == DEFAULT:
        import importlib.util

        return importlib.util.find_spec("flash_attn") is not None
    return any(runtime_dir(root, name).glob("lib/python*/site-packages/flash_attn"))


GUARD_RUNTIME = "lmdeploy"


def runtimes_needed(cfg) -> list[str]:
    """Every runtime this model's jobs can use on any node: its training runtime, its configured
    serving runtime and, where eval.guard.path has LMDeploy serve the guard, the guard's. A GPU
    engine's runtime is built on a node without a GPU too (pip installs the CUDA wheels all the
    same), so a login or CPU node with network builds what offline GPU nodes then find under
    runtimes.root; a job without a GPU serves with the transformers backend instead and never
    starts it."""
    backend = cfg.eval.serving.backend or cfg.model.serving.backend
    serving = str(cfg.model.serving.get("runtime") or cfg.model.runtime) if backend != "transformers" \
        else str(cfg.model.runtime)
    names = [str(cfg.model.runtime), serving]
    guard = cfg.eval.get("guard")
    if guard and guard.get("path") and not guard.get("base_url"):
        names.append(GUARD_RUNTIME)  # the guard is served by LMDeploy after the evaluated model
    return [n for n in dict.fromkeys(names) if n != DEFAULT]


def runtimes_used(cfg, gpus: int) -> list[str]:
    """The runtimes a job of this model starts on a node with `gpus` GPUs: its training runtime, and
    the serving runtime where serving uses another one (none without a GPU: GPU engines are then
    replaced by the transformers backend), and the guard's where LMDeploy serves it."""
    from mhcompare.serving.commands import serving_plan

    _, serving_runtime, _ = serving_plan(cfg, gpus)
    names = [str(cfg.model.runtime), serving_runtime]
    guard = cfg.eval.get("guard")
    if guard and guard.get("path") and not guard.get("base_url") and gpus > 0:
        names.append(GUARD_RUNTIME)
    return [n for n in dict.fromkeys(names) if n != DEFAULT]


def build_commands(folder: Path, name: str) -> list[list[str]]:
    """What building runtime `name` in `folder` runs."""
    return [[sys.executable, "-m", "venv", str(folder)],
            [str(folder / "bin" / "python"), "-m", "pip", "install", "--no-input", "-r", str(requirements_file(name))]]
