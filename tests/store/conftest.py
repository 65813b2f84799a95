"""A real PostgreSQL server for the decision-log tests, started from scratch in a temporary directory.

Needs the PostgreSQL server binaries (Debian: `apt-get install postgresql`; found via `pg_config --bindir`,
/usr/lib/postgresql/*/bin or PATH). PostgreSQL refuses to run as root, so as root the server runs as the
`postgres` user. Skips, saying why, only when no server can be started here.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest


def _bindir() -> Path | None:
    for candidate in [
        shutil.which("pg_ctl"),
        *sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True),
    ]:
        if candidate:
            return Path(candidate).resolve().parent
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    pytest.importorskip("psycopg", reason="psycopg 3 is not installed (pip install 'pointsman[postgres]')")
    bindir = _bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql)")
    run_as: list[str] = []
    root = tempfile.mkdtemp(prefix="pointsman-pg-")
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server as")
        os.chown(root, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    data, port = Path(root) / "data", _free_port()
    init = subprocess.run(
        [*run_as, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "pointsman", "--no-sync"],
        capture_output=True,
        text=True,
    )
    if init.returncode != 0:
        pytest.skip(f"initdb failed: {init.stderr.strip()[-300:]}")
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    start = subprocess.run(
        [
            *run_as,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            opts,
            "-l",
            str(Path(root) / "log"),
            "-w",
            "-t",
            "30",
            "start",
        ],
        capture_output=True,
        text=True,
    )
    if start.returncode != 0:
        log = (Path(root) / "log").read_text()[-300:] if (Path(root) / "log").exists() else start.stderr
        pytest.skip(f"PostgreSQL did not start: {log.strip()}")
    try:
        yield f"postgresql://pointsman@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True
        )
        time.sleep(0.1)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path, monkeypatch):
    """A StoreConfig for an empty decision log on SQLite, then on the real PostgreSQL server."""
    from pointsman.config.gateway import StoreConfig

    if request.param == "postgres":
        psycopg = pytest.importorskip(
            "psycopg", reason="psycopg 3 is not installed (pip install 'pointsman[postgres]')"
        )
        dsn = request.getfixturevalue("postgres_dsn")
        monkeypatch.setenv("TEST_PG_DSN", dsn)
        with psycopg.connect(dsn, autocommit=True) as db:
            db.execute("DROP TABLE IF EXISTS decisions, feedback")
        return StoreConfig(kind="postgres", dsn_env="TEST_PG_DSN", flush_interval=0.05)
    return StoreConfig(kind="sqlite", path=str(tmp_path / "d.db"), flush_interval=0.05)
