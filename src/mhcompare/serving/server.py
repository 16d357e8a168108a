"""Start a serving process, wait until it answers, and always stop it."""
import contextlib
import dataclasses
import functools
import json
import logging
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from mhcompare.serving.adapter_check import check_adapter, probe_answers
from mhcompare.serving.adapters import serve_as_trained
from mhcompare.serving.commands import GPU_BACKENDS, base_name, serve_command, serving_plan
from mhcompare.train.subprocess_run import check_not_stopped, die_with_parent, stop_process_group

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Endpoint:
    base_url: str   # http://127.0.0.1:PORT/v1
    model: str      # the name to send as `model`: the fine-tuned adapter
    pid: int | None = None
    adapter_check: dict | None = None  # what check_adapter saw (None: an external server, not checked)


class ServingError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_ready(base_url: str, proc: subprocess.Popen, timeout_s: float, log_path: Path) -> None:
    """Poll /v1/models until it answers; fail early, with the log's tail, if the server dies."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            check_not_stopped(proc.returncode, "the model server")
            raise ServingError(f"the model server exited with status {proc.returncode} before answering; "
                               f"log: {log_path}\n--- last lines ---\n{tail(log_path)}")
        try:
            with urllib.request.urlopen(f"{base_url}/models", timeout=5) as response:
                if response.status == 200 and json.loads(response.read()).get("data") is not None:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
            pass
        time.sleep(1)
    raise ServingError(f"the model server did not answer within {timeout_s:.0f} s; log: {log_path}\n"
                       f"--- last lines ---\n{tail(log_path)}")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "".join(Path(path).read_text(encoding="utf-8", errors="replace").splitlines(True)[-lines:])
    except OSError:
        return ""


@contextlib.contextmanager
def serve(cmd: list[str], served_name: str, port: int, log_path: Path, timeout_s: float, env=None):
    """Run a server command; yield its Endpoint once it answers; stop its process group after."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a", encoding="utf-8") as log:
        log.write("$ " + " ".join(cmd) + "\n")
        log.flush()
        # in the log's folder: `swift deploy` writes its request records under the working directory
        # SIGKILL when we die: a server stuck in a request can sit out a SIGTERM for minutes
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=functools.partial(die_with_parent, signal.SIGKILL), cwd=log_path.parent,
                                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
        log.write(f"# server pid {proc.pid}\n")
    try:
        base_url = f"http://127.0.0.1:{port}/v1"
        wait_until_ready(base_url, proc, timeout_s, log_path)
        yield Endpoint(base_url=base_url, model=served_name, pid=proc.pid)
    finally:
        stop_process_group(proc)


def check_engine_chat_template(model_dir: str, model_name: str) -> None:
    """LMDeploy formats prompts with the tokenizer's own chat template; a model that ships
    none (ChatGLM3, Baichuan2) would be prompted differently from how it was trained (LMDeploy
    0.18 falls back to its `base` template). Such models are served by ms-swift (transformers)."""
    config = Path(model_dir) / "tokenizer_config.json"
    template = json.loads(config.read_text(encoding="utf-8")).get("chat_template") if config.exists() else None
    if not template:
        raise ServingError(f"{model_name}: {config} has no chat_template, so LMDeploy would not format "
                           f"prompts the way training did; serve it with model.serving.backend=transformers "
                           f"(ms-swift's own template)")


@contextlib.contextmanager
def served_model(cfg, adapter: Path | None = None, log_path: Path | None = None):
    """Serve this run's model (with its LoRA adapter) on a free loopback port."""
    from mhcompare import artifacts
    from mhcompare.models import model_location
    from mhcompare.runtimes import library_versions, runtime_python
    from mhcompare.train.hardware import visible_gpus

    serving = cfg.eval.serving
    if serving.backend == "external":  # already served elsewhere (an API model, a server you started)
        yield Endpoint(base_url=str(serving.base_url).rstrip("/"), model=str(serving.model))
        return
    if adapter is None:
        adapter = artifacts.stage_dir(cfg, "train") / "adapter"
    if not (Path(adapter) / "adapter_config.json").exists():
        raise ServingError(f"no LoRA adapter at {adapter}; train first "
                           f"(python run.py model={cfg.model.name} seed={cfg.seed} stage=train)")
    backend, runtime, note = serving_plan(cfg, visible_gpus())
    if note:
        log.warning("serving: %s", note)
    served_name = f"{cfg.model.name}-seed{cfg.seed}"
    port = int(serving.port or free_port())
    python = runtime_python(cfg.runtimes.root, runtime, cfg.model.name)
    location = model_location(cfg)
    if backend in GPU_BACKENDS:
        check_engine_chat_template(location, cfg.model.name)
    by_name = backend == "lmdeploy" or bool(cfg.model.serving.get("adapter_by_name", True))
    log_path = log_path or artifacts.stage_dir(cfg, "eval") / "server.log"
    # the adapter as this runtime's PEFT reads it, checked against the trained config
    served_adapter, config_check = serve_as_trained(Path(adapter), python, log_path.parent)
    if served_adapter != Path(adapter):
        log.info("serving: %s reads %s through a copy without the keys its PEFT does not know (%s)",
                 runtime, adapter, served_adapter)

    def command(with_adapter: bool, at_port: int) -> list[str]:
        return serve_command(backend, model=location, adapter=str(served_adapter) if with_adapter else None,
                             served_name=served_name, port=at_port, model_type=cfg.model.swift.model_type,
                             template=cfg.model.swift.template, trust_remote_code=bool(cfg.model.trust_remote_code),
                             engine=cfg.model.serving.engine, max_new_tokens=int(cfg.eval.generation.max_tokens),
                             python=python, extra_args=serving.extra_args,
                             swift_version=library_versions(python)["ms-swift"] or "4",
                             system=cfg.model.swift.get("system"), adapter_by_name=by_name,
                             cache_max_entry_count=serving.get("cache_max_entry_count"))

    timeout = float(serving.startup_timeout_s)
    reference = None
    if not by_name:  # the base model's answers to the probes, from a server of the base alone
        reference_port = free_port()
        with serve(command(False, reference_port), served_name, reference_port, log_path, timeout) as base_only:
            reference = probe_answers(base_only.base_url, base_name(served_name))
    with serve(command(True, port), served_name, port, log_path, timeout) as endpoint:
        checked = {**config_check,
                   **check_adapter(endpoint.base_url, served_name, base_name(served_name), reference=reference)}
        log.info("serving: the adapter is in effect (%s of %s greedy probes answered differently from the base "
                 "model; largest log-probability difference %.2e)", checked["answers_differ"], checked["probes"],
                 checked["max_logprob_difference"])
        yield dataclasses.replace(endpoint, adapter_check=checked)


@contextlib.contextmanager
def served_guard(cfg, log_path: Path):
    """The safety guard of eval.guard: a server already running it (base_url), or the fetched guard
    (path) served by LMDeploy on this node's GPU once the evaluated model's server has stopped;
    None when not configured."""
    from mhcompare.runtimes import GUARD_RUNTIME, runtime_python
    from mhcompare.train.hardware import visible_gpus

    guard = cfg.eval.get("guard")
    if not guard or not (guard.get("base_url") or guard.get("path")):
        yield None
        return
    if guard.get("base_url"):
        yield Endpoint(base_url=str(guard.base_url).rstrip("/"), model=str(guard.model or "guard"))
        return
    path = Path(str(guard.path)).expanduser()
    if not (path / "config.json").exists():
        raise ServingError(f"eval.guard.path={path} holds no model; fetch it first "
                           f"(python run.py model=qwen3guard stage=fetch) or point it at the guard's folder")
    if visible_gpus() == 0:
        raise ServingError("eval.guard.path is served by LMDeploy, which needs a GPU; on this node run the "
                           "guard elsewhere and give its server as eval.guard.base_url (and eval.guard.model)")
    check_engine_chat_template(str(path), "the guard")  # the guard's moderation prompt is its chat template
    port = free_port()
    cmd = guard_command(guard, path, port, runtime_python(cfg.runtimes.root, GUARD_RUNTIME, "qwen3guard"))
    with serve(cmd, base_name("guard"), port, log_path, float(cfg.eval.serving.startup_timeout_s)) as endpoint:
        yield endpoint


def guard_command(guard, path: Path, port: int, python: str) -> list[str]:
    """The guard's LMDeploy server (eval.guard: its cache share and extra arguments)."""
    return serve_command("lmdeploy", model=str(path), adapter=None, served_name="guard", port=port, model_type="",
                         template="", trust_remote_code=False, engine="pytorch", python=python,
                         extra_args=guard.get("extra_args") or (),
                         cache_max_entry_count=guard.get("cache_max_entry_count"))
