"""Tiny random-weight copies of the five real models, built from their own files.

`../shared/fixtures/models/<folder>/` holds each model's real config, tokenizer and remote code
(no weights); `scripts/fetch_model_files.py` downloads the same files from the hubs anywhere
else (point MHC_FIXTURES at that folder). Each copy is built in its model's runtime with the
model's own class (src/mhcompare/tiny/from_fixture.py).
"""
import os
import subprocess
from pathlib import Path

import pytest

from mhcompare import runtimes

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(os.environ.get("MHC_FIXTURES", REPO.parent / "shared" / "fixtures" / "models"))
REAL_MODELS = ("qwen", "llama", "chatglm", "internlm", "baichuan")
FIXTURE_OF = {"qwen": "qwen2.5-7b-instruct", "llama": "llama-3.1-8b-instruct", "chatglm": "chatglm3-6b",
              "internlm": "internlm2-chat-7b", "baichuan": "baichuan2-7b-chat"}
RUNTIME_OF = {"qwen": "default", "llama": "default", "chatglm": "legacy", "internlm": "legacy", "baichuan": "legacy"}
BUILDER = REPO / "src" / "mhcompare" / "tiny" / "from_fixture.py"


def fixture_dir(model: str) -> Path:
    folder = FIXTURES / FIXTURE_OF[model]
    if not (folder / "config.json").exists():
        pytest.skip(f"the real files of {model} are not at {folder} (shared/fixtures beside the repository, "
                    f"or MHC_FIXTURES from scripts/fetch_model_files.py)")
    return folder


def runtime_python(root: Path, model: str) -> str:
    """The model's runtime, built once per machine (a lock keeps concurrent builds apart)."""
    name = RUNTIME_OF[model]
    runtimes.create_runtime(root, name, log=lambda *_: None)
    return runtimes.runtime_python(root, name, model)


def build_tiny_real_model(model: str, cache: Path, runtimes_root: Path) -> Path:
    out = Path(cache) / "tiny_real" / model
    if not (out / "model.safetensors").exists():
        result = subprocess.run([runtime_python(runtimes_root, model), str(BUILDER), str(fixture_dir(model)), str(out)],
                                capture_output=True, text=True, timeout=900,
                                env={**os.environ, "HF_HUB_OFFLINE": "1"})
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return out
