"""Private PostgreSQL and MariaDB servers in a temporary directory, for tests and benchmarks.

Each listens on 127.0.0.1 only, on the given port, trusts every local user (they are
this process's alone), runs as the `postgres` / `mysql` system user when started by root,
and is stopped and removed when the context ends. `None` where the binaries are absent.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
from sqlalchemy import text

from ops.localcluster import wait_for
from storage.database import Database

KINDS = ("sqlite", "postgresql", "mariadb")


@dataclass(frozen=True)
class Server:
    url: str  # SQLAlchemy URL without a database name
    pid: int  # the server's main process (its CPU time is the database's, with its children); 0: not ours


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def mariadb_bin() -> tuple[str, str] | None:
    install = shutil.which("mariadb-install-db")
    server = shutil.which("mariadbd") or shutil.which("mariadbd", path="/usr/sbin:/usr/local/sbin")
    return (install, server) if install and server else None


@contextmanager
def private_postgres(port: int) -> Iterator[Server]:
    bindir = postgres_bin()
    if bindir is None:
        raise FileNotFoundError("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin)")
    root = Path(tempfile.mkdtemp(prefix="cs-pg-"))
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root
        shutil.chown(root, "postgres", "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    data = root / "data"
    run = lambda *cmd: subprocess.run([*as_postgres, *cmd], check=True, capture_output=True)  # noqa: E731
    try:
        run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        run(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start")
        try:
            pid = int((data / "postmaster.pid").read_text().split()[0])
            yield Server(f"postgresql+asyncpg://postgres@127.0.0.1:{port}", pid)
        finally:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def private_mariadb(port: int, start_timeout: float = 120) -> Iterator[Server]:
    """`mariadb-install-db` into a new datadir, then `mariadbd --no-defaults` on it, no grant
    tables (any user may do anything). The server's own defaults (latin1) are kept: the
    tables say they are utf8mb4 compared byte by byte, and the tests check that they do."""
    found = mariadb_bin()
    if found is None:
        raise FileNotFoundError("no MariaDB server binaries (mariadb-install-db, mariadbd)")
    install, server = found
    root = Path(tempfile.mkdtemp(prefix="cs-mariadb-"))
    as_mysql: list[str] = []
    if os.geteuid() == 0:  # mariadbd refuses to run as root: it switches to `mysql` itself
        shutil.chown(root, "mysql", "mysql")
        as_mysql = ["--user=mysql"]
    data, log = root / "data", root / "log"
    try:
        install_db = [install, "--no-defaults", *as_mysql, f"--datadir={data}", "--skip-test-db"]
        subprocess.run([*install_db, "--auth-root-authentication-method=normal"], check=True, capture_output=True)
        command = [
            server,
            "--no-defaults",
            *as_mysql,
            f"--datadir={data}",
            f"--socket={root / 'sock'}",
            f"--port={port}",
            "--bind-address=127.0.0.1",
            "--skip-grant-tables",
            "--skip-name-resolve",
            "--innodb-flush-log-at-trx-commit=2",  # (as PostgreSQL's fsync=off here: a test server)
            f"--log-error={log}",
        ]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: process.poll() is not None or _accepts(port), start_timeout, "mariadbd to listen", 0.1)
            if process.poll() is not None:
                told = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise RuntimeError(f"mariadbd exited with status {process.returncode}: {told}")
            yield Server(f"mysql+asyncmy://root@127.0.0.1:{port}", process.pid)
        finally:
            process.kill()  # (as PostgreSQL's `-m immediate`: its datadir is removed next, nothing is kept)
            process.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def create_database(kind: str, server: str | None, folder: Path, name: str) -> str:
    """The URL of a new empty database `name` of `kind`: a file in `folder` (SQLite), or
    created on `server` (a URL without a database, PostgreSQL or MySQL/MariaDB)."""
    if kind == "sqlite":
        return f"sqlite+aiosqlite:///{folder / f'{name}.db'}"
    if server is None:
        raise ValueError(f"a {kind} database needs a server URL")
    admin = Database(f"{server}/{'postgres' if kind == 'postgresql' else 'mysql'}")
    try:
        async with admin.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f"CREATE DATABASE {name}"))
    finally:
        await admin.close()
    return f"{server}/{name}"


def cpu_seconds(*pids: int | None) -> float:
    """CPU seconds used so far by these processes and their children (PostgreSQL's backends,
    a node's Raft agent); a process gone or not given counts 0."""
    total = 0.0
    for pid in pids:
        if not pid:
            continue
        try:
            process = psutil.Process(pid)
            family = [process, *process.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for p in family:
            try:
                times = p.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                continue
    return total


def database_servers(stack: ExitStack, kinds: Iterable[str], given: Mapping[str, str | None]) -> dict[str, Server]:
    """A server for each of `kinds` but SQLite: the URL `given` for it (its CPU is not
    measured: pid 0), or a private one started here until `stack` closes."""
    servers: dict[str, Server] = {}
    for kind in kinds:
        if kind == "sqlite":
            continue
        if url := given.get(kind):
            servers[kind] = Server(url.rstrip("/"), 0)
            continue
        print(f"starting a private {kind} server ...", flush=True)
        start = private_postgres if kind == "postgresql" else private_mariadb
        servers[kind] = stack.enter_context(start(free_loopback_port()))
    return servers


def free_loopback_port() -> int:
    """A port free on 127.0.0.1 now (for a benchmark; the tests pick theirs in tests.support)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
