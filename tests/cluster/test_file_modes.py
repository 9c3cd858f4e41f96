"""Nothing the system writes can be read by another user of the host (issue 12, finding 1).

A whole cluster (five nodes and the private Redis) runs with its data directory inside
a directory every user may enter; the test then looks as root at every mode, and as
`nobody` tries to read every file and list every directory.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import Processes, cluster_toml, ready, wait_until

pytestmark = pytest.mark.cluster
START_TIMEOUT = 90


@pytest.fixture
def open_parent() -> Iterator[Path]:
    """A directory any user may enter (pytest's own temporary directories are 0700)."""
    parent = Path(tempfile.mkdtemp(prefix="cs-modes-"))
    parent.chmod(0o755)
    try:
        yield parent
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def entries(root: Path) -> list[Path]:
    return [root, *sorted(root.rglob("*"))]


def readable_by_nobody(paths: list[Path]) -> list[str]:
    """The paths user `nobody` can read (files) or list (directories)."""
    script = (
        'for p in "$@"; do if [ -d "$p" ]; then ls "$p" >/dev/null 2>&1 && echo "$p";'
        ' else head -c1 "$p" >/dev/null 2>&1 && echo "$p"; fi; done; exit 0'
    )
    found = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "sh", "-c", script, "sh", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return found.stdout.split()


def test_every_file_is_private_and_the_signing_key_is_sealed(open_parent: Path, processes: Processes) -> None:
    data = open_parent / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    (data / "written-before").write_text("an older install's file")
    (data / "written-before").chmod(0o644)
    text, ports = cluster_toml(data)
    config = open_parent / "cluster.toml"
    config.write_text(text)
    supervisor = processes.run_py("--config", str(config))
    for node_id, port in ports.items():
        wait_until(lambda p=port: ready(p), START_TIMEOUT, f"{node_id} ready")
    login = f"http://127.0.0.1:{ports['login-1']}"
    answer = httpx.post(f"{login}/auth/login", json={"username": "admin", "password": "admin123"}, timeout=30)
    assert answer.status_code == 200, answer.text  # a session written: the database's -wal is in use

    found = entries(data)
    names = {p.name for p in found}
    assert {"login.db", "login.db-wal", "cluster", "redis-password", "redis.conf", "appendonlydir"} <= names
    assert any(n.endswith(".journal") for n in names), names
    loose = {
        str(p.relative_to(open_parent)): oct(stat.S_IMODE(p.lstat().st_mode))
        for p in found
        if not p.is_symlink() and stat.S_IMODE(p.lstat().st_mode) != (0o700 if p.is_dir() else 0o600)
    }
    assert loose == {}

    with sqlite3.connect(data / "db" / "login.db") as db:
        stored = [row[0] for row in db.execute("SELECT private_jwk FROM signing_keys")]
    assert stored
    assert all(value.startswith("aes256gcm:") and '"d"' not in value for value in stored)

    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("reading as another user needs root and setpriv (the modes above were checked)")
    assert readable_by_nobody(found) == []
    assert readable_by_nobody([open_parent]) == [str(open_parent)]  # the check itself can see a readable path
    processes.stop_all()
    assert supervisor.poll() is not None
