"""stage=status on a planted grid: done, running, failed and missing runs, from files alone."""
import json

from conftest import run_py


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def row(step, loss, elapsed, remaining):
    return json.dumps({"loss": loss, "global_step/max_steps": step, "elapsed_time": elapsed,
                       "remaining_time": remaining}) + "\n"


def test_the_status_table_shows_each_run_where_it_stands(tmp_path):
    exp = tmp_path / "exp"
    done = exp / "qwen" / "seed0"
    for stage in ("train", "eval"):
        write(done / stage / "done.json", "{}")
    write(done / "train" / "swift" / "logging.jsonl", row("300/300", 1.2345, "2h 0m 1s", "0s"))
    running = exp / "qwen" / "seed1"
    write(running / "train" / "attempt.json", "{}")
    write(running / "train" / "swift" / "logging.jsonl",
          row("10/300", 2.9, "4m 0s", "2h 2m 0s") + row("12/300", 2.5, "5m 2s", "2h 1m 3s") + '{"loss": 2.4, "glo')
    failed = exp / "llama" / "seed0"
    write(failed / "train" / "attempt.json", "{}")
    write(failed / "failed.json", json.dumps({"stage": "train", "error": "TrainError: ms-swift exited with status 1",
                                              "log": "/logs/llama_seed0.out"}))
    result = run_py("stage=status", "experiment_name=exp", f"paths.outputs={tmp_path}", "tracking=none",
                    "report.expected.models=[qwen,llama]", "report.expected.seeds=[0,1]")
    assert result.returncode == 0, result.stderr[-2000:]
    lines = {tuple(line.split()[:2]): line for line in result.stdout.splitlines() if line.split()[:1] in (["qwen"], ["llama"])}
    assert set(lines) == {("llama", "0"), ("llama", "1"), ("qwen", "0"), ("qwen", "1")}
    assert lines[("qwen", "0")].split()[2:4] == ["done", "done"] and "300/300" in lines[("qwen", "0")]
    assert "running" in lines[("qwen", "1")] and "12/300" in lines[("qwen", "1")] and "2.5000" in lines[("qwen", "1")]
    assert "2h 1m 3s" in lines[("qwen", "1")]
    assert "failed" in lines[("llama", "0")] and "ms-swift exited with status 1" in lines[("llama", "0")]
    assert "/logs/llama_seed0.out" in lines[("llama", "0")]
    assert lines[("llama", "1")].count("not started") == 3
    status = json.loads((exp / "report" / "status.json").read_text())
    assert {(r["model"], r["seed"]): r["stages"]["train"] for r in status} == {
        ("llama", 0): "failed", ("llama", 1): "not started", ("qwen", 0): "done", ("qwen", 1): "running"}


def test_status_of_an_experiment_that_never_ran_says_so(tmp_path):
    result = run_py("stage=status", "experiment_name=nothing", f"paths.outputs={tmp_path}", "tracking=none")
    assert result.returncode == 1 and "error: no run folders under" in result.stderr


def test_a_failed_training_stays_failed_when_a_later_stage_runs_in_the_same_folder(tmp_path):
    """#22 finding 6: a later stage=runtime (or fetch) in the run folder must not turn the failed
    training into `running`; the whole fix command of the failure stays in the table."""
    run = tmp_path / "demo" / "tiny_qwen" / "seed0"
    write(run / "train" / "attempt.json", "{}")
    error = ("RuntimeMissing: runtime 'legacy' has not been created (at /rt/legacy); create it with: "
             "python run.py stage=runtime model=tiny_qwen")
    write(run / "failed.json", json.dumps({"stage": "train", "error": error, "log": "/logs/tiny_qwen_seed0.out"}))
    later = run_py("model=tiny_qwen", "stage=runtime", f"paths.outputs={tmp_path}", "tracking=none", cwd=tmp_path)
    assert later.returncode == 0, later.stderr[-2000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run_py("stage=status", f"paths.outputs={tmp_path}", "tracking=none", cwd=elsewhere)
    assert result.returncode == 0, result.stderr[-2000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("tiny_qwen"))
    assert line.split()[2] == "failed", line
    assert "create it with: python run.py stage=runtime model=tiny_qwen" in line
    assert list(elsewhere.iterdir()) == []  # status only reads: no multirun/ record
