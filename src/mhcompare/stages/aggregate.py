"""stage=aggregate: every run of an experiment -> the comparison report in outputs/<experiment>/report/.

Reads only the stable run folders (outputs/<experiment>/<model>/seed<k>/), so it works on any
subset of a sweep and is cheap to re-run; see mhcompare.report.build for what it writes.
"""
import re

from omegaconf import OmegaConf

from mhcompare import artifacts
from mhcompare.errors import UserError
from mhcompare.report.build import Settings, build_report
from mhcompare.report.stats import MinEffect


def run(cfg) -> dict:
    report = cfg.report
    models = report.expected.models or sweep_values(cfg, "model")
    seeds = report.expected.seeds or sweep_values(cfg, "seed")
    settings = Settings(confidence=float(report.confidence), alpha=float(report.alpha),
                        target_curve=str(report.target_loss.curve),
                        target_value=None if report.target_loss.value is None else float(report.target_loss.value),
                        target_relative=float(report.target_loss.relative),
                        expected_models=tuple(str(m) for m in models) if models else None,
                        expected_seeds=tuple(int(s) for s in seeds) if seeds and all(
                            str(s).isdigit() for s in seeds) else None,
                        min_effect=MinEffect(fraction=float(report.min_effect.fraction),
                                             relative=float(report.min_effect.relative)))
    experiment = artifacts.experiment_dir(cfg)
    if not experiment.is_dir():
        raise UserError(f"no run folders under {experiment}: nothing of experiment {cfg.experiment_name!r} has run "
                        f"yet. Check experiment_name= and paths.outputs= (python run.py stage=status "
                        f"experiment_name={cfg.experiment_name} lists its runs), or run it first, e.g. "
                        f"python run.py experiment=demo")
    return build_report(experiment, artifacts.report_dir(cfg), settings)


def sweep_values(cfg, key: str) -> list[str] | None:
    """The plain list a sweep gives `key` (`model=qwen,llama`), on the command line or in an
    experiment's sweeper params, when the aggregate runs inside or after a sweep; None otherwise
    (or for sweep syntax such as range() that a comma split would misread)."""
    if "hydra" in cfg:  # after a sweep Hydra passes its own node, with the sweep's command line
        hydra = cfg.hydra
        overrides = OmegaConf.select(hydra, "overrides.task") or []
    else:  # inside a job the command line holds that job's single values: only the sweeper's lists count
        hydra, overrides = hydra_runtime_config(), []
    if hydra is None:
        return None
    values = {str(k): str(v) for k, v in (OmegaConf.select(hydra, "sweeper.params") or {}).items()}
    for override in overrides:
        name, _, value = str(override).partition("=")
        values[name.lstrip("+~")] = value
    value = values.get(key)
    if value is None or not re.fullmatch(r"[\w.-]+(,[\w.-]+)*", value):
        return None
    return value.split(",")


def hydra_runtime_config():
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get() if HydraConfig.initialized() else None
