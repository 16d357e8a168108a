"""Named runtimes: missing, stale, broken and crashing ones stop with a message that says what to do."""
import json
import os
import sys
from pathlib import Path

import pytest

from conftest import REPO, compose_config, run_py
from mhcompare import runtimes
from mhcompare.train.recipe import for_swift_version


@pytest.fixture
def requirements_dir(tmp_path, monkeypatch):
    folder = tmp_path / "runtimes"
    folder.mkdir()
    monkeypatch.setattr(runtimes, "REQUIREMENTS_DIR", folder)
    return folder


def test_the_default_runtime_is_this_interpreter(tmp_path):
    assert runtimes.runtime_python(tmp_path, "default") == sys.executable
    versions = runtimes.library_versions(sys.executable)
    assert versions["ms-swift"] == "4.6.0" and versions["python"].startswith("3.")


def test_a_missing_runtime_names_the_command_that_creates_it(tmp_path, requirements_dir):
    (requirements_dir / "legacy.txt").write_text("six==1.16.0\n")
    with pytest.raises(runtimes.RuntimeMissing, match=r"(?s)has not been created.*python run.py stage=runtime model=chatglm"):
        runtimes.runtime_python(tmp_path / "rt", "legacy", "chatglm")


def test_an_unknown_runtime_lists_the_known_ones(tmp_path, requirements_dir):
    (requirements_dir / "glm.txt").write_text("six\n")
    with pytest.raises(runtimes.RuntimeMissing, match="no runtime named 'nope'.*known runtimes: glm"):
        runtimes.runtime_python(tmp_path, "nope")


@pytest.mark.slow
def test_a_runtime_is_built_once_and_rebuilt_when_its_pins_change(tmp_path, requirements_dir):
    (requirements_dir / "small.txt").write_text("six==1.16.0\n")
    root = tmp_path / "rt"
    folder = runtimes.create_runtime(root, "small", log=lambda *_: None)
    python = runtimes.runtime_python(root, "small")
    assert python == str(folder / "bin" / "python") and os.access(python, os.X_OK)
    stamp = (folder / runtimes.STAMP).stat().st_mtime
    runtimes.create_runtime(root, "small", log=lambda *_: None)
    assert (folder / runtimes.STAMP).stat().st_mtime == stamp, "an up-to-date runtime is reused"
    (requirements_dir / "small.txt").write_text("six==1.17.0\n")
    with pytest.raises(runtimes.RuntimeMissing, match="is out of date"):
        runtimes.runtime_python(root, "small")


@pytest.mark.slow
def test_a_broken_pin_fails_cleanly_and_keeps_nothing(tmp_path, requirements_dir):
    (requirements_dir / "broken.txt").write_text("six==0.0.0.999\n")
    root = tmp_path / "rt"
    with pytest.raises(runtimes.RuntimeMissing, match=r"(?s)building runtime 'broken' .* failed .*nothing was kept") as info:
        runtimes.create_runtime(root, "broken", log=lambda *_: None)
    assert "six==0.0.0.999" in str(info.value)
    assert not (root / "broken").exists() and (root / "broken.install.log").exists()


def test_a_runtime_whose_interpreter_crashes_is_reported(tmp_path):
    crashing = tmp_path / "python"
    crashing.write_text("#!/bin/sh\necho 'Fatal Python error: init_fs_encoding' >&2\nexit 134\n")
    crashing.chmod(0o755)
    with pytest.raises(runtimes.RuntimeMissing, match="(?s)does not start \\(exit 134\\).*init_fs_encoding"):
        runtimes.library_versions(str(crashing))


def test_train_with_a_missing_runtime_stops_before_any_work(tmp_path):
    out = run_py("model=chatglm", "stage=train", f"paths.outputs={tmp_path}", f"runtimes.root={tmp_path / 'rt'}",
                 "tracking=none")
    assert out.returncode != 0
    assert "runtime 'legacy' has not been created" in out.stderr and "python run.py stage=runtime model=chatglm" in out.stderr
    assert not (tmp_path / "trial" / "chatglm").exists() or not any((tmp_path / "trial" / "chatglm").rglob("done.json"))


def test_swift_3_gets_its_own_argument_names():
    args = {"tuner_type": "lora", "lora_rank": 8, "template": "chatglm4"}
    assert for_swift_version(args, "3.0.3") == {"train_type": "lora", "lora_rank": 8, "template": "glm4"}
    assert for_swift_version(args, "4.6.0") == args


def test_each_real_model_names_a_runtime_with_pinned_requirements():
    for model in ["qwen", "llama", "chatglm", "internlm", "baichuan"]:
        cfg = compose_config([f"model={model}"])
        for name in runtimes.runtimes_needed(cfg):
            text = runtimes.requirements_file(name).read_text()
            pins = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
            assert pins and all("==" in line or line.startswith("--") for line in pins), (name, pins)


@pytest.mark.slow
def test_one_sweep_trains_in_two_library_stacks(tmp_path_factory, tiny_cache, runtimes_root):
    """tiny Qwen2 in the default runtime; tiny Llama and a tiny ChatGLM3 (remote code) in the
    `legacy` runtime (transformers 4.41, ms-swift 3.0), built once per machine and reused."""
    from mhcompare.io import read_json

    outputs = tmp_path_factory.mktemp("outputs")
    out = run_py("-m", "model=tiny_qwen,tiny_llama_legacy,tiny_chatglm", "stage=[runtime,prepare,train]",
                 "experiment_name=rt", f"paths.outputs={outputs}", f"paths.cache={tiny_cache}",
                 f"runtimes.root={runtimes_root}", "tracking=none", "data.max_rows=64", "train.effective_batch_size=8",
                 "train.swift.max_length=512", "train.swift.eval_steps=100", "train.swift.save_steps=100",
                 timeout=1800)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    metrics = {m: read_json(outputs / "rt" / m / "seed0" / "train" / "metrics.json")
               for m in ("tiny_qwen", "tiny_llama_legacy", "tiny_chatglm")}
    assert metrics["tiny_qwen"]["runtime.transformers"] == "5.19.0" and metrics["tiny_qwen"]["runtime.name"] == "default"
    for model in ("tiny_llama_legacy", "tiny_chatglm"):
        assert metrics[model]["runtime.name"] == "legacy"
        assert metrics[model]["runtime.transformers"] == "4.41.2" and metrics[model]["runtime.ms-swift"] == "3.0.3"
    for m in metrics.values():
        assert 0 < m["train.eval_loss"] < 20 and m["train.trainable_params"] > 0
    assert metrics["tiny_chatglm"]["train.attn_impl"] is None


@pytest.fixture(scope="module")
def resolver(tmp_path_factory) -> str:
    """A pip new enough to resolve from wheel metadata alone (PEP 658), so checking a CUDA stack
    does not download gigabytes."""
    import subprocess

    venv = tmp_path_factory.mktemp("resolver") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "-q", "pip>=24"], check=True)
    return str(venv / "bin/python")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["legacy", "lmdeploy"])
def test_each_runtime_requirement_set_resolves(resolver, name, tmp_path):
    import json
    import re
    import subprocess

    report = tmp_path / "report.json"
    out = subprocess.run([resolver, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                          "--report", str(report), "-r", str(runtimes.REQUIREMENTS_DIR / f"{name}.txt")],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    def canonical(package: str) -> str:  # PEP 503: ms_swift and ms-swift are one package
        return re.sub(r"[-_.]+", "-", package.strip()).lower()

    resolved = {canonical(i["metadata"]["name"]): i["metadata"]["version"]
                for i in json.loads(report.read_text())["install"]}
    pins = [line.split("==") for line in runtimes.requirements_file(name).read_text().splitlines()
            if "==" in line and not line.startswith("#")]
    for package, version in pins:
        # the local CPU wheel of torch carries a `+cpu` label: compare the public version
        assert resolved[canonical(package)].split("+")[0] == version.strip(), package


def built_runtime(root: Path, name: str) -> Path:
    """A runtime as `stage=runtime` leaves it (its interpreter, the stamp written last), without
    installing its requirements."""
    folder = runtimes.runtime_dir(root, name)
    (folder / "bin").mkdir(parents=True)
    (folder / "bin" / "python").symlink_to(sys.executable)
    (folder / runtimes.STAMP).write_text(json.dumps({"requirements_sha256": runtimes.requirements_hash(name)}))
    return folder


@pytest.mark.parametrize("model, needed", [("qwen", ["lmdeploy"]), ("llama", ["lmdeploy"]),
                                           ("internlm", ["legacy", "lmdeploy"]), ("chatglm", ["legacy"]),
                                           ("baichuan", ["legacy"])])
def test_stage_runtime_builds_the_gpu_serving_runtime_on_a_node_without_one(model, needed, tmp_path):
    """A CPU node with network builds LMDeploy's runtime too (pip installs its CUDA wheels without a
    GPU), with the pinned requirement set; nothing here installs it."""
    from mhcompare.stages import runtime as runtime_stage

    cfg = compose_config([f"model={model}", f"runtimes.root={tmp_path}"])
    assert runtime_stage.plan(cfg) == [(name, "build") for name in needed]
    venv, pip = runtimes.build_commands(runtimes.runtime_dir(tmp_path, "lmdeploy"), "lmdeploy")
    assert venv[-1] == str(tmp_path / "lmdeploy") and pip[-3:] == ["--no-input", "-r", str(REPO / "runtimes/lmdeploy.txt")]
    guarded = compose_config([f"model={model}", f"runtimes.root={tmp_path}", "eval.guard.path=/models/qwen3guard"])
    assert [name for name, _ in runtime_stage.plan(guarded)][-1] == "lmdeploy"


def test_a_job_on_an_offline_gpu_node_finds_the_runtime_a_cpu_node_built(tmp_path):
    """stage=runtime on this CPU-only machine, with LMDeploy's runtime already built under
    runtimes.root: it is found and reused (not skipped, not rebuilt), and its interpreter is the one
    a GPU job's serving layer starts."""
    folder = built_runtime(tmp_path, "lmdeploy")
    out = run_py("model=qwen", "stage=runtime", f"runtimes.root={tmp_path}", "tracking=none")
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"runtime lmdeploy: already built ({folder})" in out.stderr + out.stdout
    assert runtimes.runtime_python(tmp_path, "lmdeploy", "qwen") == str(folder / "bin" / "python")
