"""scripts/gpu_check.py's CPU path, so the script a GPU session runs cannot rot."""
import json
import subprocess
import sys

import pytest

from conftest import REPO
from support.real_models import fixture_dir

STEPS = ["inputs", "build_model", "runtime", "fetch_prepare_train", "serve_check_perf", "collect"]


@pytest.mark.slow
def test_the_gpu_check_runs_end_to_end_on_a_tiny_copy(tmp_path):
    out = tmp_path / "cpu_check.json"
    result = subprocess.run([sys.executable, str(REPO / "scripts/gpu_check.py"), "--cpu", "--out", str(out),
                             "--files", str(fixture_dir("qwen")), "--work", str(tmp_path / "work"),
                             "--runtimes", str(tmp_path / "runtimes")],
                            capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["ok"] is True and "failed_step" not in report
    assert [s["step"] for s in report["steps"]] == STEPS and {s["status"] for s in report["steps"]} == {"ok"}
    assert report["device"] == "cpu" and report["steps_trained"] == 3 and report["train_tokens_per_s"] > 0
    assert report["parameters"] > 152064 * 64  # the real vocabulary, tiny layers
    assert report["adapter_check"]["passed"] == 1
    assert report["adapter_check"]["config_rank"] == 8 and report["adapter_check"]["config_targets"] == 7
    for level in (1, 8, 32):
        assert report["perf"][f"c{level}.failed_requests"] == 0 and report["perf"][f"c{level}.latency_s"] > 0
    assert report["mfu"] is None and "4N + 12 L d T" in report["mfu_formula"]
    assert report["versions"]["ms-swift"] == "4.6.0"


def test_the_gpu_check_writes_its_json_when_a_step_fails(tmp_path):
    """What ran, what failed and why, in the JSON, with a non-zero exit: a GPU session that fails
    still brings back an answer."""
    out = tmp_path / "check.json"
    result = subprocess.run([sys.executable, str(REPO / "scripts/gpu_check.py"), "--cpu", "--out", str(out),
                             "--files", str(tmp_path / "nowhere"), "--work", str(tmp_path / "work")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    report = json.loads(out.read_text())
    assert report["ok"] is False and report["failed_step"] == "inputs"
    assert report["steps"] == [{"step": "inputs", "seconds": report["steps"][0]["seconds"], "status": "failed",
                                "error": f"FileNotFoundError: {tmp_path / 'nowhere'} has no config.json; give "
                                         f"Qwen2.5-7B-Instruct's files with --files (scripts/fetch_model_files.py "
                                         f"downloads them)"}]


def test_a_failing_command_step_is_recorded_with_its_log(tmp_path):
    """A step whose command fails (here: a model folder the builder cannot read) stops the check
    there, with its exit status and the last lines of its log in the JSON."""
    files = tmp_path / "files"
    files.mkdir()
    (files / "config.json").write_text("{not json")
    out = tmp_path / "check.json"
    result = subprocess.run([sys.executable, str(REPO / "scripts/gpu_check.py"), "--cpu", "--out", str(out),
                             "--files", str(files), "--work", str(tmp_path / "work")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    report = json.loads(out.read_text())
    assert report["failed_step"] == "build_model" and [s["status"] for s in report["steps"]] == ["ok", "failed"]
    failed = report["steps"][1]
    assert failed["exit"] != 0 and "from_fixture.py" in failed["command"] and "Error" in failed["log_tail"]
