"""Stage dispatch: `stage=train` or `stage=[prepare,train]` runs those stage modules in order.

Each stage module has `run(cfg) -> dict` and is imported only when it runs, so `run.py --help`
never pays for torch or ms-swift.
"""
import importlib
import logging

from omegaconf import OmegaConf

from mhcompare import artifacts
from mhcompare.config import as_list
from mhcompare.io import atomic_write_text

STAGES = {
    "runtime": "mhcompare.stages.runtime",
    "prepare": "mhcompare.stages.prepare",
    "train": "mhcompare.stages.train",
    "eval": "mhcompare.stages.eval",
    "aggregate": "mhcompare.stages.aggregate",
    "judge": "mhcompare.stages.judge",
    "judge_app": "mhcompare.stages.judge_app",
    "judge_analysis": "mhcompare.stages.judge_analysis",
}

log = logging.getLogger(__name__)


def run_stages(cfg) -> dict:
    names = as_list(cfg.stage)
    unknown = [n for n in names if n not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage {unknown[0]!r}; choose from {', '.join(STAGES)} "
                         "(or a list such as stage=[prepare,train])")
    if names != ["aggregate"]:
        # the composed config of this (model, seed), for the report's provenance
        atomic_write_text(artifacts.run_dir(cfg) / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    results = {}
    for name in names:
        log.info("stage %s: %s seed %s", name, cfg.model.name, cfg.seed)
        results[name] = importlib.import_module(STAGES[name]).run(cfg)
    return results
