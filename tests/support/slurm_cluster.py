"""A real one-node Slurm cluster for the tests and bench/bench_sweep.py: scripts/slurm/start.sh
in a fresh folder on free loopback ports, stopped by scripts/slurm/stop.sh through the PIDs it
recorded. Sweeps reach it through SLURM_CONF."""
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts" / "slurm"
TOOLS = ("munged", "mariadbd", "mariadb-install-db", "slurmdbd", "slurmctld", "slurmd", "sbatch", "sacct")


@dataclass
class SlurmCluster:
    state: Path
    started_in_s: float

    @property
    def env(self) -> dict:
        """What a process needs in its environment to use this cluster."""
        return {"SLURM_CONF": str(self.state / "slurm.conf")}

    def sacct(self, *args: str) -> list[list[str]]:
        """sacct rows (--parsable2 fields) for the cluster's jobs."""
        out = subprocess.run(["sacct", "-n", "--parsable2", *args], env={**os.environ, **self.env},
                             capture_output=True, text=True, check=True).stdout
        return [line.split("|") for line in out.splitlines() if line]


def unavailable() -> str | None:
    """Why this machine cannot run the cluster, or None."""
    if os.geteuid() != 0:
        return "the Slurm test cluster needs root (its daemons switch to the munge and mysql users)"
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        return f"{', '.join(missing)} not installed; run: sudo bash scripts/slurm/install.sh"
    return None


def free_port_block(size: int = 4) -> int:
    """The first of `size` consecutive free loopback ports (slurmctld, slurmd, slurmdbd, MariaDB)."""
    for base in range(16817, 30000, size):
        with contextlib.ExitStack() as stack:
            try:
                for port in range(base, base + size):
                    sock = stack.enter_context(socket.socket())
                    sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return base
    raise RuntimeError("no free block of loopback ports between 16817 and 30000")


@contextlib.contextmanager
def slurm_cluster():
    """Start a cluster, yield it, stop it (also when the body fails; then its logs stay in /tmp)."""
    # munged and mariadbd run as other users: the folder must not sit inside a private tmp_path
    state = Path(tempfile.mkdtemp(prefix="mhc-slurm-", dir="/tmp"))
    started = time.perf_counter()
    result = subprocess.run(["bash", str(SCRIPTS / "start.sh"), str(state)], capture_output=True, text=True,
                            env={**os.environ, "MHC_SLURM_PORT": str(free_port_block())}, timeout=180, check=False)
    if result.returncode != 0:
        shutil.rmtree(state, ignore_errors=True)
        raise RuntimeError(f"scripts/slurm/start.sh failed:\n{result.stdout}\n{result.stderr}")
    try:
        yield SlurmCluster(state, time.perf_counter() - started)
    finally:
        subprocess.run(["bash", str(SCRIPTS / "stop.sh"), str(state)], capture_output=True, timeout=120, check=False)
    shutil.rmtree(state, ignore_errors=True)


def build_tiny_models(cache: Path, models=("tiny_qwen", "tiny_llama")) -> None:
    """Build the tiny models before a sweep: its jobs start at once, and two jobs building the
    same model folder together can pull it from under each other (mhcompare.tiny.build)."""
    from conftest import compose_config
    from mhcompare.models import model_location

    for model in models:
        model_location(compose_config([f"model={model}"], cache=cache))
