"""Experiment tracking: SwanLab through ms-swift's own integration.

Each (model, seed) is one SwanLab experiment named `<model>-seed<k>`, grouped by the
experiment name. The cloud API key comes from SWANLAB_API_KEY in the environment only; it is
never put on a command line (ms-swift saves its arguments to disk).
"""
import os


def swift_tracking_args(cfg) -> dict:
    tracking = cfg.tracking
    if tracking.backend == "none":
        return {"report_to": "none"}
    if tracking.backend != "swanlab":
        raise ValueError(f"unknown tracking.backend {tracking.backend!r}; use tracking=swanlab or tracking=none")
    if tracking.mode == "cloud" and not os.environ.get("SWANLAB_API_KEY"):
        raise RuntimeError("tracking.mode=cloud needs your SwanLab API key in the environment: "
                           "export SWANLAB_API_KEY=... (or use tracking.mode=local, or tracking=none)")
    if tracking.mode not in {"cloud", "local"}:
        raise ValueError(f"tracking.mode must be cloud or local, got {tracking.mode!r}")
    return {"report_to": "swanlab", "swanlab_mode": tracking.mode, "swanlab_project": tracking.project,
            "swanlab_workspace": tracking.workspace, "swanlab_exp_name": f"{cfg.model.name}-seed{cfg.seed}"}


def tracking_env(cfg) -> dict:
    if cfg.tracking.backend != "swanlab":
        return {}
    return {"SWANLAB_GROUP": str(cfg.experiment_name), "SWANLAB_LOGDIR": str(cfg.tracking.log_dir),
            "SWANLAB_TAGS": f"{cfg.model.name},seed{cfg.seed}"}


def log_metrics(cfg, stage: str, metrics: dict) -> None:
    """Log a stage's final numbers as one SwanLab experiment `<model>-seed<k>-<stage>` in the group."""
    if cfg.tracking.backend != "swanlab":
        return
    import swanlab

    swift_tracking_args(cfg)  # same checks as for training (cloud needs the key in the environment)
    run = swanlab.init(project=cfg.tracking.project, workspace=cfg.tracking.workspace,
                       experiment_name=f"{cfg.model.name}-seed{cfg.seed}-{stage}", group=str(cfg.experiment_name),
                       tags=[str(cfg.model.name), f"seed{cfg.seed}", stage], logdir=str(cfg.tracking.log_dir),
                       mode={"cloud": "online"}.get(cfg.tracking.mode, cfg.tracking.mode), reinit=True)
    run.log({k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)})
    run.finish()
