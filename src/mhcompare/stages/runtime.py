"""stage=runtime: create the runtimes this model needs (once; reused until their pins change).

    python run.py -m model=qwen,llama,chatglm,internlm,baichuan stage=runtime

Run it where there is network, GPU or not: the GPU serving runtime (`lmdeploy`) is built too, so
jobs on GPU nodes without network find it under runtimes.root (a shared filesystem on a cluster).
"""
import logging

from mhcompare.runtimes import create_runtime, is_current, runtime_dir, runtimes_needed

log = logging.getLogger(__name__)


def plan(cfg) -> list[tuple[str, str]]:
    """(runtime, "build" | "reuse") for each runtime this model needs, in build order."""
    return [(name, "reuse" if is_current(cfg.runtimes.root, name) else "build") for name in runtimes_needed(cfg)]


def run(cfg) -> dict:
    built = {}
    for name, action in plan(cfg):
        log.info("runtime %s: %s (%s)", name, "building" if action == "build" else "already built",
                 runtime_dir(cfg.runtimes.root, name))
        built[name] = str(create_runtime(cfg.runtimes.root, name, log=log.info))
        log.info("runtime %s ready at %s", name, built[name])
    if not built:
        log.info("runtime: %s uses the default runtime (this interpreter); nothing to create", cfg.model.name)
    return built
