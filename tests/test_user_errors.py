"""Errors in a user's input or settings print one clear message and exit 1, with no traceback;
HYDRA_FULL_ERROR=1 shows the traceback too, and an unexpected error keeps its traceback."""
import pytest

from conftest import run_py


def failed_cleanly(result, message: str) -> None:
    """Exit 1, the message (alone, or as one of the pre-flight check's problems), no traceback."""
    assert result.returncode == 1, result.stderr[-2000:]
    alone = f"error: {message}" in result.stderr
    listed = "problem(s) found before anything was queued or run" in result.stderr and f"  - {message}" in result.stderr
    assert alone or listed, result.stderr[-2000:]
    assert "Traceback" not in result.stdout + result.stderr


def test_a_malformed_data_line_names_file_and_line_without_a_traceback(tmp_path):
    data = tmp_path / "dialogues.jsonl"
    good = '{"conversations": [{"from": "human", "value": "你好"}, {"from": "gpt", "value": "你好，我在听。"}]}\n'
    data.write_text(good + good + "{not json\n", encoding="utf-8")
    result = run_py("stage=prepare", f"data.source={data}", f"paths.outputs={tmp_path}", "tracking=none")
    failed_cleanly(result, f"{data}:3:")
    assert "not valid JSON" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["stage=trian"], "unknown stage 'trian'"),
    (["model=qwen", "stage=train", "train.effective_batch_size=30"], "train.effective_batch_size=30 is not a multiple"),
    (["model=chatglm", "stage=train", "runtimes.root=/nonexistent/rt"], "runtime 'legacy' has not been created"),
    (["model=llama", "stage=train", "paths.models=/nonexistent/models"], "Llama-3.1-8B-Instruct has not been fetched"),
])
def test_settings_that_cannot_work_say_so_without_a_traceback(args, message, tmp_path):
    failed_cleanly(run_py(*args, f"paths.outputs={tmp_path}", "tracking=none"), message)


def test_the_full_traceback_is_still_there_on_request(tmp_path):
    result = run_py("stage=trian", f"paths.outputs={tmp_path}", "tracking=none", env_extra={"HYDRA_FULL_ERROR": "1"})
    assert result.returncode != 0 and "Traceback" in result.stderr and "unknown stage 'trian'" in result.stderr


def test_an_unexpected_error_keeps_its_traceback(tmp_path):
    """Bytes that are not UTF-8 where a data file should be are not an input error we anticipated:
    it is shown in full. (A folder was the example until folders became a data source.)"""
    (tmp_path / "d.jsonl").write_bytes(b"\xff\xfe\x00 not text")
    result = run_py("stage=prepare", f"data.source={tmp_path / 'd.jsonl'}", f"paths.outputs={tmp_path / 'out'}",
                    "tracking=none")
    assert result.returncode != 0
    assert "UnicodeDecodeError" in result.stderr and "error: " not in result.stderr.splitlines()[0]


def test_a_model_source_that_is_neither_a_hub_nor_a_folder_is_named(tmp_path):
    failed_cleanly(run_py("model=qwen", "stage=fetch", "model.source=/no/such/Qwen2.5-7B-Instruct",
                          f"paths.models={tmp_path / 'models'}", f"paths.outputs={tmp_path}", "tracking=none"),
                   "model.source=/no/such/Qwen2.5-7B-Instruct: neither a hub (modelscope, huggingface) nor")


def test_a_sweep_whose_jobs_fail_on_bad_input_says_why_once_per_job_in_full(tmp_path):
    """#22 finding 4: no tracebacks for a user's error inside a sweep's jobs; the whole message in
    failed.json and the summary; the aggregate counts the failed runs instead of `0 problems`."""
    import json

    data = tmp_path / "dialogues.jsonl"
    data.write_text("{not json\n", encoding="utf-8")
    out = run_py("-m", "model=tiny_qwen,tiny_llama", "stage=prepare", f"data.source={data}",
                 f"paths.outputs={tmp_path / 'out'}", "tracking=none", f"hydra.sweep.dir={tmp_path / 'sweep'}")
    said = out.stdout + out.stderr
    assert out.returncode == 1, said[-3000:]
    assert "Traceback" not in said, said[-3000:]
    assert "0 problems" not in said and "2 failed" in said, said[-3000:]
    summary = json.loads((tmp_path / "sweep" / "summary.json").read_text())
    assert summary["counts"] == {"failed": 2}
    for run in summary["runs"]:
        assert f"{data}:1:" in run["failure"]["error"] and "not valid JSON" in run["failure"]["error"]


def test_aggregate_of_an_experiment_with_no_runs_says_what_to_do(tmp_path):
    result = run_py("stage=aggregate", "experiment_name=nothing", f"paths.outputs={tmp_path}", "tracking=none",
                    cwd=tmp_path)
    failed_cleanly(result, f"no run folders under {tmp_path / 'nothing'}")
    assert "python run.py stage=status experiment_name=nothing" in result.stderr
    assert not (tmp_path / "multirun").exists()


def test_aggregate_of_an_experiment_folder_without_runs_says_what_to_do(tmp_path):
    (tmp_path / "empty" / "report").mkdir(parents=True)
    result = run_py("stage=aggregate", "experiment_name=empty", f"paths.outputs={tmp_path}", "tracking=none",
                    cwd=tmp_path)
    failed_cleanly(result, f"no run folders (<model>/seed<k>/) under {tmp_path / 'empty'}; train something first")
