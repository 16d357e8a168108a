"""Progress in a log file: a few readable lines, no carriage-return redraws."""
import logging
import os
import subprocess
import sys

from mhcompare.progress import progress


def test_a_loop_in_a_log_file_logs_a_line_per_interval_with_the_time_left(caplog):
    log = logging.getLogger("test.progress")
    with caplog.at_level(logging.INFO, logger="test.progress"):
        assert list(progress(range(5), 5, "judge conversations", log, every_s=0)) == [0, 1, 2, 3, 4]
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("judge conversations: 1 of 5, ") and lines[0].endswith(" left")
    assert lines[-1] == "judge conversations: 5 of 5"
    with caplog.at_level(logging.INFO, logger="test.progress"):
        caplog.clear()
        list(progress(range(100), 100, "x", log))  # fast: only the last line within the interval
    assert [r.getMessage() for r in caplog.records] == ["x: 100 of 100"]


def test_bars_of_child_processes_redraw_rarely_when_the_output_is_a_file(tmp_path):
    """run.py sets TQDM_MININTERVAL for itself and every child (ms-swift, EvalScope, downloads)
    when stderr is not a terminal: tqdm 4.66+ takes its defaults from TQDM_* variables."""
    code = ("import io, os, subprocess, sys; import mhcompare.progress as p; p.quiet_bars_in_logs(); import tqdm; "
            "bar = tqdm.tqdm(total=10, file=io.StringIO()); print(os.environ['TQDM_MININTERVAL'], bar.mininterval); "
            "sys.stdout.flush(); subprocess.run([sys.executable, '-c', "
            "'import io, tqdm; print(tqdm.tqdm(total=1, file=io.StringIO()).mininterval)'])")
    env = {k: v for k, v in os.environ.items() if k != "TQDM_MININTERVAL"}
    with open(tmp_path / "log", "w") as log:
        out = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    assert out.stdout.split() == ["30", "30.0", "30.0"]  # this process (tqdm imported after) and a child
