"""A throwaway PostgreSQL server for tests: initdb in a temporary folder, started on 127.0.0.1 on a
free port, stopped and removed at the end. Debian's `postgresql` package provides the programs
(under /usr/lib/postgresql/<version>/bin); .ci/run installs it. As root, the server runs as the
`postgres` user the package creates (PostgreSQL refuses to run as root).
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path


def find_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def postgres_server(database: str = "gradebook"):
    """Yields a postgresql:// URL of a fresh database on a private server."""
    initdb, pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
    if not initdb or not pg_ctl:
        raise FileNotFoundError("initdb/pg_ctl not found: `sudo apt-get install postgresql` (or run .ci/run)")
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="course-pg-"))
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", _free_port()
    try:
        subprocess.run([*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "grader", "-E", "UTF8", "--no-sync"],
                       check=True, capture_output=True, text=True)
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-l", str(folder / "server.log"), "-w", "-t", "60",
                        "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                              f"-c full_page_writes=off -c max_connections=60", "start"],
                       check=True, capture_output=True, text=True)
        import psycopg2
        conn = psycopg2.connect(host="127.0.0.1", port=port, user="grader", dbname="postgres")
        conn.autocommit = True
        conn.cursor().execute(f"CREATE DATABASE {database}")
        conn.close()
        yield f"postgresql://grader@127.0.0.1:{port}/{database}"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
