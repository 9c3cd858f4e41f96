"""What every drill needs: a cluster (on loopback, or one host per network namespace), the
fault helpers, convergence, and the outcome's shape and table.

An outcome is `{"drill", "checks": {name: count}, "figures": {...}}`: every check is a
count that must be 0; figures are measurements (seconds, counts) for the report.
"""

from __future__ import annotations

import contextlib
import secrets
import signal
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from sqlalchemy.engine import make_url

from ops.drill.layout import cluster_toml, free_ports, node_ids
from ops.drill.netns import Lab
from ops.drill.postgres import Postgres
from ops.localcluster import LocalCluster, wait_for

FAILPOINTS = "[debug]\nfailpoints = true"


@dataclass
class Options:
    short: bool = True  # the CI version: seconds, not minutes
    database: str = "sqlite"  # the ledger's (course_data's) database: sqlite or postgres
    seconds: float | None = None  # the drill's main phase, where it has one


@dataclass
class Site:
    """A running drill cluster and what surrounds it."""

    cluster: LocalCluster
    redis_url: str
    postgres: Postgres | None = None
    lab: Lab | None = None

    @property
    def ledger_url(self) -> str:
        return self.cluster.config.database_url("course_data")

    def urls(self) -> dict[str, str]:
        return {n.id: n.url for n in self.cluster.config.nodes}


def _redis_in(directory: Path, host: str, port: int) -> tuple[subprocess.Popen[bytes], str]:
    """A redis-server on `host` (the hub of a lab; started from a thread inside it)."""
    password = secrets.token_urlsafe(16)
    directory.mkdir(parents=True, exist_ok=True)
    conf = directory / "redis.conf"
    conf.write_text(
        f'bind {host}\nport {port}\ndir "{directory}"\nappendonly yes\nsave ""\n'
        f'requirepass "{password}"\nlogfile "redis.log"\n'
    )
    conf.chmod(0o600)
    process = subprocess.Popen(["redis-server", str(conf)], stdin=subprocess.DEVNULL)
    url = f"redis://:{password}@{host}:{port}/0"
    wait_for(lambda: redis.Redis.from_url(url, socket_timeout=1).ping(), 15, "the drill's redis-server")
    return process, url


@contextlib.contextmanager
def site(counts: dict[str, int], options: Options, extra: str = "", namespaces: bool = False) -> Iterator[Site]:
    """A cluster of `counts` nodes (not started), its Redis, and PostgreSQL for the ledger if asked.

    With `namespaces`, each node gets its own network namespace (root only); the calling
    thread runs in the lab's hub until the block ends, and everything is removed after."""
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cs-drill-")))
        env: dict[str, str] = {}
        lab: Lab | None = None
        redis_url = ""
        hosts: dict[str, str] | None = None
        if namespaces:
            lab = Lab(node_ids(counts))
            stack.callback(lab.close)
            lab.create()
            stack.enter_context(lab.enter())
            redis_process, redis_url = _redis_in(work / "redis", lab.hub_address, 6379)
            stack.callback(_end, redis_process)
            hosts = lab.addresses
        pg: Postgres | None = None
        if options.database == "postgres":
            if lab:
                pg = Postgres(lab.hub_address, 5432, allow=lab.hub_address.rpartition(".")[0] + ".0/24")
            else:
                pg = Postgres("127.0.0.1", free_ports(1)[0])
            stack.callback(pg.stop)
            pg.start()
            env["CS_SERVICES__COURSE_DATA__DATABASE_URL"] = pg.url()
        text, _ = cluster_toml(work / "data", counts, redis_url=redis_url, extra=extra, hosts=hosts)
        path = work / "cluster.toml"
        path.write_text(text)
        cluster = LocalCluster(path, work / "data", env, prefix=lab.prefix if lab else None)
        stack.callback(cluster.stop_all)
        yield Site(cluster, redis_url, pg, lab)  # without a lab the private Redis comes with start()


def _private_redis_url(cluster: LocalCluster) -> str:
    return cluster.env.get("CS_REDIS__URL", "")


def _end(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def start(place: Site, *services: str) -> str:
    """Start every node, wait until each of `services` has a master; the private Redis URL."""
    place.cluster.start()
    place.cluster.wait_ready(timeout=180)  # a saturated machine starts Python slowly
    for service in services:
        master_of(place, service)
    if not place.redis_url:
        place.redis_url = _private_redis_url(place.cluster)
    return place.redis_url


def master_of(place: Site, service: str) -> tuple[str, int]:
    via = next(iter(place.cluster.processes))
    found = wait_for(lambda: place.cluster.master(service, via), 60, f"a master of {service}")
    assert found is not None
    return found


def other_node(place: Site, service: str, than: str) -> str:
    return next(n.id for n in place.cluster.config.nodes_of(service) if n.id != than)


def converged(place: Site, services: list[str]) -> bool:
    """Every running node sees the same master for each service, and only that node acts as it."""
    cluster = place.cluster
    statuses = {n: cluster.status(n) for n in cluster.processes}
    for service in services:
        views = {(s["masters"][service] or {}).get("node") for s in statuses.values()}
        if len(views) != 1 or None in views:
            return False
        [holder] = views
        acting = [n for n, s in statuses.items() if s["node"]["service"] == service and s["node"]["is_master"]]
        if acting != [holder]:
            return False
    return True


def wait_converged(place: Site, services: list[str], timeout: float = 60) -> float:
    """Seconds until the cluster converged (raises TimeoutError after `timeout`)."""
    began = time.monotonic()
    wait_for(lambda: converged(place, services), timeout, "the cluster to converge", interval=0.1)
    return round(time.monotonic() - began, 3)


def stop_inside_transaction(place: Site, node: str, budget: float = 3.0, app_only: bool = False) -> dict[str, Any]:
    """Freeze `node` (SIGSTOP of its app and its Raft agent: a frozen host or VM, which no
    watchdog of its own ends) while it holds an open write transaction on the ledger's
    database, if that can be caught within `budget` seconds (else it is frozen anyway,
    outside one); `cluster.thaw(node, result["agent"])` wakes it. With `app_only`, only the
    app (the process inside the transaction) is stopped: its agent goes on, stops renewing
    the lease, and kills it once the lease has run out.

    SQLite: the write lock is held (a `BEGIN IMMEDIATE` with no wait fails). PostgreSQL: a
    backend other than ours has a transaction id (it has written). Returns `inside` and,
    on PostgreSQL, the stopped transaction's `xid`."""
    cluster = place.cluster
    agent = cluster.agent_pid(node)
    deadline = time.monotonic() + budget
    tries = 0
    while True:
        tries += 1
        if app_only:
            cluster.signal(node, signal.SIGSTOP)
        else:
            cluster.freeze(node, agent)
        xid = _open_write(place)
        if xid is not None or time.monotonic() > deadline:
            return {"inside": xid is not None, "xid": xid or None, "tries": tries, "agent": agent}
        if app_only:
            cluster.signal(node, signal.SIGCONT)
        else:
            cluster.thaw(node, agent)
        time.sleep(0.002 * (tries % 5))


def _open_write(place: Site) -> str | None:
    """The id of an open write transaction on the ledger's database ('' on SQLite), or None."""
    if place.postgres is not None:
        found = place.postgres.psql(
            "SELECT backend_xid FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
            " AND datname = 'postgres' LIMIT 1"
        ).strip()
        return found or None
    path = make_url(place.ledger_url).database
    db = sqlite3.connect(str(path), timeout=0, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute("ROLLBACK")
        return None
    except sqlite3.OperationalError:  # "database is locked": the writer is inside its transaction
        return ""
    finally:
        db.close()


def xact_status(place: Site, xid: str | None) -> str | None:
    """committed, aborted or in progress (PostgreSQL), for a transaction caught by stop_inside_transaction."""
    if place.postgres is None or not xid:
        return None
    return place.postgres.psql(f"SELECT pg_xact_status('{int(xid)}'::xid8)").strip() or None


def commits_after(place: Site, node: str, epoch: int, wall: float) -> int:
    """Write checks committed by `node` under `epoch` with a time after `wall` (its lease's end)."""
    import asyncio

    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def count() -> int:
        engine = create_async_engine(place.ledger_url)
        try:
            async with engine.connect() as db:
                found = await db.execute(
                    text("SELECT count(*) FROM write_checks WHERE node_id = :n AND epoch = :e AND written_at > :w"),
                    {"n": node, "e": epoch, "w": wall},
                )
                return int(found.scalar_one())
        finally:
            await engine.dispose()

    return asyncio.run(count())


def outcome(drill: str, checks: dict[str, int], figures: dict[str, Any]) -> dict[str, Any]:
    return {"drill": drill, "checks": checks, "figures": figures}


def skipped(drill: str, reason: str) -> dict[str, Any]:
    return {"drill": drill, "skipped": reason, "checks": {}, "figures": {}}


def table(results: list[dict[str, Any]]) -> str:
    """Runs x outcomes: one row per run with the checks that failed (name=count; every check
    not named is 0) and a column per figure."""
    if not results:
        return "(no runs)"
    figures = sorted({k for r in results for k, v in r["figures"].items() if not isinstance(v, dict | list)})
    head = ["run", "result", "failed checks", *figures]
    rows = []
    for i, r in enumerate(results, 1):
        bad = [f"{k}={v}" for k, v in sorted(r["checks"].items()) if v]
        result = "skipped" if "skipped" in r else ("FAIL" if bad else f"ok ({len(r['checks'])} checks)")
        rows.append([str(i), result, " ".join(bad) or "-", *(_cell(r["figures"].get(k)) for k in figures)])
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines += [f"run {i}: skipped: {r['skipped']}" for i, r in enumerate(results, 1) if "skipped" in r]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)
