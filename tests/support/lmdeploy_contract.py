"""A small CPU environment holding LMDeploy 0.18.0's and peft 0.14.0's own code, for contract tests.

The GPU serving runtime (runtimes/lmdeploy.txt) is several GB of CUDA wheels; what the project's
serving path must agree with (LMDeploy's CLI parser, its OpenAI request validation, its chat
template handling, its adapter config reader, PEFT 0.14's config loader) is pure Python. So the
tests install the LMDeploy and PEFT wheels without their dependencies, plus only what the imported
modules need (tests/support/lmdeploy_contract.txt), into `<MHC_RUNTIMES>/lmdeploy-contract`, once
per machine: a lock lets concurrent tests wait, and a stamp (the requirement file's hash) written
last marks a finished build.

    python = contract_python(runtimes_root)
    ask(python, "parse_cli", argv=[...])       # tests/support/lmdeploy_contract_probe.py
"""
import hashlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from mhcompare.io import atomic_write_json, exclusive_lock, read_json

REQUIREMENTS = Path(__file__).with_name("lmdeploy_contract.txt")
PROBE = Path(__file__).with_name("lmdeploy_contract_probe.py")
NAME = "lmdeploy-contract"
STAMP = ".mhcompare-contract.json"


def requirement_groups() -> tuple[list[str], list[str]]:
    """(installed without dependencies, installed with them)."""
    lines = [line.split("#")[0].strip() for line in REQUIREMENTS.read_text().splitlines()]
    lines = [line for line in lines if line]
    no_deps = [line.split(None, 1)[1] for line in lines if line.startswith("--no-deps ")]
    return no_deps, [line for line in lines if not line.startswith("--no-deps ")]


def requirements_hash() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:16]


def contract_python(root: Path) -> str:
    folder = Path(root).resolve() / NAME
    python = folder / "bin" / "python"
    if not is_current(folder):
        with exclusive_lock(folder.parent / f".{NAME}.lock", None, log=lambda *_: None):
            if not is_current(folder):
                build(folder)
    return str(python)


def is_current(folder: Path) -> bool:
    stamp = folder / STAMP
    return stamp.exists() and read_json(stamp).get("requirements_sha256") == requirements_hash()


def build(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    no_deps, with_deps = requirement_groups()
    pip = [str(folder / "bin" / "python"), "-m", "pip", "install", "--no-input", "--quiet"]
    log = folder.parent / f"{NAME}.install.log"
    with open(log, "w", encoding="utf-8") as out:
        for cmd in ([sys.executable, "-m", "venv", str(folder)], [*pip, "--no-deps", *no_deps], [*pip, *with_deps]):
            out.write("$ " + " ".join(cmd) + "\n")
            out.flush()
            if subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT).returncode != 0:
                shutil.rmtree(folder, ignore_errors=True)
                raise RuntimeError(f"building the LMDeploy contract environment failed; log: {log}\n"
                                   + "".join(log.read_text(errors="replace").splitlines(True)[-20:]))
    atomic_write_json(folder / STAMP, {"requirements_sha256": requirements_hash(),
                                       "build_s": round(time.monotonic() - started, 1)})


def ask(python: str, command: str, **arguments):
    """Run one probe command in the contract environment; its JSON answer."""
    result = subprocess.run([python, str(PROBE), command], input=json.dumps(arguments), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])
