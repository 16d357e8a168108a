"""A throwaway PostgreSQL server from Debian's package (scripts/install_postgres.sh), for the tests
and bench/bench_judge_app.py: initdb in a fresh /tmp folder owned by the `postgres` system user
(initdb refuses to run as root), listening on 127.0.0.1 and a free port only, stopped with
`pg_ctl stop` and the folder removed at the end."""
import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from support.browser import free_port

USER = "postgres"


def binaries() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin holding initdb, pg_ctl and postgres."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    for initdb in reversed(found):
        folder = Path(initdb).parent
        if (folder / "pg_ctl").exists() and (folder / "postgres").exists():
            return folder
    return None


def unavailable() -> str | None:
    """Why a server cannot be started here, or None."""
    if binaries() is None:
        return "PostgreSQL is not installed (/usr/lib/postgresql/*/bin; run scripts/install_postgres.sh as root)"
    if os.geteuid() != 0:
        return "starting the test PostgreSQL needs root (to run initdb as the postgres system user)"
    if shutil.which("runuser") is None:
        return "runuser (util-linux) is missing"
    try:
        import pwd
        pwd.getpwnam(USER)
    except KeyError:
        return f"no {USER!r} system user (Debian's postgresql package creates it)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "the psycopg driver is missing: pip install 'psycopg[binary]' -c requirements/constraints.txt"
    return None


def _as_postgres(*command: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", USER, "--", *command], check=True, capture_output=True, text=True,
                          timeout=timeout)


@contextlib.contextmanager
def postgres_server(max_connections: int = 200):
    """Start a server; yield a SQLAlchemy URL (postgresql+psycopg://postgres@127.0.0.1:<port>/postgres)."""
    reason = unavailable()
    if reason:
        raise RuntimeError(reason)
    bin_dir = binaries()
    folder = Path(tempfile.mkdtemp(prefix="mhc-pg-"))
    shutil.chown(folder, USER, USER)
    data = folder / "data"
    port = free_port()
    started = False
    try:
        _as_postgres(str(bin_dir / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8",
                     "--locale=C.UTF-8", "--no-sync")
        options = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={folder} "
                   f"-c max_connections={max_connections} -c shared_buffers=128MB")
        _as_postgres(str(bin_dir / "pg_ctl"), "start", "-D", str(data), "-w", "-t", "60", "-l",
                     str(folder / "server.log"), "-o", options, timeout=90)
        started = True
        url = f"postgresql+psycopg://{USER}@127.0.0.1:{port}/postgres"
        deadline = time.time() + 30
        import psycopg
        while True:
            try:
                psycopg.connect(f"host=127.0.0.1 port={port} user={USER} dbname=postgres").close()
                break
            except psycopg.OperationalError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        if started:
            with contextlib.suppress(subprocess.SubprocessError):
                _as_postgres(str(bin_dir / "pg_ctl"), "stop", "-D", str(data), "-m", "fast", "-w", "-t", "60",
                             timeout=90)
        shutil.rmtree(folder, ignore_errors=True)


def fresh_database(url: str, name: str) -> str:
    """CREATE DATABASE <name> on the server of `url`; return its URL (one app's tables per database)."""
    import psycopg
    from sqlalchemy import make_url

    u = make_url(url)
    with psycopg.connect(host=u.host, port=u.port, user=u.username, dbname=u.database, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return str(u.set(database=name).render_as_string(hide_password=False))
