"""Real PostgreSQL and NATS servers for the tests and benchmarks, in throwaway folders on loopback.

Both are Debian's packages (``make test`` installs ``postgresql`` and ``nats-server``); the system's
instances are never used. PostgreSQL refuses to run as root, so its cluster belongs to a system user
created here (``garrison-pg``).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from garrison.testing import free_port, stop_process

PG_USER = "garrison-pg"


def _pg_bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if found:
        return str(found[-1])
    exe = shutil.which(name)
    if exe is None:
        raise RuntimeError(f"PostgreSQL's {name} is not installed: run `make test-deps` (Debian package postgresql)")
    return exe


def _wait_port(port: int, proc: subprocess.Popen[bytes] | None, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace")[-2000:] if proc.stderr else ""
            raise RuntimeError(f"{what} exited: {err}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


@dataclass
class Postgres:
    root: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://garrison@127.0.0.1:{self.port}/garrison"

    def create_database(self, name: str) -> str:
        """A new empty database; its SQLAlchemy URL."""
        self._psql(f'CREATE DATABASE "{name}" OWNER garrison')
        return f"postgresql+psycopg://garrison@127.0.0.1:{self.port}/{name}"

    def _psql(self, sql: str) -> None:
        subprocess.run(["runuser", "-u", PG_USER, "--", _pg_bin("psql"), "-q", "-h", "127.0.0.1", "-p",
                        str(self.port), "-d", "postgres", "-c", sql], check=True, capture_output=True)

    def stop(self) -> None:
        subprocess.run(["runuser", "-u", PG_USER, "--", _pg_bin("pg_ctl"), "-D", str(self.root / "data"), "-m",
                        "fast", "-w", "stop"], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


def _ensure_user() -> None:
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_USER],
                       check=True, capture_output=True)


def start_postgres() -> Postgres:
    """A PostgreSQL cluster (initdb, pg_ctl) on a free loopback port, with a database and role ``garrison``."""
    if os.geteuid() != 0:
        raise RuntimeError("starting a throwaway PostgreSQL needs root (to run it as its own user)")
    _ensure_user()
    root = Path(tempfile.mkdtemp(prefix="garrison-pg-"))
    root.chmod(0o755)
    shutil.chown(root, PG_USER)
    data, port = root / "data", free_port()
    as_pg = ["runuser", "-u", PG_USER, "--"]
    subprocess.run(as_pg + [_pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U", PG_USER, "-E", "UTF8",
                            "--no-sync"], check=True, capture_output=True)
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=on -c max_connections=200"
    r = subprocess.run(as_pg + [_pg_bin("pg_ctl"), "-D", str(data), "-l", str(root / "pg.log"), "-o", opts, "-w",
                                "start"], capture_output=True)
    if r.returncode != 0:
        log = (root / "pg.log").read_text(errors="replace")[-2000:] if (root / "pg.log").exists() else ""
        raise RuntimeError(f"PostgreSQL did not start: {r.stderr.decode(errors='replace')} {log}")
    pg = Postgres(root, port)
    pg._psql("CREATE ROLE garrison LOGIN")
    pg._psql("CREATE DATABASE garrison OWNER garrison")
    return pg


@dataclass
class Nats:
    root: Path
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_process(self.proc)
        shutil.rmtree(self.root, ignore_errors=True)


def start_nats() -> Nats:
    """nats-server with JetStream (file storage in a throwaway folder) on a free loopback port."""
    exe = shutil.which("nats-server") or "/usr/sbin/nats-server"
    if not os.path.exists(exe):
        raise RuntimeError("nats-server is not installed: run `make test-deps` (Debian package nats-server)")
    root = Path(tempfile.mkdtemp(prefix="garrison-nats-"))
    port = free_port()
    proc = subprocess.Popen([exe, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(root / "js")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _wait_port(port, proc, "nats-server")
    return Nats(root, port, proc)
