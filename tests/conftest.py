"""Shared test helpers: compose configs the way run.py does, and run run.py for real."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import open_dict

from mhcompare.config import CONF_DIR, register_resolvers

REPO = Path(__file__).resolve().parents[1]
EMOLLM_SAMPLE = REPO.parent / "shared" / "data" / "emollm" / "data_sample.json"

register_resolvers()


def compose_config(overrides=(), outputs: Path | None = None, cache: Path | None = None):
    """The config run.py would see for these overrides (no Hydra runtime, no chdir)."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=list(overrides))
    with open_dict(cfg):
        if outputs is not None:
            cfg.paths.outputs = str(outputs)
        if cache is not None:
            cfg.paths.cache = str(cache)
    return cfg


def run_py(*args, env_extra=None, cwd=REPO, timeout=900) -> subprocess.CompletedProcess:
    """Run `python run.py ARGS` as a user would, capturing its output."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", **(env_extra or {})}
    return subprocess.run([sys.executable, str(REPO / "run.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory) -> Path:
    """One cache folder for the tiny models, built once per test session."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def emollm_sample() -> Path:
    if not EMOLLM_SAMPLE.exists():
        pytest.skip(f"the EmoLLM sample is not at {EMOLLM_SAMPLE} (it lives in shared/ beside the repo)")
    return EMOLLM_SAMPLE


@pytest.fixture(scope="session")
def runtimes_root() -> Path:
    """The project's runtimes folder: each runtime is built once per machine and reused by every
    test (and by .ci/run's later runs), as a user's sweep reuses it."""
    return Path(os.environ.get("MHC_RUNTIMES", REPO / ".runtimes"))


@pytest.fixture(scope="session")
def tiny_real_model(tiny_cache, runtimes_root):
    """tiny_real_model("baichuan") -> a tiny random-weight Baichuan2 with its real tokenizer and code."""
    from support.real_models import build_tiny_real_model

    return lambda model: build_tiny_real_model(model, tiny_cache, runtimes_root)
