"""scripts/gpu_check.py's CPU path, so the script a GPU session runs cannot rot."""
import json
import subprocess
import sys

import pytest

from conftest import REPO
from support.real_models import fixture_dir

pytestmark = pytest.mark.slow


def test_the_gpu_check_runs_end_to_end_on_a_tiny_copy(tmp_path):
    out = tmp_path / "cpu_check.json"
    result = subprocess.run([sys.executable, str(REPO / "scripts/gpu_check.py"), "--cpu", "--out", str(out),
                             "--files", str(fixture_dir("qwen")), "--work", str(tmp_path / "work")],
                            capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["device"] == "cpu" and report["steps"] == 3 and report["train_tokens_per_s"] > 0
    assert report["parameters"] > 152064 * 64  # the real vocabulary, tiny layers
    assert report["adapter_check"]["passed"] == 1
    for level in (1, 8, 32):
        assert report["perf"][f"c{level}.failed_requests"] == 0 and report["perf"][f"c{level}.latency_s"] > 0
    assert report["mfu"] is None and "4 x parameters" in report["mfu_formula"]
    assert report["versions"]["ms-swift"] == "4.6.0"
