"""stage=runtime: create the runtimes this model needs (once; reused until their pins change).

    python run.py -m model=qwen,llama,chatglm,internlm,baichuan stage=runtime
"""
import logging

from mhcompare.runtimes import create_runtime, runtimes_needed
from mhcompare.train.hardware import visible_gpus

log = logging.getLogger(__name__)


def run(cfg) -> dict:
    built = {}
    gpus = visible_gpus()
    if not gpus and (cfg.eval.serving.backend or cfg.model.serving.backend) != "transformers":
        log.info("runtime: no GPU here, so %s will be served by the transformers backend; its GPU serving "
                 "runtime is built on a GPU node", cfg.model.name)
    for name in runtimes_needed(cfg, gpus):
        built[name] = str(create_runtime(cfg.runtimes.root, name, log=log.info))
        log.info("runtime %s ready at %s", name, built[name])
    if not built:
        log.info("runtime: %s uses the default runtime (this interpreter); nothing to create", cfg.model.name)
    return built
