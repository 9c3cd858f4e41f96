"""A throwaway PostgreSQL server for a drill (Debian's binaries; as the `postgres` user when root).

PostgreSQL refuses to run as root, so as root the data directory is owned by `postgres`
and every command runs through `runuser`. It listens on one address (loopback, or the
hub of a namespace lab: `prefix` runs it there) and is stopped with `-m immediate`.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class Postgres:
    def __init__(
        self, host: str, port: int, prefix: list[str] | None = None, allow: str | None = None, options: str = ""
    ) -> None:
        """`allow`: a network (CIDR) whose clients may connect without a password, besides loopback;
        `options`: more server options (e.g. `-c max_connections=300`)."""
        bindir = postgres_bin()
        if bindir is None:
            raise RuntimeError("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin): apt-get install postgresql")
        self.bindir, self.host, self.port, self.prefix = bindir, host, port, prefix or []
        self.root = Path(tempfile.mkdtemp(prefix="cs-drill-pg-"))
        self.as_postgres: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            self.as_postgres = ["runuser", "-u", "postgres", "--"]
        self.data = self.root / "data"
        self.allow = allow
        self.options = options
        self.started = False

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@{self.host}:{self.port}/{database}"

    def _run(self, *command: str) -> None:
        subprocess.run([*self.prefix, *self.as_postgres, *command], check=True, capture_output=True)

    def start(self) -> Postgres:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")
        if self.allow:
            with (self.data / "pg_hba.conf").open("a") as hba:
                hba.write(f"host all all {self.allow} trust\n")
        options = f"-p {self.port} -k {self.root} -c listen_addresses={self.host} -c fsync=off {self.options}"
        log = str(self.root / "log")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", log, "-w", "start")
        self.started = True
        return self

    def psql(self, sql: str) -> str:
        """Run `sql` through the local socket (no network: works while a host is cut off)."""
        command = [str(self.bindir / "psql"), "-h", str(self.root), "-p", str(self.port), "-U", "postgres"]
        done = subprocess.run(
            [*self.as_postgres, *command, "-At", "-c", sql], check=True, capture_output=True, text=True
        )
        return done.stdout

    def stop(self) -> None:
        if self.started:
            with contextlib.suppress(subprocess.CalledProcessError):
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
            self.started = False
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def postgres(host: str, port: int, prefix: list[str] | None = None, allow: str | None = None) -> Iterator[Postgres]:
    server = Postgres(host, port, prefix, allow)
    try:
        yield server.start()
    finally:
        server.stop()
