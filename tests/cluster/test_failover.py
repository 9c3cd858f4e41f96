"""Failover with the old master frozen or killed inside a transaction, on SQLite and
PostgreSQL; a forwarded write to a vanished master; a full disk under the ledger.

Outcomes only: how fast is measured by `python -m ops.bench failover`.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from ops.localcluster import LocalCluster, wait_for
from storage.database import Database
from tests.cluster.conftest import MakeCluster

pytestmark = pytest.mark.cluster
TAKEOVER = 30  # seconds allowed for each step: generous on a saturated machine
FAILPOINTS = "[debug]\nfailpoints = true"
_names = itertools.count()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """Extra configuration putting course_data's database on SQLite (default) or PostgreSQL."""
    if request.param == "sqlite":
        return ""
    dsn: str = request.getfixturevalue("postgres_dsn")
    name = f"failover{next(_names)}_{os.getpid()}"

    async def create() -> None:
        admin = Database(f"{dsn}/postgres")
        async with admin.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f"CREATE DATABASE {name}"))
        await admin.close()

    asyncio.run(create())
    return f'[services.course_data]\ndatabase_url = "{dsn}/{name}"'


def rows(cluster: LocalCluster, via: str) -> list[tuple[str, int]]:
    """(node, epoch) of every committed write check, read through the database itself."""
    url = cluster.config.database_url("course_data")

    async def read() -> list[tuple[str, int]]:
        db = Database(url)
        try:
            async with db.read() as conn:
                result = await conn.execute(text("SELECT node_id, epoch FROM write_checks ORDER BY id"))
                return [(r[0], r[1]) for r in result]
        finally:
            await db.close()

    return asyncio.run(read())


def started(make_cluster: MakeCluster, extra: str = "") -> tuple[LocalCluster, str, int, str]:
    cluster = make_cluster({"course_data": 2, "login": 1}, extra=f"{FAILPOINTS}\n{extra}")
    cluster.start()
    cluster.wait_ready()
    old, epoch = wait_for(lambda: cluster.master("course_data", "login-1"), TAKEOVER, "a course_data master")
    other = next(n.id for n in cluster.config.nodes_of("course_data") if n.id != old)
    return cluster, old, epoch, other


def in_background(call: Callable[[], httpx.Response]) -> Callable[[], httpx.Response]:
    """Run `call` in a thread; the returned function joins it and gives its answer."""
    answer: list[httpx.Response | httpx.HTTPError] = []

    def run() -> None:
        try:
            answer.append(call())
        except httpx.HTTPError as exc:
            answer.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def join() -> httpx.Response:
        thread.join(60)
        assert answer, "the call did not return"
        if isinstance(answer[0], httpx.HTTPError):
            raise answer[0]
        return answer[0]

    return join


def freeze_inside_a_write(
    cluster: LocalCluster, old: str, via: str | None = None
) -> tuple[Callable[[], httpx.Response], int]:
    """Send a write check that pauses inside its transaction and freeze the master's whole
    node there (app and Raft agent, as a frozen host: no watchdog kills it); the join and
    the agent's pid (to thaw)."""
    agent = cluster.agent_pid(old)
    join = in_background(lambda: cluster.write_check(via or old, pause_in_transaction_ms=2000))
    wait_for(lambda: "failpoint: pausing inside" in cluster.log_text(old), TAKEOVER, "the write to pause inside")
    cluster.freeze(old)
    return join, agent


def new_master(cluster: LocalCluster, old: str, via: str) -> tuple[str, int]:
    found: tuple[str, int] = wait_for(
        lambda: (m := cluster.master("course_data", via)) and m[0] != old and m, TAKEOVER, "a new master"
    )
    return found


def test_a_master_frozen_inside_a_write_is_replaced_and_woken_it_rolls_back(
    make_cluster: MakeCluster, backend: str
) -> None:
    cluster, old, old_epoch, other = started(make_cluster, backend)
    postgres = "postgresql" in backend
    stale, agent = freeze_inside_a_write(cluster, old)
    try:
        assert new_master(cluster, old, other)[0] == other
        if postgres:  # the successor ends the frozen session and writes while the old one sleeps on
            written = wait_for(
                lambda: (r := cluster.write_check(other)).status_code == 200 and r.json(), TAKEOVER, "a write"
            )
            assert written["node"] == other
        else:  # a frozen process's SQLite lock cannot be broken: 503 to retry, never 500
            refused = cluster.write_check(other)
            assert refused.status_code == 503, refused.text
            assert refused.headers["Retry-After"] == "1"
    finally:
        cluster.thaw(old, agent)
    answer = stale()
    assert answer.status_code == 503, answer.text  # woken after its lease: rolled back
    assert answer.json()["type"] in ("/problems/fenced", "/problems/storage-unavailable")
    wait_for(lambda: cluster.write_check(other).status_code == 200, TAKEOVER, "writes through the new master")
    committed = rows(cluster, other)
    assert committed
    assert all(node == other for node, _ in committed), committed  # nothing of the frozen master's
    assert old_epoch not in [epoch for _, epoch in committed]


def test_the_successor_writes_once_the_watchdog_kills_a_frozen_sqlite_master(make_cluster: MakeCluster) -> None:
    """Only the app is frozen, holding SQLite's write lock: its Raft agent stops renewing,
    and kills it once the lease has expired, which frees the lock for the successor."""
    cluster, old, _, other = started(make_cluster)
    stale = in_background(lambda: cluster.write_check(old, pause_in_transaction_ms=2000))
    wait_for(lambda: "failpoint: pausing inside" in cluster.log_text(old), TAKEOVER, "the write to pause inside")
    cluster.signal(old, signal.SIGSTOP)
    new_master(cluster, old, other)
    wait_for(lambda: cluster.processes[old].poll() is not None, TAKEOVER, "the frozen app killed by its agent")
    assert cluster.processes[old].returncode == -signal.SIGKILL
    written = wait_for(lambda: (r := cluster.write_check(other)).status_code == 200 and r.json(), TAKEOVER, "a write")
    assert written["node"] == other
    with pytest.raises(httpx.HTTPError):
        stale()  # its client saw the connection die; the write was never committed
    assert [node for node, _ in rows(cluster, other)] == [other]


def test_a_write_forwarded_to_a_master_that_freezes_answers_503_once_its_lease_ends(
    make_cluster: MakeCluster,
) -> None:
    cluster, old, _, other = started(make_cluster)
    forwarded, agent = freeze_inside_a_write(cluster, old, via=other)
    try:
        answer = forwarded()  # while the master is still stopped
    finally:
        cluster.thaw(old, agent)
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "1"
    assert "lost its lease" in answer.json()["detail"]  # not the read timeout


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root: the full-disk test is not run")
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (65536, 4096, 1):
            try:
                while True:
                    os.write(fd, b"x" * size)
            except OSError:
                pass
    finally:
        os.close(fd)


def test_a_full_disk_under_the_ledger_answers_507_and_the_node_lives(
    make_cluster: MakeCluster, small_disk: Path
) -> None:
    cluster = make_cluster(
        {"course_data": 1}, extra=f'[services.course_data]\ndatabase_url = "sqlite+aiosqlite:///{small_disk}/l.db"'
    )
    cluster.start()
    cluster.wait_ready()
    wait_for(lambda: cluster.write_check("course_data-1").status_code == 200, TAKEOVER, "a first write")
    fill(small_disk / "filler")
    seen: set[int] = set()

    def write_until_refused() -> httpx.Response | None:
        answer = cluster.request("course_data-1", "POST", "/cluster/write-check", json={"pause_ms": 0}, timeout=30)
        seen.add(answer.status_code)
        return answer if answer.status_code != 200 else None

    refused = wait_for(write_until_refused, 120, "a write refused for the full disk", interval=0)
    assert refused.status_code == 507, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == "/problems/insufficient-storage"
    assert seen <= {200, 507}
    assert cluster.request("course_data-1", "GET", "/health").status_code == 200
    (small_disk / "filler").unlink()
    wait_for(lambda: cluster.write_check("course_data-1").status_code == 200, TAKEOVER, "writes once space is free")


@pytest.fixture
def small_raft_dir(tmp_path: Path) -> Iterator[Path]:
    """A small tmpfs as the journal directory of the cluster `make_cluster` builds (logs stay out)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root: the full-disk test is not run")
    raft = tmp_path / "cluster" / "raft"
    raft.mkdir(parents=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(raft)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield raft
    finally:
        subprocess.run(["umount", "-l", str(raft)], check=True)


def test_a_full_disk_under_the_raft_journal_does_not_kill_the_node(
    small_raft_dir: Path, make_cluster: MakeCluster
) -> None:
    # Renewals every 50 ms: the journal grows fast enough to need new blocks soon.
    cluster = make_cluster({"course_data": 1}, extra="[raft]\nrenew_every_seconds = 0.05")
    cluster.start()
    cluster.wait_ready()
    wait_for(lambda: cluster.write_check("course_data-1").status_code == 200, TAKEOVER, "a first write")
    fill(small_raft_dir / "filler")
    process = cluster.processes["course_data-1"]
    wait_for(
        lambda: process.poll() is not None or "Raft journal cannot grow" in cluster.log_text("course_data-1"),
        120,
        "the journal to need blocks the disk does not have",
    )
    assert process.poll() is None, cluster.log_text("course_data-1")[-2000:]  # alive: no SIGBUS
    assert cluster.request("course_data-1", "GET", "/health").status_code == 200
    assert cluster.write_check("course_data-1").status_code in (200, 503)  # never 500
    (small_raft_dir / "filler").unlink()
    wait_for(lambda: cluster.write_check("course_data-1").status_code == 200, TAKEOVER, "writes once space is free")
    assert process.poll() is None
