"""Run a heavy command as a child process: stream its output to the job log and a file, stop it
with us, and measure its own peak memory."""
import ctypes
import os
import signal
import subprocess
import sys
from pathlib import Path

PR_SET_PDEATHSIG = 1
# what Slurm sends a job it cancels or pre-empts (and Ctrl-C): a child that died of it was stopped,
# it did not fail (a SIGKILL may be the kernel's out-of-memory killer: that one is a failure)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Interrupted(RuntimeError):
    """The job is being stopped (cancelled, pre-empted, Ctrl-C): no stage failure is recorded."""


def check_not_stopped(returncode: int, what: str) -> None:
    if returncode is not None and -returncode in STOP_SIGNALS:
        raise Interrupted(f"{what} was stopped by {signal.Signals(-returncode).name}: the job is being "
                          f"cancelled or pre-empted")


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """preexec_fn: the child gets `sig` if this process dies, even by SIGKILL, so a killed
    job never leaves a trainer or a model server behind (Linux; elsewhere a no-op)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, sig)
    except (OSError, AttributeError):
        pass


def run_streamed(cmd: list[str], log_path: Path, env: dict | None = None, cwd: Path | None = None) -> dict:
    """Run cmd; return {'returncode', 'peak_rss_gib', 'tail'}. The child dies if we are interrupted."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    tail: list[str] = []
    with open(log_path, "a", encoding="utf-8") as log:
        log.write("$ " + " ".join(cmd) + "\n")
        log.flush()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                text=True, errors="replace", bufsize=1, start_new_session=True,
                                preexec_fn=die_with_parent)
        try:
            for line in proc.stdout:
                log.write(line)
                log.flush()  # `tail -f` on the log follows the run live
                sys.stdout.write(line)
                tail.append(line)
                del tail[:-40]
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
        finally:
            if proc.returncode is None:
                stop_process_group(proc)
    return {"returncode": proc.returncode, "peak_rss_gib": usage.ru_maxrss / 1024**2, "tail": "".join(tail)}


def stop_process_group(proc: subprocess.Popen, grace_s: float = 20) -> None:
    """SIGTERM the child's process group (it started its own session), then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
