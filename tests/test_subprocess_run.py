"""Children of a stage never outlive it, even when the stage's process is SIGKILLed; a child stopped by
the signal a cancelled job gets is told apart from one that failed."""
import os
import signal
import subprocess
import sys
import time

import pytest

from support.processes import process_alive

SCRIPT = """
import sys, time
from pathlib import Path
from mhcompare.train.subprocess_run import run_streamed
run_streamed([sys.executable, "-c", "import os, time; print(os.getpid(), flush=True); time.sleep(600)"],
             Path(sys.argv[1]))
"""


def test_a_child_dies_when_its_parent_is_killed(tmp_path):
    log = tmp_path / "child.log"
    parent = subprocess.Popen([sys.executable, "-c", SCRIPT, str(log)])
    try:
        deadline = time.monotonic() + 60
        child = None
        while time.monotonic() < deadline and child is None:
            lines = log.read_text().splitlines() if log.exists() else []
            child = int(lines[1]) if len(lines) > 1 else None
            time.sleep(0.2)
        assert child and process_alive(child)
    finally:
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 10
    while process_alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not process_alive(child), "the child outlived its killed parent"


def test_a_child_stopped_by_sigterm_means_the_job_is_stopping_not_failing(tmp_path):
    """scancel and pre-emption send SIGTERM to every process of the job: a child that died of it
    raises Interrupted (recorded by the launcher as cancelled); one the OOM killer SIGKILLed failed."""
    import pytest

    from mhcompare.train.subprocess_run import Interrupted, check_not_stopped, run_streamed

    for sig, stopped in (("TERM", True), ("INT", True), ("KILL", False)):
        # default handling first: a suite started from a background shell (`nohup ... &`) passes
        # SIGINT on ignored, and a child that ignores it never dies of it
        default = f"signal.signal(signal.SIG{sig}, signal.SIG_DFL); " if sig != "KILL" else ""
        result = run_streamed([sys.executable, "-c", f"import os, signal; {default}os.kill(os.getpid(), signal.SIG{sig})"],
                              tmp_path / f"{sig}.log")
        if stopped:
            with pytest.raises(Interrupted, match=f"stopped by SIG{sig}"):
                check_not_stopped(result["returncode"], "the child")
        else:
            check_not_stopped(result["returncode"], "the child")
    check_not_stopped(1, "a failing child")  # an ordinary failure is for the caller to report


def test_a_requeue_command_stopped_by_slurm_is_an_interruption_not_a_failure(monkeypatch):
    """Under load, Slurm can SIGTERM the job while submitit's USR2 handler still waits for
    `scontrol requeue`: the CalledProcessError surfaces in the running stage. It is the requeue
    under way (wait to be ended, then resume), not a failure of the stage."""
    import signal
    import subprocess

    import mhcompare.stages as stages
    from mhcompare.train.subprocess_run import Interrupted

    class Stage:
        @staticmethod
        def run(cfg):
            raise subprocess.CalledProcessError(-signal.SIGTERM, ["scontrol", "requeue", "7"])

    monkeypatch.setattr(stages.importlib, "import_module", lambda name: Stage)
    with pytest.raises(Interrupted, match="requeueing"):
        stages.run_stage("train", None)

    class Failing:
        @staticmethod
        def run(cfg):
            raise subprocess.CalledProcessError(1, ["scontrol", "requeue", "7"])

    monkeypatch.setattr(stages.importlib, "import_module", lambda name: Failing)
    with pytest.raises(subprocess.CalledProcessError):  # a requeue that failed is a failure
        stages.run_stage("train", None)
